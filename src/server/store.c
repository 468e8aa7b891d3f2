/* SQLite store: documents, allocations and the change feed. */
#include "server/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "base/metrics.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int64_t revision;	  /* committed */
	int64_t pending_revision; /* inside a transaction */
	int64_t floor;
	int64_t retention;
	bool in_txn;
	bool shutting_down;
	/* The model in memory: {type: {id: doc}} in creation order, the truth
	 * for reads; SQLite is its durable log. Writes inside a transaction
	 * record their undo, so a rollback restores the cache too. */
	json_t *cache;
	json_t *undo;	/* [[type, id, old doc or null], ...] */
	json_t *counts; /* {"type\x1fproject": n}: documents per project */
	/* Where the next free search of an allocation kind starts (next fit). */
	struct {
		char kind[64];
		int64_t next;
	} hints[64];
	unsigned hint_clock;
	/* Prepared statements, reused by their SQL text's address. */
	struct {
		const char *sql;
		sqlite3_stmt *st;
		bool busy;
	} stmts[32];
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS objects (type TEXT NOT NULL, id TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (type, id));"
	"CREATE INDEX IF NOT EXISTS objects_by_seq ON objects (type, seq);"
	"CREATE TABLE IF NOT EXISTS allocs (kind TEXT NOT NULL, val INTEGER NOT NULL,"
	"  owner TEXT NOT NULL, PRIMARY KEY (kind, val)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS changes (rev INTEGER PRIMARY KEY, op TEXT NOT NULL,"
	"  type TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('floor', 0), ('seq', 0);";

static const double commit_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					0.01,	0.025,	 0.05,	 0.1,	0.25,	1};
static struct metric commit_seconds = METRIC_HISTOGRAM(
	"lepton_store_commit_seconds", "Time to commit a store transaction.", NULL, commit_buckets);

static int sql_err(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static void release(struct store *s, sqlite3_stmt *st);

/* Prepares a statement (reusing a cached one for the same SQL text); binds
 * text (NULL-able) and int64 arguments from a format string: 's' text, 'i'
 * int64. Hand it back with release(). */
static int prepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc = SQLITE_OK, i = 1;

	for (size_t k = 0; k < ARRAY_SIZE(s->stmts) && !st; k++) {
		if (s->stmts[k].sql == sql && !s->stmts[k].busy) {
			st = s->stmts[k].st;
			s->stmts[k].busy = true;
		}
	}
	if (!st) {
		rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return sql_err(rc);
		for (size_t k = 0; k < ARRAY_SIZE(s->stmts); k++) {
			if (!s->stmts[k].sql) {
				s->stmts[k].sql = sql;
				s->stmts[k].st = st;
				s->stmts[k].busy = true;
				break;
			}
		}
	}
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++, i++) {
		if (*f == 's') {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i);
		} else {
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		}
		if (rc != SQLITE_OK)
			break;
	}
	va_end(ap);
	if (rc != SQLITE_OK) {
		release(s, st);
		return sql_err(rc);
	}
	*ret = st;
	return 0;
}

/* Resets a cached statement for reuse, finalizes another. */
static void release(struct store *s, sqlite3_stmt *st)
{
	for (size_t k = 0; k < ARRAY_SIZE(s->stmts); k++) {
		if (s->stmts[k].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->stmts[k].busy = false;
			return;
		}
	}
	release(s, st);
}

