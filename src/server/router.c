/* Routers: external gateways (the gateway port takes its address from the
 * external network's router_gateway subnets, on a segment Lepton picks),
 * interfaces on subnets (the router port takes the subnet's gateway IP), the
 * distributed and snat_mode attributes, extra routes, and the rules that keep
 * floating IPs reachable. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/ipaddr.h"
#include "base/uuid.h"
#include "base/xalloc.h"
#include "server/ipam.h"
#include "server/resources.h"

#define OWNER_GATEWAY	    "network:router_gateway"
#define OWNER_INTERFACE	    "network:router_interface"
#define OWNER_INTERFACE_DVR "network:router_interface_distributed"
#define OWNER_CSNAT	    "network:router_centralized_snat"

static const struct attr_def router_attrs[] = {
	{"admin_state_up", AK_BOOL, AF_RW, "true", 0},
	{"status", AK_STRING, 0, "\"ACTIVE\"", 0},
	{"external_gateway_info", AK_OBJECT, AF_RW | AF_NULLABLE, "null", 0},
	{"distributed", AK_BOOL, AF_RW | AF_ADMIN_SET | AF_ADMIN_VIEW, NULL, 0},
	{"snat_mode", AK_STRING, AF_RW | AF_ADMIN_SET | AF_ADMIN_VIEW, NULL, 32},
	{"ha", AK_BOOL, AF_ADMIN_VIEW, "false", 0},
	{"routes", AK_LIST, AF_RW | AF_NULL_EMPTY, "[]", 0},
	{"availability_zone_hints", AK_LIST, AF_POST, "[]", 0},
	{"availability_zones", AK_LIST, 0, "[]", 0},
	{"flavor_id", AK_UUID, AF_NULLABLE, "null", 0},
	/* The network node that runs the router (legacy) or its SNAT
	 * (distributed with centralized SNAT); set by the scheduler. */
	{"lepton:l3_host", AK_STRING, AF_ADMIN_VIEW, "\"\"", 255},
	/* Distributed SNAT: the node answering for the gateway addresses (snat.c). */
	{"lepton:snat_owner", AK_STRING, AF_ADMIN_VIEW, "\"\"", 255},
	/* ... and the owner of each gateway address ({ip: node}): one per
	 * segment, among the nodes that reach it. */
	{"lepton:snat_owners", AK_OBJECT, AF_ADMIN_VIEW, "{}", 0},
	{NULL, 0, 0, NULL, 0},
};

json_t *router_interface_ports(struct api_ctx *ctx, const char *router_id)
{
	/* Both owners start with OWNER_INTERFACE. */
	return ports_of_device(ctx, router_id, OWNER_INTERFACE);
}

static json_t *gateway_port(struct api_ctx *ctx, const char *router_id)
{
	json_t *ports = ports_of_device(ctx, router_id, OWNER_GATEWAY);
	json_t *found = json_incref(json_array_get(ports, 0));

	json_decref(ports);
	return found;
}

static bool serves(json_t *subnet, const char *owner)
{
	json_t *types = json_object_get(subnet, "service_types"), *t;
	size_t i;

	if (json_array_size(types) == 0)
		return true;
	json_array_foreach(types, i, t) {
		if (streq(json_string_value(t), owner))
			return true;
	}
	return false;
}

/* The hosts that run this router: where ports on its subnets are bound. */
static json_t *router_hosts(struct api_ctx *ctx, const char *router_id)
{
	json_t *ifaces = router_interface_ports(ctx, router_id), *ports, *hosts = json_object();
	json_t *p, *iface, *ip, *ip2;
	size_t i, j, k, m;

	ports = store_list_shared(ctx->store, "port");
	json_array_foreach(ports, i, p) {
		const char *host = doc_str(p, "binding:host_id");

		if (!*host)
			continue;
		json_array_foreach(ifaces, j, iface) {
			json_array_foreach(json_object_get(iface, "fixed_ips"), k, ip) {
				json_array_foreach(json_object_get(p, "fixed_ips"), m, ip2) {
					if (streq(doc_str(ip, "subnet_id"),
						  doc_str(ip2, "subnet_id")))
						json_object_set_new(hosts, host, json_true());
				}
			}
		}
	}
	json_decref(ports);
	json_decref(ifaces);
	return hosts;
}

/* Whether every agent on the router's hosts maps the physical network. */
static bool segment_reachable(json_t *agents, json_t *hosts, json_t *segment)
{
	const char *physnet = doc_str(segment, "physical_network");
	json_t *a;
	size_t i;

	json_array_foreach(agents, i, a) {
		json_t *maps =
			json_object_get(json_object_get(a, "configurations"), "physical_networks");

		if (!json_object_get(hosts, doc_str(a, "host")))
			continue;
		if (json_is_object(maps) && !json_object_get(maps, physnet))
			return false;
		if (json_is_array(maps)) {
			bool found = false;
			json_t *e;
			size_t j;

			json_array_foreach(maps, j, e)
				found = found || streq(json_string_value(e), physnet);
			if (!found)
				return false;
		}
	}
	return true;
}

/* An IPv4 subnet of the network that serves router gateways (IPv6 ones are
 * added beside: ipv6_gateway_subnet). */
static bool is_gateway_v4_subnet(json_t *subnet, const char *net_id)
{
	return streq(doc_str(subnet, "network_id"), net_id) && serves(subnet, OWNER_GATEWAY) &&
	       json_integer_value(json_object_get(subnet, "ip_version")) != 6;
}

