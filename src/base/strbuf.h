/* Growable string buffer. Always NUL-terminated. */
#pragma once

#include <stddef.h>
#include "base/util.h"

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void strbuf_append(struct strbuf *sb, const char *s);
void strbuf_append_n(struct strbuf *sb, const char *s, size_t n);
void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) _printf_(2, 3);
/* The buffer's string (never NULL). */
const char *strbuf_str(struct strbuf *sb);
/* Hands the string to the caller (never NULL) and resets the buffer. */
char *strbuf_steal(struct strbuf *sb);
void strbuf_done(struct strbuf *sb);
