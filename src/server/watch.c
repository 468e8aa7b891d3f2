/* The change feed stream, whole or for one node. */
#include "server/watch.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#define BATCH 64
/* The feeder lets the API have the store's lock at least this often. */
#define LOCK_SLICE_MS 5
/* The feeder looks at pings at least this often. */
#define TICK_MS 1000

struct watch_hub {
	struct store *store;
	struct nodeview *view;
	unsigned ping_ms;
	unsigned max_streams;
	pthread_t feeder, waiter;
	bool has_feeder, has_waiter;
	/* The rest under lock. Lock order: the store's lock, then this one,
	 * then the HTTP adapter's. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the feeder sleeps on it */
	bool quit;
	bool shutdown; /* the store shuts down: every stream ends */
	int64_t head;  /* the store's revision as the waiter last saw it */
	bool kicked;   /* some stream has want_fill */
	struct watch_stream *streams;
	unsigned n_streams;
};

/* What a node holds: its documents (references), sorted by type (the
 * index of nodeview_types) and id, in one allocation with their ids: about
 * 55 bytes a document, where an object of JSON objects took about 135
 * (bench/scale, 1,000 streams of about 410 documents: 32 MiB less). */
struct held {
	json_t *doc;
	uint32_t id; /* offset of its id in the ids after the array */
	uint32_t type;
};

struct holding {
	size_t n;
	struct held v[];
};

struct watch_stream {
	struct watch_hub *hub;
	/* The feeder's alone (and watch_new's before the stream is listed). */
	char *host;		    /* NULL: the whole feed */
	struct holding *sent;	    /* with a host: what the node holds */
	struct nodeview_deps *deps; /* with a host: what computing `sent` read */
	int64_t rev;		    /* last store revision the stream reflects (also read
				     * under the store's lock by watch_foreach) */
	int64_t pos;		    /* with a host: revision of the last line sent */
	json_t *snap;		    /* the whole feed's snapshot being sent */
	size_t snap_i;
	int64_t snap_rev;
	bool need_snapshot;
	bool follow;
	struct strbuf pend; /* lines made in this pass */
	/* Under the hub's lock. */
	struct http_stream *hs; /* NULL before attach and after free */
	struct strbuf out;	/* lines not read yet, from off */
	size_t off;
	uint64_t last_line_ms; /* when a line was last queued */
	bool more;	       /* lines held back for want of room */
	bool want_fill;	       /* the feeder should look at it */
	bool done;	       /* no line after out: the end once drained */
	bool closed;	       /* freed by the adapter; the feeder frees it */
	unsigned busy;	       /* the feeder holds it outside the lock */
	struct watch_stream *prev, *next;
};

static size_t pending(const struct watch_stream *w)
{
	return w->out.len - w->off;
}

void watch_foreach(struct watch_hub *hub, void (*fn)(void *userdata, const char *host, int64_t rev),
		   void *userdata)
{
	pthread_mutex_lock(&hub->lock);
	for (struct watch_stream *w = hub->streams; w; w = w->next)
		fn(userdata, w->host, w->rev);
	pthread_mutex_unlock(&hub->lock);
}

static const char *held_id(const struct holding *h, const struct held *e)
{
	return (const char *) &h->v[h->n] + e->id;
}

static void holding_free(struct holding *h)
{
	for (size_t i = 0; h && i < h->n; i++)
		json_decref(h->v[i].doc);
	free(h);
}

/* Orders x of a against y of b by type, then id. */
static int held_cmp(const struct holding *a, const struct held *x, const struct holding *b,
		    const struct held *y)
{
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return strcmp(held_id(a, x), held_id(b, y));
}

static int held_sort(const void *x, const void *y, void *h)
{
	return held_cmp(h, x, h, y);
}

/* A node's view ({type: {id: doc}}, nodeview_compute's) as a holding. */
static struct holding *holding_of(json_t *view)
{
	size_t n = 0, len = 0, i = 0;
	struct holding *h;
	const char *id;
	json_t *doc;
	char *ids;

