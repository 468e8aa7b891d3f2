/* The SQLite backend of the store (store_backend.h): documents, allocations
 * and the change feed in one database file; the model in memory is loaded
 * from it at open. */
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
#include "server/store_backend.h"

struct sqlite_store {
	struct store base;
	sqlite3 *db;
	int64_t pending_revision; /* inside a transaction */
	int64_t retention;
	/* Prepared statements, reused by their SQL text's address. */
	struct {
		const char *sql;
		sqlite3_stmt *st;
		bool busy;
	} stmts[32];
};

#define SQ(s) ((struct sqlite_store *) (s))

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

static void release(struct sqlite_store *s, sqlite3_stmt *st);

/* Prepares a statement (reusing a cached one for the same SQL text); binds
 * text (NULL-able) and int64 arguments from a format string: 's' text, 'i'
 * int64. Hand it back with release(). */
static int prepare(struct sqlite_store *s, sqlite3_stmt **ret, const char *sql, const char *fmt,
		   ...)
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
static void release(struct sqlite_store *s, sqlite3_stmt *st)
{
	for (size_t k = 0; k < ARRAY_SIZE(s->stmts); k++) {
		if (s->stmts[k].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->stmts[k].busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

static int exec(struct sqlite_store *s, const char *sql)
{
	return sql_err(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static int64_t meta_get(struct sqlite_store *s, const char *key)
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

static int meta_set(struct sqlite_store *s, const char *key, int64_t v)
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

static int load_cache(struct sqlite_store *q)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(q, &st, "SELECT type, id, doc FROM objects ORDER BY seq", "");
	if (r < 0)
		return r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *doc = json_loads((const char *) sqlite3_column_text(st, 2), 0, NULL);

		if (doc)
			json_object_set_new(
				store_cache_type(&q->base,
						 (const char *) sqlite3_column_text(st, 0)),
				(const char *) sqlite3_column_text(st, 1),
				store_cache_doc(&q->base, doc));
	}
	release(q, st);
	store_recount(&q->base);
	return 0;
}

static const struct store_ops sqlite_ops;

int store_sqlite_open(const char *dir, bool sync_full, int64_t retention, struct store **ret)
{
	struct sqlite_store *q;
	char *path;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	q = xcalloc(1, sizeof(*q));
	store_init(&q->base, &sqlite_ops);
	q->retention = retention;
	path = xasprintf("%s/lepton.db", dir);
	r = sql_err(sqlite3_open_v2(
		path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		NULL));
	free(path);
	if (r < 0)
		goto fail;
	sqlite3_busy_timeout(q->db, 5000);
	r = exec(q, "PRAGMA journal_mode = WAL;");
	if (r >= 0)
		r = exec(q,
			 sync_full ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
	if (r >= 0)
		r = exec(q, "PRAGMA foreign_keys = OFF;");
	if (r >= 0)
		r = exec(q, schema);
	if (r < 0)
		goto fail;
	q->base.revision = q->pending_revision = meta_get(q, "revision");
	q->base.floor = meta_get(q, "floor");
	r = load_cache(q);
	if (r < 0)
		goto fail;
	*ret = &q->base;
	return 0;
fail:
	store_free(&q->base);
	return r;
}

static void sqlite_free(struct store *s)
{
	struct sqlite_store *q = SQ(s);

	for (size_t k = 0; k < ARRAY_SIZE(q->stmts); k++)
		if (q->stmts[k].st)
			sqlite3_finalize(q->stmts[k].st);
	if (q->db)
		sqlite3_close(q->db);
	store_done(s);
	free(q);
}

static const char *sqlite_errmsg(struct store *s)
{
	return sqlite3_errmsg(SQ(s)->db);
}

static int sqlite_begin(struct store *s)
{
	int r = exec(SQ(s), "BEGIN IMMEDIATE;");

	if (r >= 0)
		SQ(s)->pending_revision = s->revision;
	return r;
}

static void compact(struct sqlite_store *q)
{
	sqlite3_stmt *st;
	int64_t new_floor = q->base.revision - q->retention;

	/* Compact in batches of a tenth of the retention so it stays cheap. */
	if (new_floor <= q->base.floor + q->retention / 10)
		return;
	if (exec(q, "BEGIN IMMEDIATE;") < 0)
		return;
	if (prepare(q, &st, "DELETE FROM changes WHERE rev <= ?", "i", new_floor) == 0) {
		int rc = sqlite3_step(st);

		release(q, st);
		if (rc == SQLITE_DONE && meta_set(q, "floor", new_floor) == 0 &&
		    exec(q, "COMMIT;") == 0) {
			q->base.floor = new_floor;
			return;
		}
	}
	(void) exec(q, "ROLLBACK;");
}

static int sqlite_commit(struct store *s)
{
	struct sqlite_store *q = SQ(s);
	int r = 0;

	if (q->pending_revision != s->revision)
		r = meta_set(q, "revision", q->pending_revision);
	if (r >= 0)
		r = exec(q, "COMMIT;");
	if (r < 0)
		return r;
	if (q->pending_revision != s->revision) {
		s->revision = q->pending_revision;
		compact(q);
	}
	return 0;
}

static void sqlite_rollback(struct store *s)
{
	if (s->in_txn)
		(void) exec(SQ(s), "ROLLBACK;");
	SQ(s)->pending_revision = s->revision;
}

static json_t *parse_doc(const unsigned char *text)
{
	return text ? json_loads((const char *) text, JSON_DECODE_ANY, NULL) : NULL;
}

static int append_change(struct sqlite_store *q, const char *op, const char *type, const char *id,
			 const char *text)
{
	sqlite3_stmt *st;
	int r;

	r = prepare(q, &st, "INSERT INTO changes (rev, op, type, id, doc) VALUES (?, ?, ?, ?, ?)",
		    "issss", q->pending_revision + 1, op, type, id, text);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(q, st);
	if (r >= 0)
		q->pending_revision++;
	return r;
}

static int sqlite_put(struct store *s, const char *type, const char *id, const char *text,
		      bool is_create)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	int r;

	if (is_create) {
		int64_t seq = meta_get(q, "seq") + 1;

		r = meta_set(q, "seq", seq);
		if (r >= 0)
			r = prepare(q, &st,
				    "INSERT INTO objects (type, id, seq, doc) VALUES (?, ?, ?, ?)",
				    "ssis", type, id, seq, text);
	} else {
		r = prepare(q, &st, "UPDATE objects SET doc = ? WHERE type = ? AND id = ?", "sss",
			    text, type, id);
	}
	if (r >= 0) {
		r = sql_err(sqlite3_step(st));
		if (r >= 0 && !is_create && sqlite3_changes(q->db) == 0)
			r = -ENOENT;
		release(q, st);
	}
	if (r >= 0)
		r = append_change(q, is_create ? "create" : "update", type, id, text);
	return r;
}

static int sqlite_del(struct store *s, const char *type, const char *id)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	char *text = NULL;
	int r;

	r = prepare(q, &st, "SELECT doc FROM objects WHERE type = ? AND id = ?", "ss", type, id);
	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		text = xstrdup((const char *) sqlite3_column_text(st, 0));
	release(q, st);
	if (!text)
		return -ENOENT;
	r = prepare(q, &st, "DELETE FROM objects WHERE type = ? AND id = ?", "ss", type, id);
	if (r >= 0) {
		r = sql_err(sqlite3_step(st));
		release(q, st);
	}
	if (r >= 0)
		r = append_change(q, "delete", type, id, text);
	free(text);
	return r;
}

/* Runs a statement that returns no rows. */
static int run(struct sqlite_store *q, const char *sql, const char *fmt, const char *kind,
	       int64_t val, const char *owner)
{
	sqlite3_stmt *st;
	int r;

	/* prepare() takes as many of (kind, val, owner) as fmt names. */
	r = prepare(q, &st, sql, fmt, kind, val, owner);
	if (r < 0)
		return r;
	r = sql_err(sqlite3_step(st));
	release(q, st);
	return r;
}

static int sqlite_alloc_take(struct store *s, const char *kind, int64_t val, const char *owner)
{
	return run(SQ(s), "INSERT INTO allocs (kind, val, owner) VALUES (?, ?, ?)", "sis", kind,
		   val, owner);
}

static int sqlite_alloc_release(struct store *s, const char *kind, int64_t val)
{
	return run(SQ(s), "DELETE FROM allocs WHERE kind = ? AND val = ?", "si", kind, val, NULL);
}

static int sqlite_alloc_release_kind(struct store *s, const char *kind)
{
	return run(SQ(s), "DELETE FROM allocs WHERE kind = ?", "s", kind, 0, NULL);
}

static char *sqlite_alloc_owner(struct store *s, const char *kind, int64_t val)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	char *owner = NULL;

	if (prepare(q, &st, "SELECT owner FROM allocs WHERE kind = ? AND val = ?", "si", kind,
		    val) < 0)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		owner = xstrdup((const char *) sqlite3_column_text(st, 0));
	release(q, st);
	return owner;
}

static int sqlite_alloc_free_from(struct store *s, const char *kind, int64_t from, int64_t max,
				  int64_t *ret)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	int64_t next = from;
	int r;

	r = prepare(q, &st,
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
	release(q, st);
	if (next > max)
		return -ENOSPC;
	*ret = next;
	return 0;
}

static int64_t sqlite_alloc_count(struct store *s, const char *kind, int64_t min, int64_t max)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	int64_t n = 0;

	if (prepare(q, &st, "SELECT COUNT(*) FROM allocs WHERE kind = ? AND val >= ? AND val <= ?",
		    "sii", kind, min, max) < 0)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	release(q, st);
	return n;
}

