/* FNV-1a over 64 bits: the one non-cryptographic hash of the project (cache
 * slots, change stamps, content hashes compared pass to pass, names turned
 * into MACs). Callers start from FNV_OFFSET; several values chain into one
 * hash by passing it on. Not for anything an attacker could choose to
 * collide where a collision would matter. libc only. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* FNV's own offset basis is 14695981039346656037; the project's hashes
 * have always started from this one, a digit short (any start does as
 * well), and hashes kept on disk and in the kernel depend on it. */
#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME  1099511628211ull

/* One value mixed in whole (a byte, or a word where a word is the unit). */
static inline uint64_t fnv_mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * FNV_PRIME;
}

static inline uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = fnv_mix(h, b[i]);
	return h;
}

/* The string's bytes, without its NUL. */
static inline uint64_t fnv_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = fnv_mix(h, (uint8_t) *s);
	return h;
}

/* The string then a separator (0xff, in no UTF-8 text), so that "ab","c"
 * and "a","bc" hash apart. */
static inline uint64_t fnv_field(uint64_t h, const char *s)
{
	return fnv_mix(fnv_str(h, s), 0xff);
}
