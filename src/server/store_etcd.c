/* The etcd backend of the store (store_backend.h): several lepton-servers
 * share one etcd v3 cluster, spoken to over its JSON gateway (/v3/kv/...,
 * /v3/watch) with libcurl: no generated gRPC code, and the same HTTP client
 * the server already links for Keystone.
 *
 * Keys under PREFIX (default "/lepton/"):
 *   d/TYPE/ID     a document (JSON)
 *   a/KIND/VAL    an allocation; the value is its owner
 *   head          written by every transaction: the optimistic lock
 *   beat/HOST     an agent's last heartbeat, {"ms": wall ms, "at": ISO time}
 *
 * Every server keeps the whole model in memory, loaded with one range read
 * and then followed through one watch of PREFIX. A transaction runs against
 * that model (its read set is the model at the head revision it saw) and
 * commits as one etcd txn that compares head's mod revision with the one
 * the model holds: when another server committed first, the txn fails, the
 * model catches up from the watch and the request runs again (api.c). The
 * change feed is the watch's document events: their revisions are etcd's, so
 * an agent may resume on any server. Heartbeats are etcd keys outside d/:
 * every server sees them, and they never reach the feed. */
#include "server/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "base/random.h"
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "server/store_backend.h"

#define MAX_ENDPOINTS	16
#define CALL_TIMEOUT_MS 3000

/* One change of the feed, kept compact: 100k of them stay in memory. */
struct change {
	int64_t rev;
	const char *op; /* "create", "update" or "delete" (static) */
	char *key;	/* "TYPE\0ID" */
	json_t *doc;	/* the document then (shared with the model while current) */
};

struct etcd_store {
	struct store base;
	char *endpoints[MAX_ENDPOINTS];
	size_t n_endpoints;
	size_t current; /* the endpoint that answered last */
	char *prefix;
	CURL *curl; /* requests, under the store lock */
	int64_t retention;
	int64_t head_mod; /* head's mod revision the model holds */
	int64_t applied;  /* the last revision of d/, a/ or head in the model */
	int64_t watched;  /* the last revision the watch delivered */
	char tag[40];	  /* this server's txn marker key: txn/TAG = its last txn */
	uint64_t txn_seq;
	json_t *allocs;	     /* {kind: {"val": owner}} */
	json_t *alloc_undo;  /* [[kind, val, old owner or null], ...] */
	json_t *crev;	     /* {"type\x1fid": create revision}: the snapshot's order */
	struct change *feed; /* oldest first */
	size_t feed_n, feed_cap;
	char errmsg[256];
	pthread_t watcher;
	bool watching;
	volatile bool stopping;
};

#define ES(s) ((struct etcd_store *) (s))

static _Thread_local int64_t conflict_head;

/* base64 (RFC 4648), as the gateway carries keys and values. */
static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t) (unsigned char) in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t) (unsigned char) in[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char) in[i + 2];
		*o++ = b64chars[(v >> 18) & 63];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static signed char b64values[256]; /* a character's value, or -1 */
static pthread_once_t b64values_once = PTHREAD_ONCE_INIT;

static void b64values_fill(void)
{
	memset(b64values, -1, sizeof(b64values));
	for (int i = 0; i < 64; i++)
		b64values[(unsigned char) b64chars[i]] = (signed char) i;
}

/* Decodes into a NUL-terminated string; NULL when not base64. A table,
 * not a search per character: a server decodes its whole store at start. */
static char *b64_decode(const char *in)
{
	size_t len = in ? strlen(in) : 0, n = 0;
	char *out = xmalloc(len / 4 * 3 + 3);
	uint32_t v = 0;
	int bits = 0;

	pthread_once(&b64values_once, b64values_fill);
	for (size_t i = 0; i < len && in[i] != '='; i++) {
		int d = b64values[(unsigned char) in[i]];

		if (d < 0) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (uint32_t) d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char) ((v >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return out;
}

static int64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return json_integer_value(v);
}

static char *key_of(struct etcd_store *e, const char *fmt, ...) _printf_(2, 3);
static char *key_of(struct etcd_store *e, const char *fmt, ...)
{
	va_list ap;
	char *tail, *k;

	va_start(ap, fmt);
	if (vasprintf(&tail, fmt, ap) < 0)
		abort();
	va_end(ap);
	k = xasprintf("%s%s", e->prefix, tail);
	free(tail);
	return k;
}

/* The end of the range of keys starting with the prefix. */
static char *prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);

	end[strlen(end) - 1]++;
	return end;
}

