/* lepton-agent's metrics: pass durations by phase, kernel ops (counted in
 * plan_apply), nftables commands, DHCP requests by outcome, the feed (lines
 * by op, revision applied, last line's time, connection), warnings and the
 * last error (from the log). Served by metricsd. Each hook is one call from
 * the place the event happens. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct dhcp_stats;

/* Registers the families, the log hook (errors and warnings) and a scrape
 * time gauge of whether client's feed stream is connected. */
void stats_start(struct client *client);
void stats_stop(void);

/* One reconcile pass: its kind ("full_resync", "sync", "routers"), the
 * monotonic milliseconds at its start and at the end of each phase, the
 * nftables commands it wrote and the model revision it made the node
 * follow. */
struct stats_pass {
	const char *kind;
	uint64_t start_ms, model_ms, dump_ms, apply_ms, nft_ms, end_ms;
	size_t n_nft;
	int64_t revision;
};
void stats_pass(const struct stats_pass *p);

/* A batch of feed lines taken from the client (pings included) and the
 * replica's revision after applying them. */
void stats_feed(const json_t *lines, int64_t revision);

/* The DHCP responder's counters (monotonic, kept by dhcpd). */
void stats_dhcp(const struct dhcp_stats *st);