static bool has_v4_subnet(struct api_ctx *ctx, const char *net_id)
{
	json_t *subnets = store_list_shared(ctx->store, "subnet"), *s;
	bool found = false;
	size_t i;

	json_array_foreach(subnets, i, s)
		found = found || (streq(doc_str(s, "network_id"), net_id) &&
				  json_integer_value(json_object_get(s, "ip_version")) == 4);
	json_decref(subnets);
	return found;
}

/* Picks the subnet for a router's gateway port on an external network.
 *
 * The rule (seed case 2, one abstracted external network): among the
 * network's subnets that serve router gateways, those bound to a segment are
 * grouped by segment; the segments reachable from every host that runs the
 * router (by the physical networks its agents registered) are eligible, and
 * the one with the most free gateway addresses wins, the older segment on a
 * tie. Without segment-bound subnets, the first subnet with room is used.
 * Returns a new reference to the subnet, or NULL with ctx->err set. */
static json_t *pick_gateway_subnet(struct api_ctx *ctx, const char *router_id, const char *net_id)
{
	json_t *subnets = store_list(ctx->store, "subnet"), *segs, *agents, *hosts;
	json_t *s, *seg, *best = NULL, *fallback = NULL;
	int64_t best_free = 0;
	size_t i, j;
	bool any_segment = false;

	json_array_foreach(subnets, i, s) {
		if (!is_gateway_v4_subnet(s, net_id))
			continue;
		if (json_is_string(json_object_get(s, "segment_id")))
			any_segment = true;
		else if (!fallback && ipam_free_count(ctx, s) > 0)
			fallback = s;
	}
	if (!any_segment) {
		json_incref(fallback);
		json_decref(subnets);
		if (!fallback)
			api_fail(&ctx->err, 400, "ExternalIpAddressExhausted",
				 "Unable to find any IP address on external network %s for the "
				 "router gateway.",
				 net_id);
		return fallback;
	}
	segs = segments_of_network(ctx, net_id);
	agents = store_list(ctx->store, "agent");
	hosts = router_hosts(ctx, router_id);
	for (int pass = 0; pass < 2 && !best; pass++) {
		/* Pass 0: reachable segments only; pass 1: any (no agent info). */
		json_array_foreach(segs, j, seg) {
			int64_t seg_free = 0;
			json_t *first = NULL;

			if (pass == 0 && !segment_reachable(agents, hosts, seg))
				continue;
			json_array_foreach(subnets, i, s) {
				int64_t f;

				if (!is_gateway_v4_subnet(s, net_id) ||
				    !streq(doc_str(s, "segment_id"), doc_str(seg, "id")))
					continue;
				f = ipam_free_count(ctx, s);
				seg_free += f;
				if (f > 0 && !first)
					first = s;
			}
			if (first && seg_free > best_free) {
				best_free = seg_free;
				best = first;
			}
		}
	}
	if (!best)
		best = fallback;
	json_incref(best);
	json_decref(segs);
	json_decref(agents);
	json_decref(hosts);
	json_decref(subnets);
	if (!best)
		api_fail(&ctx->err, 400, "ExternalIpAddressExhausted",
			 "Unable to find any IP address on external network %s for the router "
			 "gateway.",
			 net_id);
	return best;
}

/* Checks external_gateway_info; returns the external network (new reference)
 * or NULL for "no gateway"; *ret_err < 0 on error. */
static json_t *check_gateway_info(struct api_ctx *ctx, json_t *info, int *ret_err)
{
	json_t *v, *net;
	const char *key;

	*ret_err = 0;
	if (!info || json_is_null(info) || json_object_size(info) == 0)
		return NULL;
	json_object_foreach(info, key, v) {
		if (!streq(key, "network_id") && !streq(key, "enable_snat") &&
		    !streq(key, "external_fixed_ips")) {
			*ret_err =
				api_bad_request(&ctx->err,
						"Invalid input for external_gateway_info. Reason: "
						"unexpected key '%s'.",
						key);
			return NULL;
		}
	}
	v = json_object_get(info, "network_id");
	if (!json_is_string(v)) {
		*ret_err = api_bad_request(&ctx->err, "Invalid input for external_gateway_info. "
						      "Reason: network_id is required.");
		return NULL;
	}
	v = json_object_get(info, "enable_snat");
	if (v && !json_is_boolean(v)) {
		*ret_err = api_bad_request(&ctx->err, "Invalid input for external_gateway_info. "
						      "Reason: enable_snat must be a boolean.");
		return NULL;
	}
	if (v && !ctx->is_admin) {
		*ret_err = api_forbidden(&ctx->err, "(rule:update_router:external_gateway_info:"
						    "enable_snat) is disallowed by policy");
		return NULL;
	}
	v = json_object_get(info, "external_fixed_ips");
	if (v && !json_is_array(v)) {
		*ret_err = api_bad_request(&ctx->err, "Invalid input for external_gateway_info. "
						      "Reason: external_fixed_ips must be a list.");
		return NULL;
	}
	if (v && !ctx->is_admin) {
		*ret_err = api_forbidden(&ctx->err, "(rule:update_router:external_gateway_info:"
						    "external_fixed_ips) is disallowed by policy");
		return NULL;
	}
	net = resource_get_visible(ctx, &network_def, doc_str(info, "network_id"));
	if (!net) {
		*ret_err = -ENOENT;
		return NULL;
	}
	if (!doc_bool(net, "router:external")) {
		*ret_err = api_bad_request(&ctx->err,
					   "Bad router request: Network %s is not an external "
					   "network.",
					   doc_str(net, "id"));
		json_decref(net);
		return NULL;
	}
	return net;
}

