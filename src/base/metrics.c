/* The metrics registry and its text rendering. Series of a family live in an
 * array searched by their key (the label values joined by 0x1f): families
 * hold a few hundred series at most, and an event costs far less than the
 * request or pass it counts. */
#include "base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define MAX_COLLECTORS 16
#define KEY_SEP	       '\x1f'

struct metric_series {
	char *key;	 /* label values joined by KEY_SEP */
	double value;	 /* counter, gauge; histogram: sum */
	double count;	 /* histogram: observations */
	double *buckets; /* histogram: observations per bucket (not cumulative) */
};

const double metrics_seconds_buckets[METRICS_SECONDS_BUCKETS_LEN] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *families, **families_tail = &families;
static struct {
	void (*fn)(void *);
	void *userdata;
} collectors[MAX_COLLECTORS];
static size_t n_collectors;

/* With the lock held. */
static void do_register(struct metric *m)
{
	if (m->registered)
		return;
	m->registered = true;
	m->n_labels = 0;
	if (m->labels && *m->labels) {
		m->n_labels = 1;
		for (const char *p = m->labels; *p; p++)
			m->n_labels += *p == ',';
	}
	m->next = NULL;
	*families_tail = m;
	families_tail = &m->next;
}

void metrics_register(struct metric *m)
{
	pthread_mutex_lock(&lock);
	do_register(m);
	pthread_mutex_unlock(&lock);
}

static char *make_key(size_t n, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < n; i++) {
		const char *v = va_arg(ap, const char *);

		if (i)
			strbuf_append_n(&sb, (char[]){KEY_SEP}, 1);
		for (; v && *v; v++)
			strbuf_append_n(&sb, *v == KEY_SEP ? "?" : v, 1);
	}
	return strbuf_steal(&sb);
}

/* With the lock held: the series with this key, created when absent; NULL
 * when the family is full. */
static struct metric_series *series_get(struct metric *m, const char *key)
{
	struct metric_series *s;

	for (size_t i = 0; i < m->n_series; i++)
		if (streq(m->series[i].key, key))
			return &m->series[i];
	if (m->n_series >= METRICS_MAX_SERIES)
		return NULL;
	if (m->n_series == m->cap_series) {
		m->cap_series = m->cap_series ? m->cap_series * 2 : 8;
		m->series = xrealloc(m->series, m->cap_series * sizeof(*m->series));
	}
	s = &m->series[m->n_series++];
	*s = (struct metric_series){.key = xstrdup(key)};
	if (m->type == METRIC_TYPE_HISTOGRAM)
		s->buckets = xcalloc(m->n_buckets + 1, sizeof(*s->buckets));
	return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct metric *m, enum op op, double v, va_list ap)
{
	struct metric_series *s;
	_cleanup_free_ char *key = NULL;

	pthread_mutex_lock(&lock);
	do_register(m);
	key = make_key(m->n_labels, ap);
	s = series_get(m, key);
	if (s) {
		switch (op) {
		case OP_ADD:
			s->value += v;
			break;
		case OP_SET:
			s->value = v;
			break;
		case OP_OBSERVE: {
			size_t b = 0;

			while (b < m->n_buckets && v > m->buckets[b])
				b++;
			s->buckets[b] += 1;
			s->count += 1;
			s->value += v;
			break;
		}
		}
	}
	pthread_mutex_unlock(&lock);
}

/* Each public update: the family must be of a type the operation suits
 * (else nothing changes but the family is known). */
#define UPDATE(m, ok, op, v)                                                                       \
	do {                                                                                       \
		va_list ap;                                                                        \
                                                                                                   \
		if (!(ok)) {                                                                       \
			metrics_register(m);                                                       \
			return;                                                                    \
		}                                                                                  \
		va_start(ap, v);                                                                   \
		update(m, op, v, ap);                                                              \
		va_end(ap);                                                                        \
	} while (0)

void metrics_add(struct metric *m, double v, ...)
{
	UPDATE(m, m->type == METRIC_TYPE_GAUGE || (m->type == METRIC_TYPE_COUNTER && v >= 0),
	       OP_ADD, v);
}

void metrics_set(struct metric *m, double v, ...)
{
	UPDATE(m, m->type != METRIC_TYPE_HISTOGRAM, OP_SET, v);
}

void metrics_observe(struct metric *m, double v, ...)
{
	UPDATE(m, m->type == METRIC_TYPE_HISTOGRAM && !isnan(v), OP_OBSERVE, v);
}

void metrics_clear(struct metric *m)
{
	pthread_mutex_lock(&lock);
	do_register(m);
	for (size_t i = 0; i < m->n_series; i++) {
		free(m->series[i].key);
		free(m->series[i].buckets);
	}
	m->n_series = 0;
	pthread_mutex_unlock(&lock);
}

