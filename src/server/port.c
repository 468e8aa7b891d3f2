/* Ports: MAC allocation, fixed IPs through IPAM (by subnet, by address, or the
 * first subnet with room that serves the port's device_owner), port security
 * and allowed address pairs, binding attributes, status. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/ipaddr.h"
#include "base/random.h"
#include "base/xalloc.h"
#include "dhcp/extra.h"
#include "server/ipam.h"
#include "server/resources.h"

static const struct attr_def port_attrs[] = {
	{"network_id", AK_UUID, AF_POST | AF_REQUIRED, NULL, 0},
	{"admin_state_up", AK_BOOL, AF_RW, "true", 0},
	{"mac_address", AK_STRING, AF_RW | AF_NULLABLE, NULL,
	 32}, /* updates: admin; null: a new one */
	{"fixed_ips", AK_LIST, AF_RW, NULL, 0},
	{"device_id", AK_STRING, AF_RW, "\"\"", 255},
	{"device_owner", AK_STRING, AF_RW, "\"\"", 255},
	{"binding:host_id", AK_STRING, AF_RW | AF_ADMIN_SET | AF_ADMIN_VIEW, "\"\"", 255},
	{"binding:vif_type", AK_STRING, AF_ADMIN_VIEW, "\"unbound\"", 0},
	{"binding:vif_details", AK_OBJECT, AF_ADMIN_VIEW, "{}", 0},
	{"binding:vnic_type", AK_STRING, AF_RW, "\"normal\"", 64},
	{"binding:profile", AK_OBJECT, AF_RW | AF_ADMIN_SET | AF_ADMIN_VIEW, "{}", 0},
	{"security_groups", AK_LIST, AF_RW, NULL, 0},
	{"port_security_enabled", AK_BOOL, AF_RW, NULL, 0},
	{"allowed_address_pairs", AK_LIST, AF_RW, "[]", 0},
	{"extra_dhcp_opts", AK_LIST, AF_RW, "[]", 0},
	{"dns_name", AK_STRING, AF_RW, "\"\"", 255},   /* dns-integration */
	{"dns_domain", AK_STRING, AF_RW, "\"\"", 255}, /* dns-domain-ports */
	{"status", AK_STRING, 0, "\"DOWN\"", 0},
	{NULL, 0, 0, NULL, 0},
};

bool port_is_network_owned(json_t *port)
{
	return streq(doc_str(port, "device_owner"), "network:dhcp");
}

static bool port_visible(struct api_ctx *ctx, json_t *doc)
{
	/* The owner of the network sees the ports on it. */
	json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
	bool v = net && resource_is_owner(ctx, net);

	json_decref(net);
	return v;
}

/* Scans read the store's documents in place and copy only what they
 * return: callers may change those. */
json_t *ports_of_device(struct api_ctx *ctx, const char *device_id, const char *owner_prefix)
{
	json_t *all = store_list_shared(ctx->store, "port"), *out = json_array(), *p;
	size_t i;

	json_array_foreach(all, i, p) {
		if (streq(doc_str(p, "device_id"), device_id) &&
		    startswith(doc_str(p, "device_owner"), owner_prefix))
			json_array_append_new(out, json_deep_copy(p));
	}
	json_decref(all);
	return out;
}

json_t *ports_on_network(struct api_ctx *ctx, const char *network_id)
{
	json_t *all = store_list_shared(ctx->store, "port"), *out = json_array(), *p;
	size_t i;

	json_array_foreach(all, i, p) {
		if (streq(doc_str(p, "network_id"), network_id))
			json_array_append_new(out, json_deep_copy(p));
	}
	json_decref(all);
	return out;
}

