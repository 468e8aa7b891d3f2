/* The agent's metrics hooks: passes, feed lines, DHCP counters and the last
 * error taken from the log. */
#include "agent/stats.h"
#include "base/log.h"
#include "base/metrics.h"
#include "dhcp/server.h"
#include "test.h"

TEST(stats_hooks_move_the_agent_metrics)
{
	struct dhcp_stats st = {.received = 5, .replied = 3, .dropped_unknown = 2};
	json_t *lines = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "op", "create", "op", "ping",
				  "op", "create", "op", "bogus");
	static const char *const want[] = {
		"\nlepton_agent_passes_total{kind=\"sync\"} 1\n",
		"\nlepton_agent_pass_duration_seconds_bucket{phase=\"dump\",le=\"0.001\"} 0\n",
		"\nlepton_agent_pass_duration_seconds_bucket{phase=\"dump\",le=\"0.0025\"} 1\n",
		"\nlepton_agent_pass_duration_seconds_sum{phase=\"total\"} 0.25\n",
		"\nlepton_agent_pass_revision 42\n",
		"\nlepton_agent_nft_commands_total 7\n",
		"\nlepton_agent_feed_lines_total{op=\"create\"} 2\n",
		"\nlepton_agent_feed_lines_total{op=\"ping\"} 1\n",
		"\nlepton_agent_feed_lines_total{op=\"other\"} 1\n",
		"\nlepton_agent_feed_revision 41\n",
		"\nlepton_agent_feed_connected 0\n",
		"\nlepton_agent_dhcp_requests_total{result=\"replied\"} 3\n",
		"\nlepton_agent_dhcp_requests_total{result=\"unknown_mac\"} 2\n",
		"\nlepton_agent_warnings_total 1\n",
		"\nlepton_agent_errors_total 2\n",
		"\nlepton_agent_last_error_info{message=\"event=agent.dump_failed err=\\\"No "
		"such device\\\"\"} 1\n",
	};
	char *all;

	stats_start(NULL);
	stats_pass(&(struct stats_pass){"sync", 1000, 1001, 1003, 1010, 1011, 1250, 7, 42});
	stats_feed(lines, 41);
	stats_dhcp(&st);
	log_event(LOG_LVL_WARN, "test.warning", NULL);
	log_event(LOG_LVL_ERROR, "test.boom", "n=%d", 1);
	log_event(LOG_LVL_ERROR, "agent.dump_failed", "err=%s", "No such device");
	all = metrics_render();
	stats_stop();
	log_event(LOG_LVL_ERROR, "test.after_stop", "counted=no");
	json_decref(lines);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(all, want[i]))
			fprintf(stderr, "  missing: %s", want[i]);
		CHECK(strstr(all, want[i]));
	}
	CHECK(!strstr(all, "boom"));
	CHECK(!strstr(all, "\nlepton_agent_last_error_timestamp_seconds 0\n"));
	free(all);
	all = metrics_render();
	CHECK(strstr(all, "\nlepton_agent_errors_total 2\n"));
	free(all);
}
