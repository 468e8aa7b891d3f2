/* IPAM: subnet address plans and allocation. */
#include "server/ipam.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/xalloc.h"

int ipam_parse_cidr(const char *s, struct ip4_cidr *ret, struct api_error *err)
{
	struct ip4_cidr c;
	char canon[IP4_CIDR_STRLEN];

	if (!s || ip4_cidr_parse(s, false, &c) < 0)
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: '%s' is not a valid "
				       "IP subnet.",
				       s ? s : "");
	if (!ip4_cidr_is_canonical(&c)) {
		struct ip4_cidr n = {ip4_cidr_network(&c), c.len};

		ip4_cidr_format(&n, canon);
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: '%s' isn't a "
				       "recommended CIDR, '%s' should be used instead.",
				       s, canon);
	}
	if (c.len == 0 || c.len > 30)
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: prefix length of "
				       "'%s' must be between 1 and 30.",
				       s);
	*ret = c;
	return 0;
}

int ipam_parse_gateway(struct ipam_plan *plan, json_t *gw, struct api_error *err)
{
	uint32_t a;

	if (!gw) {
		plan->has_gateway = true;
		plan->gateway = ip4_cidr_first_host(&plan->cidr);
		return 0;
	}
	if (json_is_null(gw)) {
		plan->has_gateway = false;
		return 0;
	}
	if (!json_is_string(gw) || ip4_parse(json_string_value(gw), &a) < 0)
		return api_bad_request(err,
				       "Invalid input for gateway_ip. Reason: '%s' is not a "
				       "valid IP address.",
				       json_is_string(gw) ? json_string_value(gw) : "value");
	if (!ip4_cidr_contains(&plan->cidr, a) || ip4_cidr_is_reserved(&plan->cidr, a))
		return api_invalid_input(err,
					 "Invalid input for operation: Gateway is not valid "
					 "on subnet: %s is outside the subnet or is its "
					 "network or broadcast address.",
					 json_string_value(gw));
	plan->has_gateway = true;
	plan->gateway = a;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct ip4_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int ipam_parse_pools(struct ipam_plan *plan, json_t *pools, struct api_error *err)
{
	uint32_t first = ip4_cidr_first_host(&plan->cidr), last = ip4_cidr_last_host(&plan->cidr);
	json_t *p;
	size_t i;

	plan->npools = 0;
	if (!pools || json_is_null(pools)) {
		/* Every host but the gateway: up to two ranges. */
		if (plan->has_gateway && plan->gateway >= first && plan->gateway <= last) {
			if (plan->gateway > first)
				plan->pools[plan->npools++] =
					(struct ip4_range){first, plan->gateway - 1};
			if (plan->gateway < last)
				plan->pools[plan->npools++] =
					(struct ip4_range){plan->gateway + 1, last};
		} else {
			plan->pools[plan->npools++] = (struct ip4_range){first, last};
		}
		return 0;
	}
	if (!json_is_array(pools))
		return api_bad_request(err, "Invalid input for allocation_pools. Reason: not a "
					    "list.");
	if (json_array_size(pools) > IPAM_MAX_POOLS)
		return api_bad_request(err,
				       "Invalid input for allocation_pools. Reason: more than "
				       "%d pools.",
				       IPAM_MAX_POOLS);
	json_array_foreach(pools, i, p) {
		const char *s = json_string_value(json_object_get(p, "start"));
		const char *e = json_string_value(json_object_get(p, "end"));
		struct ip4_range r;

		if (!json_is_object(p) || json_object_size(p) != 2 || !s || !e ||
		    ip4_parse(s, &r.start) < 0 || ip4_parse(e, &r.end) < 0)
			return api_bad_request(err, "Invalid input for allocation_pools. Reason: "
						    "each pool is {\"start\": IP, \"end\": IP}.");
		if (r.start > r.end)
			return api_fail(err, 400, "InvalidAllocationPool",
					"The allocation pool %s-%s is not valid.", s, e);
		if (r.start < first || r.end > last)
			return api_fail(err, 400, "OutOfBoundsAllocationPool",
					"The allocation pool %s-%s spans beyond the subnet cidr.",
					s, e);
		plan->pools[plan->npools++] = r;
	}
	qsort(plan->pools, plan->npools, sizeof(plan->pools[0]), cmp_range);
	for (i = 1; i < plan->npools; i++) {
		if (plan->pools[i].start <= plan->pools[i - 1].end) {
			char a[IP4_STRLEN], b[IP4_STRLEN];

			ip4_format(plan->pools[i].start, a);
			ip4_format(plan->pools[i].end, b);
			return api_fail(err, 409, "OverlappingAllocationPools",
					"Found overlapping allocation pools: %s-%s overlaps with "
					"another pool.",
					a, b);
		}
	}
	if (plan->has_gateway) {
		for (i = 0; i < plan->npools; i++) {
			if (plan->gateway >= plan->pools[i].start &&
			    plan->gateway <= plan->pools[i].end) {
				char g[IP4_STRLEN];

				ip4_format(plan->gateway, g);
				return api_fail(err, 409, "GatewayConflictWithAllocationPools",
						"Gateway ip %s conflicts with allocation pool.", g);
			}
		}
	}
	return 0;
}

json_t *ipam_pools_json(const struct ipam_plan *plan)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < plan->npools; i++) {
		char s[IP4_STRLEN], e[IP4_STRLEN];

		ip4_format(plan->pools[i].start, s);
		ip4_format(plan->pools[i].end, e);
		json_array_append_new(arr, json_pack("{s:s, s:s}", "start", s, "end", e));
	}
	return arr;
}