/* MACs: "aa:bb:cc:dd:ee:ff" <-> 48-bit integer. */
static int mac_parse(const char *s, int64_t *ret)
{
	int64_t v = 0;

	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		char c = (char) tolower((unsigned char) s[i]);

		if (i % 3 == 2) {
			if (c != ':')
				return -EINVAL;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (c - 'a' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static void mac_format(int64_t v, char buf[static 18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned) (v >> 40) & 255,
		 (unsigned) (v >> 32) & 255, (unsigned) (v >> 24) & 255, (unsigned) (v >> 16) & 255,
		 (unsigned) (v >> 8) & 255, (unsigned) v & 255);
}

static void mac_kind(const char *network_id, char buf[static 64])
{
	snprintf(buf, 64, "mac:%s", network_id);
}

static int allocate_mac(struct api_ctx *ctx, json_t *doc)
{
	const char *net_id = doc_str(doc, "network_id"), *id = doc_str(doc, "id");
	json_t *given = json_object_get(doc, "mac_address");
	char kind[64], buf[18];
	int64_t mac;
	int r;

	mac_kind(net_id, kind);
	if (given) {
		if (mac_parse(json_string_value(given), &mac) < 0 || mac == 0 ||
		    (mac >> 40) & 1 /* multicast */)
			return api_bad_request(
				&ctx->err,
				"Invalid input for mac_address. Reason: '%s' is not a "
				"valid MAC address.",
				json_string_value(given));
		r = store_alloc_take(ctx->store, kind, mac, id);
		if (r == -EEXIST) {
			mac_format(mac, buf);
			return api_conflict(&ctx->err, "MacAddressInUse",
					    "Unable to complete operation for network %s. The mac "
					    "address %s is in use.",
					    net_id, buf);
		}
	} else {
		const uint8_t *b = ctx->cfg->mac_base;

		r = -EEXIST;
		for (int tries = 0; tries < 32 && r == -EEXIST; tries++) {
			uint8_t rnd[3];

			random_bytes(rnd, sizeof(rnd));
			mac = (int64_t) b[0] << 40 | (int64_t) b[1] << 32 | (int64_t) b[2] << 24 |
			      rnd[0] << 16 | rnd[1] << 8 | rnd[2];
			r = store_alloc_take(ctx->store, kind, mac, id);
		}
		if (r == -EEXIST)
			return api_fail(&ctx->err, 503, "MacAddressGenerationFailure",
					"Unable to generate unique mac on network %s.", net_id);
	}
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	mac_format(mac, buf);
	json_object_set_new(doc, "mac_address", json_string(buf));
	return 0;
}

static bool serves_owner(json_t *subnet, const char *device_owner)
{
	json_t *types = json_object_get(subnet, "service_types"), *t;
	size_t i;

	if (json_array_size(types) == 0)
		return true;
	json_array_foreach(types, i, t) {
		if (streq(json_string_value(t), device_owner))
			return true;
	}
	return false;
}

static json_t *network_subnets(struct api_ctx *ctx, const char *net_id)
{
	/* Copies of the network's subnets only: a port create must not cost
	 * a copy of every subnet of the cloud. */
	json_t *all = store_list_shared(ctx->store, "subnet"), *out = json_array(), *s;
	size_t i;

	json_array_foreach(all, i, s) {
		if (streq(doc_str(s, "network_id"), net_id))
			json_array_append_new(out, json_deep_copy(s));
	}
	json_decref(all);
	return out;
}

static json_t *find_subnet(json_t *subnets, const char *id)
{
	json_t *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		if (streq(doc_str(s, "id"), id))
			return s;
	}
	return NULL;
}

static json_t *fixed_ip(const char *subnet_id, const struct ipaddr *ip)
{
	char a[IPADDR_STRLEN];

	ipaddr_format(ip, a);
	return json_pack("{s:s, s:s}", "subnet_id", subnet_id, "ip_address", a);
}

bool port_is_router_interface(json_t *port)
{
	const char *owner = doc_str(port, "device_owner");

	return startswith(owner, "network:router_interface") ||
	       streq(owner, "network:ha_router_replicated_interface") ||
	       streq(owner, "network:router_centralized_snat");
}

/* The port's EUI-64 address in an IPv6 subnet. */
static int port_eui64(json_t *port, json_t *subnet, struct ipaddr *ret)
{
	struct ipnet cidr;
	uint8_t mac[6];
	int64_t m;

	if (mac_parse(doc_str(port, "mac_address"), &m) < 0 ||
	    ipnet_parse(doc_str(subnet, "cidr"), false, &cidr) < 0 || cidr.addr.version != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t) (m >> (40 - 8 * i));
	*ret = ipam_eui64(&cidr, mac);
	return 0;
}

/* Takes the port's EUI-64 address on an automatic-address subnet. */
static int take_eui64(struct api_ctx *ctx, json_t *port, json_t *subnet, json_t *out)
{
	const char *subnet_id = doc_str(subnet, "id");
	struct ipaddr a;
	int r;

	if (port_eui64(port, subnet, &a) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	r = ipam_allocate(ctx, subnet_id, &a, doc_str(port, "id"));
	if (r == -EEXIST) {
		char txt[IPADDR_STRLEN];

		ipaddr_format(&a, txt);
		return api_conflict(&ctx->err, "IpAddressAlreadyAllocated",
				    "IP address %s already allocated in subnet %s", txt, subnet_id);
	}
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	json_array_append_new(out, fixed_ip(subnet_id, &a));
	return 0;
}

/* The EUI-64 addresses a port (not a router's) has on every automatic-
 * address subnet of its network that it has no address on yet. */
static int take_auto_addresses(struct api_ctx *ctx, json_t *port, json_t *subnets, json_t *out)
{
	json_t *s;
	size_t i;
	int r;

	if (port_is_router_interface(port))
		return 0;
	json_array_foreach(subnets, i, s) {
		if (!subnet_is_auto_address(s) || !serves_owner(s, doc_str(port, "device_owner")) ||
		    fixed_ips_on_subnet(out, doc_str(s, "id")))
			continue;
		r = take_eui64(ctx, port, s, out);
		if (r < 0)
			return r;
	}
	return 0;
}

int ports_add_auto_address(struct api_ctx *ctx, json_t *subnet)
{
	json_t *ports = ports_on_network(ctx, doc_str(subnet, "network_id")), *p;
	json_t *one = json_pack("[O]", subnet);
	size_t i;
	int r = 0;

	json_array_foreach(ports, i, p) {
		json_t *ips = json_object_get(p, "fixed_ips");

		if (!json_is_array(ips))
			continue;
		r = take_auto_addresses(ctx, p, one, ips);
		if (r < 0)
			break;
		r = resource_save(ctx, &port_def, p);
		if (r < 0)
			break;
	}
	json_decref(one);
	json_decref(ports);
	return r;
}

/* Takes one requested address: {subnet_id?, ip_address?}. */
static int allocate_one(struct api_ctx *ctx, json_t *port, json_t *subnets, json_t *req,
			json_t *out)
{
	const char *net_id = doc_str(port, "network_id"), *port_id = doc_str(port, "id");
	const char *owner = doc_str(port, "device_owner");
	json_t *jsub = json_object_get(req, "subnet_id"), *jip = json_object_get(req, "ip_address");
	json_t *subnet = NULL, *s;
	struct ipam_plan plan;
	struct ipnet cidr;
	struct ipaddr ip = {0, 4};
	bool router = port_is_router_interface(port);
	size_t i;
	int r;

	if (jip) {
		if (!json_is_string(jip) || ipaddr_parse(json_string_value(jip), &ip) < 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for fixed_ips. Reason: '%s' "
					       "is not a valid IP address.",
					       json_is_string(jip) ? json_string_value(jip)
								   : "value");
	}
	if (jsub) {
		subnet = find_subnet(subnets, json_string_value(jsub));
		if (!subnet)
			return api_invalid_input(
				&ctx->err,
				"Invalid input for operation: Failed to create port "
				"on network %s, because fixed_ips included invalid "
				"subnet %s.",
				net_id, json_string_value(jsub));
	} else {
		json_array_foreach(subnets, i, s) {
			if (ipnet_parse(doc_str(s, "cidr"), false, &cidr) == 0 &&
			    ipnet_contains(&cidr, &ip)) {
				subnet = s;
				break;
			}
		}
		if (!subnet)
			return api_invalid_input(
				&ctx->err,
				"Invalid input for operation: IP address %s is not a "
				"valid IP for any of the subnets on the specified "
				"network.",
				json_string_value(jip));
	}
	const char *subnet_id = doc_str(subnet, "id");
	if (!serves_owner(subnet, owner))
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: subnet %s does not serve "
					 "device owner '%s' (service_types).",
					 subnet_id, owner);
	if (ipam_plan_from_subnet(subnet, &plan) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	/* On an automatic-address subnet a port's address is its EUI-64. */
	if (!jip && subnet_is_auto_address(subnet) && !router)
		return fixed_ips_on_subnet(out, subnet_id) ? 0 : take_eui64(ctx, port, subnet, out);
	if (!jip) {
		r = ipam_allocate_any(ctx, subnet, port_id, &ip);
		if (r == -ENOSPC)
			return api_conflict(&ctx->err, "IpAddressGenerationFailure",
					    "No more IP addresses available for subnet %s.",
					    subnet_id);
		if (r < 0)
			return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
		json_array_append_new(out, fixed_ip(subnet_id, &ip));
		return 0;
	}
	if (!ipam_addr_allocatable(&plan, &ip, router))
		return api_fail(&ctx->err, 400, "InvalidIpForSubnet",
				"IP address %s is not a valid IP for the specified subnet.",
				json_string_value(jip));
	if (subnet_is_auto_address(subnet) && !router) {
		struct ipaddr eui;

		/* Only the port's own EUI-64 address may be asked for. */
		if (port_eui64(port, subnet, &eui) < 0 || eui.v != ip.v)
			return api_bad_request(&ctx->err,
					       "IPv6 address %s cannot be directly assigned to a "
					       "port on subnet %s as the subnet is configured for "
					       "automatic addresses.",
					       json_string_value(jip), subnet_id);
		return fixed_ips_on_subnet(out, subnet_id) ? 0 : take_eui64(ctx, port, subnet, out);
	}
	if (plan.has_gateway && plan.gateway == ip.v && !router)
		return api_conflict(&ctx->err, "IpAddressAlreadyAllocated",
				    "IP address %s already allocated in subnet %s: it is the "
				    "subnet's gateway.",
				    json_string_value(jip), subnet_id);
	r = ipam_allocate(ctx, subnet_id, &ip, port_id);
	if (r == -EEXIST)
		return api_conflict(&ctx->err, "IpAddressAlreadyAllocated",
				    "IP address %s already allocated in subnet %s",
				    json_string_value(jip), subnet_id);
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	json_array_append_new(out, fixed_ip(subnet_id, &ip));
	return 0;
}

static int check_fixed_ips_request(struct api_ctx *ctx, json_t *list, bool network_owner)
{
	json_t *e, *v;
	const char *k;
	size_t i;

	json_array_foreach(list, i, e) {
		if (!json_is_object(e) || json_object_size(e) == 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for fixed_ips. Reason: each entry is "
					       "{\"subnet_id\": ID, \"ip_address\": IP}.");
		json_object_foreach(e, k, v) {
			if (streq(k, "subnet_id")) {
				if (!json_is_string(v))
					return api_bad_request(&ctx->err, "Invalid input for "
									  "fixed_ips: subnet_id.");
			} else if (streq(k, "ip_address")) {
				if (!network_owner)
					return api_forbidden(
						&ctx->err,
						"(rule:create_port and "
						"rule:create_port:fixed_ips:ip_address) is "
						"disallowed by policy");
			} else {
				return api_bad_request(&ctx->err,
						       "Invalid input for fixed_ips. Reason: "
						       "unexpected key '%s'.",
						       k);
			}
		}
	}
	return 0;
}

static int release_ips(struct api_ctx *ctx, json_t *fixed)
{
	json_t *e;
	size_t i;

	json_array_foreach(fixed, i, e) {
		struct ipaddr ip;

		if (ipaddr_parse(doc_str(e, "ip_address"), &ip) == 0 &&
		    ipam_release(ctx, doc_str(e, "subnet_id"), &ip) < 0)
			return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	}
	return 0;
}

/* One address from the first subnet of a class (IPv4, or IPv6 with
 * DHCPv6-stateful or no mode) with room that serves the port's owner;
 * *served tells whether one serves it. */
static int allocate_default(struct api_ctx *ctx, json_t *port, json_t *subnets, int version,
			    json_t *out, bool *served)
{
	bool class_served = false;
	json_t *e;
	size_t i;
	int r;

	json_array_foreach(subnets, i, e) {
		struct ipaddr ip;

		if (json_integer_value(json_object_get(e, "ip_version")) != version ||
		    subnet_is_auto_address(e) || !serves_owner(e, doc_str(port, "device_owner")))
			continue;
		class_served = *served = true;
		r = ipam_allocate_any(ctx, e, doc_str(port, "id"), &ip);
		if (r == -ENOSPC)
			continue;
		if (r < 0)
			return api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
		json_array_append_new(out, fixed_ip(doc_str(e, "id"), &ip));
		return 0;
	}
	if (class_served)
		return api_conflict(&ctx->err, "IpAddressGenerationFailure",
				    "No more IP addresses available on network %s.",
				    doc_str(port, "network_id"));
	return 0;
}

/* An old address on the subnet not yet in `out`, to keep for a request that
 * names the subnet only. */
static json_t *old_on_subnet(json_t *old, json_t *out, const char *subnet_id)
{
	json_t *o;
	size_t j;

	json_array_foreach(old, j, o) {
		if (streq(doc_str(o, "subnet_id"), subnet_id) && !json_array_has(out, o))
			return o;
	}
	return NULL;
}

/* Allocates the port's fixed IPs. `requested` NULL: the default (as Neutron:
 * one IPv4 address, one from a stateful IPv6 subnet, each from the first
 * subnet with room that serves the device owner). `old`: the current
 * addresses on update; those requested again (by address, or by subnet
 * alone) are kept, and so are automatic (EUI-64) ones. Every port but a
 * router's has its EUI-64 address on each automatic-address subnet. */
static int allocate_fixed_ips(struct api_ctx *ctx, json_t *port, json_t *requested, json_t *old)
{
	const char *net_id = doc_str(port, "network_id");
	json_t *subnets = network_subnets(ctx, net_id), *out = json_array(), *e, *o;
	json_t *todo = json_array(), *release = json_array();
	size_t i, j;
	int r = 0;

	if (!requested) {
		bool served = false, auto_served = false;

		r = allocate_default(ctx, port, subnets, 4, out, &served);
		if (r >= 0)
			r = allocate_default(ctx, port, subnets, 6, out, &served);
		json_array_foreach(subnets, i, e)
			auto_served =
				auto_served || (subnet_is_auto_address(e) &&
						serves_owner(e, doc_str(port, "device_owner")));
		if (r >= 0)
			r = take_auto_addresses(ctx, port, subnets, out);
		if (r >= 0 && !served && !auto_served && json_array_size(subnets))
			r = api_invalid_input(
				&ctx->err,
				"Invalid input for operation: no subnet of network %s "
				"serves device owner '%s'.",
				net_id, doc_str(port, "device_owner"));
		goto out;
	}
	/* Keep old addresses that are asked for again; release the others. */
	json_array_foreach(requested, i, e) {
		bool kept = false;

		json_array_foreach(old, j, o) {
			if (json_object_get(e, "ip_address") &&
			    streq(doc_str(e, "ip_address"), doc_str(o, "ip_address")) &&
			    (!json_object_get(e, "subnet_id") ||
			     streq(doc_str(e, "subnet_id"), doc_str(o, "subnet_id")))) {
				kept = true;
				break;
			}
		}
		if (kept)
			json_array_append(out, o);
	}
	json_array_foreach(requested, i, e) {
		bool kept = false;

		json_array_foreach(out, j, o) {
			kept = kept || (json_object_get(e, "ip_address") &&
					streq(doc_str(e, "ip_address"), doc_str(o, "ip_address")));
		}
		if (kept)
			continue;
		o = json_object_get(e, "ip_address")
			    ? NULL
			    : old_on_subnet(old, out, doc_str(e, "subnet_id"));
		if (o)
			json_array_append(out, o);
		else
			json_array_append(todo, e);
	}
	json_array_foreach(old, j, o) {
		json_t *sub = find_subnet(subnets, doc_str(o, "subnet_id"));

		if (json_array_has(out, o))
			continue;
		if (sub && subnet_is_auto_address(sub) && !port_is_router_interface(port))
			json_array_append(out, o);
		else
			json_array_append(release, o);
	}
	r = release_ips(ctx, release);
	json_array_foreach(todo, i, e) {
		if (r < 0)
			break;
		r = allocate_one(ctx, port, subnets, e, out);
	}
	if (r >= 0)
		r = take_auto_addresses(ctx, port, subnets, out);
out:
	if (r >= 0)
		json_object_set(port, "fixed_ips", out);
	json_decref(subnets);
	json_decref(out);
	json_decref(todo);
	json_decref(release);
	return r;
}

static int check_address_pairs(struct api_ctx *ctx, json_t *pairs)
{
	json_t *e, *f;
	size_t i, j;

	if (json_array_size(pairs) > ctx->cfg->max_address_pairs)
		return api_fail(&ctx->err, 400, "AllowedAddressPairExhausted",
				"The number of allowed address pair exceeds the maximum %u.",
				ctx->cfg->max_address_pairs);
	json_array_foreach(pairs, i, e) {
		const char *ip = json_string_value(json_object_get(e, "ip_address"));
		json_t *mac = json_object_get(e, "mac_address");
		struct ipnet c;
		int64_t m;

		if (!json_is_object(e) || !ip || ipnet_parse(ip, true, &c) < 0 ||
		    json_object_size(e) > (mac ? 2u : 1u))
			return api_bad_request(
				&ctx->err, "Invalid input for allowed_address_pairs. Reason: each "
					   "pair is {\"ip_address\": IP or CIDR, "
					   "\"mac_address\": MAC (optional)}.");
		if (mac && (mac_parse(json_string_value(mac), &m) < 0 || (m >> 40) & 1))
			return api_bad_request(
				&ctx->err,
				"Invalid input for allowed_address_pairs. Reason: '%s' "
				"is not a valid MAC address.",
				json_is_string(mac) ? json_string_value(mac) : "value");
		json_array_foreach(pairs, j, f) {
			if (j < i && json_equal(e, f))
				return api_fail(&ctx->err, 400, "DuplicateAddressPairInRequest",
						"Request contains duplicate address pair: "
						"mac_address %s ip_address %s.",
						mac ? json_string_value(mac) : "", ip);
		}
	}
	return 0;
}

/* Fills each pair's missing MAC with the port's (as Neutron does). */
static void complete_address_pairs(json_t *port)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(port, "allowed_address_pairs"), i, e) {
		if (!json_object_get(e, "mac_address"))
			json_object_set(e, "mac_address", json_object_get(port, "mac_address"));
	}
}

