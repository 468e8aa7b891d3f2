/* The store's model in memory and the API over its backends: reads come from
 * the model; writes go through the backend (store_sqlite.c, store_etcd.c)
 * and then into the model, undone on rollback. */
#include "server/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "server/store_backend.h"

/* The model's values are shared between documents and threads: released
 * on any thread and dumped by several at once, which jansson supports from
 * 2.11 (atomic reference counts, json_dumps thread-safe everywhere). */
#if JANSSON_VERSION_HEX < 0x020b00 || !defined(JANSSON_THREAD_SAFE_REFCOUNT)
#error "lepton-server needs jansson 2.11 or later, with thread-safe reference counts"
#endif

static const double commit_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					0.01,	0.025,	 0.05,	 0.1,	0.25,	1};
static struct metric commit_seconds = METRIC_HISTOGRAM(
	"lepton_store_commit_seconds", "Time to commit a store transaction.", NULL, commit_buckets);

static _Thread_local int last_error;

static void pool_verify(struct store *s);

void store_init(struct store *s, const struct store_ops *ops)
{
	pthread_condattr_t ca;

	metrics_register(&commit_seconds);
	s->ops = ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->beats_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	s->cache = json_object();
	s->pool = json_object();
	s->check_shared = getenv("LEPTON_CHECK_SHARED") != NULL;
	s->counts = json_object();
	s->beats = json_object();
	s->beat_clock = time_mono_ms;
}

void store_done(struct store *s)
{
	if (s->check_shared)
		pool_verify(s);
	json_decref(s->cache);
	json_decref(s->pool);
	json_decref(s->undo);
	json_decref(s->counts);
	json_decref(s->beats);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->beats_lock);
}

int store_open(const char *dir, bool sync_full, int64_t retention, struct store **ret)
{
	return store_sqlite_open(dir, sync_full, retention, ret);
}

int store_open_etcd(const char *url, int64_t retention, struct store **ret)
{
	return store_etcd_open(url, retention, ret);
}

void store_free(struct store *s)
{
	if (s)
		s->ops->free(s);
}

json_t *store_cache_type(struct store *s, const char *type)
{
	json_t *t = json_object_get(s->cache, type);

	if (!t) {
		t = json_object();
		json_object_set_new(s->cache, type, t);
	}
	return t;
}

static void count(struct store *s, const char *type, json_t *doc, int delta)
{
	const char *project = json_string_value(json_object_get(doc, "project_id"));
	char key[320];
	json_int_t n;

	if (!project || !doc)
		return;
	snprintf(key, sizeof(key), "%s\x1f%s", type, project);
	n = json_integer_value(json_object_get(s->counts, key)) + delta;
	if (n > 0)
		json_object_set_new(s->counts, key, json_integer(n));
	else
		json_object_del(s->counts, key);
}

void store_recount(struct store *s)
{
	json_t *docs, *doc;
	const char *type, *id;

	json_decref(s->counts);
	s->counts = json_object();
	json_object_foreach(s->cache, type, docs) {
		json_object_foreach(docs, id, doc)
			count(s, type, doc, 1);
	}
}

/* Values that many documents repeat are kept once in the model: the
 * strings of the keys below (a port's network, subnets, project, host,
 * owner, status...), empty strings, arrays and objects anywhere, and the
 * small lists and objects of the keys after them (a port's groups, its
 * binding's details). (Names, descriptions, device ids and timestamps are
 * mostly one document's own: pooling them would cost more than it saves.)
 * A document in the model is never changed in place (a write replaces
 * it; readers copy it or only read), so a value may have many parents.
 * A port of bench/scale takes about 5.5 KB instead of 7.8. */
static const char *const SHARED_STRINGS[] = {
	"network_id",
	"project_id",
	"tenant_id",
	"subnet_id",
	"binding:host_id",
	"device_owner",
	"binding:vif_type",
	"binding:vnic_type",
	"status",
	"dns_domain",
	"router_id",
	"security_group_id",
	"direction",
	"ethertype",
	"protocol",
	"remote_group_id",
	"remote_ip_prefix",
	"qos_policy_id",
	"network_type",
	"physical_network",
	"subnetpool_id",
	"ipv6_ra_mode",
	"ipv6_address_mode",
	"floating_network_id",
	"host",
};
static const char *const SHARED_LISTS[] = {
	"security_groups",	   "binding:vif_details",
	"binding:profile",	   "tags",
	"allowed_address_pairs",   "extra_dhcp_opts",
	"availability_zone_hints", "availability_zones",
	"dns_nameservers",	   "host_routes",
	"service_types",
};

