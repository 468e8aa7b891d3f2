/* lepton-server's operations telemetry: per-request metrics and the request
 * log line, the gauges read at each scrape (feed revision, watch streams and
 * how far behind the store each is), and the handler of the metrics
 * listener (GET /metrics, no auth: operators bind it to a management
 * address; see README "Operating Lepton"). */
#pragma once

#include <stdint.h>
#include "server/api.h"
#include "server/http.h"

/* Registers the server's metric families and the scrape-time gauges of
 * api's store. */
void telemetry_start(struct api *api);
void telemetry_stop(struct api *api);

/* One call per answered request (a stream: when it starts): counts it by
 * resource, method and status, records its duration since start_us
 * (time_mono_us()), and logs one "event=request" line when the config asks
 * for it. project_id may be NULL; no header value other than the project is
 * ever logged. */
void telemetry_request(const struct api *api, const struct http_request *req, int status,
		       uint64_t start_us, const char *project_id);

/* The resource label of a request path: a collection of the API
 * ("networks", "floatingip_pools", "firewall_groups"), "versions",
 * "resources", "extensions", "quotas", "lepton/watch", "lepton/snat_blocks",
 * "lepton/agents", "lepton/ports", "topology" (the page), or "other": a bounded set whatever the
 * path holds. */
const char *telemetry_resource(const char *path);

/* The metrics listener's http_handler_fn (userdata unused): GET /metrics
 * answers the text exposition format; other paths 404, other methods 405. */
void telemetry_metrics_handle(void *userdata, const struct http_request *req,
			      struct http_response *resp);