static int exec(struct store *s, const char *sql)
{
	return sql_err(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static int64_t meta_get(struct store *s, const char *key)
{
	sqlite3_stmt *st;
	int64_t v = 0;

	if (prepare(s, &st, "SELECT val FROM meta WHERE key = ?", "s", key) < 0)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	release(s, st);
	return v;
}

static int meta_set(struct store *s, const char *key, int64_t v)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(s, &st, "UPDATE meta SET val = ? WHERE key = ?", "is", v, key);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(s, st);
	return r;
}

static json_t *cache_type(struct store *s, const char *type)
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

static void recount(struct store *s)
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

static int load_cache(struct store *s)
{
	sqlite3_stmt *st;
	int r;

	s->cache = json_object();
	r = prepare(s, &st, "SELECT type, id, doc FROM objects ORDER BY seq", "");
	if (r < 0)
		return r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *doc = json_loads((const char *) sqlite3_column_text(st, 2), 0, NULL);

		if (doc)
			json_object_set_new(
				cache_type(s, (const char *) sqlite3_column_text(st, 0)),
				(const char *) sqlite3_column_text(st, 1), doc);
	}
	release(s, st);
	recount(s);
	return 0;
}

/* Records how to undo a change of (type, id) in the cache. */
static void remember(struct store *s, const char *type, const char *id)
{
	json_t *old = json_object_get(json_object_get(s->cache, type), id);

	if (!s->undo)
		s->undo = json_array();
	json_array_append_new(s->undo, json_pack("[s, s, O]", type, id, old ? old : json_null()));
}

