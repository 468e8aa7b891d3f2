/* Agents: Neutron's /v2.0/agents (admin), and the agent-facing API that
 * lepton-agent uses with its own credential: register, heartbeat, and port
 * status reports. Heartbeats live outside the change feed (store_beat: in
 * memory with SQLite, after a server restart agents are not alive until their
 * next heartbeat; in etcd with that backend, so every server agrees);
 * `alive` is computed when an agent is shown. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/ip4.h"
#include "base/ipaddr.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "server/resources.h"

static const struct attr_def agent_attrs[] = {
	{"host", AK_STRING, 0, NULL, 255},
	{"agent_type", AK_STRING, 0, "\"Lepton agent\"", 0},
	{"binary", AK_STRING, 0, "\"lepton-agent\"", 0},
	{"topic", AK_STRING, 0, "\"N/A\"", 0},
	{"admin_state_up", AK_BOOL, AF_PUT, "true", 0},
	{"configurations", AK_OBJECT, 0, "{}", 0},
	{"availability_zone", AK_STRING, AF_NULLABLE, "null", 0},
	{"started_at", AK_STRING, 0, NULL, 0},
	{"heartbeat_timestamp", AK_STRING, AF_NULLABLE, "null", 0},
	{"alive", AK_BOOL, 0, "false", 0},
	{"resources_synced", AK_BOOL, AF_NULLABLE, "null", 0},
	{NULL, 0, 0, NULL, 0},
};

static void agent_decorate(struct api_ctx *ctx, json_t *view)
{
	char at[TIME_ISO_STRLEN];
	uint64_t age;

	if (store_beat_get(ctx->store, doc_str(view, "host"), &age, at)) {
		json_object_set_new(view, "heartbeat_timestamp", json_string(at));
		json_object_set_new(view, "alive",
				    json_boolean(age <= ctx->cfg->agent_down_time * 1000ull));
	} else {
		json_object_set_new(view, "alive", json_false());
	}
}

bool agent_alive(struct api_ctx *ctx, const char *host)
{
	char at[TIME_ISO_STRLEN];
	uint64_t age;

	return store_beat_get(ctx->store, host, &age, at) &&
	       age <= ctx->cfg->agent_down_time * 1000ull;
}

json_t *agents_network_hosts(struct api_ctx *ctx)
{
	json_t *all = store_list(ctx->store, "agent"), *out = json_array(), *a;
	size_t i;

	json_array_foreach(all, i, a) {
		json_t *conf = json_object_get(a, "configurations");

		if (streq(doc_str(conf, "mode"), "network") && agent_alive(ctx, doc_str(a, "host")))
			json_array_append_new(out, json_string(doc_str(a, "host")));
	}
	json_decref(all);
	return out;
}

static bool agent_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) doc;
	return ctx->is_admin;
}

static int agent_create(struct api_ctx *ctx, json_t *doc)
{
	(void) doc;
	return api_fail(&ctx->err, 405, "HTTPMethodNotAllowed",
			"Agents come from registration by lepton-agent, not from POST.");
}

const struct resource_def agent_def = {
	.type = "agent",
	.collection = "agents",
	.title = "Agent",
	.not_found = "AgentNotFound",
	.attrs = agent_attrs,
	.create = agent_create,
	.visible = agent_visible,
	.decorate = agent_decorate,
};

static json_t *agent_by_host(struct api_ctx *ctx, const char *host)
{
	json_t *all = store_list(ctx->store, "agent"), *a, *found = NULL;
	size_t i;

	json_array_foreach(all, i, a) {
		if (streq(doc_str(a, "host"), host)) {
			found = json_incref(a);
			break;
		}
	}
	json_decref(all);
	return found;
}

bool agent_name_valid(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* The physical networks BGP mode covers (absent: all): a list of names,
 * each one of the registration's physical_networks. */
static bool bgp_physnets_valid(json_t *list, json_t *phys)
{
	json_t *e;
	size_t i;

	if (!list)
		return true;
	if (!json_is_array(list) || !json_array_size(list))
		return false;
	json_array_foreach(list, i, e) {
		if (!agent_name_valid(json_string_value(e), 64) ||
		    !json_object_get(phys, json_string_value(e)))
			return false;
	}
	return true;
}