static int check_security_groups(struct api_ctx *ctx, json_t *port)
{
	json_t *groups = json_object_get(port, "security_groups"), *e, *out;
	size_t i;

	out = json_array();
	json_array_foreach(groups, i, e) {
		json_t *u;
		size_t j;
		bool dup = false;
		struct attr_def a = {"security_groups", AK_UUID, 0, NULL, 0};
		json_t *c = resource_check_value(ctx, &a, e);

		if (!c) {
			json_decref(out);
			return -EINVAL;
		}
		/* The group must exist and belong to the port's project. */
		json_t *sg = store_get(ctx->store, "security_group", json_string_value(c));
		bool ok = sg && (ctx->is_admin ||
				 streq(doc_str(sg, "project_id"), doc_str(port, "project_id")) ||
				 rbac_shares_with(ctx, sg, doc_str(port, "project_id")));

		json_decref(sg);
		if (!ok) {
			api_fail(&ctx->err, 404, "SecurityGroupNotFound",
				 "Security group %s does not exist", json_string_value(c));
			json_decref(c);
			json_decref(out);
			return -ENOENT;
		}
		json_array_foreach(out, j, u)
			dup = dup || json_equal(u, c);
		if (dup) {
			api_bad_request(&ctx->err,
					"Invalid input for security_groups. Reason: Duplicate "
					"items in the list: '%s'.",
					json_string_value(c));
			json_decref(c);
			json_decref(out);
			return -EINVAL;
		}
		json_array_append_new(out, c);
	}
	json_object_set_new(port, "security_groups", out);
	return 0;
}

