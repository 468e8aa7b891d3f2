/* The metrics registry: counting, label series, histograms, text rendering. */
#include <pthread.h>
#include "base/metrics.h"
#include "base/util.h"
#include "test.h"

/* The family's lines of a rendering (from its HELP line to the next HELP). */
static char *family_text(const char *all, const char *name)
{
	char head[128];
	const char *start, *end;

	snprintf(head, sizeof(head), "# HELP %s ", name);
	start = strstr(all, head);
	if (!start)
		return NULL;
	end = strstr(start + 1, "# HELP ");
	return strndup(start, end ? (size_t) (end - start) : strlen(start));
}

TEST(metrics_counter_without_labels_starts_at_zero_and_counts)
{
	static struct metric c = METRIC_COUNTER("t_plain_total", "Plain events.", NULL);
	char *all, *fam;

	metrics_register(&c);
	all = metrics_render();
	fam = family_text(all, "t_plain_total");
	CHECK_STREQ(fam, "# HELP t_plain_total Plain events.\n"
			 "# TYPE t_plain_total counter\n"
			 "t_plain_total 0\n");
	free(all);
	free(fam);
	metrics_add(&c, 1);
	metrics_add(&c, 2.5);
	metrics_add(&c, -1); /* a counter never goes down */
	all = metrics_render();
	fam = family_text(all, "t_plain_total");
	CHECK(fam && strstr(fam, "\nt_plain_total 3.5\n"));
	free(all);
	free(fam);
}

TEST(metrics_labels_make_series_in_first_seen_order_escaped)
{
	static struct metric c =
		METRIC_COUNTER("t_req_total", "Requests\\by \"x\"\nsecond.", "resource,method");
	char *all, *fam;

	metrics_add(&c, 1, "networks", "GET");
	metrics_add(&c, 1, "ports", "POST");
	metrics_add(&c, 1, "networks", "GET");
	metrics_add(&c, 1, "a\"b\\c\nd", "PUT");
	all = metrics_render();
	fam = family_text(all, "t_req_total");
	CHECK_STREQ(fam, "# HELP t_req_total Requests\\\\by \"x\"\\nsecond.\n"
			 "# TYPE t_req_total counter\n"
			 "t_req_total{resource=\"networks\",method=\"GET\"} 2\n"
			 "t_req_total{resource=\"ports\",method=\"POST\"} 1\n"
			 "t_req_total{resource=\"a\\\"b\\\\c\\nd\",method=\"PUT\"} 1\n");
	free(all);
	free(fam);
}

TEST(metrics_gauge_sets_adds_and_clears)
{
	static struct metric g = METRIC_GAUGE("t_lag", "Lag.", "host");
	char *all, *fam;

	metrics_set(&g, 7, "n1");
	metrics_set(&g, 3, "n1");
	metrics_add(&g, -5, "n2");
	all = metrics_render();
	fam = family_text(all, "t_lag");
	CHECK(fam && strstr(fam, "t_lag{host=\"n1\"} 3\n") &&
	      strstr(fam, "t_lag{host=\"n2\"} -5\n"));
	free(all);
	free(fam);
	metrics_clear(&g);
	all = metrics_render();
	fam = family_text(all, "t_lag");
	CHECK_STREQ(fam, "# HELP t_lag Lag.\n# TYPE t_lag gauge\n");
	free(all);
	free(fam);
}

TEST(metrics_histogram_buckets_are_cumulative)
{
	static const double b[] = {0.5, 1, 10};
	static struct metric h = METRIC_HISTOGRAM("t_dur_seconds", "Durations.", "phase", b);
	char *all, *fam;

	metrics_observe(&h, 0.25, "dump");
	metrics_observe(&h, 0.5, "dump"); /* le is inclusive */
	metrics_observe(&h, 5, "dump");
	metrics_observe(&h, 50, "dump");
	all = metrics_render();
	fam = family_text(all, "t_dur_seconds");
	CHECK_STREQ(fam, "# HELP t_dur_seconds Durations.\n"
			 "# TYPE t_dur_seconds histogram\n"
			 "t_dur_seconds_bucket{phase=\"dump\",le=\"0.5\"} 2\n"
			 "t_dur_seconds_bucket{phase=\"dump\",le=\"1\"} 2\n"
			 "t_dur_seconds_bucket{phase=\"dump\",le=\"10\"} 3\n"
			 "t_dur_seconds_bucket{phase=\"dump\",le=\"+Inf\"} 4\n"
			 "t_dur_seconds_sum{phase=\"dump\"} 55.75\n"
			 "t_dur_seconds_count{phase=\"dump\"} 4\n");
	free(all);
	free(fam);
}