static int remove_gateway(struct api_ctx *ctx, json_t *router)
{
	json_t *port = gateway_port(ctx, doc_str(router, "id"));
	int r = 0;

	if (port)
		r = port_destroy(ctx, port);
	json_decref(port);
	return r;
}

/* A gateway has an address on the external network's first IPv6 subnet
 * with room too (automatic-address subnets give theirs by themselves). */
static void ipv6_gateway_subnet(struct api_ctx *ctx, const char *net_id, json_t *fixed_ips)
{
	json_t *subnets = store_list(ctx->store, "subnet"), *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		if (streq(doc_str(s, "network_id"), net_id) && serves(s, OWNER_GATEWAY) &&
		    json_integer_value(json_object_get(s, "ip_version")) == 6 &&
		    !subnet_is_auto_address(s) && ipam_free_count(ctx, s) > 0) {
			json_array_append_new(fixed_ips,
					      json_pack("{s:s}", "subnet_id", doc_str(s, "id")));
			break;
		}
	}
	json_decref(subnets);
}

static int add_gateway(struct api_ctx *ctx, json_t *router, json_t *net, json_t *info)
{
	const char *router_id = doc_str(router, "id");
	json_t *fixed = json_object_get(info, "external_fixed_ips"), *port, *out;
	int r;

	port = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "network_id", doc_str(net, "id"),
			 "device_owner", OWNER_GATEWAY, "device_id", router_id, "project_id", "",
			 "tenant_id", "", "port_security_enabled", 0);
	json_object_set_new(port, "security_groups", json_array());
	if (fixed && json_array_size(fixed)) {
		json_object_set(port, "fixed_ips", fixed);
	} else if (!has_v4_subnet(ctx, doc_str(net, "id"))) {
		/* As Neutron: no IPv4 subnet, no IPv4 address for the gateway. */
		json_object_set_new(port, "fixed_ips", json_array());
		ipv6_gateway_subnet(ctx, doc_str(net, "id"), json_object_get(port, "fixed_ips"));
	} else {
		json_t *subnet = pick_gateway_subnet(ctx, router_id, doc_str(net, "id"));

		if (!subnet) {
			json_decref(port);
			return -ENOSPC;
		}
		json_object_set_new(port, "fixed_ips",
				    json_pack("[{s:s}]", "subnet_id", doc_str(subnet, "id")));
		json_decref(subnet);
		ipv6_gateway_subnet(ctx, doc_str(net, "id"), json_object_get(port, "fixed_ips"));
	}
	r = port_create_internal(ctx, port);
	if (r >= 0) {
		json_t *snat = json_object_get(info, "enable_snat");

		out = json_pack("{s:s, s:b, s:O}", "network_id", doc_str(net, "id"), "enable_snat",
				snat ? json_is_true(snat) : 1, "external_fixed_ips",
				json_object_get(port, "fixed_ips"));
		json_object_set_new(router, "external_gateway_info", out);
	}
	json_decref(port);
	return r;
}

static int check_routes(struct api_ctx *ctx, json_t *router)
{
	json_t *routes = json_object_get(router, "routes"), *e, *ifaces, *iface, *ip;
	size_t i, j, k;
	int r = 0;

	if (json_array_size(routes) == 0)
		return 0;
	if (json_array_size(routes) > 30)
		return api_bad_request(&ctx->err, "Invalid input for routes: at most 30 routes.");
	ifaces = router_interface_ports(ctx, doc_str(router, "id"));
	json_array_foreach(routes, i, e) {
		const char *dest = json_string_value(json_object_get(e, "destination"));
		const char *hop = json_string_value(json_object_get(e, "nexthop"));
		struct ipnet d;
		struct ipaddr nh;
		bool on_link = false;

		if (!json_is_object(e) || json_object_size(e) != 2 || !dest || !hop ||
		    ipnet_parse(dest, false, &d) < 0 || !ipnet_is_canonical(&d) ||
		    ipaddr_parse(hop, &nh) < 0 || d.addr.version != nh.version) {
			r = api_bad_request(&ctx->err,
					    "Invalid input for routes. Reason: each route "
					    "is {\"destination\": CIDR, \"nexthop\": IP}.");
			break;
		}
		json_array_foreach(ifaces, j, iface) {
			json_array_foreach(json_object_get(iface, "fixed_ips"), k, ip) {
				json_t *sub =
					store_get(ctx->store, "subnet", doc_str(ip, "subnet_id"));
				struct ipnet c;

				if (sub && ipnet_parse(doc_str(sub, "cidr"), false, &c) == 0 &&
				    ipnet_contains(&c, &nh))
					on_link = true;
				json_decref(sub);
			}
		}
		if (!on_link) {
			r = api_fail(&ctx->err, 400, "InvalidRoutes",
				     "Invalid format for routes: the nexthop %s is not connected "
				     "with the router.",
				     hop);
			break;
		}
	}
	json_decref(ifaces);
	return r;
}

/* Scheduling: a router that needs a network node (legacy, or distributed
 * with centralized SNAT) gets the live network-mode node that runs the
 * fewest routers; it keeps it while that node stays registered. Routers
 * created while no network node was alive wait for the next one to
 * register. */