struct buf {
	char *data;
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	b->data = xrealloc(b->data, b->len + size * n + 1);
	memcpy(b->data + b->len, ptr, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* POSTs the body to PATH on the endpoints in turn, starting with the one
 * that answered last. 0 with the parsed answer; -EHOSTUNREACH when no
 * member answers or the cluster has no leader; -EIO on another error. A
 * member that timed out may still have applied the request: callers send
 * only what is safe to repeat (a txn says whether it landed: etcd_commit). */
static int call(struct etcd_store *e, CURL *c, const char *path, json_t *body, json_t **ret)
{
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	struct curl_slist *h = NULL;
	struct strbuf why = {0};
	bool timed_out = false;
	int r = -EHOSTUNREACH;

	/* Without a leader, fail at once instead of waiting out the timeout. */
	h = curl_slist_append(h, "Grpc-Metadata-hasleader: true");
	h = curl_slist_append(h, "Content-Type: application/json");
	for (size_t k = 0; k < e->n_endpoints; k++) {
		size_t at = (e->current + k) % e->n_endpoints;
		_cleanup_free_ char *url = xasprintf("%s%s", e->endpoints[at], path);
		struct buf b = {0};
		long status = 0;
		CURLcode rc;

		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) CALL_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200) {
			*ret = json_loads(b.data ? b.data : "", 0, NULL);
			free(b.data);
			e->current = at;
			r = *ret ? 0 : -EIO;
			if (!*ret)
				strbuf_appendf(&why, "%s: unreadable answer", e->endpoints[at] + 7);
			break;
		}
		if (why.len)
			strbuf_append(&why, "; ");
		timed_out |= rc == CURLE_OPERATION_TIMEDOUT || status == 504;
		if (rc != CURLE_OK) {
			strbuf_appendf(&why, "%s: %s", e->endpoints[at] + 7,
				       curl_easy_strerror(rc));
		} else {
			json_t *err = json_loads(b.data ? b.data : "", 0, NULL);
			const char *msg = json_string_value(json_object_get(err, "error"));

			strbuf_appendf(&why, "%s: %s", e->endpoints[at] + 7,
				       msg ? msg : "HTTP error");
			json_decref(err);
			/* Unavailable (no leader, no quorum) or timed out: try
			 * another member; any other error is final. */
			if (status != 503 && status != 504)
				r = -EIO;
		}
		free(b.data);
		if (r == -EIO)
			break;
	}
	curl_slist_free_all(h);
	if (r < 0)
		snprintf(e->errmsg, sizeof(e->errmsg), "etcd: %s%s", strbuf_str(&why),
			 r == -EIO   ? ""
			 : timed_out ? "; a member timed out on it: it may yet apply, whole, "
				       "when etcd recovers"
				     : "; nothing was applied");
	strbuf_done(&why);
	return r;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void crev_set(struct etcd_store *e, const char *type, const char *id, int64_t rev)
{
	char k[320];

	snprintf(k, sizeof(k), "%s\x1f%s", type, id);
	if (rev)
		json_object_set_new(e->crev, k, json_integer(rev));
	else
		json_object_del(e->crev, k);
}

static json_t *kind_map(struct etcd_store *e, const char *kind)
{
	json_t *m = json_object_get(e->allocs, kind);

	if (!m) {
		m = json_object();
		json_object_set_new(e->allocs, kind, m);
	}
	return m;
}

static void feed_append(struct etcd_store *e, const char *op, int64_t rev, const char *type,
			const char *id, json_t *doc)
{
	size_t tlen = strlen(type), ilen = strlen(id);
	struct change *c;

	if (e->feed_n == e->feed_cap) {
		e->feed_cap = e->feed_cap ? 2 * e->feed_cap : 1024;
		e->feed = xrealloc(e->feed, e->feed_cap * sizeof(*e->feed));
	}
	c = &e->feed[e->feed_n++];
	c->rev = rev;
	c->op = streq(op, "create") ? "create" : streq(op, "update") ? "update" : "delete";
	c->key = xmalloc(tlen + ilen + 2);
	memcpy(c->key, type, tlen + 1);
	memcpy(c->key + tlen + 1, id, ilen + 1);
	c->doc = json_incref(doc ? doc : json_null());
}

/* Drops the oldest CUT changes. */
static void feed_drop(struct etcd_store *e, size_t cut)
{
	if (!cut)
		return;
	for (size_t i = 0; i < cut; i++) {
		free(e->feed[i].key);
		json_decref(e->feed[i].doc);
	}
	memmove(e->feed, e->feed + cut, (e->feed_n - cut) * sizeof(*e->feed));
	e->feed_n -= cut;
}

/* Keeps `retention` changes, dropping whole revisions. */
static void feed_trim(struct etcd_store *e)
{
	size_t n = e->feed_n, cut = 0;

	if ((int64_t) n <= e->retention + e->retention / 10)
		return;
	cut = n - (size_t) e->retention;
	while (cut < n && e->feed[cut].rev == e->feed[cut - 1].rev)
		cut++;
	e->base.floor = e->feed[cut - 1].rev;
	feed_drop(e, cut);
}

/* Applies one key-value (value NULL: deleted) at revision rev to the model,
 * outside any transaction. Returns 1 when it changed a document. */
static int apply_kv(struct etcd_store *e, const char *key, const char *value, int64_t rev,
		    int64_t create_rev, bool is_load)
{
	struct store *s = &e->base;
	size_t plen = strlen(e->prefix);
	const char *k = key + plen, *slash;

	if (strncmp(key, e->prefix, plen) != 0)
		return 0;
	if (strncmp(k, "beat/", 5) == 0) {
		json_t *b = value ? json_loads(value, 0, NULL) : NULL;

		if (b)
			store_beat_seen(s, k + 5,
					(uint64_t) json_integer_value(json_object_get(b, "ms")),
					json_string_value(json_object_get(b, "at")) ?: "");
		json_decref(b);
		return 0;
	}
	if (!is_load && rev <= e->applied)
		return 0; /* this server's own commit, already in the model */
	if (streq(k, "head")) {
		e->head_mod = rev;
		return 0;
	}
	slash = strrchr(k, '/');
	if (!slash || slash < k + 2)
		return 0;
	if (strncmp(k, "a/", 2) == 0) {
		_cleanup_free_ char *kind = xstrndup(k + 2, (size_t) (slash - k - 2));

		if (value)
			json_object_set_new(kind_map(e, kind), slash + 1, json_string(value));
		else
			json_object_del(kind_map(e, kind), slash + 1);
		return 0;
	}
	if (strncmp(k, "d/", 2) == 0) {
		_cleanup_free_ char *type = xstrndup(k + 2, (size_t) (slash - k - 2));
		const char *id = slash + 1;
		json_t *old = json_object_get(json_object_get(s->cache, type), id);
		json_t *doc = value ? json_loads(value, 0, NULL) : NULL;
		const char *op = !doc ? "delete" : old ? "update" : "create";

		if (value && !doc)
			return 0;
		if (is_load && doc) {
			/* Into the model as parsed, no copy: store_recount()
			 * counts once the load is done. */
			json_object_set_new(store_cache_type(s, type), id, store_cache_doc(s, doc));
			crev_set(e, type, id, create_rev);
			return 1;
		}
		if (!is_load && !doc)
			feed_append(e, op, rev, type, id, old);
		store_cache_set(s, type, id, doc);
		/* The feed shares the model's copy of the document (as after
		 * this server's own commits): one copy per change, not two. */
		if (!is_load && doc)
			feed_append(e, op, rev, type, id,
				    json_object_get(json_object_get(s->cache, type), id));
		crev_set(e, type, id, doc ? create_rev : 0);
		json_decref(doc);
		return 1;
	}
	return 0;
}

/* Keys per range read when loading the model: the first page's, then a
 * 16th of the store within bounds. etcd 3.4 walks its index over the rest
 * of the range for every page (to count it), so a page's cost grows with
 * what is left: 1,000-key pages over 300k keys took 4 times as long as one
 * read, while one read holds the whole store as base64 at once. */
#define LOAD_PAGE_MIN 1000
#define LOAD_PAGE_MAX 20000

static void model_clear(struct etcd_store *e)
{
	struct store *s = &e->base;

	json_decref(s->cache);
	s->cache = json_object();
	json_object_clear(e->allocs);
	json_object_clear(e->crev);
	feed_drop(e, e->feed_n);
}

/* One page of the load: up to LIMIT keys from FROM (LEN bytes) on, at
 * revision *REV (0: the newest, which it sets). The key after the page's
 * last in *NEXT (NULL at the end); the number of keys in *N, and how many
 * were left from FROM on in *LEFT. */
static int load_page(struct etcd_store *e, CURL *c, const char *from, size_t len, int64_t limit,
		     int64_t *rev, char **next, size_t *n, int64_t *left)
{
	_cleanup_free_ char *k = b64_encode(from, len);
	_cleanup_free_ char *end = prefix_end(e->prefix);
	_cleanup_free_ char *ke = b64_encode(end, strlen(end));
	json_t *ans = NULL, *kv, *kvs;
	json_t *req = json_pack("{s:s, s:s, s:I}", "key", k, "range_end", ke, "limit",
				(json_int_t) limit);
	size_t i;
	int r;

	if (*rev)
		json_object_set_new(req, "revision", json_sprintf("%" PRId64, *rev));
	r = call(e, c, "/v3/kv/range", req, &ans);
	json_decref(req);
	if (r < 0)
		return r;
	if (!*rev)
		*rev = jint(json_object_get(ans, "header"), "revision");
	kvs = json_object_get(ans, "kvs");
	*left = jint(ans, "count");
	*next = NULL;
	*n = json_array_size(kvs);
	json_array_foreach(kvs, i, kv) {
		_cleanup_free_ char *key =
			b64_decode(json_string_value(json_object_get(kv, "key")));
		_cleanup_free_ char *val =
			b64_decode(json_string_value(json_object_get(kv, "value")) ?: "");

		if (key && val)
			apply_kv(e, key, val, jint(kv, "mod_revision"), jint(kv, "create_revision"),
				 true);
		if (key && i + 1 == *n && json_is_true(json_object_get(ans, "more")))
			*next = xstrdup(key); /* the next page starts at key + "\0" */
	}
	r = json_is_true(json_object_get(ans, "more")) && !*next ? -EIO : 0;
	if (r < 0)
		snprintf(e->errmsg, sizeof(e->errmsg), "etcd: a page of the store ends unreadably");
	json_decref(ans);
	return r;
}

/* Reads every key under the prefix into an empty model, a page at a time
 * at one revision (a single answer would hold the whole store: with 100k
 * ports, hundreds of MB of base64 in memory at once). */
static int load(struct etcd_store *e, CURL *c)
{
	uint64_t t0 = time_mono_ms();
	size_t total = 0, pages = 0;
	int r = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		char *from = xstrdup(e->prefix), *next = NULL;
		size_t len = strlen(from), n = 0;
		int64_t rev = 0, limit = LOAD_PAGE_MIN, left = 0;

		total = pages = 0;
		if (attempt)
			model_clear(e); /* compacted under the load: again, newer */
		while ((r = load_page(e, c, from, len, limit, &rev, &next, &n, &left)) == 0) {
			if (!pages++)
				limit = left / 16 < LOAD_PAGE_MIN   ? LOAD_PAGE_MIN
					: left / 16 > LOAD_PAGE_MAX ? LOAD_PAGE_MAX
								    : left / 16;
			total += n;
			free(from);
			from = next;
			if (!from)
				break;
			len = strlen(from) + 1;
		}
		free(from);
		if (r == 0) {
			e->watched = e->applied = rev;
			e->base.revision = e->base.floor = rev;
			log_event(LOG_LVL_INFO, "server.etcd_loaded",
				  "keys=%zu pages=%zu revision=%" PRId64 " ms=%" PRIu64, total,
				  pages, rev, time_mono_ms() - t0);
			return 0;
		}
		if (!strstr(e->errmsg, "compacted"))
			break;
	}
	return r;
}