static json_t *sqlite_feed_after(struct store *s, int64_t rev, int limit)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(q, &st,
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
	release(q, st);
	return arr;
}

static json_t *sqlite_feed_touched(struct store *s, int64_t rev)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(q, &st,
		    "SELECT rev, type, id FROM changes WHERE rev > ? AND rev <= ? ORDER BY rev",
		    "ii", rev, s->revision) < 0)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("[I, s, s]",
						     (json_int_t) sqlite3_column_int64(st, 0),
						     (const char *) sqlite3_column_text(st, 1),
						     (const char *) sqlite3_column_text(st, 2)));
	release(q, st);
	return arr;
}

static json_t *sqlite_snapshot(struct store *s)
{
	struct sqlite_store *q = SQ(s);
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (prepare(q, &st, "SELECT type, id, doc FROM objects ORDER BY seq", "") < 0)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *doc = parse_doc(sqlite3_column_text(st, 2));

		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:o}", "type",
						(const char *) sqlite3_column_text(st, 0), "id",
						(const char *) sqlite3_column_text(st, 1), "object",
						doc ? doc : json_null()));
	}
	release(q, st);
	return arr;
}

static const struct store_ops sqlite_ops = {
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.put = sqlite_put,
	.del = sqlite_del,
	.alloc_take = sqlite_alloc_take,
	.alloc_release = sqlite_alloc_release,
	.alloc_release_kind = sqlite_alloc_release_kind,
	.alloc_owner = sqlite_alloc_owner,
	.alloc_free_from = sqlite_alloc_free_from,
	.alloc_count = sqlite_alloc_count,
	.feed_after = sqlite_feed_after,
	.feed_touched = sqlite_feed_touched,
	.snapshot = sqlite_snapshot,
	.errmsg = sqlite_errmsg,
	.free = sqlite_free,
};