static bool needs_network_node(json_t *router)
{
	return !doc_bool(router, "distributed") ||
	       streq(doc_str(router, "snat_mode"), "centralized");
}

static void schedule(struct api_ctx *ctx, json_t *router)
{
	json_t *hosts, *routers, *h, *r;
	const char *best = NULL;
	size_t i, j, best_n = SIZE_MAX;

	if (!needs_network_node(router)) {
		json_object_set_new(router, "lepton:l3_host", json_string(""));
		return;
	}
	hosts = agents_network_hosts(ctx);
	/* router_availability_zone: only nodes of the zones hinted. */
	if (json_array_size(json_object_get(router, "availability_zone_hints"))) {
		json_t *agents = store_list(ctx->store, "agent"), *hints;

		hints = json_object_get(router, "availability_zone_hints");
		for (i = json_array_size(hosts); i-- > 0;) {
			const char *zone =
				az_of_host(agents, json_string_value(json_array_get(hosts, i)));
			bool hinted = false;

			json_array_foreach(hints, j, h)
				hinted = hinted || (zone && streq(json_string_value(h), zone));
			if (!hinted)
				json_array_remove(hosts, i);
		}
		json_decref(agents);
	}
	json_array_foreach(hosts, i, h) {
		if (streq(json_string_value(h), doc_str(router, "lepton:l3_host"))) {
			json_decref(hosts);
			return; /* still there */
		}
	}
	if (*doc_str(router, "lepton:l3_host") && !json_array_size(hosts)) {
		json_decref(hosts);
		return; /* keep it: nobody better is alive */
	}
	routers = store_list(ctx->store, "router");
	json_array_foreach(hosts, i, h) {
		size_t n = 0;

		json_array_foreach(routers, j, r) {
			if (streq(doc_str(r, "lepton:l3_host"), json_string_value(h)))
				n++;
		}
		if (n < best_n) {
			best_n = n;
			best = json_string_value(h);
		}
	}
	json_object_set_new(router, "lepton:l3_host", json_string(best ? best : ""));
	json_decref(routers);
	json_decref(hosts);
}

/* The subnet of a router port: its first fixed IP's. */
static const char *port_subnet(json_t *port)
{
	return doc_str(json_array_get(json_object_get(port, "fixed_ips"), 0), "subnet_id");
}

/* Where each of the router's ports is plugged: legacy interfaces and the
 * gateway on the router's network node; distributed interfaces on every
 * node (no binding); with centralized SNAT, the gateway and one SNAT port
 * per interface subnet (as Neutron's DVR) on the network node. */
static int bind_ports(struct api_ctx *ctx, json_t *router)
{
	const char *id = doc_str(router, "id"), *host = doc_str(router, "lepton:l3_host");
	json_t *ports = ports_of_device(ctx, id, "network:router_"), *p, *q, *gw = NULL, *csnat;
	bool dvr = doc_bool(router, "distributed");
	bool want_csnat = dvr && streq(doc_str(router, "snat_mode"), "centralized");
	size_t i, j;
	int r = 0;

	json_array_foreach(ports, i, p) {
		if (streq(doc_str(p, "device_owner"), OWNER_GATEWAY))
			gw = p;
	}
	want_csnat = want_csnat && gw;
	csnat = json_array();
	/* SNAT ports no longer wanted go; interfaces without one get one. */
	json_array_foreach(ports, i, p) {
		bool keep = false;

		if (!streq(doc_str(p, "device_owner"), OWNER_CSNAT))
			continue;
		json_array_foreach(ports, j, q) {
			if (want_csnat && startswith(doc_str(q, "device_owner"), OWNER_INTERFACE) &&
			    streq(port_subnet(q), port_subnet(p)))
				keep = true;
		}
		if (keep)
			json_array_append(csnat, p);
		else if ((r = port_destroy(ctx, p)) < 0)
			goto out;
	}
	json_array_foreach(ports, i, p) {
		const char *owner = doc_str(p, "device_owner"), *want;
		bool have = false;

		if (streq(owner, OWNER_CSNAT))
			continue;
		if (streq(owner, OWNER_GATEWAY))
			want = dvr && !want_csnat ? "" : host;
		else if (streq(owner, OWNER_INTERFACE))
			want = host;
		else
			want = "";
		if (!streq(doc_str(p, "binding:host_id"), want)) {
			json_object_set_new(p, "binding:host_id", json_string(want));
			if ((r = resource_save(ctx, &port_def, p)) < 0)
				goto out;
		}
		if (!want_csnat || !startswith(owner, OWNER_INTERFACE))
			continue;
		json_array_foreach(csnat, j, q) {
			if (streq(port_subnet(q), port_subnet(p)))
				have = true;
		}
		if (!have) {
			json_t *port = json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:[{s:s}], s:s}",
				"network_id", doc_str(p, "network_id"), "device_owner", OWNER_CSNAT,
				"device_id", id, "project_id", "", "tenant_id", "",
				"port_security_enabled", 0, "security_groups", "fixed_ips",
				"subnet_id", port_subnet(p), "binding:host_id", host);

			r = port_create_internal(ctx, port);
			json_decref(port);
			if (r < 0)
				goto out;
		}
	}
	json_array_foreach(csnat, i, p) {
		if (!streq(doc_str(p, "binding:host_id"), host)) {
			json_object_set_new(p, "binding:host_id", json_string(host));
			if ((r = resource_save(ctx, &port_def, p)) < 0)
				goto out;
		}
	}