/* Empties the model and reads it again (the watch fell behind compaction):
 * watchers start over from a snapshot. */
static void reload(struct etcd_store *e, CURL *c)
{
	struct store *s = &e->base;

	model_clear(e);
	if (load(e, c) < 0)
		log_event(LOG_LVL_ERROR, "server.etcd_reload_failed", "err=%s", e->errmsg);
	store_recount(s);
	pthread_cond_broadcast(&s->changed);
}

struct stream {
	struct etcd_store *e;
	CURL *c;
	char *data;
	size_t len;
	bool compacted;
};

static void apply_events(struct etcd_store *e, json_t *result)
{
	struct store *s = &e->base;
	json_t *ev;
	int64_t last = e->applied, docs_rev = 0;
	size_t i;

	json_array_foreach(json_object_get(result, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		_cleanup_free_ char *key =
			b64_decode(json_string_value(json_object_get(kv, "key")));
		_cleanup_free_ char *val = NULL;
		int64_t rev = jint(kv, "mod_revision");

		if (!key)
			continue;
		if (!streq(json_string_value(json_object_get(ev, "type")) ?: "PUT", "DELETE"))
			val = b64_decode(json_string_value(json_object_get(kv, "value")) ?: "");
		if (apply_kv(e, key, val, rev, jint(kv, "create_revision"), false) > 0)
			docs_rev = rev;
		if (rev > e->watched)
			e->watched = rev;
		if (rev > last && strncmp(key + strlen(e->prefix), "beat/", 5) != 0)
			last = rev;
	}
	e->applied = last;
	if (docs_rev > s->revision)
		s->revision = docs_rev;
	feed_trim(e);
	pthread_cond_broadcast(&s->changed);
}

/* Parses the watch stream: one JSON object per message. */
static size_t on_watch(char *ptr, size_t size, size_t n, void *userdata)
{
	struct stream *st = userdata;
	struct etcd_store *e = st->e;
	size_t off = 0;

	st->data = xrealloc(st->data, st->len + size * n + 1);
	memcpy(st->data + st->len, ptr, size * n);
	st->len += size * n;
	st->data[st->len] = '\0';
	while (off < st->len) {
		json_error_t err;
		json_t *msg =
			json_loadb(st->data + off, st->len - off, JSON_DISABLE_EOF_CHECK, &err);
		json_t *result;

		if (!msg)
			break; /* incomplete: wait for more */
		off += (size_t) err.position;
		while (off < st->len &&
		       (st->data[off] == '\n' || st->data[off] == '\r' || st->data[off] == ' '))
			off++;
		result = json_object_get(msg, "result");
		if (jint(result, "compact_revision") > 0 ||
		    json_is_true(json_object_get(result, "canceled"))) {
			st->compacted = jint(result, "compact_revision") > 0;
			json_decref(msg);
			return 0; /* abort the transfer */
		}
		if (json_array_size(json_object_get(result, "events"))) {
			store_lock(&e->base);
			apply_events(e, result);
			store_unlock(&e->base);
		}
		json_decref(msg);
	}
	memmove(st->data, st->data + off, st->len - off);
	st->len -= off;
	return size * n;
}

static int on_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct etcd_store *e = userdata;

	(void) a, (void) b, (void) c, (void) d;
	return e->stopping;
}