int store_open(const char *dir, bool sync_full, int64_t retention, struct store **ret)
{
	struct store *s;
	char *path;
	int r;

	metrics_register(&commit_seconds);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	s->retention = retention;
	path = xasprintf("%s/lepton.db", dir);
	r = sql_err(sqlite3_open_v2(
		path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		NULL));
	free(path);
	if (r < 0)
		goto fail;
	sqlite3_busy_timeout(s->db, 5000);
	r = exec(s, "PRAGMA journal_mode = WAL;");
	if (r >= 0)
		r = exec(s,
			 sync_full ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
	if (r >= 0)
		r = exec(s, "PRAGMA foreign_keys = OFF;");
	if (r >= 0)
		r = exec(s, schema);
	if (r < 0)
		goto fail;
	s->revision = s->pending_revision = meta_get(s, "revision");
	s->floor = meta_get(s, "floor");
	r = load_cache(s);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	store_free(s);
	return r;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	json_decref(s->cache);
	json_decref(s->undo);
	json_decref(s->counts);
	for (size_t k = 0; k < ARRAY_SIZE(s->stmts); k++)
		if (s->stmts[k].st)
			sqlite3_finalize(s->stmts[k].st);
	if (s->db)
		sqlite3_close(s->db);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
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
	return sqlite3_errmsg(s->db);
}

int store_begin(struct store *s)
{
	int r = exec(s, "BEGIN IMMEDIATE;");

	if (r < 0)
		return r;
	s->in_txn = true;
	s->pending_revision = s->revision;
	json_decref(s->undo);
	s->undo = NULL;
	return 0;
}

static void compact(struct store *s)
{
	sqlite3_stmt *st;
	int64_t new_floor = s->revision - s->retention;

	/* Compact in batches of a tenth of the retention so it stays cheap. */
	if (new_floor <= s->floor + s->retention / 10)
		return;
	if (exec(s, "BEGIN IMMEDIATE;") < 0)
		return;
	if (prepare(s, &st, "DELETE FROM changes WHERE rev <= ?", "i", new_floor) == 0) {
		int rc = sqlite3_step(st);

		release(s, st);
		if (rc == SQLITE_DONE && meta_set(s, "floor", new_floor) == 0 &&
		    exec(s, "COMMIT;") == 0) {
			s->floor = new_floor;
			return;
		}
	}
	(void) exec(s, "ROLLBACK;");
}

int store_commit(struct store *s)
{
	uint64_t t0 = time_mono_us();
	int r = 0;

	if (s->pending_revision != s->revision)
		r = meta_set(s, "revision", s->pending_revision);
	if (r >= 0)
		r = exec(s, "COMMIT;");
	metrics_observe(&commit_seconds, (double) (time_mono_us() - t0) / 1e6);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	s->in_txn = false;
	json_decref(s->undo);
	s->undo = NULL;
	if (s->pending_revision != s->revision) {
		s->revision = s->pending_revision;
		pthread_cond_broadcast(&s->changed);
		compact(s);
	}
	return 0;
}

void store_rollback(struct store *s)
{
	if (s->in_txn)
		(void) exec(s, "ROLLBACK;");
	s->in_txn = false;
	s->pending_revision = s->revision;
	/* Undo the cache's changes, newest first. */
	for (size_t i = json_array_size(s->undo); i-- > 0;) {
		json_t *u = json_array_get(s->undo, i);
		const char *type = json_string_value(json_array_get(u, 0));
		const char *id = json_string_value(json_array_get(u, 1));
		json_t *old = json_array_get(u, 2);

		if (json_is_null(old))
			json_object_del(cache_type(s, type), id);
		else
			json_object_set(cache_type(s, type), id, old);
	}
	if (s->undo)
		recount(s);
	json_decref(s->undo);
	s->undo = NULL;
	/* Allocation hints may point past values that were rolled back. */
	memset(s->hints, 0, sizeof(s->hints));
}

json_t *store_txn_touched(struct store *s)
{
	return s->undo ? json_copy(s->undo) : json_array();
}

static json_t *parse_doc(const unsigned char *text)
{
	return text ? json_loads((const char *) text, JSON_DECODE_ANY, NULL) : NULL;
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

static int append_change(struct store *s, const char *op, const char *type, const char *id,
			 const char *text)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(s, &st, "INSERT INTO changes (rev, op, type, id, doc) VALUES (?, ?, ?, ?, ?)",
		    "issss", s->pending_revision + 1, op, type, id, text);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(s, st);
	if (r >= 0)
		s->pending_revision++;
	return r;
}

int store_put(struct store *s, const char *type, const char *id, json_t *doc, bool is_create)
{
	sqlite3_stmt *st;
	char *text;
	int r;

	if (!s->in_txn)
		return -EINVAL;
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	if (is_create) {
		int64_t seq = meta_get(s, "seq") + 1;

		r = meta_set(s, "seq", seq);
		if (r >= 0)
			r = prepare(s, &st,
				    "INSERT INTO objects (type, id, seq, doc) VALUES (?, ?, ?, ?)",
				    "ssis", type, id, seq, text);
	} else {
		r = prepare(s, &st, "UPDATE objects SET doc = ? WHERE type = ? AND id = ?", "sss",
			    text, type, id);
	}
	if (r >= 0) {
		r = sql_err(sqlite3_step(st));
		if (r >= 0 && !is_create && sqlite3_changes(s->db) == 0)
			r = -ENOENT;
		release(s, st);
	}
	if (r >= 0)
		r = append_change(s, is_create ? "create" : "update", type, id, text);
	free(text);
	if (r >= 0) {
		remember(s, type, id);
		count(s, type, json_object_get(cache_type(s, type), id), -1);
		count(s, type, doc, 1);
		json_object_set_new(cache_type(s, type), id, json_deep_copy(doc));
	}
	return r;
}

int store_delete(struct store *s, const char *type, const char *id)
{
	sqlite3_stmt *st;
	char *text = NULL;
	int r;

	if (!s->in_txn)
		return -EINVAL;
	r = prepare(s, &st, "SELECT doc FROM objects WHERE type = ? AND id = ?", "ss", type, id);
	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		text = xstrdup((const char *) sqlite3_column_text(st, 0));
	release(s, st);
	if (!text)
		return -ENOENT;
	r = prepare(s, &st, "DELETE FROM objects WHERE type = ? AND id = ?", "ss", type, id);
	if (r >= 0) {
		r = sql_err(sqlite3_step(st));
		release(s, st);
	}
	if (r >= 0)
		r = append_change(s, "delete", type, id, text);
	free(text);
	if (r >= 0) {
		remember(s, type, id);
		count(s, type, json_object_get(cache_type(s, type), id), -1);
		json_object_del(cache_type(s, type), id);
	}
	return r;
}

int store_alloc_take(struct store *s, const char *kind, int64_t val, const char *owner)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(s, &st, "INSERT INTO allocs (kind, val, owner) VALUES (?, ?, ?)", "sis", kind,
		    val, owner);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(s, st);
	return r;
}

