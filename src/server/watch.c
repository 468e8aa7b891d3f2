/* The change feed stream, whole or for one node. */
#include "server/watch.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#define BATCH 500

struct watch_stream {
	struct store *store;
	struct nodeview *view;
	char *host;   /* NULL: the whole feed */
	json_t *sent; /* with a host: {type: {id: doc}} the node holds */
	json_t *deps; /* with a host: what computing `sent` read */
	int64_t rev;  /* last store revision the stream reflects */
	int64_t pos;  /* with a host: revision of the last line sent */
	struct watch_stream *prev_open, *next_open; /* every open stream */
	bool need_snapshot;
	bool follow;
	bool done;
	unsigned ping_ms;
	uint64_t last_emit_ms; /* when a line was last queued */
	struct strbuf out;
	size_t off;
};

/* The open streams, for metrics (watch_foreach). Lock order: the store's
 * lock, then this one. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watch_stream *open_streams;

void watch_foreach(void (*fn)(void *userdata, const char *host, int64_t rev), void *userdata)
{
	pthread_mutex_lock(&open_lock);
	for (struct watch_stream *w = open_streams; w; w = w->next_open)
		fn(userdata, w->host, w->rev);
	pthread_mutex_unlock(&open_lock);
}

struct watch_stream *watch_new(struct store *store, struct nodeview *view, const char *host,
			       int64_t since, bool follow, unsigned ping_secs)
{
	struct watch_stream *w = xcalloc(1, sizeof(*w));

	w->store = store;
	w->view = view;
	w->host = host ? xstrdup(host) : NULL;
	w->sent = json_object();
	w->follow = follow;
	w->ping_ms = ping_secs * 1000;
	w->last_emit_ms = time_mono_ms();
	store_lock(store);
	if (host || since <= 0 || since < store_feed_floor(store) || since > store_revision(store))
		w->need_snapshot = true;
	else
		w->rev = since;
	store_unlock(store);
	pthread_mutex_lock(&open_lock);
	w->next_open = open_streams;
	if (open_streams)
		open_streams->prev_open = w;
	open_streams = w;
	pthread_mutex_unlock(&open_lock);
	return w;
}

static void emit(struct watch_stream *w, json_t *line)
{
	char *s = json_dumps(line, JSON_COMPACT);

	w->last_emit_ms = time_mono_ms();
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

static void emit_doc(struct watch_stream *w, const char *op, int64_t rev, const char *type,
		     const char *id, json_t *doc)
{
	emit(w, json_pack("{s:s, s:I, s:s, s:s, s:O}", "op", op, "revision", (json_int_t) rev,
			  "type", type, "id", id, "object", doc));
}

/* The node's share at the committed revision. */
static void node_snapshot(struct watch_stream *w)
{
	int64_t rev = store_revision(w->store);
	json_t *deps, *now = nodeview_compute(w->view, w->store, w->host, &deps), *doc;
	const char *id;

	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_begin", "revision", (json_int_t) rev));
	for (size_t t = 0; nodeview_types[t]; t++)
		json_object_foreach(json_object_get(now, nodeview_types[t]), id, doc)
			emit_doc(w, "snapshot", rev, nodeview_types[t], id, doc);
	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_end", "revision", (json_int_t) rev));
	json_decref(w->sent);
	w->sent = now;
	json_decref(w->deps);
	w->deps = deps;
	w->rev = w->pos = rev;
	w->need_snapshot = false;
}

/* What the node needs now against what it holds (recomputed whole, so that
 * it is right whatever the order of the changes): documents that entered its
 * view, changed (a write replaces the store's object, so a changed document
 * is a different object), or left it. Returns the number of lines. */
static size_t node_changes(struct watch_stream *w)
{
	int64_t head = store_revision(w->store), base;
	json_t *deps, *now = nodeview_compute(w->view, w->store, w->host, &deps);
	json_t *lines = json_array(), *doc, *l;
	const char *id;
	size_t n, i, t;

	for (t = 0; nodeview_types[t]; t++) {
		json_t *had = json_object_get(w->sent, nodeview_types[t]);

		json_object_foreach(json_object_get(now, nodeview_types[t]), id, doc) {
			json_t *old = json_object_get(had, id);

			if (old != doc)
				json_array_append_new(lines, json_pack("[s, s, s, O]",
								       old ? "update" : "create",
								       nodeview_types[t], id, doc));
		}
	}
	while (t-- > 0) {
		json_t *has = json_object_get(now, nodeview_types[t]);

		json_object_foreach(json_object_get(w->sent, nodeview_types[t]), id, doc)
			if (!json_object_get(has, id))
				json_array_append_new(lines, json_pack("[s, s, s, O]", "delete",
								       nodeview_types[t], id, doc));
	}
	n = json_array_size(lines);
	/* Strictly increasing revisions, ending at the store's when there is
	 * room below it. */
	base = head - w->pos >= (int64_t) n ? head - (int64_t) n + 1 : w->pos + 1;
	json_array_foreach(lines, i, l)
		emit_doc(w, json_string_value(json_array_get(l, 0)), base + (int64_t) i,
			 json_string_value(json_array_get(l, 1)),
			 json_string_value(json_array_get(l, 2)), json_array_get(l, 3));
	if (n)
		w->pos = base + (int64_t) n - 1;
	json_decref(lines);
	json_decref(w->sent);
	w->sent = now;
	json_decref(w->deps);
	w->deps = deps;
	w->rev = head;
	return n;
}

/* With the lock held, for a node's stream. */
static void fill_node(struct watch_stream *w)
{
	uint64_t idle;

	if (w->need_snapshot) {
		node_snapshot(w);
		return;
	}
	if (store_revision(w->store) > w->rev) {
		/* Most changes touch nothing this node's view read: skip. */
		if (!nodeview_may_differ(w->view, w->store, w->rev, w->deps))
			w->rev = store_revision(w->store);
		else if (node_changes(w))
			return;
	}
	if (!w->follow) {
		w->done = true;
		return;
	}
	/* A ping once per ping_ms without a line, counted from the last line
	 * and not from the last wake-up: commits this node does not see wake
	 * the stream without writing to it, and only a write finds a client
	 * that went away (its connection and thread would stay forever). */
	idle = time_mono_ms() - w->last_emit_ms;
	if ((idle >= w->ping_ms ||
	     store_wait(w->store, w->rev, w->ping_ms - (unsigned) idle) <= w->rev) &&
	    !store_is_shutting_down(w->store))
		emit(w, json_pack("{s:s, s:I}", "op", "ping", "revision",
				  (json_int_t) (w->pos > w->rev ? w->pos : w->rev)));
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
	if (w->host) {
		fill_node(w);
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
	pthread_mutex_lock(&open_lock);
	if (w->prev_open)
		w->prev_open->next_open = w->next_open;
	else
		open_streams = w->next_open;
	if (w->next_open)
		w->next_open->prev_open = w->prev_open;
	pthread_mutex_unlock(&open_lock);
	strbuf_done(&w->out);
	json_decref(w->sent);
	json_decref(w->deps);
	free(w->host);
	free(w);
}