	for (size_t t = 0; nodeview_types[t]; t++)
		json_object_foreach(json_object_get(view, nodeview_types[t]), id, doc) {
			n++;
			len += strlen(id) + 1;
		}
	h = xmalloc(sizeof(*h) + n * sizeof(h->v[0]) + len);
	h->n = n;
	ids = (char *) &h->v[n];
	len = 0;
	for (size_t t = 0; nodeview_types[t]; t++)
		json_object_foreach(json_object_get(view, nodeview_types[t]), id, doc) {
			size_t l = strlen(id) + 1;

			h->v[i].doc = json_incref(doc);
			h->v[i].id = (uint32_t) len;
			h->v[i++].type = (uint32_t) t;
			memcpy(ids + len, id, l);
			len += l;
		}
	qsort_r(h->v, n, sizeof(h->v[0]), held_sort, h);
	return h;
}

static void stream_destroy(struct watch_stream *w)
{
	strbuf_done(&w->out);
	strbuf_done(&w->pend);
	holding_free(w->sent);
	nodeview_deps_free(w->deps);
	json_decref(w->snap);
	free(w->host);
	free(w);
}

/* With the hub's lock: asks the feeder to look at the stream. */
static void kick(struct watch_hub *hub, struct watch_stream *w)
{
	w->want_fill = true;
	hub->kicked = true;
	pthread_cond_signal(&hub->wake);
}

struct watch_stream *watch_new(struct watch_hub *hub, const char *host, int64_t since, bool follow)
{
	struct watch_stream *w = xcalloc(1, sizeof(*w));

	w->hub = hub;
	w->host = host ? xstrdup(host) : NULL;
	w->follow = follow;
	store_lock(hub->store);
	if (host || since <= 0 || since < store_feed_floor(hub->store) ||
	    since > store_revision(hub->store))
		w->need_snapshot = true;
	else
		w->rev = since;
	store_unlock(hub->store);
	pthread_mutex_lock(&hub->lock);
	if (hub->n_streams >= hub->max_streams) {
		pthread_mutex_unlock(&hub->lock);
		stream_destroy(w);
		return NULL;
	}
	w->last_line_ms = time_mono_ms();
	w->next = hub->streams;
	if (hub->streams)
		hub->streams->prev = w;
	hub->streams = w;
	hub->n_streams++;
	kick(hub, w);
	pthread_mutex_unlock(&hub->lock);
	return w;
}

void watch_attach(void *stream, struct http_stream *hs)
{
	struct watch_stream *w = stream;

	pthread_mutex_lock(&w->hub->lock);
	w->hs = hs;
	pthread_mutex_unlock(&w->hub->lock);
}

ssize_t watch_read(void *stream, char *buf, size_t max)
{
	struct watch_stream *w = stream;
	struct watch_hub *hub = w->hub;
	ssize_t ret;

	pthread_mutex_lock(&hub->lock);
	if (pending(w)) {
		size_t n = pending(w) < max ? pending(w) : max;

		memcpy(buf, w->out.buf + w->off, n);
		w->off += n;
		ret = (ssize_t) n;
	} else {
		ret = w->done ? -1 : 0;
	}
	if (!pending(w)) {
		strbuf_done(&w->out); /* an idle stream holds no buffer */
		w->off = 0;
		if (w->more)
			kick(hub, w);
	}
	pthread_mutex_unlock(&hub->lock);
	return ret;
}