out:
	json_decref(csnat);
	json_decref(ports);
	return r;
}

int routers_schedule_pending(struct api_ctx *ctx)
{
	json_t *routers = store_list(ctx->store, "router"), *router;
	size_t i;
	int r = 0;

	json_array_foreach(routers, i, router) {
		if (!needs_network_node(router) || *doc_str(router, "lepton:l3_host"))
			continue;
		router = json_deep_copy(router);
		schedule(ctx, router);
		r = bind_ports(ctx, router);
		if (r >= 0)
			r = resource_save(ctx, &router_def, router);
		json_decref(router);
		if (r < 0)
			break;
	}
	json_decref(routers);
	return r;
}

static int create_router(struct api_ctx *ctx, json_t *doc)
{
	json_t *info = json_object_get(doc, "external_gateway_info"), *net;
	int r = 0;

	if (!json_object_get(doc, "distributed"))
		json_object_set_new(doc, "distributed", json_boolean(ctx->cfg->router_distributed));
	if (!json_object_get(doc, "snat_mode"))
		json_object_set_new(
			doc, "snat_mode",
			json_string(doc_bool(doc, "distributed") ? "distributed" : "centralized"));
	if (!streq(doc_str(doc, "snat_mode"), "distributed") &&
	    !streq(doc_str(doc, "snat_mode"), "centralized"))
		return api_bad_request(&ctx->err,
				       "Invalid input for snat_mode. Reason: '%s' is not "
				       "in [distributed, centralized].",
				       doc_str(doc, "snat_mode"));
	if (!doc_bool(doc, "distributed") && streq(doc_str(doc, "snat_mode"), "distributed"))
		return api_bad_request(&ctx->err, "snat_mode distributed needs a distributed "
						  "router.");
	if (json_array_size(json_object_get(doc, "routes")))
		return api_bad_request(&ctx->err, "Routes can be set only once the router has "
						  "interfaces.");
	r = az_check_hints(ctx, json_object_get(doc, "availability_zone_hints"));
	if (r < 0)
		return r;
	net = check_gateway_info(ctx, info, &r);
	if (r < 0)
		return r;
	json_object_set_new(doc, "external_gateway_info", json_null());
	if (net)
		r = add_gateway(ctx, doc, net, info);
	json_decref(net);
	return r;
}

static bool gateway_same(json_t *old_info, json_t *new_info)
{
	json_t *nf = json_object_get(new_info, "external_fixed_ips");

	if (!json_is_object(old_info))
		return false;
	if (!streq(doc_str(old_info, "network_id"), doc_str(new_info, "network_id")))
		return false;
	return !nf || json_equal(nf, json_object_get(old_info, "external_fixed_ips"));
}

static int update_router(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	const char *id = doc_str(doc, "id");
	json_t *info = json_object_get(changes, "external_gateway_info"), *net;
	json_t *old_info = json_object_get(old, "external_gateway_info");
	int r = 0;

	if (json_object_get(changes, "distributed") && !json_object_get(changes, "snat_mode"))
		json_object_set_new(
			doc, "snat_mode",
			json_string(doc_bool(doc, "distributed") ? "distributed" : "centralized"));
	if (!streq(doc_str(doc, "snat_mode"), "distributed") &&
	    !streq(doc_str(doc, "snat_mode"), "centralized"))
		return api_bad_request(&ctx->err,
				       "Invalid input for snat_mode. Reason: '%s' is not "
				       "in [distributed, centralized].",
				       doc_str(doc, "snat_mode"));
	if (!doc_bool(doc, "distributed") && streq(doc_str(doc, "snat_mode"), "distributed"))
		return api_bad_request(&ctx->err, "snat_mode distributed needs a distributed "
						  "router.");
	if (json_object_get(changes, "routes")) {
		r = check_routes(ctx, doc);
		if (r < 0)
			return r;
	}
	if (!json_object_get(changes, "external_gateway_info")) {
		json_object_set(doc, "external_gateway_info", old_info);
		return 0;
	}
	net = check_gateway_info(ctx, info, &r);
	if (r < 0)
		return r;
	if (net && gateway_same(old_info, info)) {
		/* Same network and addresses: only enable_snat may change. */
		json_t *kept = json_deep_copy(old_info);
		json_t *snat = json_object_get(info, "enable_snat");

		if (snat)
			json_object_set(kept, "enable_snat", snat);
		json_object_set_new(doc, "external_gateway_info", kept);
		json_decref(net);
		return 0;
	}
	if (json_is_object(old_info)) {
		json_t *fips = floatingips_of_router(ctx, id);
		size_t n = json_array_size(fips);

		json_decref(fips);
		if (n) {
			json_decref(net);
			return api_conflict(&ctx->err, "RouterExternalGatewayInUseByFloatingIp",
					    "Gateway cannot be updated for router %s, since a "
					    "gateway to external network %s is required by one or "
					    "more floating IPs.",
					    id, doc_str(old_info, "network_id"));
		}
		r = remove_gateway(ctx, doc);
	}
	json_object_set_new(doc, "external_gateway_info", json_null());
	if (r >= 0 && net)
		r = add_gateway(ctx, doc, net, info);
	json_decref(net);
	return r;
}

static int router_create(struct api_ctx *ctx, json_t *doc)
{
	int r = create_router(ctx, doc);

	if (r < 0)
		return r;
	schedule(ctx, doc);
	return bind_ports(ctx, doc);
}

