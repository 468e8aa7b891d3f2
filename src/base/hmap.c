/* String-keyed hash map. */
#include "base/hmap.h"

#include <string.h>
#include "base/xalloc.h"

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 16777619u;
	return h;
}

void hmap_done(struct hmap *m)
{
	free(m->slots);
	*m = HMAP_INIT;
}

static size_t find(const struct hmap *m, const char *key, uint32_t h)
{
	size_t mask = m->cap - 1, i = h & mask;

	while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = find(m, key, hash(key));
	return m->slots[i].key ? m->slots[i].val : NULL;
}

static void grow(struct hmap *m)
{
	struct hmap_slot *old = m->slots;
	size_t old_cap = m->cap;

	m->cap = old_cap ? old_cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].key)
			m->slots[find(m, old[i].key, old[i].hash)] = old[i];
	free(old);
}

void *hmap_put(struct hmap *m, const char *key, void *val)
{
	uint32_t h = hash(key);
	size_t i;
	void *prev;

	if ((m->len + 1) * 4 > m->cap * 3)
		grow(m);
	i = find(m, key, h);
	if (m->slots[i].key) {
		prev = m->slots[i].val;
		m->slots[i].key = key; /* the new value owns the key now */
		m->slots[i].val = val;
		return prev;
	}
	m->slots[i] = (struct hmap_slot){key, val, h};
	m->len++;
	return NULL;
}

void *hmap_del(struct hmap *m, const char *key)
{
	size_t mask = m->cap - 1, i, j;
	void *val;

	if (!m->cap)
		return NULL;
	i = find(m, key, hash(key));
	if (!m->slots[i].key)
		return NULL;
	val = m->slots[i].val;
	/* Backward shift: move later entries of the run into the hole when
	 * their home slot is not between the hole and themselves. */
	j = i;
	for (;;) {
		size_t home;

		m->slots[i].key = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->slots[j].key)
				goto done;
			home = m->slots[j].hash & mask;
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		m->slots[i] = m->slots[j];
		i = j;
	}
done:
	m->len--;
	return val;
}

int hmap_next(const struct hmap *m, size_t *pos, const char **ret_key, void **ret_val)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos].key) {
			*ret_key = m->slots[*pos].key;
			*ret_val = m->slots[*pos].val;
			(*pos)++;
			return 1;
		}
	return 0;
}
