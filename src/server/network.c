/* Networks: segmentation (VXLAN VNIs from the configured range; flat and VLAN
 * provider networks on physical networks), MTU, visibility of shared and
 * external networks, and the cascade on delete. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/xalloc.h"
#include "server/resources.h"

#define VXLAN_OVERHEAD 50

static const struct attr_def network_attrs[] = {
	{"admin_state_up", AK_BOOL, AF_RW, "true", 0},
	{"status", AK_STRING, 0, "\"ACTIVE\"", 0},
	{"shared", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{"router:external", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{"mtu", AK_INT, AF_RW, NULL, 0}, /* net-mtu-writable: 68 up to the maximum */
	{"subnets", AK_LIST, 0, "[]", 0},
	{"port_security_enabled", AK_BOOL, AF_RW, "true", 0},
	{"provider:network_type", AK_STRING, AF_POST | AF_ADMIN_SET | AF_ADMIN_VIEW, NULL, 32},
	{"provider:physical_network", AK_STRING,
	 AF_POST | AF_ADMIN_SET | AF_ADMIN_VIEW | AF_NULLABLE, NULL, 64},
	{"provider:segmentation_id", AK_INT, AF_POST | AF_ADMIN_SET | AF_ADMIN_VIEW | AF_NULLABLE,
	 NULL, 0},
	{"availability_zone_hints", AK_LIST, 0, "[]", 0},
	{"availability_zones", AK_LIST, 0, "[]", 0},
	{"ipv4_address_scope", AK_STRING, AF_NULLABLE, "null", 0},
	{"ipv6_address_scope", AK_STRING, AF_NULLABLE, "null", 0},
	{"is_default", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	/* Lepton: DHCP answered on each VM's node (distributed) or by network
	 * nodes (centralized, classic Neutron, for comparison). */
	{"lepton:dhcp", AK_STRING, AF_RW | AF_ADMIN_SET, "\"distributed\"", 16},
	{"dns_domain", AK_STRING, AF_RW, "\"\"", 255}, /* dns-integration */
	{NULL, 0, 0, NULL, 0},
};

bool network_is_shared_or_external(json_t *net)
{
	return doc_bool(net, "shared") || doc_bool(net, "router:external");
}

static bool network_visible(struct api_ctx *ctx, json_t *doc)
{
	return rbac_network_allows(ctx, doc, false) || rbac_network_allows(ctx, doc, true);
}

/* Every network gets its primary segment from its provider attributes
 * (tenant networks: VXLAN with a VNI from the configured range). */
static int check_dhcp_mode(struct api_ctx *ctx, json_t *doc)
{
	const char *m = doc_str(doc, "lepton:dhcp");

	if (!streq(m, "distributed") && !streq(m, "centralized"))
		return api_bad_request(&ctx->err,
				       "Invalid input for lepton:dhcp. Reason: '%s' is "
				       "not in [distributed, centralized].",
				       m);
	return 0;
}

/* An MTU from IPv4's minimum (RFC 791) up to what the segment carries;
 * IPv6 subnets need 1280 (RFC 8200 section 5). */
static int check_mtu(struct api_ctx *ctx, json_t *doc, int max)
{
	json_int_t mtu = json_integer_value(json_object_get(doc, "mtu"));
	json_t *subnets, *s;
	size_t i;
	bool v6 = false;

	if (mtu < 68 || mtu > max)
		return api_bad_request(&ctx->err,
				       "Invalid input for mtu. Reason: %lld is not in [68, %d], "
				       "the maximum the network's segment carries.",
				       (long long) mtu, max);
	if (mtu >= 1280)
		return 0;
	subnets = store_list_shared(ctx->store, "subnet");
	json_array_foreach(subnets, i, s)
		v6 = v6 || (streq(doc_str(s, "network_id"), doc_str(doc, "id")) &&
			    json_integer_value(json_object_get(s, "ip_version")) == 6);
	json_decref(subnets);
	if (v6)
		return api_conflict(&ctx->err, "NetworkMTUSubnetConflict",
				    "MTU of %s is not compatible with subnet: IPv6 needs at "
				    "least 1280.",
				    doc_str(doc, "id"));
	return 0;
}

static int network_create(struct api_ctx *ctx, json_t *doc)
{
	json_t *jtype = json_object_get(doc, "provider:network_type");
	json_t *jphys = json_object_get(doc, "provider:physical_network");
	json_t *jseg = json_object_get(doc, "provider:segmentation_id");
	json_t *seg;
	const char *type;
	int r = check_dhcp_mode(ctx, doc);

	if (r >= 0)
		r = dns_check(ctx, doc, "dns_domain");
	if (r < 0)
		return r;
	seg = json_object();

	json_object_set_new(seg, "network_id", json_string(doc_str(doc, "id")));
	json_object_set_new(seg, "network_type", jtype ? json_incref(jtype) : json_string("vxlan"));
	json_object_set(seg, "physical_network", jphys ? jphys : json_null());
	json_object_set(seg, "segmentation_id", jseg ? jseg : json_null());
	json_object_set_new(seg, "project_id", json_string(""));
	json_object_set_new(seg, "tenant_id", json_string(""));
	r = resource_prepare(ctx, &segment_def, seg);
	if (r >= 0)
		r = segment_allocate(ctx, seg, doc_str(doc, "project_id"));
	if (r >= 0)
		r = resource_store_new(ctx, &segment_def, seg);
	if (r >= 0) {
		type = doc_str(seg, "network_type");
		json_object_set_new(doc, "provider:network_type", json_string(type));
		json_object_set(doc, "provider:physical_network",
				json_object_get(seg, "physical_network"));
		json_object_set(doc, "provider:segmentation_id",
				json_object_get(seg, "segmentation_id"));
		int max = (int) ctx->cfg->global_mtu - (streq(type, "vxlan") ? VXLAN_OVERHEAD : 0);

		if (!json_object_get(doc, "mtu"))
			json_object_set_new(doc, "mtu", json_integer(max));
		r = check_mtu(ctx, doc, max);
	}
	json_decref(seg);
	/* shared and router:external are wildcard RBAC policies. */
	if (r >= 0 && doc_bool(doc, "shared"))
		r = rbac_network_wildcard(ctx, doc, false, true);
	if (r >= 0 && doc_bool(doc, "router:external"))
		r = rbac_network_wildcard(ctx, doc, true, true);
	return r;
}