static int router_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	int r = update_router(ctx, old, doc, changes);

	if (r < 0)
		return r;
	schedule(ctx, doc);
	return bind_ports(ctx, doc);
}

static int router_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *ifaces = router_interface_ports(ctx, doc_str(doc, "id"));
	size_t n = json_array_size(ifaces);

	json_decref(ifaces);
	if (n)
		return api_conflict(&ctx->err, "RouterInUse", "Router %s still has ports",
				    doc_str(doc, "id"));
	return remove_gateway(ctx, doc);
}

static json_t *interface_info(json_t *router, json_t *port)
{
	json_t *ids = json_array(), *ip;
	size_t i;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip)
		json_array_append(ids, json_object_get(ip, "subnet_id"));
	return json_pack("{s:s, s:s, s:s, s:s, s:O, s:o, s:s}", "id", doc_str(router, "id"),
			 "tenant_id", doc_str(router, "project_id"), "project_id",
			 doc_str(router, "project_id"), "port_id", doc_str(port, "id"), "subnet_id",
			 json_array_size(ids) ? json_array_get(ids, 0) : json_null(), "subnet_ids",
			 ids, "network_id", doc_str(port, "network_id"));
}

/* The subnets must have a gateway-able address plan, not be external and not
 * overlap the router's other interfaces. */
static int check_interface_subnet(struct api_ctx *ctx, json_t *router, json_t *subnet,
				  const char *skip_port)
{
	json_t *net = store_get(ctx->store, "network", doc_str(subnet, "network_id"));
	json_t *ifaces, *iface, *ip;
	struct ipnet c;
	size_t i, j;
	int r = 0;

	if (net && doc_bool(net, "router:external")) {
		json_decref(net);
		return api_bad_request(&ctx->err,
				       "Bad router request: subnet %s is on an external network: "
				       "use the router's gateway for it.",
				       doc_str(subnet, "id"));
	}
	json_decref(net);
	if (ipnet_parse(doc_str(subnet, "cidr"), false, &c) < 0)
		return api_bad_request(&ctx->err, "Bad router request: invalid subnet.");
	ifaces = router_interface_ports(ctx, doc_str(router, "id"));
	json_array_foreach(ifaces, i, iface) {
		if (skip_port && streq(doc_str(iface, "id"), skip_port))
			continue;
		json_array_foreach(json_object_get(iface, "fixed_ips"), j, ip) {
			json_t *other = store_get(ctx->store, "subnet", doc_str(ip, "subnet_id"));
			struct ipnet oc;

			if (other && streq(doc_str(other, "id"), doc_str(subnet, "id")))
				r = api_bad_request(
					&ctx->err,
					"Bad router request: Router already has a port on "
					"subnet %s.",
					doc_str(subnet, "id"));
			else if (other && ipnet_parse(doc_str(other, "cidr"), false, &oc) == 0 &&
				 ipnet_overlaps(&c, &oc))
				r = api_bad_request(
					&ctx->err,
					"Bad router request: Cidr %s of subnet %s overlaps "
					"with cidr %s of subnet %s.",
					doc_str(subnet, "cidr"), doc_str(subnet, "id"),
					doc_str(other, "cidr"), doc_str(other, "id"));
			json_decref(other);
			if (r < 0)
				break;
		}
		if (r < 0)
			break;
	}
	json_decref(ifaces);
	return r;
}

static const char *interface_owner(json_t *router)
{
	return doc_bool(router, "distributed") ? OWNER_INTERFACE_DVR : OWNER_INTERFACE;
}

/* The router's interface on the subnet's network that has IPv6 addresses,
 * when the subnet is IPv6 (new reference), else NULL. */
static json_t *ipv6_interface_on_network(struct api_ctx *ctx, json_t *router, json_t *subnet)
{
	json_t *ifaces, *iface, *ip, *found = NULL;
	size_t i, j;

	if (json_integer_value(json_object_get(subnet, "ip_version")) != 6)
		return NULL;
	ifaces = router_interface_ports(ctx, doc_str(router, "id"));
	json_array_foreach(ifaces, i, iface) {
		if (found || !streq(doc_str(iface, "network_id"), doc_str(subnet, "network_id")))
			continue;
		json_array_foreach(json_object_get(iface, "fixed_ips"), j, ip) {
			if (strchr(doc_str(ip, "ip_address"), ':') && !found)
				found = json_deep_copy(iface);
		}
	}
	json_decref(ifaces);
	return found;
}