void metrics_collector_add(void (*fn)(void *userdata), void *userdata)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_collectors; i++)
		if (collectors[i].fn == fn && collectors[i].userdata == userdata)
			goto out;
	if (n_collectors < MAX_COLLECTORS) {
		collectors[n_collectors].fn = fn;
		collectors[n_collectors].userdata = userdata;
		n_collectors++;
	}
out:
	pthread_mutex_unlock(&lock);
}

void metrics_collector_remove(void (*fn)(void *userdata), void *userdata)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_collectors; i++) {
		if (collectors[i].fn == fn && collectors[i].userdata == userdata) {
			memmove(&collectors[i], &collectors[i + 1],
				(n_collectors - i - 1) * sizeof(collectors[0]));
			n_collectors--;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

void metrics_format_value(double v, char buf[static 32])
{
	if (isnan(v)) {
		strcpy(buf, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(buf, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* integers whole */
		snprintf(buf, 32, "%.0f", v);
		return;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void append_escaped(struct strbuf *sb, const char *s, size_t n, bool quote)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			strbuf_append(sb, "\\\\");
		else if (s[i] == '\n')
			strbuf_append(sb, "\\n");
		else if (s[i] == '"' && quote)
			strbuf_append(sb, "\\\"");
		else
			strbuf_append_n(sb, &s[i], 1);
	}
}

/* Writes name{labels[,extra]} for a series. */
static void append_name(struct strbuf *sb, const struct metric *m, const char *suffix,
			const char *key, const char *extra_name, const char *extra_value)
{
	const char *names = m->labels, *k = key;

	strbuf_append(sb, m->name);
	strbuf_append(sb, suffix);
	if (!m->n_labels && !extra_name)
		return;
	strbuf_append(sb, "{");
	for (size_t i = 0; i < m->n_labels; i++) {
		size_t nlen = strcspn(names, ","), vlen = strcspn(k, (char[]){KEY_SEP, 0});

		if (i)
			strbuf_append(sb, ",");
		strbuf_append_n(sb, names, nlen);
		strbuf_append(sb, "=\"");
		append_escaped(sb, k, vlen, true);
		strbuf_append(sb, "\"");
		names += nlen + (names[nlen] == ',');
		k += vlen + (k[vlen] == KEY_SEP);
	}
	if (extra_name)
		strbuf_appendf(sb, "%s%s=\"%s\"", m->n_labels ? "," : "", extra_name, extra_value);
	strbuf_append(sb, "}");
}

static void append_sample(struct strbuf *sb, const struct metric *m, const char *suffix,
			  const char *key, const char *extra_name, const char *extra_value,
			  double v)
{
	char num[32];

	append_name(sb, m, suffix, key, extra_name, extra_value);
	metrics_format_value(v, num);
	strbuf_appendf(sb, " %s\n", num);
}

static void render_family(struct strbuf *sb, const struct metric *m)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	strbuf_appendf(sb, "# HELP %s ", m->name);
	append_escaped(sb, m->help, strlen(m->help), false);
	strbuf_appendf(sb, "\n# TYPE %s %s\n", m->name, types[m->type]);
	if (!m->n_labels && !m->n_series) {
		/* A family without labels has its one series from the start. */
		if (m->type == METRIC_TYPE_HISTOGRAM) {
			append_sample(sb, m, "_bucket", "", "le", "+Inf", 0);
			append_sample(sb, m, "_sum", "", NULL, NULL, 0);
			append_sample(sb, m, "_count", "", NULL, NULL, 0);
		} else {
			append_sample(sb, m, "", "", NULL, NULL, 0);
		}
		return;
	}
	for (size_t i = 0; i < m->n_series; i++) {
		const struct metric_series *s = &m->series[i];
		double cum = 0;
		char le[32];

		if (m->type != METRIC_TYPE_HISTOGRAM) {
			append_sample(sb, m, "", s->key, NULL, NULL, s->value);
			continue;
		}
		for (size_t b = 0; b < m->n_buckets; b++) {
			cum += s->buckets[b];
			metrics_format_value(m->buckets[b], le);
			append_sample(sb, m, "_bucket", s->key, "le", le, cum);
		}
		append_sample(sb, m, "_bucket", s->key, "le", "+Inf", s->count);
		append_sample(sb, m, "_sum", s->key, NULL, NULL, s->value);
		append_sample(sb, m, "_count", s->key, NULL, NULL, s->count);
	}
}

char *metrics_render(void)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n;
	struct {
		void (*fn)(void *);
		void *userdata;
	} run[MAX_COLLECTORS];

	pthread_mutex_lock(&lock);
	n = n_collectors;
	memcpy(run, collectors, n * sizeof(run[0]));
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++)
		run[i].fn(run[i].userdata);

	pthread_mutex_lock(&lock);
	for (const struct metric *m = families; m; m = m->next)
		render_family(&sb, m);
	pthread_mutex_unlock(&lock);
	strbuf_append(&sb, "");
	return strbuf_steal(&sb);
}
