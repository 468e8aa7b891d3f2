/* A table's comment, read straight from nf_tables over netlink (libmnl): a
 * dump-sized request instead of a libnftables run, so that an agent coming
 * back can tell in microseconds whether each namespace's table is already
 * the one it would write (the table carries the hash of its script in its
 * comment). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* In the current network namespace. 0 and the comment in out (NUL
 * terminated, "" when it has none); -ENOENT when there is no such table. */
int nfnl_table_comment(uint8_t family, const char *table, char *out, size_t size);
