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
#include "server/http.h"
#include "server/nodeview.h"
#include "server/store.h"

/* The streams of one server and the thread that writes their lines.
 *
 * No stream has a thread: one feeder thread wakes when the store's revision
 * advances (or a stream needs lines: a new one, one that drained its
 * buffer, one due a ping), turns the changes into each stream's lines under
 * the store's lock, and wakes the streams it gave lines to
 * (http_stream_wake). Each stream buffers at most about WATCH_BUFFER bytes
 * it has not sent (a node's batch of changes may exceed it once), and its
 * socket's send buffer is kept to a few times that: while a
 * client takes none of them the feeder writes nothing more for it (a node's
 * stream then sends, once drained, the difference at that time: changes do
 * not pile up), and the HTTP adapter cuts a client that takes no byte for
 * the stream's send timeout. The client reconnects and resumes from the
 * revision of the last line it applied (a node's stream, from a snapshot). */
struct watch_hub;

#define WATCH_BUFFER (64 * 1024)

/* view (shared with the API, used under the store's lock) computes the
 * nodes' shares. At most max_streams open streams. */
int watch_hub_new(struct store *store, struct nodeview *view, unsigned ping_secs,
		  unsigned max_streams, struct watch_hub **ret);
/* After every stream was freed (the HTTP server stopped). */
void watch_hub_free(struct watch_hub *hub);

struct watch_stream;

/* host NULL: the whole feed. NULL when the hub has max_streams open. */
struct watch_stream *watch_new(struct watch_hub *hub, const char *host, int64_t since, bool follow);
/* The http_response stream callbacks. */
void watch_attach(void *stream, struct http_stream *hs);
/* Never blocks: the lines ready, 0 when none yet, -1 at the end. */
ssize_t watch_read(void *stream, char *buf, size_t max);
void watch_free(void *stream);

/* For metrics: calls fn for every open stream, with its host (NULL: the whole
 * feed) and the last store revision it has turned into lines. Call with the
 * store's lock held (streams move under it). */
void watch_foreach(struct watch_hub *hub, void (*fn)(void *userdata, const char *host, int64_t rev),
		   void *userdata);
