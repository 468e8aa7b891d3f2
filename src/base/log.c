/* stderr logger: one key=value line per event. */
#include "base/log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include "base/strbuf.h"

static enum log_level threshold = LOG_LVL_INFO;
static const char *ident = "lepton";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void (*hook)(enum log_level, const char *);

void log_set_hook(void (*fn)(enum log_level level, const char *message))
{
	hook = fn;
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

bool log_enabled(enum log_level level)
{
	return level >= threshold;
}

void log_set_ident(const char *s)
{
	ident = s;
}

static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if ((unsigned char) *v <= ' ' || *v == '"' || *v == '=' || *v == '\\' || *v == 0x7f)
			return true;
	return false;
}

static void append_value(struct strbuf *sb, const char *v)
{
	if (!needs_quotes(v)) {
		strbuf_append(sb, v);
		return;
	}
	strbuf_append(sb, "\"");
	for (; *v; v++) {
		unsigned char c = (unsigned char) *v;

		if (c == '"' || c == '\\')
			strbuf_appendf(sb, "\\%c", c);
		else if (c < ' ' || c == 0x7f)
			strbuf_appendf(sb, "\\x%02x", c);
		else
			strbuf_append_n(sb, v, 1);
	}
	strbuf_append(sb, "\"");
}

/* An integer argument of length modifier len ("", "hh", "h", "l", "ll",
 * "z", "j", "t"), signed ones sign-extended. */
static uintmax_t int_arg(va_list *ap, const char *len, bool is_signed)
{
	if (streq(len, "l"))
		return is_signed ? (uintmax_t) va_arg(*ap, long) : va_arg(*ap, unsigned long);
	if (streq(len, "ll"))
		return is_signed ? (uintmax_t) va_arg(*ap, long long)
				 : va_arg(*ap, unsigned long long);
	if (streq(len, "z"))
		return is_signed ? (uintmax_t) va_arg(*ap, ssize_t) : va_arg(*ap, size_t);
	if (streq(len, "j"))
		return is_signed ? (uintmax_t) va_arg(*ap, intmax_t) : va_arg(*ap, uintmax_t);
	if (streq(len, "t"))
		return (uintmax_t) va_arg(*ap, ptrdiff_t);
	/* hh and h are promoted to int; printf narrows them again. */
	return is_signed ? (uintmax_t) va_arg(*ap, int) : va_arg(*ap, unsigned int);
}

/* A width or precision at s into spec at *n: digits (while *n < limit) or
 * '*' (the int argument, at most 11 characters). Returns what follows. */
static const char *copy_number(const char *s, va_list *ap, char *spec, size_t *n, size_t limit)
{
	if (*s == '*') {
		*n += (size_t) snprintf(spec + *n, 12, "%d", va_arg(*ap, int));
		return s + 1;
	}
	while (isdigit((unsigned char) *s) && *n < limit)
		spec[(*n)++] = *s++;
	return s;
}

/* One conversion of fmt (at *p, just after its '%') into out; advances *p.
 * Returns false for a NULL %s. */
static bool convert(const char **p, va_list *ap, char *out, size_t size)
{
	char spec[40] = "%";
	size_t n = 1;
	const char *s = *p;
	char conv, len[3] = "";

	while (strchr("-+ #0", *s) && *s && n < 8)
		spec[n++] = *s++;
	s = copy_number(s, ap, spec, &n, 20);
	if (*s == '.') {
		spec[n++] = *s++;
		s = copy_number(s, ap, spec, &n, 32);
	}
	for (size_t i = 0; i < 2 && *s && strchr("hlzjt", *s); i++)
		len[i] = *s++;
	conv = *s ? *s++ : 's';
	*p = s;
	if (strchr("diouxX", conv)) {
		bool is_signed = conv == 'd' || conv == 'i';
		uintmax_t v = int_arg(ap, len, is_signed);

		/* Whatever the length modifier, printed as intmax_t. */
		spec[n++] = 'j';
		spec[n++] = conv;
		spec[n] = '\0';
		if (streq(len, "hh"))
			v = is_signed ? (uintmax_t) (signed char) v : (unsigned char) v;
		else if (streq(len, "h"))
			v = is_signed ? (uintmax_t) (short) v : (unsigned short) v;
		if (is_signed)
			snprintf(out, size, spec, (intmax_t) v);
		else
			snprintf(out, size, spec, v);
		return true;
	}
	spec[n++] = conv;
	spec[n] = '\0';
	if (strchr("eEfFgGaA", conv)) {
		snprintf(out, size, spec, va_arg(*ap, double));
	} else if (conv == 'c') {
		snprintf(out, size, spec, va_arg(*ap, int));
	} else if (conv == 'p') {
		snprintf(out, size, spec, va_arg(*ap, void *));
	} else {
		const char *v = va_arg(*ap, const char *);

		if (!v)
			return false;
		snprintf(out, size, spec, v);
	}
	return true;
}

static char *format_event(const char *event, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	size_t field; /* where the space before the current field is in sb */
	char value[512];
	va_list aq;

	strbuf_append(&sb, "event=");
	append_value(&sb, event);
	if (!fmt || !*fmt)
		return strbuf_steal(&sb);
	field = sb.len;
	strbuf_append(&sb, " ");
	va_copy(aq, ap);
	for (const char *p = fmt; *p;) {
		if (*p == ' ') {
			field = sb.len;
			strbuf_append_n(&sb, p++, 1);
			continue;
		}
		if (*p != '%') {
			strbuf_append_n(&sb, p++, 1);
			continue;
		}
		if (p[1] == '%') {
			strbuf_append(&sb, "%");
			p += 2;
			continue;
		}
		p++;
		if (convert(&p, &aq, value, sizeof(value))) {
			append_value(&sb, value);
		} else {
			/* Leave the field out with the space before it, and
			 * go on with the next one. */
			sb.len = field;
			sb.buf[sb.len] = '\0';
			while (*p && *p != ' ')
				p++;
		}
	}
	va_end(aq);
	return strbuf_steal(&sb);
}

char *log_event_format(const char *event, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	line = format_event(event, fmt, ap);
	va_end(ap);
	return line;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	void (*h)(enum log_level, const char *) = hook;
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	char *line;

	if (level < threshold && !(h && level >= LOG_LVL_WARN))
		return;
	va_start(ap, fmt);
	line = format_event(event, fmt, ap);
	va_end(ap);
	if (level >= threshold) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		pthread_mutex_lock(&lock);
		fprintf(stderr, "ts=%s.%03ldZ level=%s prog=%s %s\n", stamp, ts.tv_nsec / 1000000,
			names[level], ident, line);
		pthread_mutex_unlock(&lock);
	}
	if (h && level >= LOG_LVL_WARN) {
		if (strlen(line) > 511)
			line[511] = '\0';
		h(level, line);
	}
	free(line);
}
