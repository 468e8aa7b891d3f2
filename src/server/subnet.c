/* Subnets: IPv4 and IPv6 address plans on a network (CIDR, gateway,
 * allocation pools, DNS servers, host routes, service types, IPv6 RA and
 * address modes), overlap checks within a network, and the rules for deleting
 * a subnet that still has addresses in use. */
#include <errno.h>
#include <string.h>
#include "base/ipaddr.h"
#include "base/xalloc.h"
#include "server/ipam.h"
#include "server/resources.h"

static const struct attr_def subnet_attrs[] = {
	{"network_id", AK_UUID, AF_POST | AF_REQUIRED, NULL, 0},
	{"ip_version", AK_INT, AF_POST | AF_REQUIRED, NULL, 0},
	{"cidr", AK_STRING, AF_POST, NULL, 64},	 /* required without a subnet pool */
	{"prefixlen", AK_ANY, AF_POST, NULL, 0}, /* with a subnet pool; never stored */
	{"gateway_ip", AK_STRING, AF_RW | AF_NULLABLE, NULL, 64},
	{"allocation_pools", AK_LIST, AF_RW, NULL, 0},
	{"dns_nameservers", AK_LIST, AF_RW, "[]", 0},
	{"host_routes", AK_LIST, AF_RW, "[]", 0},
	{"enable_dhcp", AK_BOOL, AF_RW, "true", 0},
	{"service_types", AK_LIST, AF_RW, "[]", 0},
	{"segment_id", AK_UUID, AF_RW | AF_NULLABLE, "null", 0},
	{"subnetpool_id", AK_UUID, AF_POST | AF_NULLABLE, "null", 0},
	{"use_default_subnetpool", AK_BOOL, AF_POST, NULL, 0}, /* never stored */
	{"ipv6_ra_mode", AK_STRING, AF_POST | AF_NULLABLE, "null", 0},
	{"ipv6_address_mode", AK_STRING, AF_POST | AF_NULLABLE, "null", 0},
	{"shared", AK_BOOL, AF_FILTER, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

/* ?shared=: a subnet is shared when its network is. */
static json_t *subnet_filter_value(struct api_ctx *ctx, json_t *doc, const char *name)
{
	json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
	json_t *v = json_boolean(streq(name, "shared") && doc_bool(net, "shared"));

	json_decref(net);
	return v;
}

static bool subnet_visible(struct api_ctx *ctx, json_t *doc)
{
	json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
	/* Not those of another project's external network: only shared ones. */
	bool v = net && rbac_network_allows(ctx, net, false);

	json_decref(net);
	return v;
}

static int check_ip_list(struct api_ctx *ctx, json_t *list, unsigned max, unsigned version)
{
	json_t *e, *f;
	size_t i, j;
	struct ipaddr a;

	if (json_array_size(list) > max)
		return api_fail(&ctx->err, 400, "DNSNameServersExhausted",
				"Unable to complete operation for the subnet. The number of DNS "
				"nameservers exceeds the limit %u.",
				max);
	json_array_foreach(list, i, e) {
		if (!json_is_string(e) || ipaddr_parse(json_string_value(e), &a) < 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for dns_nameservers. Reason: "
					       "'%s' is not a valid nameserver.",
					       json_is_string(e) ? json_string_value(e) : "value");
		if (a.version != version)
			return api_invalid_input(&ctx->err,
						 "Invalid input for operation: dns_nameserver '%s' "
						 "does not match the ip_version '%u'.",
						 json_string_value(e), version);
		json_array_foreach(list, j, f) {
			if (j < i && json_equal(e, f))
				return api_bad_request(&ctx->err,
						       "Invalid input for dns_nameservers. Reason: "
						       "Duplicate nameserver '%s'.",
						       json_string_value(e));
		}
	}
	return 0;
}

static int check_host_routes(struct api_ctx *ctx, json_t *list, unsigned max, unsigned version)
{
	json_t *e, *f;
	size_t i, j;

	if (json_array_size(list) > max)
		return api_fail(&ctx->err, 400, "HostRoutesExhausted",
				"Unable to complete operation for the subnet. The number of host "
				"routes exceeds the limit %u.",
				max);
	json_array_foreach(list, i, e) {
		struct ipnet d;
		struct ipaddr nh;
		const char *dest = json_string_value(json_object_get(e, "destination"));
		const char *hop = json_string_value(json_object_get(e, "nexthop"));

		if (!json_is_object(e) || json_object_size(e) != 2 || !dest || !hop ||
		    ipnet_parse(dest, false, &d) < 0 || !ipnet_is_canonical(&d) ||
		    ipaddr_parse(hop, &nh) < 0)
			return api_bad_request(
				&ctx->err, "Invalid input for host_routes. Reason: each route is "
					   "{\"destination\": CIDR, \"nexthop\": IP}.");
		if (d.addr.version != version || nh.version != version)
			return api_invalid_input(
				&ctx->err,
				"Invalid input for operation: host route %s via %s "
				"does not match the ip_version '%u'.",
				dest, hop, version);
		json_array_foreach(list, j, f) {
			if (j < i && json_equal(e, f))
				return api_bad_request(&ctx->err,
						       "Invalid input for host_routes. Reason: "
						       "Duplicate hostroute '%s'.",
						       dest);
		}
	}
	return 0;
}

static int check_service_types(struct api_ctx *ctx, json_t *list)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e) {
		const char *s = json_string_value(e);

		const char *colon = s ? strchr(s, ':') : NULL;

		/* A device owner's form, "prefix:kind" or "prefix:" (Neutron
		 * accepts owners of its own making, e.g. "test:type_1", besides
		 * network: and compute:). */
		if (!s || json_string_length(e) > 255 || !colon || colon == s)
			return api_fail(&ctx->err, 400, "InvalidSubnetServiceType",
					"Subnet service type %s is not valid: it must be a device "
					"owner such as 'network:router_gateway' or 'compute:nova'.",
					s ? s : "(not a string)");
	}
	return 0;
}