static void *watch_main(void *arg)
{
	struct etcd_store *e = arg;
	CURL *c = curl_easy_init();
	_cleanup_free_ char *k = b64_encode(e->prefix, strlen(e->prefix));
	_cleanup_free_ char *end = prefix_end(e->prefix);
	_cleanup_free_ char *ke = b64_encode(end, strlen(end));
	size_t at = e->current;

	while (!e->stopping) {
		struct stream st = {.e = e, .c = c};
		_cleanup_free_ char *url = xasprintf("%s/v3/watch", e->endpoints[at]);
		json_t *req;
		char *text;
		CURLcode rc;

		store_lock(&e->base);
		req = json_pack("{s:{s:s, s:s, s:s, s:b}}", "create_request", "key", k, "range_end",
				ke, "start_revision", "", "prev_kv", 0);
		json_object_set_new(json_object_get(req, "create_request"), "start_revision",
				    json_sprintf("%" PRId64, e->watched + 1));
		store_unlock(&e->base);
		text = json_dumps(req, JSON_COMPACT);
		json_decref(req);
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, e);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		/* A member that lost its peers keeps the stream open but silent:
		 * TCP keepalive only finds dead peers, which is what we need. */
		curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
		rc = curl_easy_perform(c);
		free(text);
		free(st.data);
		if (e->stopping)
			break;
		if (st.compacted) {
			log_event(LOG_LVL_ERROR, "server.etcd_watch_compacted", "action=reload");
			store_lock(&e->base);
			reload(e, c);
			store_unlock(&e->base);
		} else {
			log_event(LOG_LVL_DEBUG, "server.etcd_watch_ended", "member=%s err=%s",
				  e->endpoints[at], curl_easy_strerror(rc));
			at = (at + 1) % e->n_endpoints;
		}
		for (int i = 0; i < 4 && !e->stopping; i++)
			usleep(50 * 1000);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static int etcd_begin(struct store *s)
{
	json_decref(ES(s)->alloc_undo);
	ES(s)->alloc_undo = json_array();
	return 0;
}

static void add_put(json_t *ops, const char *key, const char *value)
{
	_cleanup_free_ char *k = b64_encode(key, strlen(key));
	_cleanup_free_ char *v = b64_encode(value, strlen(value));

	json_array_append_new(ops,
			      json_pack("{s:{s:s, s:s}}", "request_put", "key", k, "value", v));
}

static void add_delete(json_t *ops, const char *key)
{
	_cleanup_free_ char *k = b64_encode(key, strlen(key));

	json_array_append_new(ops, json_pack("{s:{s:s}}", "request_delete_range", "key", k));
}

/* The txn's operations for what the transaction wrote, and the feed's
 * changes it makes ([op, type, id, doc]). */
static void plan_txn(struct etcd_store *e, json_t *ops, json_t *changes)
{
	struct store *s = &e->base;
	json_t *seen = json_object(), *u;
	size_t i;

	json_array_foreach(s->undo, i, u) {
		const char *type = json_string_value(json_array_get(u, 0));
		const char *id = json_string_value(json_array_get(u, 1));
		json_t *old = json_array_get(u, 2), *now;
		_cleanup_free_ char *key = key_of(e, "d/%s/%s", type, id);

		if (json_object_get(seen, key))
			continue;
		json_object_set_new(seen, key, json_true());
		now = json_object_get(json_object_get(s->cache, type), id);
		if (json_is_null(old) && !now)
			continue;
		if (!now) {
			add_delete(ops, key);
			json_array_append_new(changes,
					      json_pack("[s, s, s, O]", "delete", type, id, old));
		} else {
			_cleanup_free_ char *text = json_dumps(now, JSON_COMPACT | JSON_SORT_KEYS);

			add_put(ops, key, text);
			json_array_append_new(changes,
					      json_pack("[s, s, s, O]",
							json_is_null(old) ? "create" : "update",
							type, id, now));
		}
	}
	json_array_foreach(e->alloc_undo, i, u) {
		const char *kind = json_string_value(json_array_get(u, 0));
		const char *val = json_string_value(json_array_get(u, 1));
		json_t *now = json_object_get(json_object_get(e->allocs, kind), val);
		_cleanup_free_ char *key = key_of(e, "a/%s/%s", kind, val);

		if (json_object_get(seen, key))
			continue;
		json_object_set_new(seen, key, json_true());
		if (json_equal(now, json_array_get(u, 2)) ||
		    (!now && json_is_null(json_array_get(u, 2))))
			continue;
		if (now)
			add_put(ops, key, json_string_value(now));
		else
			add_delete(ops, key);
	}
	json_decref(seen);
}

static int etcd_commit(struct store *s)
{
	struct etcd_store *e = ES(s);
	json_t *ops = json_array(), *changes = json_array(), *req, *ans = NULL, *c;
	_cleanup_free_ char *head = key_of(e, "head");
	_cleanup_free_ char *hk = b64_encode(head, strlen(head));
	_cleanup_free_ char *mark = key_of(e, "txn/%s", e->tag);
	_cleanup_free_ char *mk = b64_encode(mark, strlen(mark));
	char seq[24];
	int64_t rev;
	size_t i;
	int r;

	plan_txn(e, ops, changes);
	if (!json_array_size(ops)) {
		json_decref(ops);
		json_decref(changes);
		return 0;
	}
	add_put(ops, head, "lepton");
	snprintf(seq, sizeof(seq), "%" PRIu64, ++e->txn_seq);
	add_put(ops, mark, seq);
	req = json_pack("{s:[{s:s, s:s, s:s, s:s}], s:o, s:[{s:{s:s}}, {s:{s:s}}]}", "compare",
			"key", hk, "target", "MOD", "result", "EQUAL", "mod_revision", "",
			"success", ops, "failure", "request_range", "key", hk, "request_range",
			"key", mk);
	json_object_set_new(json_array_get(json_object_get(req, "compare"), 0), "mod_revision",
			    json_sprintf("%" PRId64, e->head_mod));
	r = call(e, e->curl, "/v3/kv/txn", req, &ans);
	json_decref(req);
	if (r < 0) {
		json_decref(changes);
		return r;
	}
	rev = jint(json_object_get(ans, "header"), "revision");
	if (!json_is_true(json_object_get(ans, "succeeded"))) {
		json_t *rs = json_object_get(ans, "responses");
		json_t *rr = json_object_get(json_array_get(rs, 0), "response_range");
		json_t *mine = json_array_get(
			json_object_get(json_object_get(json_array_get(rs, 1), "response_range"),
					"kvs"),
			0);
		_cleanup_free_ char *last =
			b64_decode(json_string_value(json_object_get(mine, "value")) ?: "");

		if (last && streq(last, seq)) {
			/* A member timed out on this very txn but applied it;
			 * the retry on another member found it done. */
			rev = jint(mine, "mod_revision");
			goto landed;
		}
		conflict_head = jint(json_array_get(json_object_get(rr, "kvs"), 0), "mod_revision");
		snprintf(e->errmsg, sizeof(e->errmsg),
			 "another server committed first (head %" PRId64 ", ours %" PRId64 ")",
			 conflict_head, e->head_mod);
		json_decref(ans);
		json_decref(changes);
		return -EAGAIN;
	}
landed:
	json_decref(ans);
	/* The txn landed right after the revision the model holds: the model
	 * (with this transaction in it) is etcd's state at rev. */
	e->head_mod = e->applied = rev;
	json_array_foreach(changes, i, c) {
		const char *type = json_string_value(json_array_get(c, 1));
		const char *id = json_string_value(json_array_get(c, 2));
		const char *op = json_string_value(json_array_get(c, 0));

		feed_append(e, op, rev, type, id, json_array_get(c, 3));
		if (streq(op, "create"))
			crev_set(e, type, id, rev);
		else if (streq(op, "delete"))
			crev_set(e, type, id, 0);
	}
	if (json_array_size(changes))
		s->revision = rev;
	feed_trim(e);
	json_decref(changes);
	return 0;
}

static void etcd_rollback(struct store *s)
{
	struct etcd_store *e = ES(s);
	json_t *u;

	for (size_t i = json_array_size(e->alloc_undo); i-- > 0;) {
		u = json_array_get(e->alloc_undo, i);
		json_t *m = kind_map(e, json_string_value(json_array_get(u, 0)));
		const char *val = json_string_value(json_array_get(u, 1));

		if (json_is_null(json_array_get(u, 2)))
			json_object_del(m, val);
		else
			json_object_set(m, val, json_array_get(u, 2));
	}
	json_array_clear(e->alloc_undo);
}

static void etcd_catch_up(struct store *s)
{
	struct etcd_store *e = ES(s);
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 2;
	while (e->head_mod < conflict_head && !s->shutting_down) {
		if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
			break;
	}
}

static int etcd_put(struct store *s, const char *type, const char *id, const char *text,
		    bool is_create)
{
	bool exists = json_object_get(json_object_get(s->cache, type), id) != NULL;

	(void) text;
	if (is_create && exists)
		return -EEXIST;
	if (!is_create && !exists)
		return -ENOENT;
	return 0;
}

static int etcd_del(struct store *s, const char *type, const char *id)
{
	return json_object_get(json_object_get(s->cache, type), id) ? 0 : -ENOENT;
}

static void alloc_set(struct etcd_store *e, const char *kind, const char *val, const char *owner)
{
	json_t *m = kind_map(e, kind), *old = json_object_get(m, val);

	if (e->base.in_txn)
		json_array_append_new(e->alloc_undo,
				      json_pack("[s, s, O]", kind, val, old ? old : json_null()));
	if (owner)
		json_object_set_new(m, val, json_string(owner));
	else
		json_object_del(m, val);
}

static int etcd_alloc_take(struct store *s, const char *kind, int64_t val, const char *owner)
{
	char v[24];

	if (!s->in_txn)
		return -EINVAL;
	snprintf(v, sizeof(v), "%" PRId64, val);
	if (json_object_get(json_object_get(ES(s)->allocs, kind), v))
		return -EEXIST;
	alloc_set(ES(s), kind, v, owner);
	return 0;
}

static int etcd_alloc_release(struct store *s, const char *kind, int64_t val)
{
	char v[24];

	if (!s->in_txn)
		return -EINVAL;
	snprintf(v, sizeof(v), "%" PRId64, val);
	if (json_object_get(json_object_get(ES(s)->allocs, kind), v))
		alloc_set(ES(s), kind, v, NULL);
	return 0;
}

static int etcd_alloc_release_kind(struct store *s, const char *kind)
{
	json_t *m = json_object_get(ES(s)->allocs, kind), *vals = json_array(), *owner;
	const char *val;
	size_t i;

	if (!s->in_txn) {
		json_decref(vals);
		return -EINVAL;
	}
	json_object_foreach(m, val, owner)
		json_array_append_new(vals, json_string(val));
	json_array_foreach(vals, i, owner)
		alloc_set(ES(s), kind, json_string_value(owner), NULL);
	json_decref(vals);
	return 0;
}

static char *etcd_alloc_owner(struct store *s, const char *kind, int64_t val)
{
	char v[24];
	const char *owner;

	snprintf(v, sizeof(v), "%" PRId64, val);
	owner = json_string_value(json_object_get(json_object_get(ES(s)->allocs, kind), v));
	return owner ? xstrdup(owner) : NULL;
}

static int etcd_alloc_free_from(struct store *s, const char *kind, int64_t from, int64_t max,
				int64_t *ret)
{
	json_t *m = json_object_get(ES(s)->allocs, kind);

	for (int64_t v = from; v <= max; v++) {
		char k[24];

		snprintf(k, sizeof(k), "%" PRId64, v);
		if (!json_object_get(m, k)) {
			*ret = v;
			return 0;
		}
	}
	return -ENOSPC;
}

static int64_t etcd_alloc_count(struct store *s, const char *kind, int64_t min, int64_t max)
{
	json_t *m = json_object_get(ES(s)->allocs, kind), *owner;
	const char *val;
	int64_t n = 0;

	json_object_foreach(m, val, owner) {
		int64_t v = strtoll(val, NULL, 10);

		n += v >= min && v <= max;
	}
	return n;
}

/* The index of the first change after rev. */
static size_t feed_find(struct etcd_store *e, int64_t rev)
{
	size_t lo = 0, hi = e->feed_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->feed[mid].rev <= rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static json_t *etcd_feed_after(struct store *s, int64_t rev, int limit)
{
	struct etcd_store *e = ES(s);
	json_t *arr = json_array();

	/* A revision's changes go out together, past the limit if need be:
	 * the next call starts after the last revision it saw. */
	for (size_t i = feed_find(e, rev); i < e->feed_n; i++) {
		const struct change *c = &e->feed[i];

		if ((int) json_array_size(arr) >= limit && json_array_size(arr) &&
		    c->rev != e->feed[i - 1].rev)
			break;
		json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:s, s:O}", "op", c->op,
						     "revision", (json_int_t) c->rev, "type",
						     c->key, "id", c->key + strlen(c->key) + 1,
						     "object", c->doc));
	}
	return arr;
}

