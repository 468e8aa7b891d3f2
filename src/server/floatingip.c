/* Floating IPs: a global address from an external network's floating IP pool
 * (subnets whose service_types include network:floatingip, or have none —
 * never a gateway-only subnet), mapped 1:1 to a fixed IP of a port behind a
 * router whose gateway is on that network. Also the floating IP pools
 * listing. */
#include <errno.h>
#include <string.h>
#include "base/ip4.h"
#include "base/xalloc.h"
#include "server/resources.h"

#define OWNER_FIP "network:floatingip"

static const struct attr_def floatingip_attrs[] = {
	{"floating_network_id", AK_UUID, AF_POST | AF_REQUIRED, NULL, 0},
	{"floating_ip_address", AK_STRING, AF_POST | AF_ADMIN_SET, NULL, 64},
	{"subnet_id", AK_UUID, AF_POST | AF_NULLABLE, NULL, 0},
	{"port_id", AK_UUID, AF_RW | AF_NULLABLE, "null", 0},
	{"fixed_ip_address", AK_STRING, AF_RW | AF_NULLABLE, "null", 64},
	{"router_id", AK_UUID, AF_NULLABLE, "null", 0},
	{"status", AK_STRING, 0, "\"DOWN\"", 0},
	{"port_details", AK_OBJECT, AF_NULLABLE, "null", 0},
	{"port_forwardings", AK_LIST, 0, "[]", 0},
	{NULL, 0, 0, NULL, 0},
};

json_t *floatingips_of_router(struct api_ctx *ctx, const char *router_id)
{
	json_t *all = store_list_shared(ctx->store, "floatingip"), *out = json_array(), *f;
	size_t i;

	json_array_foreach(all, i, f) {
		if (streq(doc_str(f, "router_id"), router_id))
			json_array_append_new(out, json_deep_copy(f));
	}
	json_decref(all);
	return out;
}

static json_t *fip_port(struct api_ctx *ctx, const char *fip_id)
{
	json_t *ports = ports_of_device(ctx, fip_id, OWNER_FIP);
	json_t *found = json_incref(json_array_get(ports, 0));

	json_decref(ports);
	return found;
}

static void disassociate(json_t *fip)
{
	json_object_set_new(fip, "port_id", json_null());
	json_object_set_new(fip, "fixed_ip_address", json_null());
	json_object_set_new(fip, "router_id", json_null());
	json_object_set_new(fip, "port_details", json_null());
	json_object_set_new(fip, "status", json_string("DOWN"));
}

/* The router that connects the fixed IP's subnet to the external network:
 * one pass over the ports (the router interfaces on the subnet), then
 * their routers by id; not each router's interfaces in turn, which read
 * every port once per router. */
static json_t *find_router(struct api_ctx *ctx, const char *ext_net, const char *subnet_id)
{
	json_t *ports = store_list_shared(ctx->store, "port"), *p, *r, *info, *found = NULL;
	size_t i;

	json_array_foreach(ports, i, p) {
		if (!startswith(doc_str(p, "device_owner"), "network:router_interface") ||
		    !fixed_ips_on_subnet(json_object_get(p, "fixed_ips"), subnet_id))
			continue;
		r = store_get_shared(ctx->store, "router", doc_str(p, "device_id"));
		info = json_object_get(r, "external_gateway_info");
		if (r && json_is_object(info) && streq(doc_str(info, "network_id"), ext_net)) {
			found = json_deep_copy(r);
			break;
		}
	}
	json_decref(ports);
	return found;
}

