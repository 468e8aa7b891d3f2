/* The change feed stream. */
#include "server/watch.h"

#include <jansson.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/xalloc.h"

#define BATCH 500

struct watch_stream {
	struct store *store;
	int64_t rev; /* last revision sent */
	bool need_snapshot;
	bool follow;
	bool done;
	unsigned ping_ms;
	struct strbuf out;
	size_t off;
};

struct watch_stream *watch_new(struct store *store, int64_t since, bool follow, unsigned ping_secs)
{
	struct watch_stream *w = xcalloc(1, sizeof(*w));

	w->store = store;
	w->follow = follow;
	w->ping_ms = ping_secs * 1000;
	store_lock(store);
	if (since <= 0 || since < store_feed_floor(store) || since > store_revision(store))
		w->need_snapshot = true;
	else
		w->rev = since;
	store_unlock(store);
	return w;
}

static void emit(struct watch_stream *w, json_t *line)
{
	char *s = json_dumps(line, JSON_COMPACT);

	if (s) {
		strbuf_append(&w->out, s);
		strbuf_append(&w->out, "\n");
		free(s);
	}
	json_decref(line);
}

static void snapshot(struct watch_stream *w)
{
	int64_t rev = store_revision(w->store);
	json_t *all = store_snapshot(w->store), *e;
	size_t i;

	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_begin", "revision", (json_int_t) rev));
	json_array_foreach(all, i, e) {
		json_t *line =
			json_pack("{s:s, s:I}", "op", "snapshot", "revision", (json_int_t) rev);

		json_object_update(line, e);
		emit(w, line);
	}
	json_decref(all);
	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_end", "revision", (json_int_t) rev));
	w->rev = rev;
	w->need_snapshot = false;
}

/* With the lock held: adds lines to w->out, or marks the end. */
static void fill(struct watch_stream *w)
{
	json_t *changes, *c;
	size_t i;

	if (store_is_shutting_down(w->store)) {
		w->done = true;
		return;
	}
	if (!w->need_snapshot && w->rev < store_feed_floor(w->store))
		w->need_snapshot = true; /* fell behind the retention: start over */
	if (w->need_snapshot) {
		snapshot(w);
		return;
	}
	changes = store_feed_after(w->store, w->rev, BATCH);
	json_array_foreach(changes, i, c) {
		w->rev = json_integer_value(json_object_get(c, "revision"));
		emit(w, json_incref(c));
	}
	if (json_array_size(changes)) {
		json_decref(changes);
		return;
	}
	json_decref(changes);
	if (!w->follow) {
		w->done = true;
		return;
	}
	if (store_wait(w->store, w->rev, w->ping_ms) <= w->rev && !store_is_shutting_down(w->store))
		emit(w, json_pack("{s:s, s:I}", "op", "ping", "revision", (json_int_t) w->rev));
}

ssize_t watch_read(void *stream, char *buf, size_t max)
{
	struct watch_stream *w = stream;
	size_t n;

	while (w->off >= w->out.len) {
		strbuf_done(&w->out);
		w->off = 0;
		if (w->done)
			return -1;
		store_lock(w->store);
		fill(w);
		store_unlock(w->store);
	}
	n = w->out.len - w->off;
	if (n > max)
		n = max;
	memcpy(buf, w->out.buf + w->off, n);
	w->off += n;
	return (ssize_t) n;
}

void watch_free(void *stream)
{
	struct watch_stream *w = stream;

	if (!w)
		return;
	strbuf_done(&w->out);
	free(w);
}
