/* The change feed as the caller may see it, for the topology page:
 * GET /v2.0/lepton/changes, a text/event-stream (server-sent events).
 *
 * It starts with a "ready" event carrying a revision R, then sends one
 * "change" event per change after R that concerns the caller
 * ({"revision","op","type","id"}, never the document: the page reads what
 * it draws through the API, with the caller's identity), and a "reset"
 * event when the stream had to start over (it fell behind what the feed
 * keeps). Admins are concerned by every change; anyone else by the changes
 * to documents they may see after the change (before it, for a delete) or
 * could see before it (an update that hid it), by the API's own rule
 * (resource_is_visible): their stream starts from a snapshot that tells it
 * what they may see. Idle, it sends a comment line once per
 * watch_ping_interval. Built on the whole feed's watch stream (watch.h). */
#pragma once

#include "server/http.h"
#include "server/resource.h"
#include "server/watch.h"

/* Answers the request with the stream (status 200), or returns < 0 with
 * ctx->err set. */
int changes_open(struct api_ctx *ctx, struct watch_hub *hub, struct http_response *resp);