static int associate(struct api_ctx *ctx, json_t *fip, const char *port_id, json_t *fixed_given)
{
	json_t *port, *ip, *chosen = NULL, *router, *all, *other;
	const char *fixed = json_string_value(fixed_given);
	size_t i, nv4 = 0;
	uint32_t a;
	int r = 0;

	if (fixed_given && !json_is_null(fixed_given) && (!fixed || ip4_parse(fixed, &a) < 0))
		return api_bad_request(&ctx->err,
				       "Invalid input for fixed_ip_address. Reason: '%s' "
				       "is not a valid IP address.",
				       fixed ? fixed : "value");
	port = store_get(ctx->store, "port", port_id);
	/* Another project's port answers 400, as in Neutron (which looks the
	 * port up with an elevated context). */
	if (!port) {
		json_decref(port);
		return api_fail(&ctx->err, 404, "PortNotFound", "Port %s could not be found.",
				port_id);
	}
	if (!streq(doc_str(port, "project_id"), doc_str(fip, "project_id"))) {
		r = api_bad_request(&ctx->err,
				    "Cannot create floating IP and bind it to Port %s, since that "
				    "port is owned by a different tenant.",
				    port_id);
		goto out;
	}
	if (startswith(doc_str(port, "device_owner"), "network:")) {
		r = api_bad_request(&ctx->err,
				    "Bad floatingip request: Port %s has owner %s and therefore "
				    "cannot be associated with a floating IP.",
				    port_id, doc_str(port, "device_owner"));
		goto out;
	}
	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
		/* Floating IPs map IPv4 addresses only. */
		if (strchr(doc_str(ip, "ip_address"), ':'))
			continue;
		nv4++;
		if (!fixed || streq(doc_str(ip, "ip_address"), fixed))
			chosen = chosen ? chosen : ip;
	}
	if (fixed && !chosen) {
		r = api_bad_request(&ctx->err,
				    "Bad floatingip request: Port %s does not have fixed "
				    "ip %s.",
				    port_id, fixed);
		goto out;
	}
	if (!chosen) {
		r = api_bad_request(&ctx->err,
				    "Bad floatingip request: Port %s does not have any fixed IPv4 "
				    "address.",
				    port_id);
		goto out;
	}
	if (!fixed && nv4 > 1) {
		r = api_bad_request(
			&ctx->err,
			"Bad floatingip request: Port %s has multiple fixed IPv4 "
			"addresses. Must provide a specific IPv4 address when assigning "
			"a floating IP.",
			port_id);
		goto out;
	}
	router =
		find_router(ctx, doc_str(fip, "floating_network_id"), doc_str(chosen, "subnet_id"));
	if (!router) {
		r = api_fail(&ctx->err, 404, "ExternalGatewayForFloatingIPNotFound",
			     "External network %s is not reachable from subnet %s. Therefore, "
			     "cannot associate Port %s with a Floating IP.",
			     doc_str(fip, "floating_network_id"), doc_str(chosen, "subnet_id"),
			     port_id);
		goto out;
	}
	all = store_list_shared(ctx->store, "floatingip");
	json_array_foreach(all, i, other) {
		if (!streq(doc_str(other, "id"), doc_str(fip, "id")) &&
		    streq(doc_str(other, "port_id"), port_id) &&
		    streq(doc_str(other, "fixed_ip_address"), doc_str(chosen, "ip_address"))) {
			r = api_conflict(
				&ctx->err, "FloatingIPPortAlreadyAssociated",
				"Cannot associate floating IP %s (%s) with port %s using "
				"fixed IP %s, as that fixed IP already has a floating IP on "
				"external network %s.",
				doc_str(fip, "floating_ip_address"), doc_str(fip, "id"), port_id,
				doc_str(chosen, "ip_address"),
				doc_str(other, "floating_network_id"));
			break;
		}
	}
	json_decref(all);
	if (r >= 0) {
		json_object_set_new(fip, "port_id", json_string(port_id));
		json_object_set_new(fip, "fixed_ip_address",
				    json_string(doc_str(chosen, "ip_address")));
		json_object_set_new(fip, "router_id", json_string(doc_str(router, "id")));
		json_object_set_new(fip, "status", json_string("ACTIVE"));
		json_object_set_new(
			fip, "port_details",
			json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:s}", "name",
				  doc_str(port, "name"), "network_id", doc_str(port, "network_id"),
				  "mac_address", doc_str(port, "mac_address"), "admin_state_up",
				  json_object_get(port, "admin_state_up"), "status",
				  doc_str(port, "status"), "device_id", doc_str(port, "device_id"),
				  "device_owner", doc_str(port, "device_owner")));
	}
	json_decref(router);
out:
	json_decref(port);
	return r;
}

/* A floating IP's port keeps only its IPv4 address (on an external network
 * with IPv6 subnets too). */
