/* The change feed as a stream of JSON lines (GET /v2.0/lepton/watch).
 *
 * since=REV gives every change after REV. When REV is 0, older than what the
 * feed keeps, or newer than the store (a different store), the stream starts
 * with a snapshot instead: snapshot_begin, one "snapshot" line per object,
 * snapshot_end, all at revision R, then the changes after R. A consumer that
 * records the revision of the last line it applied and reconnects with
 * since=that revision neither misses nor repeats a change. follow=false ends
 * the stream once it has caught up; otherwise it follows live changes and
 * sends a "ping" line when idle.
 *
 * With a host (GET ...watch?host=NODE) the stream carries only what that node
 * needs (nodeview.h): the snapshot holds the node's share, and after each
 * batch of changes the stream sends the difference between what the node
 * holds and what it needs now: "create" for a document that enters the
 * node's view (created, or made relevant by another change: a port bound
 * there brings its network, subnets, groups, routers...), "update" for one
 * that changed within it, "delete" (with the last state sent) for one that
 * leaves it (deleted, or no longer relevant: a port bound elsewhere, a
 * router interface removed). Within a batch, documents come after those
 * they refer to, deletions last. Lines carry strictly increasing revisions:
 * the store's revision of the batch when the batch is one line; when one
 * batch sends several lines, they take the revisions just below it if
 * those are free on this stream, else consecutive numbers after the last
 * one sent (the stream's position then runs ahead of the store's revision
 * until the next change above it). A filtered stream always starts with a
 * snapshot, whatever since= says: the server keeps no per-node history to
 * resume from. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "server/nodeview.h"
#include "server/store.h"

struct watch_stream;

/* host NULL: the whole feed. Otherwise view (shared by the streams, used
 * under the store's lock) computes the node's share. */
struct watch_stream *watch_new(struct store *store, struct nodeview *view, const char *host,
			       int64_t since, bool follow, unsigned ping_secs);
/* http_response.read: blocks until it has lines; -1 at the end. */
ssize_t watch_read(void *stream, char *buf, size_t max);
void watch_free(void *stream);

/* For metrics: calls fn for every open stream, with its host (NULL: the whole
 * feed) and the last store revision it has turned into lines. Call with the
 * store's lock held (streams move under it). */
void watch_foreach(void (*fn)(void *userdata, const char *host, int64_t rev), void *userdata);