static int check_port_security(struct api_ctx *ctx, json_t *port)
{
	if (doc_bool(port, "port_security_enabled"))
		return 0;
	if (json_array_size(json_object_get(port, "security_groups")))
		return api_conflict(&ctx->err, "PortSecurityAndIPRequiredForSecurityGroups",
				    "Port security must be enabled and port must have an IP "
				    "address in order to use security groups.");
	if (json_array_size(json_object_get(port, "allowed_address_pairs")))
		return api_conflict(
			&ctx->err, "AddressPairAndPortSecurityRequired",
			"Port Security must be enabled in order to have allowed address "
			"pairs on a port.");
	return 0;
}

static void set_binding(json_t *port)
{
	bool bound = *doc_str(port, "binding:host_id") != '\0';

	json_object_set_new(port, "binding:vif_type", json_string(bound ? "tap" : "unbound"));
	json_object_set_new(port, "binding:vif_details",
			    bound ? json_pack("{s:b, s:b}", "port_filter", 1, "connectivity_l2", 1)
				  : json_object());
}

static int check_vnic_type(struct api_ctx *ctx, json_t *port)
{
	static const char *const types[] = {
		"normal",	    "direct",	 "macvtap", "baremetal",     "direct-physical",
		"virtio-forwarder", "smart-nic", "vdpa",    "remote-managed"};
	const char *t = doc_str(port, "binding:vnic_type");

	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (streq(t, types[i]))
			return 0;
	return api_bad_request(&ctx->err,
			       "Invalid input for binding:vnic_type. Reason: '%s' is "
			       "not in the valid values.",
			       t);
}

