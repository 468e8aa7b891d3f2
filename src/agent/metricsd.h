/* The agent's metrics listener: GET /metrics in the Prometheus text format
 * (base/metrics.h) on a TCP address of the agent's network namespace, no
 * auth (bind a management or loopback address). The agent's only user of
 * libmicrohttpd; one internal thread. */
#pragma once

struct metricsd;

/* listen: "HOST:PORT" with a numeric host (IPv6 as "[::1]:PORT"). */
int metricsd_start(const char *listen, struct metricsd **ret);
void metricsd_stop(struct metricsd *m);