static bool key_in(const char *key, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (streq(key, keys[i]))
			return true;
	return false;
}

/* A shareable value's key in the pool: "\"" and the string, or the
 * compact JSON text of a list or object, its keys in their order (so a
 * shared object reads back in the order each document wrote it), at most
 * 512 bytes; NULL for any other value. Written into buf (size n) when it
 * fits (the strings and empty lists of every document's load and write),
 * else allocated into *heap. */
static const char *pool_key(json_t *v, char *buf, size_t n, char **heap)
{
	size_t len;

	*heap = NULL;
	if (json_is_string(v)) {
		len = json_string_length(v);
		if (memchr(json_string_value(v), 0, len))
			return NULL;
		if (len + 2 > n)
			return *heap = xasprintf("\"%s", json_string_value(v));
		buf[0] = '"';
		memcpy(buf + 1, json_string_value(v), len + 1);
		return buf;
	}
	if (json_is_array(v) && !json_array_size(v))
		return "[]";
	if (json_is_object(v) && !json_object_size(v))
		return "{}";
	if (!json_is_array(v) && !json_is_object(v))
		return NULL;
	*heap = json_dumps(v, JSON_COMPACT);
	if (*heap && strlen(*heap) > 512) {
		free(*heap);
		*heap = NULL;
	}
	return *heap;
}

/* The pool key of v when the model shares it as the child of a document
 * at key (an empty value anywhere; the strings of SHARED_STRINGS and the
 * lists and objects of SHARED_LISTS), else NULL. */
static const char *share_key(const char *key, json_t *v, char *buf, size_t n, char **heap)
{
	bool shared;

	*heap = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		shared = !json_string_length(v) ||
			 key_in(key, SHARED_STRINGS, ARRAY_SIZE(SHARED_STRINGS));
		break;
	case JSON_ARRAY:
		shared = !json_array_size(v) || key_in(key, SHARED_LISTS, ARRAY_SIZE(SHARED_LISTS));
		break;
	case JSON_OBJECT:
		shared =
			!json_object_size(v) || key_in(key, SHARED_LISTS, ARRAY_SIZE(SHARED_LISTS));
		break;
	default:
		shared = false;
	}
	return shared ? pool_key(v, buf, n, heap) : NULL;
}

/* A new reference to what the model keeps for v, the child of a document
 * at key (NULL: the document itself): the pool's equal value when v is
 * shareable there, else v with its own values shared, and made the pool's
 * when shareable. One pass: with own, v is the caller's to give up (a
 * loaded document) and is changed in place; without, v stays the
 * caller's and only what the pool does not hold is copied (a write). */
static json_t *share(struct store *s, const char *key, json_t *v, bool own)
{
	char buf[128];
	_cleanup_free_ char *heap = NULL;
	const char *text = key ? share_key(key, v, buf, sizeof(buf), &heap) : NULL;
	json_t *c = text ? json_object_get(s->pool, text) : NULL, *child;
	const char *k;
	size_t i;

	if (c)
		return json_incref(c);
	if (json_is_object(v)) {
		c = own ? json_incref(v) : json_object();
		json_object_foreach(v, k, child)
			json_object_set_new(c, k, share(s, k, child, own));
	} else if (json_is_array(v)) {
		c = own ? json_incref(v) : json_array();
		json_array_foreach(v, i, child) {
			if (own)
				json_array_set_new(c, i, share(s, "", child, own));
			else
				json_array_append_new(c, share(s, "", child, own));
		}
	} else {
		c = own ? json_incref(v) : json_copy(v);
	}
	if (text)
		json_object_set(s->pool, text, c);
	return c;
}

/* With check_shared: every value of the pool still equal to its key, or
 * the server stops here (a shared value was changed in place, which would
 * have changed every document holding it). */
static void pool_verify(struct store *s)
{
	const char *key;
	json_t *v;

	json_object_foreach(s->pool, key, v) {
		char buf[128];
		_cleanup_free_ char *heap = NULL;
		const char *text = pool_key(v, buf, sizeof(buf), &heap);

		if (!text || !streq(text, key)) {
			log_event(LOG_LVL_ERROR, "store.shared_value_changed", "key=%s now=%s", key,
				  text ? text : "(unshareable)");
			abort();
		}
	}
}

/* The pool's values that no document holds any more go, once there have
 * been as many writes since the last sweep as the pool has values (at
 * least 1,024): a sweep's cost spread over those writes. (Inside a
 * transaction, its undo still holds what it replaced: a later sweep
 * takes that.) */