static int keep_ipv4_only(struct api_ctx *ctx, json_t *port)
{
	json_t *v4 = json_array(), *ip;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
		if (!strchr(doc_str(ip, "ip_address"), ':'))
			json_array_append(v4, ip);
	}
	if (json_array_size(v4) != json_array_size(json_object_get(port, "fixed_ips")))
		r = port_set_fixed_ips(ctx, port, v4);
	json_decref(v4);
	return r;
}

static int floatingip_create(struct api_ctx *ctx, json_t *doc)
{
	const char *net_id = doc_str(doc, "floating_network_id");
	json_t *net = resource_get_visible(ctx, &network_def, net_id), *port, *req, *ip;
	json_t *addr = json_object_get(doc, "floating_ip_address");
	json_t *sub = json_object_get(doc, "subnet_id");
	uint32_t a;
	int r;

	if (!net)
		return -ENOENT;
	if (!doc_bool(net, "router:external")) {
		json_decref(net);
		return api_bad_request(&ctx->err,
				       "Bad floatingip request: Network %s is not a valid external "
				       "network.",
				       net_id);
	}
	json_decref(net);
	if (addr && ip4_parse(json_string_value(addr), &a) < 0)
		return api_bad_request(&ctx->err,
				       "Invalid input for floating_ip_address. Reason: "
				       "'%s' is not a valid IP address.",
				       json_string_value(addr));
	req = NULL;
	if (addr || (sub && !json_is_null(sub))) {
		req = json_object();
		if (addr)
			json_object_set(req, "ip_address", addr);
		if (sub && !json_is_null(sub))
			json_object_set(req, "subnet_id", sub);
	}
	port = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[]}", "network_id", net_id,
			 "device_owner", OWNER_FIP, "device_id", doc_str(doc, "id"), "project_id",
			 "", "tenant_id", "", "port_security_enabled", 0, "security_groups");
	if (req)
		json_object_set_new(port, "fixed_ips", json_pack("[o]", req));
	r = port_create_internal(ctx, port);
	if (r < 0) {
		if (streq(ctx->err.type, "IpAddressGenerationFailure")) {
			api_error_done(&ctx->err);
			r = api_fail(&ctx->err, 400, "ExternalIpAddressExhausted",
				     "Unable to find any IP address on external network %s.",
				     net_id);
		}
		json_decref(port);
		return r;
	}
	r = keep_ipv4_only(ctx, port);
	if (r < 0) {
		json_decref(port);
		return r;
	}
	ip = json_array_get(json_object_get(port, "fixed_ips"), 0);
	if (!ip) {
		json_decref(port);
		return api_fail(&ctx->err, 400, "ExternalIpAddressExhausted",
				"Unable to find any IP address on external network %s: it has no "
				"floating IP pool.",
				net_id);
	}
	json_object_set(doc, "floating_ip_address", json_object_get(ip, "ip_address"));
	json_object_set(doc, "subnet_id", json_object_get(ip, "subnet_id"));
	json_decref(port);
	json_t *want = json_incref(json_object_get(doc, "port_id"));
	json_t *want_ip = json_incref(json_object_get(doc, "fixed_ip_address"));

	disassociate(doc);
	r = 0;
	if (json_is_string(want))
		r = associate(ctx, doc, json_string_value(want), want_ip);
	else if (json_is_string(want_ip))
		r = api_bad_request(&ctx->err, "fixed_ip_address requires port_id.");
	json_decref(want);
	json_decref(want_ip);
	return r;
}

static int floatingip_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	json_t *port_id = json_object_get(changes, "port_id");
	json_t *fixed = json_object_get(changes, "fixed_ip_address");

	/* An empty update disassociates, as it always did in Neutron. */
	if (json_object_size(changes) == 0) {
		disassociate(doc);
		return 0;
	}
	if (!json_object_get(changes, "port_id")) {
		if (fixed)
			return api_bad_request(&ctx->err, "fixed_ip_address requires port_id.");
		json_object_set(doc, "port_id", json_object_get(old, "port_id"));
		json_object_set(doc, "fixed_ip_address", json_object_get(old, "fixed_ip_address"));
		return 0;
	}
	disassociate(doc);
	if (json_is_null(port_id))
		return 0;
	return associate(ctx, doc, json_string_value(port_id), fixed);
}

