/* The change feed as a stream of JSON lines (GET /v2.0/lepton/watch).
 *
 * since=REV gives every change after REV. When REV is 0, older than what the
 * feed keeps, or newer than the store (a different store), the stream starts
 * with a snapshot instead: snapshot_begin, one "snapshot" line per object,
 * snapshot_end, all at revision R, then the changes after R. A consumer that
 * records the revision of the last line it applied and reconnects with
 * since=that revision neither misses nor repeats a change. follow=false ends
 * the stream once it has caught up; otherwise it follows live changes and
 * sends a "ping" line when idle. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "server/store.h"

struct watch_stream;

struct watch_stream *watch_new(struct store *store, int64_t since, bool follow, unsigned ping_secs);
/* http_response.read: blocks until it has lines; -1 at the end. */
ssize_t watch_read(void *stream, char *buf, size_t max);
void watch_free(void *stream);