#define MAX_EXTRA_DHCP_OPTS 64

static bool is_ipv6_address(const char *s)
{
	struct ipaddr a;

	return ipaddr_parse(s, &a) == 0 && a.version == 6;
}

/* extra_dhcp_opt: each option {opt_name, opt_value, ip_version (4 or 6,
 * default 4)}. Given on update, an option replaces the port's option of
 * the same name and version, a null value removes it, the others stay (as
 * Neutron merges them). IPv4 options must be ones the DHCP responder can
 * encode (dhcp/extra.h), except that an IPv6 address as the value is taken
 * as meant for DHCPv6 (clients written for Neutron give such options
 * without ip_version) and is not served by the DHCPv4 responder; IPv6 ones
 * are kept for DHCPv6, which the agents do not serve yet (the IPv6 data
 * plane is its own issue). */
static int set_extra_dhcp_opts(struct api_ctx *ctx, json_t *port, json_t *given, json_t *old)
{
	json_t *out = json_is_array(old) ? json_deep_copy(old) : json_array(), *e;
	size_t i;
	int r = 0;

	if (!json_is_array(given) || json_array_size(given) > MAX_EXTRA_DHCP_OPTS)
		r = api_bad_request(&ctx->err,
				    "Invalid input for extra_dhcp_opts. Reason: a list of at most "
				    "%d options is required.",
				    MAX_EXTRA_DHCP_OPTS);
	json_array_foreach(given, i, e) {
		json_t *name = json_object_get(e, "opt_name"),
		       *value = json_object_get(e, "opt_value");
		json_t *ver = json_object_get(e, "ip_version"), *o;
		json_int_t version = 4;
		struct dhcp_extra_opt parsed;
		const char *key;
		json_t *x;
		size_t j;

		if (r < 0)
			break;
		json_object_foreach(e, key, x) {
			if (!streq(key, "opt_name") && !streq(key, "opt_value") &&
			    !streq(key, "ip_version")) {
				r = api_bad_request(&ctx->err,
						    "Invalid input for extra_dhcp_opts. Reason: "
						    "unexpected key '%s'.",
						    key);
				break;
			}
		}
		if (r < 0)
			break;
		if (json_is_string(ver) &&
		    (streq(json_string_value(ver), "4") || streq(json_string_value(ver), "6")))
			version = atoi(json_string_value(ver));
		else if (json_is_integer(ver))
			version = json_integer_value(ver);
		else if (ver && !json_is_null(ver))
			version = 0;
		if (!json_is_object(e) || !json_is_string(name) || !*json_string_value(name) ||
		    strlen(json_string_value(name)) > 64 ||
		    !(json_is_string(value) || json_is_null(value)) ||
		    (json_is_string(value) && strlen(json_string_value(value)) > 255) ||
		    (version != 4 && version != 6)) {
			r = api_bad_request(
				&ctx->err, "Invalid input for extra_dhcp_opts. Reason: each option "
					   "needs opt_name, opt_value (a string or null) and "
					   "ip_version 4 or 6.");
			break;
		}
		if (version == 4 && json_is_string(value)) {
			int pr = dhcp_extra_parse(json_string_value(name), json_string_value(value),
						  &parsed);

			if (pr == -ENOENT)
				r = api_bad_request(
					&ctx->err,
					"Invalid input for extra_dhcp_opts. Reason: DHCP "
					"option '%s' is not supported.",
					json_string_value(name));
			else if (pr < 0 && !is_ipv6_address(json_string_value(value)))
				r = api_bad_request(
					&ctx->err,
					"Invalid input for extra_dhcp_opts. Reason: '%s' is "
					"not a valid value for DHCP option '%s'.",
					json_string_value(value), json_string_value(name));
			if (r < 0)
				break;
		}
		for (j = 0; j < json_array_size(out); j++) {
			o = json_array_get(out, j);
			if (json_equal(json_object_get(o, "opt_name"), name) &&
			    json_integer_value(json_object_get(o, "ip_version")) == version)
				break;
		}
		if (j < json_array_size(out) && !old && json_is_string(value)) {
			r = api_bad_request(
				&ctx->err,
				"Invalid input for extra_dhcp_opts. Reason: option '%s' "
				"is given twice.",
				json_string_value(name));
			break;
		}
		if (j < json_array_size(out))
			json_array_remove(out, j);
		if (json_is_string(value))
			json_array_append_new(out,
					      json_pack("{s:O, s:O, s:I}", "opt_name", name,
							"opt_value", value, "ip_version", version));
	}
	if (r >= 0)
		json_object_set(port, "extra_dhcp_opts", out);
	json_decref(out);
	return r;
}

