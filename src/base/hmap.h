/* A hash map from strings to pointers: open addressing with linear probing
 * and backward-shift deletion (no tombstones). Keys are borrowed: each is
 * owned by its value and must outlive its entry. libc only. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	const char *key; /* NULL: free */
	void *val;
	uint32_t hash;
};

struct hmap {
	struct hmap_slot *slots;
	size_t len; /* entries */
	size_t cap; /* slots: 0 or a power of two */
};

#define HMAP_INIT ((struct hmap){0})

void hmap_done(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Sets key to val; returns the value it replaces, or NULL. */
void *hmap_put(struct hmap *m, const char *key, void *val);
/* Removes key; returns its value, or NULL. */
void *hmap_del(struct hmap *m, const char *key);

/* Iteration in slot order: for (size_t i = 0; hmap_next(m, &i, &key, &val);) */
int hmap_next(const struct hmap *m, size_t *pos, const char **ret_key, void **ret_val);