static void pool_sweep(struct store *s)
{
	const char *key;
	json_t *v;
	void *tmp;

	if (++s->pool_writes < 1024 || s->pool_writes < json_object_size(s->pool))
		return;
	json_object_foreach_safe(s->pool, tmp, key, v) {
		if (v->refcount == 1)
			json_object_del(s->pool, key);
	}
	s->pool_writes = 0;
}

/* Before a document enters the model. */
static void pool_tend(struct store *s)
{
	if (s->check_shared)
		pool_verify(s);
	pool_sweep(s);
}

json_t *store_cache_doc(struct store *s, json_t *doc)
{
	json_t *kept;

	pool_tend(s);
	kept = share(s, NULL, doc, true);
	json_decref(doc);
	return kept;
}

void store_cache_set(struct store *s, const char *type, const char *id, json_t *doc)
{
	json_t *docs = store_cache_type(s, type), *old = json_object_get(docs, id);

	if (s->in_txn) {
		if (!s->undo)
			s->undo = json_array();
		json_array_append_new(s->undo,
				      json_pack("[s, s, O]", type, id, old ? old : json_null()));
	}
	count(s, type, old, -1);
	if (doc) {
		count(s, type, doc, 1);
		pool_tend(s);
		json_object_set_new(docs, id, share(s, NULL, doc, false));
	} else {
		json_object_del(docs, id);
	}
}

void store_lock(struct store *s)
{
	pthread_mutex_lock(&s->lock);
}

void store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

const char *store_errmsg(struct store *s)
{
	return s->ops->errmsg(s);
}

int store_begin(struct store *s)
{
	int r = s->ops->begin(s);

	if (r < 0)
		return r;
	s->in_txn = true;
	json_decref(s->undo);
	s->undo = NULL;
	return 0;
}

int store_commit(struct store *s)
{
	uint64_t t0 = time_mono_us();
	int64_t before = s->revision;
	int r = s->ops->commit(s);

	metrics_observe(&commit_seconds, (double) (time_mono_us() - t0) / 1e6);
	if (r < 0) {
		last_error = r;
		store_rollback(s);
		return r;
	}
	s->in_txn = false;
	json_decref(s->undo);
	s->undo = NULL;
	if (s->revision != before)
		pthread_cond_broadcast(&s->changed);
	return 0;
}

void store_rollback(struct store *s)
{
	s->ops->rollback(s);
	s->in_txn = false;
	/* Undo the model's changes, newest first. */
	for (size_t i = json_array_size(s->undo); i-- > 0;) {
		json_t *u = json_array_get(s->undo, i);
		const char *type = json_string_value(json_array_get(u, 0));
		const char *id = json_string_value(json_array_get(u, 1));
		json_t *old = json_array_get(u, 2);

		if (json_is_null(old))
			json_object_del(store_cache_type(s, type), id);
		else
			json_object_set(store_cache_type(s, type), id, old);
	}
	if (s->undo)
		store_recount(s);
	json_decref(s->undo);
	s->undo = NULL;
	/* Allocation hints may point past values that were rolled back. */
	memset(s->hints, 0, sizeof(s->hints));
}

int store_last_error(void)
{
	int r = last_error;

	last_error = 0;
	return r;
}

void store_catch_up(struct store *s)
{
	if (s->ops->catch_up)
		s->ops->catch_up(s);
}

json_t *store_txn_touched(struct store *s)
{
	return s->undo ? json_copy(s->undo) : json_array();
}

json_t *store_get(struct store *s, const char *type, const char *id)
{
	json_t *doc = json_object_get(json_object_get(s->cache, type), id);

	return doc ? json_deep_copy(doc) : NULL;
}

json_t *store_get_shared(struct store *s, const char *type, const char *id)
{
	return json_object_get(json_object_get(s->cache, type), id);
}

json_t *store_list(struct store *s, const char *type)
{
	json_t *arr = json_array(), *doc;
	const char *id;

	json_object_foreach(json_object_get(s->cache, type), id, doc)
		json_array_append_new(arr, json_deep_copy(doc));
	return arr;
}

json_t *store_list_shared(struct store *s, const char *type)
{
	json_t *arr = json_array(), *doc;
	const char *id;

	json_object_foreach(json_object_get(s->cache, type), id, doc)
		json_array_append(arr, doc);
	return arr;
}

int64_t store_count_project(struct store *s, const char *type, const char *project_id)
{
	char key[320];

	snprintf(key, sizeof(key), "%s\x1f%s", type, project_id);
	return json_integer_value(json_object_get(s->counts, key));
}