static int port_create(struct api_ctx *ctx, json_t *doc)
{
	const char *net_id = doc_str(doc, "network_id");
	json_t *net = resource_get_visible(ctx, &network_def, net_id);
	bool net_owner;
	int r;

	if (!net)
		return -ENOENT;
	net_owner = resource_is_owner(ctx, net);
	if (!net_owner && !rbac_network_allows(ctx, net, false)) {
		json_decref(net);
		return api_forbidden(&ctx->err,
				     "(rule:create_port and rule:create_port:network) is "
				     "disallowed by policy");
	}
	/* Neutron's policy: on another project's (shared) network, only the
	 * network's owner may turn port security off or add address pairs. */
	if (!net_owner && (json_is_false(json_object_get(doc, "port_security_enabled")) ||
			   json_array_size(json_object_get(doc, "allowed_address_pairs")))) {
		json_decref(net);
		return api_forbidden(&ctx->err,
				     "(rule:create_port and "
				     "rule:create_port:%s) is disallowed by policy",
				     json_array_size(json_object_get(doc, "allowed_address_pairs"))
					     ? "allowed_address_pairs"
					     : "port_security_enabled");
	}
	if (json_is_null(json_object_get(doc, "mac_address")))
		json_object_del(doc, "mac_address");
	if (!json_object_get(doc, "port_security_enabled"))
		json_object_set(doc, "port_security_enabled",
				json_object_get(net, "port_security_enabled")
					? json_object_get(net, "port_security_enabled")
					: json_true());
	json_decref(net);
	/* Without groups given, a port with port security gets its project's
	 * default group (made on first use). */
	r = 0;
	if (!json_object_get(doc, "security_groups")) {
		char *def = NULL;

		if (doc_bool(doc, "port_security_enabled") && *doc_str(doc, "project_id"))
			r = secgroup_ensure_default(ctx, doc_str(doc, "project_id"), &def);
		json_object_set_new(doc, "security_groups",
				    def ? json_pack("[s]", def) : json_array());
		free(def);
	}
	if (r >= 0)
		r = check_security_groups(ctx, doc);
	if (r >= 0)
		r = check_vnic_type(ctx, doc);
	if (r >= 0)
		r = check_address_pairs(ctx, json_object_get(doc, "allowed_address_pairs"));
	if (r >= 0)
		r = check_port_security(ctx, doc);
	if (r >= 0)
		r = set_extra_dhcp_opts(ctx, doc, json_object_get(doc, "extra_dhcp_opts"), NULL);
	if (r >= 0)
		r = dns_check(ctx, doc, "dns_name");
	if (r >= 0)
		r = dns_check(ctx, doc, "dns_domain");
	if (r >= 0 && json_object_get(doc, "fixed_ips"))
		r = check_fixed_ips_request(ctx, json_object_get(doc, "fixed_ips"), net_owner);
	if (r >= 0)
		r = allocate_mac(ctx, doc);
	if (r >= 0)
		r = allocate_fixed_ips(ctx, doc, json_object_get(doc, "fixed_ips"), NULL);
	if (r < 0)
		return r;
	complete_address_pairs(doc);
	set_binding(doc);
	return 0;
}