static int floatingip_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *port = fip_port(ctx, doc_str(doc, "id"));
	int r = 0;

	if (port)
		r = port_destroy(ctx, port);
	json_decref(port);
	return r;
}

int floatingips_network_deleted(struct api_ctx *ctx, const char *network_id)
{
	json_t *all = store_list(ctx->store, "floatingip"), *f;
	size_t i;
	int r = 0;

	json_array_foreach(all, i, f) {
		if (!streq(doc_str(f, "floating_network_id"), network_id))
			continue;
		if (json_is_string(json_object_get(f, "port_id"))) {
			r = api_conflict(&ctx->err, "NetworkInUse",
					 "Unable to complete operation on network %s. Floating IP "
					 "%s is associated with a port.",
					 network_id, doc_str(f, "id"));
			break;
		}
		r = floatingip_remove(ctx, f);
		if (r >= 0 && store_delete(ctx->store, "floatingip", doc_str(f, "id")) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store delete failed");
		if (r < 0)
			break;
	}
	json_decref(all);
	return r;
}

int floatingip_port_deleted(struct api_ctx *ctx, const char *port_id)
{
	json_t *all = store_list(ctx->store, "floatingip"), *f;
	size_t i;
	int r = 0;

	json_array_foreach(all, i, f) {
		if (!streq(doc_str(f, "port_id"), port_id))
			continue;
		disassociate(f);
		r = resource_save(ctx, &floatingip_def, f);
		if (r < 0)
			break;
	}
	json_decref(all);
	return r;
}

const struct resource_def floatingip_def = {
	.type = "floatingip",
	.collection = "floatingips",
	.title = "Floating IP",
	.not_found = "FloatingIPNotFound",
	.has_no_name = true,
	.quota = "floatingip",
	.attrs = floatingip_attrs,
	.create = floatingip_create,
	.update = floatingip_update,
	.remove = floatingip_remove,
};

/* Floating IP pools: the subnets a floating IP can come from. The CIDR as
 * `cidr` (Neutron's name) and as `subnet_ip_cidr` (the name Lepton gave it
 * first; its CLI reads it). */
static const struct attr_def pool_attrs[] = {
	{"subnet_id", AK_UUID, 0, NULL, 0},  {"subnet_name", AK_STRING, 0, NULL, 0},
	{"cidr", AK_STRING, 0, NULL, 0},     {"subnet_ip_cidr", AK_STRING, 0, NULL, 0},
	{"network_id", AK_UUID, 0, NULL, 0}, {NULL, 0, 0, NULL, 0},
};

static json_t *pools_load(struct api_ctx *ctx)
{
	json_t *subnets = store_list(ctx->store, "subnet"), *out = json_array(), *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		json_t *net = store_get(ctx->store, "network", doc_str(s, "network_id"));
		json_t *types = json_object_get(s, "service_types"), *t;
		bool ok = json_array_size(types) == 0;
		size_t j;

		json_array_foreach(types, j, t)
			ok = ok || streq(json_string_value(t), OWNER_FIP);
		/* Floating IPs are IPv4. */
		if (json_integer_value(json_object_get(s, "ip_version")) == 6)
			ok = false;
		if (net && doc_bool(net, "router:external") && ok)
			json_array_append_new(
				out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "subnet_id",
					       doc_str(s, "id"), "subnet_name", doc_str(s, "name"),
					       "cidr", doc_str(s, "cidr"), "subnet_ip_cidr",
					       doc_str(s, "cidr"), "network_id", doc_str(net, "id"),
					       "project_id", doc_str(net, "project_id"),
					       "tenant_id", doc_str(net, "project_id")));
		json_decref(net);
	}
	json_decref(subnets);
	return out;
}

static bool pool_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx, (void) doc;
	return true;
}

const struct resource_def floatingip_pool_def = {
	.type = "floatingip_pool",
	.collection = "floatingip_pools",
	.title = "Floating IP pool",
	.not_found = "FloatingIPPoolNotFound",
	.attrs = pool_attrs,
	.visible = pool_visible,
	.load_all = pools_load,
};
