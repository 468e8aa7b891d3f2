/* Process-wide metrics in the Prometheus text exposition format (version
 * 0.0.4): counters, gauges and histograms, each a family with fixed label
 * names and one series per distinct set of label values. A module declares
 * its families as static `struct metric`s with the METRIC_* initialisers and
 * records an event with one call; a family registers itself on first use (or
 * earlier with metrics_register(), so that it shows zero before its first
 * event). Thread-safe: one lock guards every family. libc only.
 *
 *   static const double secs[] = {0.001, 0.01, 0.1, 1};
 *   static struct metric commit = METRIC_HISTOGRAM("x_commit_seconds", "...", NULL, secs);
 *   metrics_observe(&commit, 0.004);
 *
 * Label values are passed after the value, one const char * per label name,
 * in the order of the family's `labels` (a comma-separated list). Callers keep
 * the label values of a family bounded (resource names, not ids); a family
 * holds at most METRICS_MAX_SERIES series and drops events for more. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define METRICS_MAX_SERIES   2048
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metric_type { METRIC_TYPE_COUNTER, METRIC_TYPE_GAUGE, METRIC_TYPE_HISTOGRAM };

struct metric_series;

struct metric {
	const char *name;
	const char *help;
	enum metric_type type;
	const char *labels;    /* label names, comma-separated; NULL: none */
	const double *buckets; /* histograms: upper bounds, strictly increasing */
	size_t n_buckets;
	/* Private: filled on first use, under the registry's lock. */
	struct metric *next;
	bool registered;
	size_t n_labels;
	struct metric_series *series;
	size_t n_series, cap_series;
};

#define METRIC_COUNTER(n, h, l)                                                                    \
	{                                                                                          \
		.name = (n), .help = (h), .type = METRIC_TYPE_COUNTER, .labels = (l)               \
	}
#define METRIC_GAUGE(n, h, l)                                                                      \
	{                                                                                          \
		.name = (n), .help = (h), .type = METRIC_TYPE_GAUGE, .labels = (l)                 \
	}
#define METRIC_HISTOGRAM(n, h, l, b)                                                               \
	{                                                                                          \
		.name = (n), .help = (h), .type = METRIC_TYPE_HISTOGRAM, .labels = (l),            \
		.buckets = (b), .n_buckets = sizeof(b) / sizeof((b)[0])                            \
	}

/* Bucket bounds in seconds for request and pass durations (1 ms .. 10 s). */
extern const double metrics_seconds_buckets[13];
#define METRICS_SECONDS_BUCKETS_LEN 13

/* Makes the family known (it renders its HELP and TYPE, and 0 for a family
 * without labels) before its first event. */
void metrics_register(struct metric *m);
/* Counter or gauge: adds v (a counter's v must be >= 0; else ignored). */
void metrics_add(struct metric *m, double v, ...);
/* Gauge: sets the series to v. Counter: mirrors a count kept elsewhere
 * (v must never go down). */
void metrics_set(struct metric *m, double v, ...);
/* Histogram: records one observation of v. */
void metrics_observe(struct metric *m, double v, ...);
/* Removes every series of the family (gauges recomputed at each scrape, whose
 * label values come and go). */
void metrics_clear(struct metric *m);

/* A callback run at the start of each metrics_render(), outside the lock, to
 * refresh gauges that are read rather than counted (a queue's length). At most
 * 16; the same (fn, userdata) twice is kept once. */
void metrics_collector_add(void (*fn)(void *userdata), void *userdata);
void metrics_collector_remove(void (*fn)(void *userdata), void *userdata);

/* Every registered family in the text exposition format, in registration
 * order; the caller frees. */
char *metrics_render(void);

/* v as Prometheus writes numbers: the shortest text that reads back as v,
 * "+Inf", "-Inf" or "NaN". buf holds 32 bytes. */
void metrics_format_value(double v, char buf[static 32]);
