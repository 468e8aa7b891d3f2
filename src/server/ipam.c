/* IPAM: subnet address plans and allocation, for IPv4 and IPv6. */
#include "server/ipam.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/xalloc.h"

int ipam_parse_cidr(const char *s, struct ipnet *ret, struct api_error *err)
{
	struct ipnet c;
	char canon[IPNET_STRLEN];

	if (!s || ipnet_parse(s, false, &c) < 0)
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: '%s' is not a valid "
				       "IP subnet.",
				       s ? s : "");
	if (!ipnet_is_canonical(&c)) {
		ipnet_format(&c, canon);
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: '%s' isn't a "
				       "recommended CIDR, '%s' should be used instead.",
				       s, canon);
	}
	if (c.addr.version == 4 && (c.len == 0 || c.len > 30))
		return api_bad_request(err,
				       "Invalid input for cidr. Reason: prefix length of "
				       "'%s' must be between 1 and 30.",
				       s);
	if (c.addr.version == 6 && (c.len == 0 || c.addr.v == 0))
		return api_invalid_input(err, "Invalid input for operation: IPv6 subnet '::' "
					      "is not supported.");
	*ret = c;
	return 0;
}

/* The usable addresses of a subnet: IPv4 without the network and broadcast
 * addresses, IPv6 without the subnet-router anycast address. */
static ipaddr_int first_host(const struct ipnet *c)
{
	return ipnet_first(c) + (c->len < ipaddr_bits(c->addr.version) ? 1 : 0);
}

static ipaddr_int last_host(const struct ipnet *c)
{
	return ipnet_last(c) - (c->addr.version == 4 ? 1 : 0);
}

static void format_addr(const struct ipam_plan *plan, ipaddr_int v, char buf[IPADDR_STRLEN])
{
	struct ipaddr a = {v, plan->cidr.addr.version};

	ipaddr_format(&a, buf);
}