static bool bgp_valid(json_t *bgp, json_t *phys)
{
	json_t *nh = json_object_get(bgp, "nexthop"), *table = json_object_get(bgp, "table");
	json_t *list = json_object_get(bgp, "physnets"), *nh6 = json_object_get(bgp, "nexthop6");
	struct ipaddr a6;
	uint32_t ip;

	if (nh6 && (ipaddr_parse(json_string_value(nh6) ? json_string_value(nh6) : "", &a6) < 0 ||
		    a6.version != 6))
		return false;
	return json_is_object(bgp) && json_object_size(bgp) == 3u + !!list + !!nh6 &&
	       bgp_physnets_valid(list, phys) && json_is_string(nh) &&
	       ip4_parse(json_string_value(nh), &ip) == 0 && ip &&
	       agent_name_valid(json_string_value(json_object_get(bgp, "dev")), 15) &&
	       json_is_integer(table) && json_integer_value(table) >= 1 &&
	       json_integer_value(table) <= 0xffffffffLL;
}

/* Checks a registration body; returns the configurations (new reference). */
static json_t *check_registration(struct api_ctx *ctx, json_t *a)
{
	const char *host = json_string_value(json_object_get(a, "host"));
	const char *mode = json_string_value(json_object_get(a, "mode"));
	const char *tun = json_string_value(json_object_get(a, "tunnel_address"));
	json_t *phys = json_object_get(a, "physical_networks"), *v;
	json_t *bgp = json_object_get(a, "bgp"), *conf;
	const char *k;
	uint32_t ip;

	json_object_foreach(a, k, v) {
		if (!streq(k, "host") && !streq(k, "mode") && !streq(k, "tunnel_address") &&
		    !streq(k, "physical_networks") && !streq(k, "availability_zone") &&
		    !streq(k, "bgp")) {
			api_bad_request(&ctx->err, "Unrecognized attribute(s) '%s'", k);
			return NULL;
		}
	}
	if (!agent_name_valid(host, 64)) {
		api_bad_request(&ctx->err, "Invalid input for host: 1 to 64 of [A-Za-z0-9._-].");
		return NULL;
	}
	if (!mode || (!streq(mode, "compute") && !streq(mode, "network"))) {
		api_bad_request(&ctx->err, "Invalid input for mode: compute or network.");
		return NULL;
	}
	if (!tun || ip4_parse(tun, &ip) < 0) {
		api_bad_request(&ctx->err, "Invalid input for tunnel_address: an IPv4 address.");
		return NULL;
	}
	if (phys && !json_is_object(phys)) {
		api_bad_request(&ctx->err, "Invalid input for physical_networks: "
					   "{physnet: interface}.");
		return NULL;
	}
	json_object_foreach(phys, k, v) {
		if (!agent_name_valid(k, 64) || !agent_name_valid(json_string_value(v), 15)) {
			api_bad_request(&ctx->err, "Invalid input for physical_networks: '%s'.", k);
			return NULL;
		}
	}
	/* BGP mode (README, "Announcing over BGP"): the node's next hop on
	 * its segment, its interface there and the table BIRD learns. */
	if (bgp && !bgp_valid(bgp, phys)) {
		api_bad_request(&ctx->err, "Invalid input for bgp: {\"nexthop\": an IPv4 address, "
					   "\"dev\": an interface name, \"table\": 1..4294967295, "
					   "optionally \"nexthop6\": an IPv6 address, "
					   "\"physnets\": [names of physical_networks]}.");
		return NULL;
	}
	conf = json_pack("{s:s, s:s, s:O}", "mode", mode, "tunnel_address", tun,
			 "physical_networks", phys ? phys : json_object());
	if (bgp)
		json_object_set(conf, "bgp", bgp);
	return conf;
}

static int agent_register(struct api_ctx *ctx, json_t *body, json_t **ret_body)
{
	json_t *a = json_object_get(body, "agent"), *conf, *doc, *az;
	const char *host;
	int r = 0, status = 200;

	if (!json_is_object(a))
		return api_bad_request(&ctx->err, "Body must be {\"agent\": {...}}.");
	conf = check_registration(ctx, a);
	if (!conf)
		return -EINVAL;
	host = json_string_value(json_object_get(a, "host"));
	az = json_object_get(a, "availability_zone");
	if (az && !json_is_null(az) && !json_is_string(az)) {
		json_decref(conf);
		return api_bad_request(&ctx->err, "Invalid input for availability_zone.");
	}
	if (store_begin(ctx->store) < 0) {
		json_decref(conf);
		return api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
	}
	doc = agent_by_host(ctx, host);
	if (!doc) {
		char now[TIME_ISO_STRLEN];

		time_now_iso(now);
		doc = json_pack("{s:s, s:O, s:s, s:s, s:s}", "host", host, "configurations", conf,
				"started_at", now, "project_id", "", "tenant_id", "");
		json_object_set(doc, "availability_zone", az ? az : json_null());
		r = resource_prepare(ctx, &agent_def, doc);
		if (r >= 0)
			r = resource_store_new(ctx, &agent_def, doc);
		status = 201;
	} else if (!json_equal(json_object_get(doc, "configurations"), conf) ||
		   (az && !json_equal(az, json_object_get(doc, "availability_zone")))) {
		json_object_set(doc, "configurations", conf);
		if (az)
			json_object_set(doc, "availability_zone", az);
		r = resource_save(ctx, &agent_def, doc);
	}
	if (r >= 0 && store_commit(ctx->store) < 0)
		r = api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
	if (r < 0)
		store_rollback(ctx->store);
	if (r >= 0) {
		(void) store_beat(ctx->store, host);
		/* A network node came: routers waiting for one get it. */
		if (streq(doc_str(conf, "mode"), "network") && store_begin(ctx->store) == 0) {
			if (routers_schedule_pending(ctx) < 0)
				store_rollback(ctx->store);
			else
				store_commit(ctx->store);
		}
		*ret_body =
			json_pack("{s:o}", "agent", resource_view(ctx, &agent_def, doc, NULL, 0));
	}
	json_decref(conf);
	json_decref(doc);
	return r < 0 ? r : status;
}