static int port_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	json_t *fixed = json_object_get(changes, "fixed_ips");
	int r = 0;

	if (json_object_get(changes, "port_security_enabled") ||
	    json_object_get(changes, "allowed_address_pairs")) {
		json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
		bool net_owner = net && resource_is_owner(ctx, net);

		json_decref(net);
		if (!net_owner)
			return api_forbidden(&ctx->err,
					     "(rule:update_port and "
					     "rule:update_port:%s) is disallowed by policy",
					     json_object_get(changes, "allowed_address_pairs")
						     ? "allowed_address_pairs"
						     : "port_security_enabled");
	}
	if (json_object_get(changes, "mac_address") &&
	    !json_equal(json_object_get(changes, "mac_address"),
			json_object_get(old, "mac_address"))) {
		char kind[64];
		int64_t mac;

		if (!ctx->is_admin)
			return api_forbidden(&ctx->err,
					     "(rule:update_port and "
					     "rule:update_port:mac_address) is disallowed "
					     "by policy");
		mac_kind(doc_str(old, "network_id"), kind);
		if (mac_parse(doc_str(old, "mac_address"), &mac) == 0 &&
		    store_alloc_release(ctx->store, kind, mac) < 0)
			return api_fail(&ctx->err, 500, "InternalServerError",
					"store write failed");
		/* null regenerates (port-mac-address-regenerate). */
		if (json_is_null(json_object_get(doc, "mac_address")))
			json_object_del(doc, "mac_address");
		r = allocate_mac(ctx, doc);
	}
	if (r >= 0 && json_object_get(changes, "security_groups"))
		r = check_security_groups(ctx, doc);
	if (r >= 0 && json_object_get(changes, "binding:vnic_type"))
		r = check_vnic_type(ctx, doc);
	if (r >= 0 && json_object_get(changes, "allowed_address_pairs"))
		r = check_address_pairs(ctx, json_object_get(doc, "allowed_address_pairs"));
	if (r >= 0)
		r = check_port_security(ctx, doc);
	if (r >= 0 && json_object_get(changes, "extra_dhcp_opts"))
		r = set_extra_dhcp_opts(ctx, doc, json_object_get(changes, "extra_dhcp_opts"),
					json_object_get(old, "extra_dhcp_opts"));
	if (r >= 0)
		r = dns_check(ctx, doc, "dns_name");
	if (r >= 0)
		r = dns_check(ctx, doc, "dns_domain");
	if (r >= 0 && fixed) {
		json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
		bool net_owner = net && resource_is_owner(ctx, net);

		json_decref(net);
		r = check_fixed_ips_request(ctx, fixed, net_owner);
		if (r >= 0)
			r = allocate_fixed_ips(ctx, doc, fixed, json_object_get(old, "fixed_ips"));
	}
	if (r < 0)
		return r;
	complete_address_pairs(doc);
	if (json_object_get(changes, "binding:host_id")) {
		set_binding(doc);
		/* A port moved to another node is DOWN until that node wires it. */
		if (!streq(doc_str(old, "binding:host_id"), doc_str(doc, "binding:host_id")))
			json_object_set_new(doc, "status", json_string("DOWN"));
	}
	return 0;
}

