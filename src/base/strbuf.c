/* Growable string buffer. */
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include "base/xalloc.h"

static void reserve(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->cap)
		return;
	sb->cap = sb->cap ? sb->cap : 64;
	while (sb->cap < need)
		sb->cap *= 2;
	sb->buf = xrealloc(sb->buf, sb->cap);
}

void strbuf_append_n(struct strbuf *sb, const char *s, size_t n)
{
	reserve(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void strbuf_append(struct strbuf *sb, const char *s)
{
	strbuf_append_n(sb, s, strlen(s));
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	reserve(sb, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t) n;
}

const char *strbuf_str(struct strbuf *sb)
{
	reserve(sb, 0);
	sb->buf[sb->len] = '\0';
	return sb->buf;
}

char *strbuf_steal(struct strbuf *sb)
{
	char *s;

	reserve(sb, 0);
	sb->buf[sb->len] = '\0';
	s = sb->buf;
	*sb = (struct strbuf) STRBUF_INIT;
	return s;
}

void strbuf_done(struct strbuf *sb)
{
	free(sb->buf);
	*sb = (struct strbuf) STRBUF_INIT;
}