/* The plan and the list attributes of a subnet document, all checked. */
static int check_plan(struct api_ctx *ctx, json_t *doc, json_t *gw_given, json_t *pools_given,
		      struct ipam_plan *plan)
{
	int r;

	unsigned version = (unsigned) json_integer_value(json_object_get(doc, "ip_version"));

	r = ipam_parse_cidr(doc_str(doc, "cidr"), &plan->cidr, &ctx->err);
	if (r >= 0 && plan->cidr.addr.version != version)
		r = api_invalid_input(&ctx->err,
				      "Invalid input for operation: cidr '%s' does not match the "
				      "ip_version '%u'.",
				      doc_str(doc, "cidr"), version);
	if (r >= 0)
		r = ipam_parse_gateway(plan, gw_given, &ctx->err);
	if (r >= 0)
		r = ipam_parse_pools(plan, pools_given, &ctx->err);
	if (r >= 0)
		r = check_ip_list(ctx, json_object_get(doc, "dns_nameservers"),
				  ctx->cfg->max_dns_nameservers, version);
	if (r >= 0)
		r = check_host_routes(ctx, json_object_get(doc, "host_routes"),
				      ctx->cfg->max_host_routes, version);
	if (r >= 0)
		r = check_service_types(ctx, json_object_get(doc, "service_types"));
	return r;
}