int store_alloc_release(struct store *s, const char *kind, int64_t val)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(s, &st, "DELETE FROM allocs WHERE kind = ? AND val = ?", "si", kind, val);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(s, st);
	return r;
}

int store_alloc_release_kind(struct store *s, const char *kind)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(s, &st, "DELETE FROM allocs WHERE kind = ?", "s", kind);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(s, st);
	return r;
}

char *store_alloc_owner(struct store *s, const char *kind, int64_t val)
{
	sqlite3_stmt *st;
	char *owner = NULL;

	if (prepare(s, &st, "SELECT owner FROM allocs WHERE kind = ? AND val = ?", "si", kind,
		    val) < 0)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		owner = xstrdup((const char *) sqlite3_column_text(st, 0));
	release(s, st);
	return owner;
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

/* The first free value in [from, max], or -ENOSPC. */
static int first_free_from(struct store *s, const char *kind, int64_t from, int64_t max,
			   int64_t *ret)
{
	sqlite3_stmt *st;
	int64_t next = from;
	int r;

	r = prepare(s, &st,
		    "SELECT val FROM allocs WHERE kind = ? AND val >= ? AND val <= ? ORDER BY val",
		    "sii", kind, from, max);
	if (r < 0)
		return r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(st, 0);

		if (v > next)
			break;
		next = v + 1;
	}
	release(s, st);
	if (next > max)
		return -ENOSPC;
	*ret = next;
	return 0;
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
	r = first_free_from(s, kind, from, max, ret);
	if (r == -ENOSPC && from > min)
		r = first_free_from(s, kind, min, from - 1 < max ? from - 1 : max, ret);
	if (r >= 0)
		*hint = *ret + 1;
	return r;
}

int64_t store_alloc_count(struct store *s, const char *kind, int64_t min, int64_t max)
{
	sqlite3_stmt *st;
	int64_t n = 0;

	if (prepare(s, &st, "SELECT COUNT(*) FROM allocs WHERE kind = ? AND val >= ? AND val <= ?",
		    "sii", kind, min, max) < 0)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	release(s, st);
	return n;
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
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(s, &st,
		    "SELECT rev, op, type, id, doc FROM changes WHERE rev > ? AND rev <= ?"
		    " ORDER BY rev LIMIT ?",
		    "iii", rev, s->revision, (int64_t) limit) < 0)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *doc = parse_doc(sqlite3_column_text(st, 4));

		json_array_append_new(
			arr, json_pack("{s:s, s:I, s:s, s:s, s:o}", "op",
				       (const char *) sqlite3_column_text(st, 1), "revision",
				       (json_int_t) sqlite3_column_int64(st, 0), "type",
				       (const char *) sqlite3_column_text(st, 2), "id",
				       (const char *) sqlite3_column_text(st, 3), "object",
				       doc ? doc : json_null()));
	}
	release(s, st);
	return arr;
}

json_t *store_feed_touched(struct store *s, int64_t rev)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(s, &st,
		    "SELECT rev, type, id FROM changes WHERE rev > ? AND rev <= ? ORDER BY rev",
		    "ii", rev, s->revision) < 0)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("[I, s, s]",
						     (json_int_t) sqlite3_column_int64(st, 0),
						     (const char *) sqlite3_column_text(st, 1),
						     (const char *) sqlite3_column_text(st, 2)));
	release(s, st);
	return arr;
}

json_t *store_snapshot(struct store *s)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(s, &st, "SELECT type, id, doc FROM objects ORDER BY seq", "") < 0)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *doc = parse_doc(sqlite3_column_text(st, 2));

		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:o}", "type",
						(const char *) sqlite3_column_text(st, 0), "id",
						(const char *) sqlite3_column_text(st, 1), "object",
						doc ? doc : json_null()));
	}
	release(s, st);
	return arr;
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