static json_t *etcd_feed_touched(struct store *s, int64_t rev)
{
	struct etcd_store *e = ES(s);
	json_t *arr = json_array();

	for (size_t i = feed_find(e, rev); i < e->feed_n; i++) {
		const struct change *c = &e->feed[i];

		json_array_append_new(arr, json_pack("[I, s, s]", (json_int_t) c->rev, c->key,
						     c->key + strlen(c->key) + 1));
	}
	return arr;
}

static int by_crev(const void *a, const void *b)
{
	int64_t x = json_integer_value(json_array_get(*(json_t *const *) a, 0));
	int64_t y = json_integer_value(json_array_get(*(json_t *const *) b, 0));
	int64_t i = json_integer_value(json_array_get(*(json_t *const *) a, 1));
	int64_t j = json_integer_value(json_array_get(*(json_t *const *) b, 1));

	return x != y ? (x < y ? -1 : 1) : (i < j ? -1 : i > j);
}

/* Every document in creation order, as the SQLite backend gives them. */
static json_t *etcd_snapshot(struct store *s)
{
	struct etcd_store *e = ES(s);
	json_t *docs, *doc, *arr = json_array();
	const char *type, *id;
	size_t n = 0, i;
	json_t **sorted;

	json_object_foreach(s->cache, type, docs)
		n += json_object_size(docs);
	sorted = xcalloc(n ? n : 1, sizeof(*sorted));
	i = 0;
	json_object_foreach(s->cache, type, docs) {
		json_object_foreach(docs, id, doc) {
			char k[320];

			snprintf(k, sizeof(k), "%s\x1f%s", type, id);
			sorted[i] =
				json_pack("[I, I, {s:s, s:s, s:O}]",
					  json_integer_value(json_object_get(e->crev, k)),
					  (json_int_t) i, "type", type, "id", id, "object", doc);
			i++;
		}
	}
	qsort(sorted, n, sizeof(*sorted), by_crev);
	for (i = 0; i < n; i++) {
		json_array_append(arr, json_array_get(sorted[i], 2));
		json_decref(sorted[i]);
	}
	free(sorted);
	return arr;
}