int ipam_plan_from_subnet(json_t *subnet, struct ipam_plan *ret)
{
	struct api_error err = {0};
	struct ipam_plan plan = {0};
	json_t *gw = json_object_get(subnet, "gateway_ip");
	int r;

	if (ip4_cidr_parse(json_string_value(json_object_get(subnet, "cidr")), false, &plan.cidr) <
	    0)
		return -EINVAL;
	r = ipam_parse_gateway(&plan, gw ? gw : json_null(), &err);
	if (r >= 0)
		r = ipam_parse_pools(&plan, json_object_get(subnet, "allocation_pools"), &err);
	api_error_done(&err);
	if (r < 0)
		return r;
	*ret = plan;
	return 0;
}

void ipam_kind(const char *subnet_id, char buf[static 64])
{
	snprintf(buf, 64, "ip:%s", subnet_id);
}

int ipam_allocate_any(struct api_ctx *ctx, json_t *subnet, const char *port_id, uint32_t *ret)
{
	struct ipam_plan plan;
	char kind[64];
	int64_t v;
	int r;

	r = ipam_plan_from_subnet(subnet, &plan);
	if (r < 0)
		return r;
	ipam_kind(json_string_value(json_object_get(subnet, "id")), kind);
	for (size_t i = 0; i < plan.npools; i++) {
		r = store_alloc_first_free(ctx->store, kind, plan.pools[i].start, plan.pools[i].end,
					   &v);
		if (r == -ENOSPC)
			continue;
		if (r < 0)
			return r;
		r = store_alloc_take(ctx->store, kind, v, port_id);
		if (r < 0)
			return r;
		*ret = (uint32_t) v;
		return 0;
	}
	return -ENOSPC;
}

int ipam_allocate(struct api_ctx *ctx, const char *subnet_id, uint32_t ip, const char *port_id)
{
	char kind[64];

	ipam_kind(subnet_id, kind);
	return store_alloc_take(ctx->store, kind, ip, port_id);
}

int ipam_release(struct api_ctx *ctx, const char *subnet_id, uint32_t ip)
{
	char kind[64];

	ipam_kind(subnet_id, kind);
	return store_alloc_release(ctx->store, kind, ip);
}
