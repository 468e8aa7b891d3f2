/* stderr logger: one line per message, with time, identity and level. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
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

void log_set_ident(const char *s)
{
	ident = s;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	void (*h)(enum log_level, const char *) = hook;
	char message[512];

	if (h && level >= LOG_LVL_WARN) {
		va_start(ap, fmt);
		vsnprintf(message, sizeof(message), fmt, ap);
		va_end(ap);
	}
	if (level < threshold)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&lock);
	fprintf(stderr, "%s.%03ldZ %s %s: ", stamp, ts.tv_nsec / 1000000, ident, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&lock);
out:
	if (h && level >= LOG_LVL_WARN)
		h(level, message);
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

static char *format_event(const char *event, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	const char *key;

	strbuf_append(&sb, "event=");
	append_value(&sb, event);
	while ((key = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);

		if (!value)
			continue;
		strbuf_appendf(&sb, " %s=", key);
		append_value(&sb, value);
	}
	return strbuf_steal(&sb);
}

char *log_event_format(const char *event, ...)
{
	va_list ap;
	char *line;

	va_start(ap, event);
	line = format_event(event, ap);
	va_end(ap);
	return line;
}

void log_event(enum log_level level, const char *event, ...)
{
	va_list ap;
	char *line;

	if (level < threshold)
		return;
	va_start(ap, event);
	line = format_event(event, ap);
	va_end(ap);
	log_msg(level, "%s", line);
	free(line);
}
