/* The change feed as the caller may see it, for the topology page:
 * GET /v2.0/lepton/changes, a text/event-stream (server-sent events).
 *
 * It starts with a "ready" event carrying the store's revision R, then sends
 * one "change" event per change after R to a document the caller may see
 * ({"revision","op","type","id"}, never the document: the page reads what
 * it draws through the API, with the caller's identity), and a "reset"
 * event when the stream had to start over (it fell behind what the feed
 * keeps). Admins see every change; anyone else the changes to documents of
 * their project or shared with it (resource_is_visible: the API's own rule),
 * judged on the document after the change (before it, for a delete). Idle,
 * it sends a comment line once per watch_ping_interval. Built on the whole
 * feed's watch stream (watch.h). */
#pragma once

#include "server/http.h"
#include "server/resource.h"

/* Answers the request with the stream (status 200), or returns < 0 with
 * ctx->err set. */
int changes_open(struct api_ctx *ctx, struct http_response *resp);
