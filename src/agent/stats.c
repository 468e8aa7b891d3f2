/* lepton-agent's metric families and their hooks. */
#include "agent/stats.h"

#include <string.h>
#include <time.h>
#include "agent/client.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "dhcp/server.h"

static struct metric passes = METRIC_COUNTER(
	"lepton_agent_passes_total",
	"Reconcile passes, by kind (full_resync: the first after a start; sync: "
	"node level and routers; routers: router namespaces only; tables: nftables only, "
	"when only security or address groups changed).",
	"kind");
static struct metric pass_seconds = METRIC_HISTOGRAM(
	"lepton_agent_pass_duration_seconds",
	"Reconcile pass durations by phase (model, dump, apply, nftables, dhcp_status) and in "
	"total (millisecond resolution).",
	"phase", metrics_seconds_buckets);
static struct metric pass_revision =
	METRIC_GAUGE("lepton_agent_pass_revision",
		     "Model revision the last reconcile pass made the node follow.", NULL);
static struct metric nft_commands = METRIC_COUNTER(
	"lepton_agent_nft_commands_total", "nftables commands written to the kernel.", NULL);
static struct metric feed_lines =
	METRIC_COUNTER("lepton_agent_feed_lines_total",
		       "Change feed lines received, by op (ping included).", "op");
static struct metric feed_revision =
	METRIC_GAUGE("lepton_agent_feed_revision",
		     "Revision of the last feed line applied to the replica.", NULL);
static struct metric feed_last = METRIC_GAUGE(
	"lepton_agent_feed_last_line_timestamp_seconds",
	"Unix time of the last feed line received (the server pings idle streams: an old value "
	"means a stalled feed).",
	NULL);
static struct metric feed_connected = METRIC_GAUGE(
	"lepton_agent_feed_connected", "1 while the change feed stream is connected.", NULL);
static struct metric dhcp = METRIC_COUNTER(
	"lepton_agent_dhcp_requests_total",
	"DHCP frames received from local ports, by outcome (replied: an offer, ack or nak was "
	"sent).",
	"result");
static struct metric warnings =
	METRIC_COUNTER("lepton_agent_warnings_total", "Warnings logged.", NULL);
static struct metric errors = METRIC_COUNTER("lepton_agent_errors_total", "Errors logged.", NULL);
static struct metric last_error_time =
	METRIC_GAUGE("lepton_agent_last_error_timestamp_seconds",
		     "Unix time of the last error logged (0: none).", NULL);
static struct metric last_error =
	METRIC_GAUGE("lepton_agent_last_error_info",
		     "The last error logged, as a label; the value is 1.", "message");

static struct client *watched;

static double now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void on_log(enum log_level level, const char *message)
{
	if (level == LOG_LVL_WARN) {
		metrics_add(&warnings, 1);
		return;
	}
	metrics_add(&errors, 1);
	metrics_set(&last_error_time, now_unix());
	metrics_clear(&last_error);
	metrics_set(&last_error, 1, message);
}

static void collect(void *userdata)
{
	(void) userdata;
	metrics_set(&feed_connected, watched && client_watch_connected(watched) ? 1 : 0);
}

void stats_start(struct client *client)
{
	struct metric *all[] = {&passes,     &pass_seconds,  &pass_revision, &nft_commands,
				&feed_lines, &feed_revision, &feed_last,     &feed_connected,
				&dhcp,	     &warnings,	     &errors,	     &last_error_time,
				&last_error};

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		metrics_register(all[i]);
	watched = client;
	metrics_collector_add(collect, NULL);
	log_set_hook(on_log);
}

void stats_stop(void)
{
	log_set_hook(NULL);
	metrics_collector_remove(collect, NULL);
	watched = NULL;
}

void stats_pass(const struct stats_pass *p)
{
	static const char *const phases[] = {"model", "dump", "apply", "nftables", "dhcp_status"};
	const uint64_t t[] = {p->start_ms, p->model_ms, p->dump_ms,
			      p->apply_ms, p->nft_ms,	p->end_ms};

	metrics_add(&passes, 1, p->kind);
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++)
		metrics_observe(&pass_seconds, (double) (t[i + 1] - t[i]) / 1e3, phases[i]);
	metrics_observe(&pass_seconds, (double) (p->end_ms - p->start_ms) / 1e3, "total");
	metrics_set(&pass_revision, (double) p->revision);
	metrics_add(&nft_commands, (double) p->n_nft);
}

void stats_feed(const json_t *lines, int64_t revision)
{
	static const char *const ops[] = {"snapshot_begin", "snapshot", "snapshot_end", "create",
					  "update",	    "delete",	"ping"};
	const json_t *line;
	size_t i;

	if (!json_array_size(lines))
		return;
	json_array_foreach(lines, i, line) {
		const char *op = json_string_value(json_object_get(line, "op")), *label = "other";

		for (size_t k = 0; op && k < ARRAY_SIZE(ops); k++)
			if (streq(op, ops[k]))
				label = ops[k];
		metrics_add(&feed_lines, 1, label);
	}
	metrics_set(&feed_revision, (double) revision);
	metrics_set(&feed_last, now_unix());
}

void stats_dhcp(const struct dhcp_stats *st)
{
	metrics_set(&dhcp, (double) st->replied, "replied");
	metrics_set(&dhcp, (double) st->dropped_malformed, "malformed");
	metrics_set(&dhcp, (double) st->dropped_unknown, "unknown_mac");
	metrics_set(&dhcp, (double) st->released, "released");
	metrics_set(&dhcp, (double) st->declined, "declined");
	metrics_set(&dhcp, (double) st->ignored, "ignored");
	metrics_set(&dhcp, (double) st->failed, "failed");
}