static void store_plan(json_t *doc, const struct ipam_plan *plan)
{
	char gw[IPADDR_STRLEN];
	struct ipnet canon = {{ipnet_first(&plan->cidr), plan->cidr.addr.version}, plan->cidr.len};
	char cidr[IPNET_STRLEN];

	/* IPv6 in RFC 5952's form, whatever form was given. */
	ipnet_format(&canon, cidr);
	json_object_set_new(doc, "cidr", json_string(cidr));
	if (plan->has_gateway) {
		struct ipaddr a = {plan->gateway, plan->cidr.addr.version};

		ipaddr_format(&a, gw);
		json_object_set_new(doc, "gateway_ip", json_string(gw));
	} else {
		json_object_set_new(doc, "gateway_ip", json_null());
	}
	json_object_set_new(doc, "allocation_pools", ipam_pools_json(plan));
}

static bool is_ipv6_mode(const char *m)
{
	return streq(m, "slaac") || streq(m, "dhcpv6-stateful") || streq(m, "dhcpv6-stateless");
}

bool subnet_is_auto_address(json_t *subnet)
{
	const char *ra = doc_str(subnet, "ipv6_ra_mode");
	const char *addr = doc_str(subnet, "ipv6_address_mode");

	return json_integer_value(json_object_get(subnet, "ip_version")) == 6 &&
	       (streq(addr, "slaac") || streq(addr, "dhcpv6-stateless") || streq(ra, "slaac") ||
		streq(ra, "dhcpv6-stateless"));
}

/* Neutron's rules for ipv6_ra_mode and ipv6_address_mode on a new subnet. */
static int check_ipv6_modes(struct api_ctx *ctx, json_t *doc, json_int_t version)
{
	static const char *const keys[] = {"ipv6_ra_mode", "ipv6_address_mode"};
	json_t *ra = json_object_get(doc, "ipv6_ra_mode");
	json_t *addr = json_object_get(doc, "ipv6_address_mode");
	bool set = !json_is_null(ra) || !json_is_null(addr);

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(doc, keys[i]);

		if (json_is_null(v))
			continue;
		if (!is_ipv6_mode(json_string_value(v)))
			return api_bad_request(&ctx->err,
					       "Invalid input for %s. Reason: '%s' is not in "
					       "['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'].",
					       keys[i], json_string_value(v));
		if (version == 4)
			return api_invalid_input(
				&ctx->err,
				"Invalid input for operation: %s is not valid when "
				"ip_version is 4.",
				keys[i]);
	}
	if (set && !doc_bool(doc, "enable_dhcp"))
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: ipv6_ra_mode or "
					 "ipv6_address_mode cannot be set when enable_dhcp is set "
					 "to False.");
	if (!json_is_null(ra) && !json_is_null(addr) && !json_equal(ra, addr))
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: ipv6_ra_mode set to '%s' "
					 "with ipv6_address_mode set to '%s' is not valid. If both "
					 "attributes are set, they must be the same value.",
					 json_string_value(ra), json_string_value(addr));
	return 0;
}

/* Prefix rules: EUI-64 needs a /64 (RFC 4862 5.5.3); DHCP needs room. */
static int check_dhcp_prefix(struct api_ctx *ctx, json_t *doc, const struct ipnet *c)
{
	if (subnet_is_auto_address(doc) && c->len != 64)
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: Invalid CIDR %s for IPv6 "
					 "address mode. OpenStack uses the EUI-64 address format, "
					 "which requires the prefix to be /64.",
					 doc_str(doc, "cidr"));
	if (!doc_bool(doc, "enable_dhcp") || c->addr.version != 6)
		return 0;
	if (c->len > 126)
		return api_invalid_input(&ctx->err, "Invalid input for operation: Subnet has a "
						    "prefix length that is incompatible with DHCP "
						    "service enabled.");
	if (c->addr.v >> 120 == 0xff)
		return api_invalid_input(&ctx->err, "Invalid input for operation: Multicast IP "
						    "subnet is not supported if enable_dhcp is "
						    "True.");
	if (c->len == 128 && c->addr.v == 1)
		return api_invalid_input(&ctx->err, "Invalid input for operation: Loopback IP "
						    "subnet is not supported if enable_dhcp is "
						    "True.");
	return 0;
}