static int etcd_beat(struct store *s, const char *host)
{
	struct etcd_store *e = ES(s);
	char now[TIME_ISO_STRLEN];
	uint64_t ms = wall_ms();
	_cleanup_free_ char *key = key_of(e, "beat/%s", host);
	json_t *v, *req, *ans = NULL;
	char *text;
	int r;

	time_now_iso(now);
	v = json_pack("{s:I, s:s}", "ms", (json_int_t) ms, "at", now);
	text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	req = json_array();
	add_put(req, key, text);
	free(text);
	r = call(e, e->curl, "/v3/kv/put", json_object_get(json_array_get(req, 0), "request_put"),
		 &ans);
	json_decref(req);
	json_decref(ans);
	if (r >= 0)
		store_beat_seen(s, host, ms, now);
	return r;
}

static const char *etcd_errmsg(struct store *s)
{
	return ES(s)->errmsg;
}

static void etcd_free(struct store *s)
{
	struct etcd_store *e = ES(s);

	e->stopping = true;
	if (e->watching)
		pthread_join(e->watcher, NULL);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->prefix);
	json_decref(e->allocs);
	json_decref(e->alloc_undo);
	json_decref(e->crev);
	feed_drop(e, e->feed_n);
	free(e->feed);
	store_done(s);
	free(e);
}

