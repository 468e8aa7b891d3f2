/* The store: every resource as a JSON document keyed by (type, id), integer
 * allocations (IPs, MACs, VNIs, VLANs) with uniqueness enforced by the
 * database, and the revisioned change feed. Two backends behind one API:
 * SQLite in WAL mode (store_sqlite.c, the only user of sqlite3; the default)
 * and an etcd v3 cluster shared by several servers (store_etcd.c).
 *
 * Concurrency: the model lives in memory behind one mutex. Callers take the
 * lock (store_lock) around a whole request; writes go between store_begin()
 * and store_commit()/store_rollback(), so a request either lands whole or not
 * at all. SQLite: each put or delete appends one change with the next global
 * revision. etcd: a transaction commits optimistically as one etcd txn, its
 * changes all carry that txn's etcd revision; when another server committed
 * first, store_commit() fails with -EAGAIN and the request is run again
 * (store_last_error, store_catch_up). Revisions become visible to watchers at
 * commit. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

/* Opens (creating) DIR/lepton.db. retention: how many changes the feed keeps. */
int store_open(const char *dir, bool sync_full, int64_t retention, struct store **ret);
/* Connects to the etcd cluster of URL, "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
 * and loads the model from it. */
int store_open_etcd(const char *url, int64_t retention, struct store **ret);
void store_free(struct store *s);

void store_lock(struct store *s);
void store_unlock(struct store *s);

int store_begin(struct store *s);
/* Commits and wakes watchers. On failure the transaction is rolled back. */
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* New reference to the document, or NULL when absent. */
json_t *store_get(struct store *s, const char *type, const char *id);
/* New reference to an array of the type's documents in creation order. */
json_t *store_list(struct store *s, const char *type);
/* Like store_list, but the documents are shared with the store: read-only,
 * and valid only while the lock is held. */
json_t *store_list_shared(struct store *s, const char *type);
/* The document, borrowed from the store: read-only, valid only while the lock
 * is held and the document is not written. NULL when absent. A write replaces
 * the document with a new object, so a reference kept (json_incref) from an
 * earlier read compares unequal by address once the document changed. */
json_t *store_get_shared(struct store *s, const char *type, const char *id);
/* How many documents of the type belong to the project. */
int64_t store_count_project(struct store *s, const char *type, const char *project_id);
/* Writes the document (borrowed) and records a "create" or "update" change. */
int store_put(struct store *s, const char *type, const char *id, json_t *doc, bool is_create);
/* Deletes and records a "delete" change carrying the last document.
 * -ENOENT when absent. */
int store_delete(struct store *s, const char *type, const char *id);

/* Inside a transaction: what it wrote so far, as a new array of
 * [type, id, document before the transaction's first write of it or null],
 * one entry per write, oldest first (entries shared: read-only). */
json_t *store_txn_touched(struct store *s);

/* Integer allocations, unique per kind ("vni", "ip:<subnet>", "mac:<net>"...). */
int store_alloc_take(struct store *s, const char *kind, int64_t val,
		     const char *owner); /* -EEXIST */
int store_alloc_release(struct store *s, const char *kind, int64_t val);
int store_alloc_release_kind(struct store *s, const char *kind);
/* The owner of an allocation (caller frees), NULL when free. */
char *store_alloc_owner(struct store *s, const char *kind, int64_t val);
/* A free value in [min, max] (next fit: after the last one handed out for
 * this kind, wrapping around); -ENOSPC when none. */
int store_alloc_first_free(struct store *s, const char *kind, int64_t min, int64_t max,
			   int64_t *ret);
int64_t store_alloc_count(struct store *s, const char *kind, int64_t min, int64_t max);

/* Last committed revision. */
int64_t store_revision(struct store *s);
/* Changes with revision <= floor are no longer kept. */
int64_t store_feed_floor(struct store *s);
/* New reference to an array of at most `limit` changes after `rev`, each
 * {"op","revision","type","id","object"}. */
json_t *store_feed_after(struct store *s, int64_t rev, int limit);
/* New reference to an array of [revision, type, id] of the changes after `rev`
 * up to the committed revision (in order; no documents read). */
json_t *store_feed_touched(struct store *s, int64_t rev);
/* New reference to an array of every document, as {"type","id","object"}. */
json_t *store_snapshot(struct store *s);
/* With the lock held: waits until the revision passes `after`, the timeout
 * elapses or the store shuts down. Returns the committed revision. */
int64_t store_wait(struct store *s, int64_t after, unsigned timeout_ms);
/* Wakes every waiter for good (server shutdown). */
void store_shutdown(struct store *s);
bool store_is_shutting_down(struct store *s);
/* The last backend error text, for logs and error messages. */
const char *store_errmsg(struct store *s);

/* The error of this thread's last failed store_commit(), then 0: -EAGAIN when
 * another server committed first (catch up, then run the request again),
 * -EHOSTUNREACH when the store cannot be reached or has no quorum. */
int store_last_error(void);
/* With the lock held: waits (a bounded time) until the model holds what
 * made this thread's last commit fail with -EAGAIN. */
void store_catch_up(struct store *s);

/* Agent heartbeats, outside the change feed. SQLite: in this server's memory;
 * etcd: in the store, so every server sees them. */
int store_beat(struct store *s, const char *host);
/* The age of the host's last heartbeat and its time; false when none. */
bool store_beat_get(struct store *s, const char *host, uint64_t *ret_age_ms,
		    char ret_iso[static 21]);