TEST(metrics_wrong_operation_for_the_type_changes_nothing)
{
	static const double b[] = {1};
	static struct metric h = METRIC_HISTOGRAM("t_h_only", "H.", NULL, b);
	static struct metric c = METRIC_COUNTER("t_c_only_total", "C.", NULL);
	char *all;

	metrics_add(&h, 1);
	metrics_set(&h, 9);
	metrics_observe(&c, 9);
	all = metrics_render();
	CHECK(strstr(all, "\nt_c_only_total 0\n"));
	CHECK(strstr(all, "\nt_h_only_bucket{le=\"+Inf\"} 0\n"));
	CHECK(strstr(all, "\nt_h_only_count 0\n"));
	free(all);
}

TEST(metrics_series_are_bounded)
{
	static struct metric c = METRIC_COUNTER("t_many_total", "Many.", "id");
	char id[16], *all, *fam;
	size_t lines = 0;

	for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
		snprintf(id, sizeof(id), "%d", i);
		metrics_add(&c, 1, id);
	}
	all = metrics_render();
	fam = family_text(all, "t_many_total");
	for (const char *p = fam; p && *p; p++)
		lines += *p == '\n';
	CHECK(lines == METRICS_MAX_SERIES + 2);
	free(all);
	free(fam);
}

static void collect(void *userdata)
{
	static struct metric g = METRIC_GAUGE("t_collected", "Read at scrape.", NULL);

	metrics_set(&g, (double) ++*(int *) userdata);
}

TEST(metrics_collectors_run_at_each_render)
{
	int calls = 0;
	char *all;

	metrics_collector_add(collect, &calls);
	metrics_collector_add(collect, &calls); /* kept once */
	all = metrics_render();
	CHECK(calls == 1 && strstr(all, "\nt_collected 1\n"));
	free(all);
	all = metrics_render();
	CHECK(calls == 2 && strstr(all, "\nt_collected 2\n"));
	free(all);
	metrics_collector_remove(collect, &calls);
	free(metrics_render());
	CHECK(calls == 2);
}

TEST(metrics_format_value_is_shortest_round_trip)
{
	char buf[32];

	metrics_format_value(0.005, buf);
	CHECK_STREQ(buf, "0.005");
	metrics_format_value(1e-7, buf);
	CHECK_STREQ(buf, "1e-07");
	metrics_format_value(123456789012.0, buf);
	CHECK_STREQ(buf, "123456789012");
	metrics_format_value(0.1 + 0.2, buf);
	CHECK_STREQ(buf, "0.30000000000000004");
	metrics_format_value(1e300, buf);
	CHECK_STREQ(buf, "1e+300");
	metrics_format_value(1.0 / 0.0, buf);
	CHECK_STREQ(buf, "+Inf");
	metrics_format_value(-1.0 / 0.0, buf);
	CHECK_STREQ(buf, "-Inf");
}

static struct metric concurrent = METRIC_COUNTER("t_threads_total", "Threads.", "t");

static void *bump(void *arg)
{
	for (int i = 0; i < 10000; i++)
		metrics_add(&concurrent, 1, (const char *) arg);
	return NULL;
}

TEST(metrics_counting_from_threads_loses_nothing)
{
	pthread_t t[4];
	char *all;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, bump, i % 2 ? "odd" : "even");
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	all = metrics_render();
	CHECK(strstr(all, "t_threads_total{t=\"even\"} 20000\n"));
	CHECK(strstr(all, "t_threads_total{t=\"odd\"} 20000\n"));
	free(all);
}