static int add_interface(struct api_ctx *ctx, json_t *router, json_t *body, json_t **ret_body)
{
	json_t *jsub = json_object_get(body, "subnet_id"),
	       *jport = json_object_get(body, "port_id");
	json_t *subnet = NULL, *port = NULL, *ip;
	size_t i;
	int r = 0;

	if (!json_is_object(body) || (!!jsub == !!jport) || json_object_size(body) != 1)
		return api_bad_request(&ctx->err, "Bad router request: Either subnet_id or port_id "
						  "must be specified.");
	if (!json_is_string(jsub ? jsub : jport))
		return api_bad_request(&ctx->err, "Bad router request: id must be a string.");
	if (!uuid_is_valid(json_string_value(jsub ? jsub : jport)))
		return api_bad_request(
			&ctx->err, "Invalid input for %s. Reason: '%s' is not a valid UUID.",
			jsub ? "subnet_id" : "port_id", json_string_value(jsub ? jsub : jport));
	if (jsub) {
		subnet = resource_get_visible(ctx, &subnet_def, json_string_value(jsub));
		if (!subnet)
			return -ENOENT;
		if (json_is_null(json_object_get(subnet, "gateway_ip"))) {
			r = api_bad_request(&ctx->err,
					    "Bad router request: Subnet for router interface must "
					    "have a gateway IP.");
			goto out;
		}
		r = check_interface_subnet(ctx, router, subnet, NULL);
		if (r < 0)
			goto out;
		/* IPv6: one interface per network carries all its IPv6 subnets. */
		port = ipv6_interface_on_network(ctx, router, subnet);
		if (port) {
			json_t *want = json_deep_copy(json_object_get(port, "fixed_ips"));

			json_array_append_new(want, json_pack("{s:s, s:s}", "subnet_id",
							      doc_str(subnet, "id"), "ip_address",
							      doc_str(subnet, "gateway_ip")));
			r = port_set_fixed_ips(ctx, port, want);
			json_decref(want);
			if (r >= 0) {
				*ret_body = interface_info(router, port);
				json_object_set(*ret_body, "subnet_id",
						json_object_get(subnet, "id"));
			}
			goto out;
		}
		port = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[]}", "network_id",
				 doc_str(subnet, "network_id"), "device_owner",
				 interface_owner(router), "device_id", doc_str(router, "id"),
				 "project_id", doc_str(router, "project_id"), "tenant_id",
				 doc_str(router, "project_id"), "port_security_enabled", 0,
				 "security_groups");
		json_object_set_new(port, "fixed_ips",
				    json_pack("[{s:s, s:s}]", "subnet_id", doc_str(subnet, "id"),
					      "ip_address", doc_str(subnet, "gateway_ip")));
		r = port_create_internal(ctx, port);
	} else {
		port = resource_get_visible(ctx, &port_def, json_string_value(jport));
		if (!port)
			return -ENOENT;
		if (!resource_is_owner(ctx, port)) {
			r = api_fail(&ctx->err, 404, "PortNotFound", "Port %s could not be found.",
				     doc_str(port, "id"));
			goto out;
		}
		if (*doc_str(port, "device_id") || *doc_str(port, "device_owner")) {
			r = api_conflict(&ctx->err, "PortInUse",
					 "Unable to complete operation on port %s for network %s. "
					 "Port already has an attached device %s.",
					 doc_str(port, "id"), doc_str(port, "network_id"),
					 doc_str(port, "device_id"));
			goto out;
		}
		if (json_array_size(json_object_get(port, "fixed_ips")) == 0) {
			r = api_bad_request(
				&ctx->err, "Bad router request: Router port must have at least one "
					   "fixed IP.");
			goto out;
		}
		json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
			json_t *s = store_get(ctx->store, "subnet", doc_str(ip, "subnet_id"));

			if (s)
				r = check_interface_subnet(ctx, router, s, doc_str(port, "id"));
			json_decref(s);
			if (r < 0)
				goto out;
		}
		json_object_set_new(port, "device_owner", json_string(interface_owner(router)));
		json_object_set_new(port, "device_id", json_string(doc_str(router, "id")));
		r = resource_save(ctx, &port_def, port);
	}
	if (r >= 0)
		*ret_body = interface_info(router, port);
out:
	json_decref(subnet);
	json_decref(port);
	return r;
}

static bool port_on_subnet(json_t *port, const char *subnet_id)
{
	json_t *ip;
	size_t i;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
		if (streq(doc_str(ip, "subnet_id"), subnet_id))
			return true;
	}
	return false;
}

static int remove_interface(struct api_ctx *ctx, json_t *router, json_t *body, json_t **ret_body)
{
	json_t *jsub = json_object_get(body, "subnet_id"),
	       *jport = json_object_get(body, "port_id");
	json_t *ifaces, *iface, *found = NULL, *fips, *fip, *ip;
	size_t i, j;
	int r = 0;

	if (!json_is_object(body) || (!jsub && !jport) || (jsub && !json_is_string(jsub)) ||
	    (jport && !json_is_string(jport)))
		return api_bad_request(&ctx->err, "Bad router request: Either subnet_id or port_id "
						  "must be specified.");
	ifaces = router_interface_ports(ctx, doc_str(router, "id"));
	json_array_foreach(ifaces, i, iface) {
		if (jport && !streq(doc_str(iface, "id"), json_string_value(jport)))
			continue;
		if (jsub && !port_on_subnet(iface, json_string_value(jsub)))
			continue;
		found = json_incref(iface);
		break;
	}
	json_decref(ifaces);
	if (!found) {
		if (jport)
			return api_fail(&ctx->err, 404, "RouterInterfaceNotFound",
					"Router %s does not have an interface with id %s",
					doc_str(router, "id"), json_string_value(jport));
		return api_fail(&ctx->err, 404, "RouterInterfaceNotFoundForSubnet",
				"Router %s has no interface on subnet %s", doc_str(router, "id"),
				json_string_value(jsub));
	}
	/* A floating IP that reaches its port through this interface needs it. */
	fips = floatingips_of_router(ctx, doc_str(router, "id"));
	json_array_foreach(fips, i, fip) {
		json_t *port = store_get(ctx->store, "port", doc_str(fip, "port_id"));

		json_array_foreach(json_object_get(port, "fixed_ips"), j, ip) {
			if (streq(doc_str(ip, "ip_address"), doc_str(fip, "fixed_ip_address")) &&
			    port_on_subnet(found, doc_str(ip, "subnet_id")) && r == 0)
				r = api_conflict(
					&ctx->err, "RouterInterfaceInUseByFloatingIP",
					"Router interface for subnet %s on router %s cannot "
					"be deleted, as it is required by one or more "
					"floating IPs.",
					doc_str(ip, "subnet_id"), doc_str(router, "id"));
		}
		json_decref(port);
	}
	json_decref(fips);
	if (r >= 0 && jsub && json_array_size(json_object_get(found, "fixed_ips")) > 1) {
		/* An IPv6 interface with other subnets keeps them. */
		r = port_remove_subnet_ips(ctx, found, json_string_value(jsub));
		if (r >= 0) {
			*ret_body = interface_info(router, found);
			json_object_set(*ret_body, "subnet_id", jsub);
		}
	} else if (r >= 0) {
		*ret_body = interface_info(router, found);
		r = port_destroy(ctx, found);
		if (r < 0) {
			json_decref(*ret_body);
			*ret_body = NULL;
		}
	}
	json_decref(found);
	return r;
}