static int port_release(struct api_ctx *ctx, json_t *port)
{
	char kind[64];
	int64_t mac;
	int r;

	r = release_ips(ctx, json_object_get(port, "fixed_ips"));
	if (r < 0)
		return r;
	mac_kind(doc_str(port, "network_id"), kind);
	if (mac_parse(doc_str(port, "mac_address"), &mac) == 0 &&
	    store_alloc_release(ctx->store, kind, mac) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return 0;
}

bool port_is_l3(json_t *port)
{
	const char *owner = doc_str(port, "device_owner");

	return startswith(owner, "network:router_interface") ||
	       streq(owner, "network:router_centralized_snat") ||
	       streq(owner, "network:router_gateway") || streq(owner, "network:floatingip");
}

static int port_remove(struct api_ctx *ctx, json_t *doc)
{
	int r;

	/* Router and floating IP ports go with their router or floating IP. */
	if (port_is_l3(doc))
		return api_conflict(
			&ctx->err, "L3PortInUse",
			"Port %s cannot be deleted directly via the port API: has device "
			"owner %s.",
			doc_str(doc, "id"), doc_str(doc, "device_owner"));
	r = floatingip_port_deleted(ctx, doc_str(doc, "id"));
	if (r >= 0)
		r = fwaas_port_deleted(ctx, doc_str(doc, "id"));
	if (r < 0)
		return r;
	return port_release(ctx, doc);
}

int port_create_internal(struct api_ctx *ctx, json_t *port)
{
	bool was_admin = ctx->is_admin;
	int r;

	ctx->is_admin = true;
	r = resource_insert(ctx, &port_def, port);
	ctx->is_admin = was_admin;
	return r;
}

int port_destroy(struct api_ctx *ctx, json_t *port)
{
	int r = fwaas_port_deleted(ctx, doc_str(port, "id"));

	if (r >= 0)
		r = port_release(ctx, port);

	if (r >= 0 && store_delete(ctx->store, "port", doc_str(port, "id")) < 0)
		r = api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return r;
}

int port_set_fixed_ips(struct api_ctx *ctx, json_t *port, json_t *requested)
{
	json_t *old = json_incref(json_object_get(port, "fixed_ips"));
	int r = allocate_fixed_ips(ctx, port, requested, old);

	json_decref(old);
	return r < 0 ? r : resource_save(ctx, &port_def, port);
}

int port_remove_subnet_ips(struct api_ctx *ctx, json_t *port, const char *subnet_id)
{
	json_t *keep = json_array(), *drop = json_array(), *e;
	size_t i;
	int r;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, e)
		json_array_append(streq(doc_str(e, "subnet_id"), subnet_id) ? drop : keep, e);
	r = release_ips(ctx, drop);
	if (r >= 0 && json_array_size(drop)) {
		json_object_set(port, "fixed_ips", keep);
		r = resource_save(ctx, &port_def, port);
	}
	json_decref(keep);
	json_decref(drop);
	return r;
}

/* dns_assignment, computed from the fixed IPs and dns_name. */
static void port_decorate(struct api_ctx *ctx, json_t *view)
{
	if (json_object_get(view, "fixed_ips"))
		json_object_set_new(view, "dns_assignment", dns_assignment(ctx, view));
}

const struct resource_def port_def = {
	.type = "port",
	.collection = "ports",
	.title = "Port",
	.not_found = "PortNotFound",
	.quota = "port",
	.attrs = port_attrs,
	.create = port_create,
	.update = port_update,
	.remove = port_remove,
	.visible = port_visible,
	.may_delete = port_visible,
	.decorate = port_decorate,
};