int ipam_parse_gateway(struct ipam_plan *plan, json_t *gw, struct api_error *err)
{
	struct ipaddr a;

	if (!gw) {
		plan->has_gateway = true;
		plan->gateway = first_host(&plan->cidr);
		return 0;
	}
	if (json_is_null(gw)) {
		plan->has_gateway = false;
		return 0;
	}
	if (!json_is_string(gw) || ipaddr_parse(json_string_value(gw), &a) < 0)
		return api_bad_request(err,
				       "Invalid input for gateway_ip. Reason: '%s' is not a "
				       "valid IP address.",
				       json_is_string(gw) ? json_string_value(gw) : "value");
	if (a.version != plan->cidr.addr.version)
		return api_invalid_input(err,
					 "Invalid input for operation: gateway_ip '%s' does not "
					 "match the ip_version '%u'.",
					 json_string_value(gw), plan->cidr.addr.version);
	if (!ipnet_contains(&plan->cidr, &a) ||
	    (a.version == 4 && (a.v == ipnet_first(&plan->cidr) || a.v == ipnet_last(&plan->cidr))))
		return api_invalid_input(err,
					 "Invalid input for operation: Gateway is not valid "
					 "on subnet: %s is outside the subnet or is its "
					 "network or broadcast address.",
					 json_string_value(gw));
	plan->has_gateway = true;
	plan->gateway = a.v;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct ipam_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int ipam_parse_pools(struct ipam_plan *plan, json_t *pools, struct api_error *err)
{
	ipaddr_int first = first_host(&plan->cidr), last = last_host(&plan->cidr);
	json_t *p;
	size_t i;

	plan->npools = 0;
	if (!pools || json_is_null(pools)) {
		/* Every host but the gateway: up to two ranges. */
		if (plan->has_gateway && plan->gateway >= first && plan->gateway <= last) {
			if (plan->gateway > first)
				plan->pools[plan->npools++] =
					(struct ipam_range){first, plan->gateway - 1};
			if (plan->gateway < last)
				plan->pools[plan->npools++] =
					(struct ipam_range){plan->gateway + 1, last};
		} else {
			plan->pools[plan->npools++] = (struct ipam_range){first, last};
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
		struct ipaddr a, b;

		if (!json_is_object(p) || json_object_size(p) != 2 || !s || !e ||
		    ipaddr_parse(s, &a) < 0 || ipaddr_parse(e, &b) < 0)
			return api_bad_request(err, "Invalid input for allocation_pools. Reason: "
						    "each pool is {\"start\": IP, \"end\": IP}.");
		if (a.version != plan->cidr.addr.version || b.version != a.version)
			return api_fail(err, 400, "InvalidAllocationPool",
					"The allocation pool %s-%s is not valid: not of the "
					"subnet's IP version.",
					s, e);
		if (a.v > b.v)
			return api_fail(err, 400, "InvalidAllocationPool",
					"The allocation pool %s-%s is not valid.", s, e);
		if (a.v < first || b.v > last)
			return api_fail(err, 400, "OutOfBoundsAllocationPool",
					"The allocation pool %s-%s spans beyond the subnet cidr.",
					s, e);
		plan->pools[plan->npools++] = (struct ipam_range){a.v, b.v};
	}
	qsort(plan->pools, plan->npools, sizeof(plan->pools[0]), cmp_range);
	for (i = 1; i < plan->npools; i++) {
		if (plan->pools[i].start <= plan->pools[i - 1].end) {
			char a[IPADDR_STRLEN], b[IPADDR_STRLEN];

			format_addr(plan, plan->pools[i].start, a);
			format_addr(plan, plan->pools[i].end, b);
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
				char g[IPADDR_STRLEN];

				format_addr(plan, plan->gateway, g);
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
		char s[IPADDR_STRLEN], e[IPADDR_STRLEN];

		format_addr(plan, plan->pools[i].start, s);
		format_addr(plan, plan->pools[i].end, e);
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

	if (ipnet_parse(json_string_value(json_object_get(subnet, "cidr")), false, &plan.cidr) < 0)
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

/* The allocation value of an address (see ipam_kind). */
static int64_t alloc_val(ipaddr_int v)
{
	return (int64_t) (uint64_t) v;
}

static ipaddr_int first_block_end(const struct ipnet *c)
{
	if (c->addr.version == 4 || c->len >= 64)
		return ipnet_last(c);
	return ipnet_first(c) | UINT64_MAX;
}

bool ipam_addr_allocatable(const struct ipam_plan *plan, const struct ipaddr *a, bool for_router)
{
	const struct ipnet *c = &plan->cidr;

	if (!ipnet_contains(c, a))
		return false;
	if (a->version == 4)
		return c->len > 30 || (a->v != ipnet_first(c) && a->v != ipnet_last(c));
	return a->v <= first_block_end(c) && (for_router || a->v != ipnet_first(c));
}

/* The int64 ranges of the allocation values of [start, end] (IPv6: within
 * one /64): the unsigned low halves split where the sign flips. */
static size_t value_ranges(uint8_t version, ipaddr_int start, ipaddr_int end, int64_t min[2],
			   int64_t max[2])
{
	uint64_t s = (uint64_t) start, e = (uint64_t) end;

	if (version == 4 || e <= INT64_MAX || s > INT64_MAX) {
		min[0] = alloc_val(start);
		max[0] = alloc_val(end);
		return 1;
	}
	min[0] = (int64_t) s;
	max[0] = INT64_MAX;
	min[1] = INT64_MIN;
	max[1] = (int64_t) e;
	return 2;
}

int ipam_allocate_any(struct api_ctx *ctx, json_t *subnet, const char *port_id, struct ipaddr *ret)
{
	struct ipam_plan plan;
	char kind[64];
	int64_t v, min[2], max[2];
	int r;

	r = ipam_plan_from_subnet(subnet, &plan);
	if (r < 0)
		return r;
	ipam_kind(json_string_value(json_object_get(subnet, "id")), kind);
	for (size_t i = 0; i < plan.npools; i++) {
		ipaddr_int end = plan.pools[i].end, limit = first_block_end(&plan.cidr);
		size_t n;

		if (plan.pools[i].start > limit)
			continue;
		n = value_ranges(plan.cidr.addr.version, plan.pools[i].start,
				 end < limit ? end : limit, min, max);
		for (size_t k = 0; k < n; k++) {
			r = store_alloc_first_free(ctx->store, kind, min[k], max[k], &v);
			if (r == -ENOSPC)
				continue;
			if (r < 0)
				return r;
			r = store_alloc_take(ctx->store, kind, v, port_id);
			if (r < 0)
				return r;
			ret->version = plan.cidr.addr.version;
			ret->v = plan.cidr.addr.version == 4
					 ? (ipaddr_int) (uint32_t) v
					 : (ipnet_first(&plan.cidr) & ~(ipaddr_int) UINT64_MAX) |
						   (uint64_t) v;
			return 0;
		}
	}
	return -ENOSPC;
}

int ipam_allocate(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip,
		  const char *port_id)
{
	char kind[64];

	ipam_kind(subnet_id, kind);
	return store_alloc_take(ctx->store, kind, alloc_val(ip->v), port_id);
}

int ipam_release(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip)
{
	char kind[64];

	ipam_kind(subnet_id, kind);
	return store_alloc_release(ctx->store, kind, alloc_val(ip->v));
}

char *ipam_owner(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip)
{
	char kind[64];

	ipam_kind(subnet_id, kind);
	return store_alloc_owner(ctx->store, kind, alloc_val(ip->v));
}

int64_t ipam_free_count(struct api_ctx *ctx, json_t *subnet)
{
	struct ipam_plan plan;
	char kind[64];
	int64_t free_count = 0;

	if (ipam_plan_from_subnet(subnet, &plan) < 0)
		return 0;
	ipam_kind(doc_str(subnet, "id"), kind);
	for (size_t i = 0; i < plan.npools; i++) {
		ipaddr_int end = plan.pools[i].end, limit = first_block_end(&plan.cidr);
		int64_t min[2], max[2];
		size_t n;

		if (plan.pools[i].start > limit)
			continue;
		if (end > limit)
			end = limit;
		n = value_ranges(plan.cidr.addr.version, plan.pools[i].start, end, min, max);
		for (size_t k = 0; k < n; k++) {
			uint64_t size = (uint64_t) max[k] - (uint64_t) min[k] + 1;
			int64_t part = size > INT64_MAX || size == 0 ? INT64_MAX : (int64_t) size;

			part -= store_alloc_count(ctx->store, kind, min[k], max[k]);
			free_count = free_count > INT64_MAX - part ? INT64_MAX : free_count + part;
		}
	}
	return free_count;
}

struct ipaddr ipam_eui64(const struct ipnet *prefix, const uint8_t mac[6])
{
	uint64_t iid = (uint64_t) (mac[0] ^ 0x02) << 56 | (uint64_t) mac[1] << 48 |
		       (uint64_t) mac[2] << 40 | (uint64_t) 0xfffe << 24 | (uint64_t) mac[3] << 16 |
		       (uint64_t) mac[4] << 8 | mac[5];

	return (struct ipaddr){(ipnet_first(prefix) & ~(ipaddr_int) UINT64_MAX) | iid, 6};
}