int store_put(struct store *s, const char *type, const char *id, json_t *doc, bool is_create)
{
	char *text;
	int r;

	if (!s->in_txn)
		return -EINVAL;
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	r = s->ops->put(s, type, id, text, is_create);
	free(text);
	if (r >= 0)
		store_cache_set(s, type, id, doc);
	return r;
}

int store_delete(struct store *s, const char *type, const char *id)
{
	int r;

	if (!s->in_txn)
		return -EINVAL;
	r = s->ops->del(s, type, id);
	if (r >= 0)
		store_cache_set(s, type, id, NULL);
	return r;
}

int store_alloc_take(struct store *s, const char *kind, int64_t val, const char *owner)
{
	return s->ops->alloc_take(s, kind, val, owner);
}

int store_alloc_release(struct store *s, const char *kind, int64_t val)
{
	return s->ops->alloc_release(s, kind, val);
}

int store_alloc_release_kind(struct store *s, const char *kind)
{
	return s->ops->alloc_release_kind(s, kind);
}

char *store_alloc_owner(struct store *s, const char *kind, int64_t val)
{
	return s->ops->alloc_owner(s, kind, val);
}

static int64_t *hint_slot(struct store *s, const char *kind)
{
	unsigned victim;

	for (size_t i = 0; i < ARRAY_SIZE(s->hints); i++)
		if (strcmp(s->hints[i].kind, kind) == 0)
			return &s->hints[i].next;
	victim = s->hint_clock++ % ARRAY_SIZE(s->hints);
	snprintf(s->hints[victim].kind, sizeof(s->hints[victim].kind), "%s", kind);
	s->hints[victim].next = 0;
	return &s->hints[victim].next;
}

int store_alloc_first_free(struct store *s, const char *kind, int64_t min, int64_t max,
			   int64_t *ret)
{
	int64_t *hint, from;
	int r;

	if (min > max)
		return -ENOSPC;
	/* Next fit: search on from where the last search of this kind ended,
	 * then wrap around, so sequential allocation stays O(1) and a freed
	 * value is not handed out again at once. */
	hint = hint_slot(s, kind);
	from = *hint >= min && *hint <= max ? *hint : min;
	r = s->ops->alloc_free_from(s, kind, from, max, ret);
	if (r == -ENOSPC && from > min)
		r = s->ops->alloc_free_from(s, kind, min, from - 1 < max ? from - 1 : max, ret);
	if (r >= 0)
		*hint = *ret + 1;
	return r;
}

int64_t store_alloc_count(struct store *s, const char *kind, int64_t min, int64_t max)
{
	return s->ops->alloc_count(s, kind, min, max);
}

int64_t store_revision(struct store *s)
{
	return s->revision;
}

int64_t store_feed_floor(struct store *s)
{
	return s->floor;
}

json_t *store_feed_after(struct store *s, int64_t rev, int limit)
{
	return s->ops->feed_after(s, rev, limit);
}

json_t *store_feed_touched(struct store *s, int64_t rev)
{
	return s->ops->feed_touched(s, rev);
}

json_t *store_snapshot(struct store *s)
{
	return s->ops->snapshot(s);
}

int64_t store_wait(struct store *s, int64_t after, unsigned timeout_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (s->revision <= after && !s->shutting_down) {
		if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
			break;
	}
	return s->revision;
}

void store_shutdown(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	s->shutting_down = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

bool store_is_shutting_down(struct store *s)
{
	return s->shutting_down;
}

void store_beat_seen(struct store *s, const char *host, uint64_t ms, const char *iso)
{
	pthread_mutex_lock(&s->beats_lock);
	json_object_set_new(s->beats, host, json_pack("[I, s]", (json_int_t) ms, iso));
	pthread_mutex_unlock(&s->beats_lock);
}

int store_beat(struct store *s, const char *host)
{
	char now[TIME_ISO_STRLEN];

	if (s->ops->beat)
		return s->ops->beat(s, host);
	time_now_iso(now);
	store_beat_seen(s, host, s->beat_clock(), now);
	return 0;
}

bool store_beat_get(struct store *s, const char *host, uint64_t *ret_age_ms,
		    char ret_iso[static TIME_ISO_STRLEN])
{
	json_t *b;
	bool found = false;

	pthread_mutex_lock(&s->beats_lock);
	b = json_object_get(s->beats, host);
	if (b) {
		uint64_t now = s->beat_clock(),
			 at = (uint64_t) json_integer_value(json_array_get(b, 0));

		*ret_age_ms = now > at ? now - at : 0;
		snprintf(ret_iso, TIME_ISO_STRLEN, "%s", json_string_value(json_array_get(b, 1)));
		found = true;
	}
	pthread_mutex_unlock(&s->beats_lock);
	return found;
}