static int network_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	const char *id = doc_str(doc, "id"), *owner = doc_str(doc, "project_id");
	json_t *ports, *p;
	size_t i;
	int r = 0;

	r = check_dhcp_mode(ctx, doc);
	if (r >= 0)
		r = dns_check(ctx, doc, "dns_domain");
	if (r >= 0 && json_object_get(changes, "mtu"))
		r = check_mtu(ctx, doc,
			      (int) ctx->cfg->global_mtu -
				      (streq(doc_str(doc, "provider:network_type"), "vxlan")
					       ? VXLAN_OVERHEAD
					       : 0));
	if (r >= 0 && doc_bool(old, "router:external") != doc_bool(doc, "router:external"))
		r = rbac_network_wildcard(ctx, doc, true, doc_bool(doc, "router:external"));
	if (r >= 0 && doc_bool(old, "shared") != doc_bool(doc, "shared"))
		r = rbac_network_wildcard(ctx, doc, false, doc_bool(doc, "shared"));
	if (r < 0)
		return r;
	/* A shared network stays shared while other projects use it. */
	if (!doc_bool(old, "shared") || doc_bool(doc, "shared"))
		return 0;
	ports = ports_on_network(ctx, id);
	json_array_foreach(ports, i, p) {
		const char *proj = doc_str(p, "project_id");

		if (*proj && !streq(proj, owner)) {
			r = api_conflict(&ctx->err, "InvalidSharedSetting",
					 "Unable to reconfigure sharing settings for network %s. "
					 "Multiple tenants are using it.",
					 id);
			break;
		}
	}
	json_decref(ports);
	return r;
}

static int network_remove(struct api_ctx *ctx, json_t *doc)
{
	const char *id = doc_str(doc, "id");
	json_t *ports, *p, *subnets;
	size_t i;
	int r = floatingips_network_deleted(ctx, id);

	if (r >= 0)
		r = rbac_object_deleted(ctx, id);
	if (r < 0)
		return r;
	ports = ports_on_network(ctx, id);

	json_array_foreach(ports, i, p) {
		if (!port_is_network_owned(p)) {
			json_decref(ports);
			return api_conflict(&ctx->err, "NetworkInUse",
					    "Unable to complete operation on network %s. There are "
					    "one or more ports still in use on the network.",
					    id);
		}
	}
	json_array_foreach(ports, i, p) {
		r = port_destroy(ctx, p);
		if (r < 0)
			break;
	}
	json_decref(ports);
	if (r < 0)
		return r;
	subnets = store_list(ctx->store, "subnet");
	json_array_foreach(subnets, i, p) {
		char ipkind[64];

		if (!streq(doc_str(p, "network_id"), id))
			continue;
		snprintf(ipkind, sizeof(ipkind), "ip:%s", doc_str(p, "id"));
		if (store_alloc_release_kind(ctx->store, ipkind) < 0 ||
		    store_delete(ctx->store, "subnet", doc_str(p, "id")) < 0) {
			r = api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
			break;
		}
	}
	json_decref(subnets);
	if (r < 0)
		return r;
	json_t *segs = segments_of_network(ctx, id), *seg;

	json_array_foreach(segs, i, seg) {
		r = segment_release(ctx, seg);
		if (r >= 0 && store_delete(ctx->store, "segment", doc_str(seg, "id")) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
		if (r < 0)
			break;
	}
	json_decref(segs);
	if (r < 0)
		return r;
	return 0;
}

int network_link_subnet(struct api_ctx *ctx, const char *network_id, const char *subnet_id,
			bool add)
{
	json_t *net = store_get(ctx->store, "network", network_id), *list, *e, *out;
	size_t i;
	int r;

	if (!net)
		return 0;
	list = json_object_get(net, "subnets");
	out = json_array();
	json_array_foreach(list, i, e) {
		if (!streq(json_string_value(e), subnet_id))
			json_array_append(out, e);
	}
	if (add)
		json_array_append_new(out, json_string(subnet_id));
	json_object_set_new(net, "subnets", out);
	r = resource_save(ctx, &network_def, net);
	json_decref(net);
	return r;
}

const struct resource_def network_def = {
	.type = "network",
	.collection = "networks",
	.title = "Network",
	.not_found = "NetworkNotFound",
	.quota = "network",
	.attrs = network_attrs,
	.create = network_create,
	.update = network_update,
	.remove = network_remove,
	.visible = network_visible,
};