/* extraroute-atomic: PUT add_extraroutes / remove_extraroutes with
 * {"router": {"routes": [...]}} adds the routes not there yet / drops those
 * given, in one change. */
static int extraroutes(struct api_ctx *ctx, json_t *router, bool add, json_t *body)
{
	json_t *given = json_object_get(json_object_get(body, "router"), "routes");
	json_t *now = json_object_get(router, "routes"), *out = json_array(), *e, *g;
	size_t i, j;

	if (!json_is_object(body) || json_object_size(body) != 1 || !json_is_array(given) ||
	    json_object_size(json_object_get(body, "router")) != 1) {
		json_decref(out);
		return api_bad_request(&ctx->err, "Bad router request: the body is {\"router\": "
						  "{\"routes\": [...]}}.");
	}
	json_array_foreach(now, i, e) {
		bool drop = false;

		json_array_foreach(given, j, g)
			drop = drop || (!add && json_equal(e, g));
		if (!drop)
			json_array_append(out, e);
	}
	json_array_foreach(given, j, g) {
		bool have = false;

		json_array_foreach(out, i, e)
			have = have || json_equal(e, g);
		if (add && !have)
			json_array_append(out, g);
	}
	json_object_set_new(router, "routes", out);
	return check_routes(ctx, router);
}

static int router_action(struct api_ctx *ctx, json_t *doc, const char *action, json_t *body,
			 json_t **ret_body)
{
	int r;

	bool routes = streq(action, "add_extraroutes") || streq(action, "remove_extraroutes");

	if (streq(action, "add_router_interface"))
		r = add_interface(ctx, doc, body, ret_body);
	else if (streq(action, "remove_router_interface"))
		r = remove_interface(ctx, doc, body, ret_body);
	else if (routes)
		r = extraroutes(ctx, doc, streq(action, "add_extraroutes"), body);
	else
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	if (r < 0)
		return r;
	schedule(ctx, doc);
	r = bind_ports(ctx, doc);
	/* Interfaces change the router: bump its revision for watchers. */
	if (r >= 0)
		r = resource_save(ctx, &router_def, doc);
	if (r >= 0 && routes)
		*ret_body =
			json_pack("{s:o}", "router", resource_view(ctx, &router_def, doc, NULL, 0));
	return r;
}

/* availability_zones: the zones of the nodes hosting the router: its
 * network node, and for a distributed router the nodes with VM ports on
 * its interfaces' networks. */
static void router_decorate(struct api_ctx *ctx, json_t *view)
{
	json_t *agents, *zones, *ifaces, *p, *q, *doc;
	const char *zone;
	size_t i, j;

	if (!json_object_get(view, "availability_zones"))
		return;
	zones = json_array();
	agents = store_list(ctx->store, "agent");
	/* The stored router: the view may lack the admin-only l3_host. */
	doc = store_get_shared(ctx->store, "router", doc_str(view, "id"));
	zone = az_of_host(agents, doc_str(doc, "lepton:l3_host"));
	if (zone)
		json_array_append_new(zones, json_string(zone));
	ifaces = doc_bool(view, "distributed") ? router_interface_ports(ctx, doc_str(view, "id"))
					       : json_array();
	json_array_foreach(ifaces, i, p) {
		json_t *ports = ports_on_network(ctx, doc_str(p, "network_id"));

		json_array_foreach(ports, j, q) {
			const char *host = doc_str(q, "binding:host_id");

			zone = *host && !startswith(doc_str(q, "device_owner"), "network:")
				       ? az_of_host(agents, host)
				       : NULL;
			if (zone) {
				json_t *z = json_string(zone);
				bool seen = false;
				size_t k;
				json_t *e;

				json_array_foreach(zones, k, e)
					seen = seen || json_equal(e, z);
				if (!seen)
					json_array_append(zones, z);
				json_decref(z);
			}
		}
		json_decref(ports);
	}
	json_decref(ifaces);
	json_decref(agents);
	json_object_set_new(view, "availability_zones", zones);
}

const struct resource_def router_def = {
	.type = "router",
	.collection = "routers",
	.title = "Router",
	.not_found = "RouterNotFound",
	.quota = "router",
	.attrs = router_attrs,
	.create = router_create,
	.update = router_update,
	.remove = router_remove,
	.action = router_action,
	.decorate = router_decorate,
};