static int subnet_create(struct api_ctx *ctx, json_t *doc)
{
	const char *net_id = doc_str(doc, "network_id");
	json_int_t version = json_integer_value(json_object_get(doc, "ip_version"));
	struct ipam_plan plan = {0};
	json_t *net, *subnets, *s;
	size_t i;
	int r;

	net = resource_get_visible(ctx, &network_def, net_id);
	if (!net)
		return -ENOENT;
	if (!resource_is_owner(ctx, net)) {
		json_decref(net);
		return api_forbidden(&ctx->err, "(rule:create_subnet and "
						"rule:create_subnet:network_owner) is disallowed "
						"by policy");
	}
	if (version == 6 && json_integer_value(json_object_get(net, "mtu")) < 1280) {
		json_decref(net);
		return api_conflict(&ctx->err, "NetworkMTUSubnetConflict",
				    "MTU of %s is not compatible with subnet: IPv6 needs at least "
				    "1280.",
				    net_id);
	}
	json_decref(net);
	if (version != 4 && version != 6)
		return api_bad_request(
			&ctx->err, "Invalid input for ip_version. Reason: %lld is not in [4, 6].",
			(long long) version);
	r = subnetpool_use_default(ctx, doc);
	if (r < 0)
		return r;
	if (!json_is_null(json_object_get(doc, "subnetpool_id"))) {
		r = subnetpool_allocate(ctx, doc);
		if (r < 0)
			return r;
	} else if (json_object_get(doc, "prefixlen")) {
		return api_bad_request(&ctx->err, "prefixlen applies to subnets from a subnet "
						  "pool only.");
	} else if (!json_object_get(doc, "cidr")) {
		return api_bad_request(&ctx->err, "Bad subnets request: a cidr must be specified "
						  "in the absence of a subnet pool.");
	}
	r = check_ipv6_modes(ctx, doc, version);
	if (r < 0)
		return r;
	r = check_plan(ctx, doc, json_object_get(doc, "gateway_ip"),
		       json_object_get(doc, "allocation_pools"), &plan);
	if (r >= 0)
		r = check_dhcp_prefix(ctx, doc, &plan.cidr);
	if (r < 0)
		return r;
	if (!json_is_null(json_object_get(doc, "segment_id"))) {
		json_t *seg = store_get(ctx->store, "segment", doc_str(doc, "segment_id"));
		bool ok = seg && streq(doc_str(seg, "network_id"), net_id);

		json_decref(seg);
		if (!ok)
			return api_fail(&ctx->err, 404, "SegmentNotFound",
					"Segment %s could not be found on network %s.",
					doc_str(doc, "segment_id"), net_id);
	}
	subnets = store_list(ctx->store, "subnet");
	json_array_foreach(subnets, i, s) {
		struct ipnet other;

		if (!streq(doc_str(s, "network_id"), net_id) ||
		    ipnet_parse(doc_str(s, "cidr"), false, &other) < 0)
			continue;
		/* Neutron: one pool per IP version on a network. */
		if (json_integer_value(json_object_get(s, "ip_version")) == version &&
		    !json_equal(json_object_get(s, "subnetpool_id"),
				json_object_get(doc, "subnetpool_id"))) {
			r = api_fail(&ctx->err, 400, "NetworkSubnetPoolAffinityError",
				     "Subnets hosted on the same network must be allocated from "
				     "the same subnet pool.");
			break;
		}
		if (ipnet_overlaps(&plan.cidr, &other)) {
			r = api_invalid_input(
				&ctx->err,
				"Invalid input for operation: Requested subnet with "
				"cidr: %s for network: %s overlaps with another subnet.",
				doc_str(doc, "cidr"), net_id);
			break;
		}
	}
	json_decref(subnets);
	if (r < 0)
		return r;
	store_plan(doc, &plan);
	r = network_link_subnet(ctx, net_id, doc_str(doc, "id"), true);
	if (r >= 0 && subnet_is_auto_address(doc))
		r = ports_add_auto_address(ctx, doc);
	return r;
}