void watch_free(void *stream)
{
	struct watch_stream *w = stream;
	struct watch_hub *hub;

	if (!w)
		return;
	hub = w->hub;
	pthread_mutex_lock(&hub->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		hub->streams = w->next;
	if (w->next)
		w->next->prev = w->prev;
	hub->n_streams--;
	w->hs = NULL;
	w->closed = true;
	if (w->busy)
		w = NULL; /* the feeder frees it when done with it */
	pthread_mutex_unlock(&hub->lock);
	if (w)
		stream_destroy(w);
}

/* The feeder, with the store's lock: lines go to w->pend. */
static void emit(struct watch_stream *w, json_t *line)
{
	char *s = json_dumps(line, JSON_COMPACT);

	if (s) {
		strbuf_append(&w->pend, s);
		strbuf_append(&w->pend, "\n");
		free(s);
	}
	json_decref(line);
}

static void emit_doc(struct watch_stream *w, const char *op, int64_t rev, const char *type,
		     const char *id, json_t *doc)
{
	emit(w, json_pack("{s:s, s:I, s:s, s:s, s:O}", "op", op, "revision", (json_int_t) rev,
			  "type", type, "id", id, "object", doc));
}

/* The whole feed's snapshot, sent over several passes when it is large: it
 * is taken at one revision, then its lines go out as the client takes them
 * (at most about `budget` bytes per pass). Returns whether it is complete. */
static bool snapshot(struct watch_stream *w, struct store *store, size_t budget)
{
	if (!w->snap) {
		w->snap_rev = store_revision(store);
		w->snap = store_snapshot(store);
		w->snap_i = 0;
		emit(w, json_pack("{s:s, s:I}", "op", "snapshot_begin", "revision",
				  (json_int_t) w->snap_rev));
	}
	while (w->snap_i < json_array_size(w->snap) && w->pend.len < budget) {
		json_t *line = json_pack("{s:s, s:I}", "op", "snapshot", "revision",
					 (json_int_t) w->snap_rev);

		json_object_update(line, json_array_get(w->snap, w->snap_i++));
		emit(w, line);
	}
	if (w->snap_i < json_array_size(w->snap))
		return false;
	emit(w,
	     json_pack("{s:s, s:I}", "op", "snapshot_end", "revision", (json_int_t) w->snap_rev));
	json_decref(w->snap);
	w->snap = NULL;
	w->rev = w->snap_rev;
	w->need_snapshot = false;
	return true;
}

/* The node's share at the committed revision. */
static void node_snapshot(struct watch_stream *w, struct watch_hub *hub)
{
	int64_t rev = store_revision(hub->store);
	struct nodeview_deps *deps;
	json_t *now = nodeview_compute(hub->view, hub->store, w->host, &deps), *doc;
	const char *id;

	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_begin", "revision", (json_int_t) rev));
	for (size_t t = 0; nodeview_types[t]; t++)
		json_object_foreach(json_object_get(now, nodeview_types[t]), id, doc)
			emit_doc(w, "snapshot", rev, nodeview_types[t], id, doc);
	emit(w, json_pack("{s:s, s:I}", "op", "snapshot_end", "revision", (json_int_t) rev));
	holding_free(w->sent);
	w->sent = holding_of(now);
	json_decref(now);
	nodeview_deps_free(w->deps);
	w->deps = deps;
	w->rev = w->pos = rev;
	w->need_snapshot = false;
}

/* What the node needs now against what it holds (recomputed whole, so that
 * it is right whatever the order of the changes): documents that entered its
 * view, changed (a write replaces the store's object, so a changed document
 * is a different object), or left it. */
static void node_changes(struct watch_stream *w, struct watch_hub *hub)
{
	int64_t head = store_revision(hub->store), base;
	struct nodeview_deps *deps;
	json_t *view = nodeview_compute(hub->view, hub->store, w->host, &deps);
	struct holding *now = holding_of(view);
	const struct holding *had = w->sent;
	size_t nh = had ? had->n : 0, n = 0, i = 0, j;
	struct change {
		const char *op;
		const struct holding *h;
		const struct held *e;
	} *ch = xmalloc((now->n + nh + 1) * sizeof(*ch));

	json_decref(view);
	/* Both sorted: what entered the view or changed, by type in the
	 * order of nodeview_types... */
	for (j = 0; j < now->n; j++) {
		const struct held *e = &now->v[j];
		int c = 1;

		while (i < nh && (c = held_cmp(had, &had->v[i], now, e)) < 0)
			i++;
		if (i < nh && c == 0) {
			if (had->v[i].doc != e->doc)
				ch[n++] = (struct change){"update", now, e};
		} else {
			ch[n++] = (struct change){"create", now, e};
		}
	}
	/* ... then what left it, in the reverse order of the types. */
	for (i = nh, j = now->n; i-- > 0;) {
		const struct held *e = &had->v[i];
		int c = -1;

		while (j > 0 && (c = held_cmp(now, &now->v[j - 1], had, e)) > 0)
			j--;
		if (!(j > 0 && c == 0))
			ch[n++] = (struct change){"delete", had, e};
	}
	/* Strictly increasing revisions, ending at the store's when there is
	 * room below it. */
	base = head - w->pos >= (int64_t) n ? head - (int64_t) n + 1 : w->pos + 1;
	for (i = 0; i < n; i++)
		emit_doc(w, ch[i].op, base + (int64_t) i, nodeview_types[ch[i].e->type],
			 held_id(ch[i].h, ch[i].e), ch[i].e->doc);
	if (n)
		w->pos = base + (int64_t) n - 1;
	free(ch);
	holding_free(w->sent);
	w->sent = now;
	nodeview_deps_free(w->deps);
	w->deps = deps;
	w->rev = head;
}

/* The feeder, with the store's lock: the stream's next lines into w->pend,
 * at most about `room` bytes when it can split them. Returns whether lines
 * remain to be made (held back for want of room), and sets *ret_done when
 * the stream ends after these lines. */
static bool fill(struct watch_stream *w, struct watch_hub *hub, size_t room, bool *ret_done)
{
	json_t *changes, *c;
	size_t i;

	*ret_done = false;
	if (w->host) {
		if (w->need_snapshot) {
			node_snapshot(w, hub);
		} else if (store_revision(hub->store) > w->rev) {
			/* Most changes touch nothing this node's view read:
			 * skip. */
			if (!nodeview_may_differ(hub->view, hub->store, w->rev, w->deps))
				w->rev = store_revision(hub->store);
			else
				node_changes(w, hub);
		}
		*ret_done = !w->follow;
		return false;
	}
	if (!w->need_snapshot && !w->snap && w->rev < store_feed_floor(hub->store))
		w->need_snapshot = true; /* fell behind the retention: start over */
	if (w->need_snapshot && !snapshot(w, hub->store, room))
		return true;
	while (w->pend.len < room) {
		size_t n;

		changes = store_feed_after(hub->store, w->rev, BATCH);
		n = json_array_size(changes);
		json_array_foreach(changes, i, c) {
			if (w->pend.len >= room) {
				n = 0; /* the rest waits for room */
				break;
			}
			w->rev = json_integer_value(json_object_get(c, "revision"));
			emit(w, json_incref(c));
		}
		json_decref(changes);
		if (n < BATCH)
			break;
	}
	if (w->rev < store_revision(hub->store))
		return true;
	*ret_done = !w->follow;
	return false;
}

static void ping(struct watch_stream *w)
{
	emit(w, json_pack("{s:s, s:I}", "op", "ping", "revision",
			  (json_int_t) (w->pos > w->rev ? w->pos : w->rev)));
}

/* The feeder's pass over the streams it picked (held busy): makes their
 * lines under the store's lock, hands them over and wakes the streams. */
static void feed(struct watch_hub *hub, struct watch_stream **work, size_t n, uint64_t now_ms)
{
	uint64_t slice = time_mono_ms();

	store_lock(hub->store);
	for (size_t i = 0; i < n; i++) {
		struct watch_stream *w = work[i];
		bool more = false, done = false, due;

		if (time_mono_ms() - slice >= LOCK_SLICE_MS) {
			/* A mutex is not fair: sleep a little so that a
			 * request waiting for the lock gets it. */
			store_unlock(hub->store);
			nanosleep(&(struct timespec){.tv_nsec = 500 * 1000}, NULL);
			store_lock(hub->store);
			slice = time_mono_ms();
		}
		pthread_mutex_lock(&hub->lock);
		due = w->follow && !pending(w) && now_ms - w->last_line_ms >= hub->ping_ms;
		pthread_mutex_unlock(&hub->lock);
		if (store_is_shutting_down(hub->store))
			done = true;
		else
			more = fill(w, hub, WATCH_BUFFER, &done);
		if (!w->pend.len && due && !done)
			ping(w);

		pthread_mutex_lock(&hub->lock);
		if (w->pend.len) {
			if (!pending(w)) {
				strbuf_done(&w->out);
				w->out = w->pend;
				w->pend = (struct strbuf) STRBUF_INIT;
				w->off = 0;
			} else {
				strbuf_append_n(&w->out, w->pend.buf, w->pend.len);
				strbuf_done(&w->pend);
			}
			w->last_line_ms = time_mono_ms();
		}
		w->more = more;
		if (more && !pending(w))
			kick(hub, w); /* nothing for the reader to drain: go on */
		if (done)
			w->done = true;
		if (w->hs && (pending(w) || w->done))
			http_stream_wake(w->hs);
		pthread_mutex_unlock(&hub->lock);
	}
	store_unlock(hub->store);
}

static void *feeder_main(void *arg)
{
	struct watch_hub *hub = arg;
	int64_t seen = 0;	/* the head the last pass covered */
	bool seen_down = false; /* the last pass ended the streams */
	size_t cap = 0;
	struct watch_stream **work = NULL;

	pthread_mutex_lock(&hub->lock);
	while (!hub->quit) {
		uint64_t now = time_mono_ms(), next = now + TICK_MS;
		bool moved = hub->head > seen || (hub->shutdown && !seen_down);
		size_t n = 0;

		if (hub->n_streams > cap) {
			cap = hub->n_streams * 2;
			work = xrealloc(work, cap * sizeof(*work));
		}
		for (struct watch_stream *w = hub->streams; w; w = w->next) {
			uint64_t ping_at = w->last_line_ms + hub->ping_ms;
			bool due = w->follow && !pending(w) && ping_at <= now;

			if (w->done)
				continue;
			if (w->follow && !pending(w) && ping_at < next)
				next = ping_at;
			if (pending(w) >= WATCH_BUFFER) {
				w->more = w->more || moved;
				continue; /* the client has not taken what it has */
			}
			if (!moved && !w->want_fill && !due)
				continue;
			w->want_fill = false;
			w->busy++;
			work[n++] = w;
		}
		hub->kicked = false;
		seen = hub->head;
		seen_down = hub->shutdown;
		if (!n) {
			struct timespec ts;

			if (hub->quit)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			next = next > now ? next - now : 1;
			ts.tv_sec += (time_t) (next / 1000);
			ts.tv_nsec += (long) (next % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			while (!hub->quit && !hub->kicked && hub->head <= seen &&
			       hub->shutdown == seen_down)
				if (pthread_cond_timedwait(&hub->wake, &hub->lock, &ts) ==
				    ETIMEDOUT)
					break;
			continue;
		}
		pthread_mutex_unlock(&hub->lock);
		feed(hub, work, n, now);
		pthread_mutex_lock(&hub->lock);
		for (size_t i = 0; i < n; i++) {
			if (--work[i]->busy == 0 && work[i]->closed)
				stream_destroy(work[i]);
		}
	}
	pthread_mutex_unlock(&hub->lock);
	free(work);
	return NULL;
}

/* Turns the store's revision into the feeder's wake-ups. */
static void *waiter_main(void *arg)
{
	struct watch_hub *hub = arg;
	int64_t seen;
	bool quit = false;

	store_lock(hub->store);
	seen = store_revision(hub->store);
	while (!quit) {
		int64_t rev = store_wait(hub->store, seen, TICK_MS);
		bool down = store_is_shutting_down(hub->store);

		pthread_mutex_lock(&hub->lock);
		if (rev > seen || down) {
			hub->head = rev;
			hub->shutdown = down;
			pthread_cond_signal(&hub->wake);
		}
		quit = hub->quit || down;
		pthread_mutex_unlock(&hub->lock);
		seen = rev;
	}
	store_unlock(hub->store);
	return NULL;
}

int watch_hub_new(struct store *store, struct nodeview *view, unsigned ping_secs,
		  unsigned max_streams, struct watch_hub **ret)
{
	struct watch_hub *hub = xcalloc(1, sizeof(*hub));
	pthread_condattr_t ca;
	int r;

	hub->store = store;
	hub->view = view;
	hub->ping_ms = ping_secs * 1000;
	hub->max_streams = max_streams;
	pthread_mutex_init(&hub->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hub->wake, &ca);
	pthread_condattr_destroy(&ca);
	store_lock(store);
	hub->head = store_revision(store);
	store_unlock(store);
	r = -pthread_create(&hub->feeder, NULL, feeder_main, hub);
	hub->has_feeder = r == 0;
	if (r == 0) {
		r = -pthread_create(&hub->waiter, NULL, waiter_main, hub);
		hub->has_waiter = r == 0;
	}
	if (r < 0) {
		watch_hub_free(hub);
		return r;
	}
	*ret = hub;
	return 0;
}

void watch_hub_free(struct watch_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->lock);
	hub->quit = true;
	pthread_cond_signal(&hub->wake);
	pthread_mutex_unlock(&hub->lock);
	if (hub->has_feeder)
		pthread_join(hub->feeder, NULL);
	if (hub->has_waiter)
		pthread_join(hub->waiter, NULL);
	while (hub->streams) { /* not expected: the adapter frees them first */
		struct watch_stream *w = hub->streams;

		hub->streams = w->next;
		stream_destroy(w);
	}
	pthread_mutex_destroy(&hub->lock);
	pthread_cond_destroy(&hub->wake);
	free(hub);
}