static int agent_heartbeat(struct api_ctx *ctx, json_t *body, json_t **ret_body)
{
	const char *host = json_string_value(json_object_get(body, "host"));
	json_t *doc;

	if (!host)
		return api_bad_request(&ctx->err, "Body must be {\"host\": HOST}.");
	doc = agent_by_host(ctx, host);
	if (!doc)
		return api_fail(&ctx->err, 404, "AgentNotFound",
				"Agent on host %s could not be found: register first.", host);
	if (store_beat(ctx->store, host) < 0) {
		json_decref(doc);
		return api_fail(&ctx->err, 503, "ServiceUnavailable",
				"The store cannot record the heartbeat: %s",
				store_errmsg(ctx->store));
	}
	*ret_body = json_pack("{s:o}", "agent", resource_view(ctx, &agent_def, doc, NULL, 0));
	json_decref(doc);
	return 200;
}

static int port_status(struct api_ctx *ctx, const char *port_id, json_t *body)
{
	const char *status = json_string_value(json_object_get(body, "status"));
	const char *host = json_string_value(json_object_get(body, "host"));
	json_t *port;
	int r = 0;

	if (!status || (!streq(status, "ACTIVE") && !streq(status, "DOWN")) || !host)
		return api_bad_request(&ctx->err,
				       "Body must be {\"status\": ACTIVE|DOWN, \"host\": HOST}.");
	port = store_get(ctx->store, "port", port_id);
	if (!port)
		return api_fail(&ctx->err, 404, "PortNotFound", "Port %s could not be found.",
				port_id);
	if (!streq(doc_str(port, "binding:host_id"), host)) {
		json_decref(port);
		return api_conflict(&ctx->err, "PortBoundElsewhere",
				    "Port %s is bound to '%s', not to %s.", port_id,
				    doc_str(port, "binding:host_id"), host);
	}
	if (!streq(doc_str(port, "status"), status)) {
		if (store_begin(ctx->store) < 0) {
			json_decref(port);
			return api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
		}
		json_object_set_new(port, "status", json_string(status));
		r = resource_save(ctx, &port_def, port);
		if (r >= 0 && store_commit(ctx->store) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
		if (r < 0)
			store_rollback(ctx->store);
	}
	json_decref(port);
	return r < 0 ? r : 204;
}

int agent_api(struct api_ctx *ctx, const char *method, char **parts, size_t n, json_t *body,
	      json_t **ret_body)
{
	int r;

	if (!ctx->is_agent && !ctx->is_admin)
		return api_forbidden(&ctx->err, "The agent API takes the agents' credential.");
	if (ctx->cfg->agent_token && !ctx->is_agent && !ctx->is_admin)
		return api_fail(&ctx->err, 401, "NotAuthenticated", "Agent credential required.");
	store_lock(ctx->store);
	if (n == 2 && streq(parts[0], "agents") && streq(parts[1], "register") &&
	    streq(method, "POST"))
		r = agent_register(ctx, body, ret_body);
	else if (n == 2 && streq(parts[0], "agents") && streq(parts[1], "heartbeat") &&
		 streq(method, "POST"))
		r = agent_heartbeat(ctx, body, ret_body);
	else if (n == 3 && streq(parts[0], "ports") && streq(parts[2], "status") &&
		 streq(method, "PUT"))
		r = port_status(ctx, parts[1], body);
	else
		r = api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	store_unlock(ctx->store);
	return r;
}
