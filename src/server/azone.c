/* Availability zones (availability_zone, router_availability_zone): each
 * agent registers the zone of its node (lepton-agent --availability-zone,
 * "nova" by default); GET /v2.0/availability_zones lists every zone once
 * per resource its agents serve (every Lepton agent answers DHCP for its
 * node's ports and hosts routers: "network" and "router"), available while
 * one of its agents is alive. A router's availability_zone_hints restrict
 * the network nodes it may be scheduled to (router.c); its
 * availability_zones are the zones of the nodes that host it. Networks take
 * no hints: DHCP is answered on the node of each port, wherever it is. */
#include <string.h>
#include "server/resources.h"

static const struct attr_def zone_attrs[] = {
	{"name", AK_STRING, 0, NULL, 0},
	{"resource", AK_STRING, 0, NULL, 0},
	{"state", AK_STRING, 0, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

static json_t *zones_load(struct api_ctx *ctx)
{
	json_t *agents = store_list(ctx->store, "agent"), *zones = json_object(),
	       *out = json_array();
	json_t *a, *alive;
	const char *name;
	size_t i;

	json_array_foreach(agents, i, a) {
		const char *zone = json_string_value(json_object_get(a, "availability_zone"));

		bool up;

		if (!zone || !*zone)
			continue;
		up = agent_alive(ctx, doc_str(a, "host")) ||
		     json_is_true(json_object_get(zones, zone));
		json_object_set_new(zones, zone, json_boolean(up));
	}
	json_object_foreach(zones, name, alive) {
		const char *state = json_is_true(alive) ? "available" : "unavailable";

		json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", name, "resource",
						     "network", "state", state));
		json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", name, "resource",
						     "router", "state", state));
	}
	json_decref(zones);
	json_decref(agents);
	return out;
}

static bool zone_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx, (void) doc;
	return true;
}

const struct resource_def availability_zone_def = {
	.type = "availability_zone",
	.collection = "availability_zones",
	.title = "Availability zone",
	.not_found = "AvailabilityZoneNotFound",
	.attrs = zone_attrs,
	.visible = zone_visible,
	.load_all = zones_load,
};

const char *az_of_host(json_t *agents, const char *host)
{
	json_t *a;
	size_t i;

	json_array_foreach(agents, i, a)
		if (streq(doc_str(a, "host"), host))
			return json_string_value(json_object_get(a, "availability_zone"));
	return NULL;
}

int az_check_hints(struct api_ctx *ctx, json_t *hints)
{
	json_t *agents = store_list(ctx->store, "agent"), *h, *a;
	size_t i, j;
	int r = 0;

	json_array_foreach(hints, i, h) {
		bool found = false;

		if (!json_is_string(h) || !*json_string_value(h) ||
		    strlen(json_string_value(h)) > 255) {
			r = api_bad_request(&ctx->err, "Invalid input for availability_zone_hints. "
						       "Reason: a list of zone names is required.");
			break;
		}
		json_array_foreach(agents, j, a)
			found = found || json_equal(json_object_get(a, "availability_zone"), h);
		if (!found) {
			r = api_fail(&ctx->err, 404, "AvailabilityZoneNotFound",
				     "AvailabilityZone %s could not be found.",
				     json_string_value(h));
			break;
		}
	}
	json_decref(agents);
	return r;
}