static const struct store_ops etcd_ops = {
	.begin = etcd_begin,
	.commit = etcd_commit,
	.rollback = etcd_rollback,
	.put = etcd_put,
	.del = etcd_del,
	.alloc_take = etcd_alloc_take,
	.alloc_release = etcd_alloc_release,
	.alloc_release_kind = etcd_alloc_release_kind,
	.alloc_owner = etcd_alloc_owner,
	.alloc_free_from = etcd_alloc_free_from,
	.alloc_count = etcd_alloc_count,
	.feed_after = etcd_feed_after,
	.feed_touched = etcd_feed_touched,
	.snapshot = etcd_snapshot,
	.beat = etcd_beat,
	.catch_up = etcd_catch_up,
	.errmsg = etcd_errmsg,
	.free = etcd_free,
};

/* "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" */
static int parse_url(struct etcd_store *e, const char *url)
{
	_cleanup_free_ char *copy = NULL;
	char *hosts, *path, *save = NULL;

	if (strncmp(url, "etcd://", 7) != 0)
		return -EINVAL;
	copy = xstrdup(url + 7);
	hosts = copy;
	path = strchr(copy, '/');
	if (path)
		*path++ = '\0';
	for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		if (e->n_endpoints == MAX_ENDPOINTS || !strchr(h, ':'))
			return -EINVAL;
		e->endpoints[e->n_endpoints++] = xasprintf("http://%s", h);
	}
	if (!e->n_endpoints)
		return -EINVAL;
	if (path && *path) {
		size_t n = strlen(path);

		e->prefix = xasprintf("/%s%s", path, path[n - 1] == '/' ? "" : "/");
	} else {
		e->prefix = xstrdup("/lepton/");
	}
	return 0;
}

int store_etcd_open(const char *url, int64_t retention, struct store **ret)
{
	struct etcd_store *e = xcalloc(1, sizeof(*e));
	uint64_t tag[2];
	int r;

	store_init(&e->base, &etcd_ops);
	e->base.beat_clock = wall_ms;
	e->retention = retention > 0 ? retention : 1;
	e->allocs = json_object();
	e->alloc_undo = json_array();
	e->crev = json_object();
	r = parse_url(e, url);
	if (r < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "bad store URL %s", url);
		goto fail;
	}
	random_bytes(tag, sizeof(tag));
	snprintf(e->tag, sizeof(e->tag), "%016" PRIx64 "%016" PRIx64, tag[0], tag[1]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e->curl = curl_easy_init();
	r = load(e, e->curl);
	if (r < 0)
		goto fail;
	store_recount(&e->base);
	r = -pthread_create(&e->watcher, NULL, watch_main, e);
	if (r < 0)
		goto fail;
	e->watching = true;
	*ret = &e->base;
	return 0;
fail:
	log_event(LOG_LVL_ERROR, "server.etcd_failed", "err=%s", e->errmsg);
	etcd_free(&e->base);
	return r;
}
