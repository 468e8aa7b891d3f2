/* What the store's backends share (store_sqlite.c, store_etcd.c): the model
 * in memory, the lock, the waiters, and the table of operations that make it
 * durable. Only store*.c include this. */
#pragma once

#include <pthread.h>
#include "server/store.h"

struct store_ops {
	int (*begin)(struct store *s);
	/* Makes the transaction durable; the model in memory already holds it. */
	int (*commit)(struct store *s);
	/* Undoes the durable side; store.c restores the model. */
	void (*rollback)(struct store *s);
	/* text: the document as stored; NULL for a delete. */
	int (*put)(struct store *s, const char *type, const char *id, const char *text,
		   bool is_create);
	int (*del)(struct store *s, const char *type, const char *id);
	int (*alloc_take)(struct store *s, const char *kind, int64_t val, const char *owner);
	int (*alloc_release)(struct store *s, const char *kind, int64_t val);
	int (*alloc_release_kind)(struct store *s, const char *kind);
	char *(*alloc_owner)(struct store *s, const char *kind, int64_t val);
	/* The first free value in [from, max], or -ENOSPC. */
	int (*alloc_free_from)(struct store *s, const char *kind, int64_t from, int64_t max,
			       int64_t *ret);
	int64_t (*alloc_count)(struct store *s, const char *kind, int64_t min, int64_t max);
	json_t *(*feed_after)(struct store *s, int64_t rev, int limit);
	json_t *(*feed_touched)(struct store *s, int64_t rev);
	json_t *(*snapshot)(struct store *s);
	int (*beat)(struct store *s, const char *host);
	/* Waits until the model holds what failed this thread's last commit
	 * (optional). */
	void (*catch_up)(struct store *s);
	const char *(*errmsg)(struct store *s);
	void (*free)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int64_t revision; /* committed */
	int64_t floor;
	bool in_txn;
	bool shutting_down;
	/* The model in memory: {type: {id: doc}} in creation order, the truth
	 * for reads. Writes inside a transaction record their undo, so a
	 * rollback restores it too. */
	json_t *cache;
	json_t *undo; /* [[type, id, old doc or null], ...] */
	/* Values documents share (store_cache_doc): {text: value}. */
	json_t *pool;
	size_t pool_writes; /* since its last sweep */
	/* LEPTON_CHECK_SHARED set (tests): verify the pool on every write. */
	bool check_shared;
	json_t *counts; /* {"type\x1fproject": n}: documents per project */
	/* Agents' heartbeats: {host: [ms, "iso"]}, ms on beat_clock. */
	pthread_mutex_t beats_lock;
	json_t *beats;
	uint64_t (*beat_clock)(void);
	/* Where the next free search of an allocation kind starts (next fit). */
	struct {
		char kind[64];
		int64_t next;
	} hints[64];
	unsigned hint_clock;
};

/* For the backends. */
void store_init(struct store *s, const struct store_ops *ops);
void store_done(struct store *s);
json_t *store_cache_type(struct store *s, const char *type);
/* Sets (doc, borrowed and copied) or removes (doc NULL) a document in the
 * model, recording its undo when inside a transaction. */
void store_cache_set(struct store *s, const char *type, const char *id, json_t *doc);
void store_recount(struct store *s);
/* doc (private to the caller) with the values it repeats from other
 * documents replaced by the model's shared ones; doc itself. */
json_t *store_cache_doc(struct store *s, json_t *doc);
/* Records a heartbeat seen now (iso: its wall-clock time). */
void store_beat_seen(struct store *s, const char *host, uint64_t ms, const char *iso);

int store_sqlite_open(const char *dir, bool sync_full, int64_t retention, struct store **ret);
int store_etcd_open(const char *url, int64_t retention, struct store **ret);
