/* lepton-server's metrics and request log. */
#include "server/telemetry.h"

#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "server/resources.h"
#include "server/watch.h"

static struct metric requests = METRIC_COUNTER(
	"lepton_api_requests_total", "API requests answered, by resource, method and status.",
	"resource,method,status");
static struct metric request_seconds =
	METRIC_HISTOGRAM("lepton_api_request_duration_seconds",
			 "Time from a request's arrival to its answer (a watch stream: to its "
			 "first byte), by resource and method.",
			 "resource,method", metrics_seconds_buckets);
static struct metric feed_revision =
	METRIC_GAUGE("lepton_feed_revision", "Last committed revision of the change feed.", NULL);
static struct metric feed_floor = METRIC_GAUGE(
	"lepton_feed_floor_revision",
	"Changes at or below this revision are no longer kept (watchers behind it get a snapshot).",
	NULL);
static struct metric watchers =
	METRIC_GAUGE("lepton_feed_watchers",
		     "Open watch streams, by kind (node: ?host=, full: the whole feed).", "kind");
static struct metric watcher_lag = METRIC_GAUGE(
	"lepton_feed_watcher_lag_revisions",
	"Per watching host (\"*\" for whole-feed streams): how many revisions the most behind of "
	"its streams has still to turn into lines.",
	"host");

const char *telemetry_resource(const char *path)
{
	static const char *const lepton[][2] = {
		{"watch", "lepton/watch"},
		{"changes", "lepton/changes"},
		{"snat_blocks", "lepton/snat_blocks"},
		{"agents", "lepton/agents"},
		{"ports", "lepton/ports"},
	};
	char buf[256], *parts[3] = {0};
	const struct resource_def *def;
	size_t n = 0, len;

	/* Only the first three segments matter: a longer path is cut. */
	snprintf(buf, sizeof(buf), "%s", path);
	len = strlen(buf);
	if (len > 5 && streq(buf + len - 5, ".json"))
		buf[len - 5] = '\0';
	for (char *save = NULL, *t = strtok_r(buf, "/", &save); t && n < 3;
	     t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	if (n == 0)
		return "versions";
	if (streq(parts[0], "topology"))
		return "topology";
	if (!streq(parts[0], "v2.0"))
		return "other";
	if (n == 1)
		return "resources";
	if (streq(parts[1], "extensions"))
		return "extensions";
	if (streq(parts[1], "quotas"))
		return "quotas";
	if (streq(parts[1], "lepton") && n >= 3) {
		for (size_t i = 0; i < ARRAY_SIZE(lepton); i++)
			if (streq(parts[2], lepton[i][0]))
				return lepton[i][1];
		return "other";
	}
	if (streq(parts[1], "fwaas"))
		def = n == 3 ? resource_by_collection("fwaas", parts[2]) : NULL;
	else
		def = resource_by_collection(NULL, parts[1]);
	return def ? def->collection : "other";
}

static const char *method_label(const char *m)
{
	static const char *const known[] = {"GET",   "POST", "PUT",    "DELETE",
					    "PATCH", "HEAD", "OPTIONS"};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (streq(m, known[i]))
			return known[i];
	return "other";
}

void telemetry_request(const struct api *api, const struct http_request *req, int status,
		       uint64_t start_us, const char *project_id)
{
	const char *resource = telemetry_resource(req->path), *method = method_label(req->method);
	double secs = (double) (time_mono_us() - start_us) / 1e6;
	char code[16];

	snprintf(code, sizeof(code), "%d", status);
	metrics_add(&requests, 1, resource, method, code);
	metrics_observe(&request_seconds, secs, resource, method);
	if (!api->cfg->request_log)
		return;
	log_event(LOG_LVL_INFO, "server.request",
		  "method=%s path=%s status=%d duration_ms=%.3f project=%s", req->method, req->path,
		  status, secs * 1000, project_id);
}

struct lag_scan {
	size_t node, full;
	json_t *lag; /* {host: max lag} */
	int64_t head;
};

static void scan_stream(void *userdata, const char *host, int64_t rev)
{
	struct lag_scan *sc = userdata;
	const char *key = host ? host : "*";
	int64_t lag = sc->head > rev ? sc->head - rev : 0;
	json_t *had = json_object_get(sc->lag, key);

	if (host)
		sc->node++;
	else
		sc->full++;
	if (!had || json_integer_value(had) < lag)
		json_object_set_new(sc->lag, key, json_integer(lag));
}

static void collect(void *userdata)
{
	struct api *api = userdata;
	struct lag_scan sc = {.lag = json_object()};
	const char *host;
	json_t *v;

	store_lock(api->store);
	sc.head = store_revision(api->store);
	metrics_set(&feed_revision, (double) sc.head);
	metrics_set(&feed_floor, (double) store_feed_floor(api->store));
	watch_foreach(api->hub, scan_stream, &sc);
	store_unlock(api->store);
	metrics_set(&watchers, (double) sc.node, "node");
	metrics_set(&watchers, (double) sc.full, "full");
	metrics_clear(&watcher_lag);
	json_object_foreach(sc.lag, host, v)
		metrics_set(&watcher_lag, (double) json_integer_value(v), host);
	json_decref(sc.lag);
}

void telemetry_start(struct api *api)
{
	metrics_register(&requests);
	metrics_register(&request_seconds);
	metrics_register(&feed_revision);
	metrics_register(&feed_floor);
	metrics_register(&watchers);
	metrics_register(&watcher_lag);
	metrics_collector_add(collect, api);
}

void telemetry_stop(struct api *api)
{
	metrics_collector_remove(collect, api);
}

void telemetry_metrics_handle(void *userdata, const struct http_request *req,
			      struct http_response *resp)
{
	(void) userdata;
	resp->content_type = "text/plain; charset=utf-8";
	if (!streq(req->path, "/metrics")) {
		resp->status = 404;
		resp->body = xstrdup("Not found: this listener serves GET /metrics only.\n");
		return;
	}
	if (!streq(req->method, "GET") && !streq(req->method, "HEAD")) {
		resp->status = 405;
		resp->body = xstrdup("Method not allowed.\n");
		return;
	}
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->body = metrics_render();
}