static int subnet_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	struct ipam_plan plan = {0};
	json_t *gw = json_object_get(changes, "gateway_ip");
	json_t *pools = json_object_get(changes, "allocation_pools");
	int r;

	if (!gw)
		gw = json_object_get(old, "gateway_ip");
	if (!pools && json_object_get(changes, "gateway_ip")) {
		/* Keep the old pools unless they now contain the gateway. */
		pools = json_object_get(old, "allocation_pools");
	} else if (!pools) {
		pools = json_object_get(old, "allocation_pools");
	}
	if (json_is_false(json_object_get(changes, "enable_dhcp")) &&
	    (!json_is_null(json_object_get(old, "ipv6_ra_mode")) ||
	     !json_is_null(json_object_get(old, "ipv6_address_mode"))))
		return api_invalid_input(&ctx->err, "Invalid input for operation: Cannot disable "
						    "enable_dhcp with ipv6 attributes set.");
	if (json_object_get(changes, "segment_id") &&
	    !json_equal(json_object_get(changes, "segment_id"), json_object_get(old, "segment_id")))
		return api_bad_request(&ctx->err, "segment_id of a subnet cannot be changed.");
	r = check_plan(ctx, doc, gw, pools, &plan);
	if (r < 0)
		return r;
	if (plan.has_gateway && json_object_get(changes, "gateway_ip")) {
		struct ipaddr g = {plan.gateway, plan.cidr.addr.version};
		_cleanup_free_ char *owner = ipam_owner(ctx, doc_str(doc, "id"), &g);

		if (owner)
			return api_conflict(&ctx->err, "GatewayIpInUse",
					    "Gateway IP %s is in use by port %s, cannot be the "
					    "gateway.",
					    json_string_value(gw), owner);
	}
	store_plan(doc, &plan);
	return 0;
}

/* Network-owned ports lose their address on a deleted subnet; so do all but
 * router interfaces on an automatic-address (SLAAC) subnet, as in Neutron. */
static bool loses_address(json_t *port, bool is_auto)
{
	return port_is_network_owned(port) || (is_auto && !port_is_router_interface(port));
}

static int subnet_remove(struct api_ctx *ctx, json_t *doc)
{
	const char *id = doc_str(doc, "id"), *net_id = doc_str(doc, "network_id");
	json_t *ports = ports_on_network(ctx, net_id), *p, *ip;
	bool is_auto = subnet_is_auto_address(doc);
	char kind[64];
	size_t i, j;
	int r = 0;

	json_array_foreach(ports, i, p) {
		bool uses = false;

		json_array_foreach(json_object_get(p, "fixed_ips"), j, ip)
			uses = uses || streq(doc_str(ip, "subnet_id"), id);
		if (uses && !loses_address(p, is_auto)) {
			r = api_conflict(&ctx->err, "SubnetInUse",
					 "Unable to complete operation on subnet %s: One or more "
					 "ports have an IP allocation from this subnet.",
					 id);
			break;
		}
	}
	json_array_foreach(ports, i, p) {
		if (r >= 0 && loses_address(p, is_auto))
			r = port_remove_subnet_ips(ctx, p, id);
	}
	json_decref(ports);
	if (r < 0)
		return r;
	ipam_kind(id, kind);
	if (store_alloc_release_kind(ctx->store, kind) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return network_link_subnet(ctx, net_id, id, false);
}

const struct resource_def subnet_def = {
	.type = "subnet",
	.collection = "subnets",
	.title = "Subnet",
	.not_found = "SubnetNotFound",
	.quota = "subnet",
	.attrs = subnet_attrs,
	.create = subnet_create,
	.update = subnet_update,
	.remove = subnet_remove,
	.visible = subnet_visible,
	.filter_value = subnet_filter_value,
};
