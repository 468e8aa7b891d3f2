/* Allocation that cannot fail: on exhaustion the process aborts (STYLE.md:
 * allocation failure aborts; untrusted input is bounded before allocating). */
#pragma once

#include <stddef.h>
#include "base/util.h"

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
