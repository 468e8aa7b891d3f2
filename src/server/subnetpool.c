/* Subnet pools (Neutron's subnet_allocation): IPv4 prefixes a project's
 * subnets are carved from, by CIDR or by prefix length, with bounds on the
 * prefix length, an optional per-project quota of addresses, and pools an
 * admin shares with every project. Prefixes may grow (add or widen), never
 * shrink; a pool with subnets cannot be deleted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/ip4.h"
#include "base/xalloc.h"
#include "server/resources.h"

#define MAX_PREFIXES 64

static const struct attr_def subnetpool_attrs[] = {
	{"prefixes", AK_LIST, AF_RW | AF_REQUIRED, NULL, 0},
	{"min_prefixlen", AK_ANY, AF_RW, NULL, 0},
	{"max_prefixlen", AK_ANY, AF_RW, NULL, 0},
	{"default_prefixlen", AK_ANY, AF_RW, NULL, 0},
	{"default_quota", AK_ANY, AF_RW | AF_NULLABLE, "null", 0},
	{"shared", AK_BOOL, AF_POST, "false", 0},
	{"is_default", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{"address_scope_id", AK_UUID, AF_RW | AF_NULLABLE, "null", 0},
	{"ip_version", AK_INT, 0, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

/* An integer given as a number or a string of digits (Neutron converts
 * both); -1 if absent or null, -2 if not an integer 0..32. */
static int prefixlen_of(json_t *v)
{
	long long n;
	char *end;

	if (!v || json_is_null(v))
		return -1;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v) && *json_string_value(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (*end)
			return -2;
	} else {
		return -2;
	}
	return n >= 0 && n <= 32 ? (int) n : -2;
}

/* Parses and canonicalises a prefixes list into cidrs (at most
 * MAX_PREFIXES); the count, or a negative errno with ctx->err set. */
static int parse_prefixes(struct api_ctx *ctx, json_t *list, struct ip4_cidr *cidrs)
{
	json_t *e;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > MAX_PREFIXES)
		return api_bad_request(&ctx->err,
				       "Invalid input for prefixes. Reason: a list of "
				       "1 to %d CIDRs is required.",
				       MAX_PREFIXES);
	json_array_foreach(list, i, e) {
		const char *s = json_string_value(e);

		if (!s || ip4_cidr_parse(s, false, &cidrs[i]) < 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for prefixes. Reason: '%s' is not a "
					       "valid IPv4 CIDR.",
					       s ? s : "value");
		cidrs[i].addr = ip4_cidr_network(&cidrs[i]);
	}
	return (int) json_array_size(list);
}

/* The prefixes as canonical strings, wider ones swallowing those inside them. */
static json_t *prefixes_json(const struct ip4_cidr *cidrs, int n)
{
	json_t *out = json_array();

	for (int i = 0; i < n; i++) {
		bool inside = false;
		char buf[IP4_CIDR_STRLEN];

		for (int j = 0; j < n && !inside; j++)
			inside = j != i && ip4_cidr_overlaps(&cidrs[i], &cidrs[j]) &&
				 (cidrs[j].len < cidrs[i].len ||
				  (cidrs[j].len == cidrs[i].len && j < i));
		if (inside)
			continue;
		ip4_cidr_format(&cidrs[i], buf);
		json_array_append_new(out, json_string(buf));
	}
	return out;
}

/* Checks prefixes and the three prefix lengths of a pool document and
 * stores them normalised. */
static int check_pool(struct api_ctx *ctx, json_t *doc)
{
	struct ip4_cidr cidrs[MAX_PREFIXES];
	int n = parse_prefixes(ctx, json_object_get(doc, "prefixes"), cidrs);
	int minl = prefixlen_of(json_object_get(doc, "min_prefixlen"));
	int maxl = prefixlen_of(json_object_get(doc, "max_prefixlen"));
	int defl = prefixlen_of(json_object_get(doc, "default_prefixlen"));
	json_t *quota = json_object_get(doc, "default_quota");

	if (n < 0)
		return n;
	if (minl == -2 || maxl == -2 || defl == -2)
		return api_bad_request(&ctx->err, "Invalid input for a prefix length: it must be "
						  "an integer from 0 to 32.");
	if (minl < 0)
		minl = 8;
	if (maxl < 0)
		maxl = 32;
	if (defl < 0)
		defl = minl;
	if (minl > maxl || defl < minl || defl > maxl)
		return api_fail(&ctx->err, 400, "IllegalSubnetPoolPrefixBounds",
				"Illegal prefix bounds: min_prefixlen=%d, default_prefixlen=%d, "
				"max_prefixlen=%d.",
				minl, defl, maxl);
	for (int i = 0; i < n; i++)
		if (cidrs[i].len > maxl)
			return api_fail(&ctx->err, 400, "IllegalSubnetPoolPrefixBounds",
					"Illegal prefix bounds: prefix %u.%u.%u.%u/%u is longer "
					"than max_prefixlen %d.",
					cidrs[i].addr >> 24, (cidrs[i].addr >> 16) & 255,
					(cidrs[i].addr >> 8) & 255, cidrs[i].addr & 255,
					cidrs[i].len, maxl);
	if (!json_is_null(quota) && (!json_is_integer(quota) || json_integer_value(quota) < 0))
		return api_bad_request(&ctx->err,
				       "Invalid input for default_quota. Reason: it must "
				       "be a non-negative integer.");
	json_object_set_new(doc, "prefixes", prefixes_json(cidrs, n));
	/* Neutron answers the prefix lengths as strings. */
	json_object_set_new(doc, "min_prefixlen", json_sprintf("%d", minl));
	json_object_set_new(doc, "max_prefixlen", json_sprintf("%d", maxl));
	json_object_set_new(doc, "default_prefixlen", json_sprintf("%d", defl));
	json_object_set_new(doc, "ip_version", json_integer(4));
	return 0;
}

static int check_address_scope(struct api_ctx *ctx, json_t *doc)
{
	json_t *scope = json_object_get(doc, "address_scope_id");

	if (scope && !json_is_null(scope))
		return api_fail(&ctx->err, 404, "AddressScopeNotFound",
				"Address scope %s could not be found.", json_string_value(scope));
	return 0;
}

static int pool_create(struct api_ctx *ctx, json_t *doc)
{
	int r;

	if (doc_bool(doc, "shared") && !ctx->is_admin)
		return api_forbidden(&ctx->err, "(rule:create_subnetpool and "
						"rule:create_subnetpool:shared) is disallowed by "
						"policy");
	r = check_address_scope(ctx, doc);
	return r < 0 ? r : check_pool(ctx, doc);
}

/* Subnets allocated from the pool (new reference). */
static json_t *subnets_of_pool(struct api_ctx *ctx, const char *pool_id)
{
	json_t *all = store_list(ctx->store, "subnet"), *out = json_array(), *s;
	size_t i;

	json_array_foreach(all, i, s) {
		if (streq(doc_str(s, "subnetpool_id"), pool_id))
			json_array_append(out, s);
	}
	json_decref(all);
	return out;
}

static int pool_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	struct ip4_cidr was[MAX_PREFIXES], now[MAX_PREFIXES];
	int nw, nn, r;

	r = check_address_scope(ctx, changes);
	if (r >= 0)
		r = check_pool(ctx, doc);
	if (r < 0)
		return r;
	/* Prefixes grow only: every old prefix stays covered. */
	nw = parse_prefixes(ctx, json_object_get(old, "prefixes"), was);
	nn = parse_prefixes(ctx, json_object_get(doc, "prefixes"), now);
	if (nw < 0 || nn < 0)
		return nw < 0 ? nw : nn;
	for (int i = 0; i < nw; i++) {
		bool covered = false;

		for (int j = 0; j < nn && !covered; j++)
			covered =
				now[j].len <= was[i].len && ip4_cidr_contains(&now[j], was[i].addr);
		if (!covered)
			return api_bad_request(
				&ctx->err, "Illegal update to prefixes: the prefixes of a subnet "
					   "pool may be added to or widened, not removed or "
					   "narrowed.");
	}
	return 0;
}

static int pool_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *subnets = subnets_of_pool(ctx, doc_str(doc, "id"));
	size_t n = json_array_size(subnets);

	json_decref(subnets);
	if (n)
		return api_conflict(&ctx->err, "SubnetPoolInUse",
				    "Subnet pool %s cannot be deleted: subnets are allocated from "
				    "it.",
				    doc_str(doc, "id"));
	return 0;
}

static bool pool_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx;
	return doc_bool(doc, "shared");
}

/* Whether c overlaps a subnet already carved from the pool; *ret_end (may
 * be NULL) gets the last address of the one it overlaps. */
static bool pool_overlaps(json_t *subnets, const struct ip4_cidr *c, uint32_t *ret_end)
{
	json_t *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		struct ip4_cidr other;

		if (ip4_cidr_parse(doc_str(s, "cidr"), false, &other) == 0 &&
		    ip4_cidr_overlaps(c, &other)) {
			if (ret_end)
				*ret_end = ip4_cidr_broadcast(&other);
			return true;
		}
	}
	return false;
}

/* Addresses the project holds in the pool's subnets. */
static uint64_t project_usage(json_t *subnets, const char *project_id)
{
	uint64_t used = 0;
	json_t *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		struct ip4_cidr c;

		if (streq(doc_str(s, "project_id"), project_id) &&
		    ip4_cidr_parse(doc_str(s, "cidr"), false, &c) == 0)
			used += 1ull << (32 - c.len);
	}
	return used;
}

/* The first free block of length len inside the pool's prefixes: each
 * taken block is jumped over, so the cost follows the subnets, not the
 * pool's size. */
static bool first_free(const struct ip4_cidr *prefixes, int n, json_t *subnets, int len,
		       struct ip4_cidr *ret)
{
	for (int i = 0; i < n; i++) {
		uint64_t step = 1ull << (32 - len);
		uint64_t end = (uint64_t) ip4_cidr_broadcast(&prefixes[i]);
		uint64_t a = prefixes[i].addr;

		if (prefixes[i].len > len)
			continue;
		while (a + step - 1 <= end) {
			struct ip4_cidr c = {(uint32_t) a, (uint8_t) len};
			uint32_t taken_end;

			if (!pool_overlaps(subnets, &c, &taken_end)) {
				*ret = c;
				return true;
			}
			/* The next aligned block after the taken one. */
			a = (((uint64_t) taken_end + 1) + step - 1) / step * step;
			if (a <= c.addr)
				a = (uint64_t) c.addr + step;
		}
	}
	return false;
}

int subnetpool_allocate(struct api_ctx *ctx, json_t *subnet)
{
	const char *pool_id = doc_str(subnet, "subnetpool_id");
	json_t *pool = resource_get_visible(ctx, &subnetpool_def, pool_id), *subnets = NULL;
	json_t *given = json_object_get(subnet, "cidr");
	struct ip4_cidr prefixes[MAX_PREFIXES], c;
	char buf[IP4_CIDR_STRLEN];
	int n, len, r = 0;
	bool inside = false;

	if (!pool)
		return -ENOENT;
	n = parse_prefixes(ctx, json_object_get(pool, "prefixes"), prefixes);
	if (n < 0) {
		r = n;
		goto out;
	}
	subnets = subnets_of_pool(ctx, pool_id);
	if (given) {
		if (ip4_cidr_parse(json_string_value(given), false, &c) < 0) {
			r = api_bad_request(&ctx->err,
					    "Invalid input for cidr. Reason: '%s' is not "
					    "a valid IPv4 CIDR.",
					    json_string_value(given));
			goto out;
		}
		c.addr = ip4_cidr_network(&c);
		len = c.len;
	} else {
		len = prefixlen_of(json_object_get(subnet, "prefixlen"));
		if (len == -2) {
			r = api_bad_request(&ctx->err, "Invalid input for prefixlen. Reason: it "
						       "must be an integer from 0 to 32.");
			goto out;
		}
		if (len < 0)
			len = prefixlen_of(json_object_get(pool, "default_prefixlen"));
	}
	if (len < prefixlen_of(json_object_get(pool, "min_prefixlen")) ||
	    len > prefixlen_of(json_object_get(pool, "max_prefixlen"))) {
		r = api_fail(&ctx->err, 400, "IllegalSubnetPoolPrefixLength",
			     "Illegal prefix length /%d: subnet pool %s allows /%d to /%d.", len,
			     pool_id, prefixlen_of(json_object_get(pool, "min_prefixlen")),
			     prefixlen_of(json_object_get(pool, "max_prefixlen")));
		goto out;
	}
	if (given) {
		for (int i = 0; i < n && !inside; i++)
			inside =
				prefixes[i].len <= c.len && ip4_cidr_contains(&prefixes[i], c.addr);
		if (!inside || pool_overlaps(subnets, &c, NULL)) {
			r = api_fail(&ctx->err, 400, "SubnetAllocationError",
				     "Failed to allocate subnet: %s is %s.",
				     json_string_value(given),
				     inside ? "already allocated from the pool"
					    : "outside the subnet pool's prefixes");
			goto out;
		}
	} else if (!first_free(prefixes, n, subnets, len, &c)) {
		r = api_fail(&ctx->err, 409, "SubnetAllocationError",
			     "Failed to allocate subnet: no free /%d left in subnet pool %s.", len,
			     pool_id);
		goto out;
	}
	if (json_is_integer(json_object_get(pool, "default_quota")) &&
	    project_usage(subnets, doc_str(subnet, "project_id")) + (1ull << (32 - len)) >
		    (uint64_t) json_integer_value(json_object_get(pool, "default_quota"))) {
		r = api_conflict(&ctx->err, "SubnetPoolQuotaExceeded",
				 "Per-tenant subnet pool prefix quota exceeded.");
		goto out;
	}
	ip4_cidr_format(&c, buf);
	json_object_set_new(subnet, "cidr", json_string(buf));
out:
	json_object_del(subnet, "prefixlen");
	json_decref(subnets);
	json_decref(pool);
	return r;
}

/* PUT /subnetpools/{id}/add_prefixes and remove_prefixes ({"prefixes":
 * [...]}): answers the pool's prefixes. A prefix goes only when no subnet
 * of the pool lies in it; only whole prefixes (or those inside the given
 * ones) are removed. */
static int pool_action(struct api_ctx *ctx, json_t *doc, const char *action, json_t *body,
		       json_t **ret_body)
{
	struct ip4_cidr have[MAX_PREFIXES], given[MAX_PREFIXES], keep[2 * MAX_PREFIXES];
	bool add = streq(action, "add_prefixes");
	json_t *subnets;
	int nh, ng, nk = 0, r = 0;

	if (!add && !streq(action, "remove_prefixes"))
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	if (!json_is_object(body) || json_object_size(body) != 1)
		return api_bad_request(&ctx->err, "A body {\"prefixes\": [...]} is required.");
	ng = parse_prefixes(ctx, json_object_get(body, "prefixes"), given);
	nh = ng < 0 ? ng : parse_prefixes(ctx, json_object_get(doc, "prefixes"), have);
	if (ng < 0 || nh < 0)
		return ng < 0 ? ng : nh;
	subnets = add ? NULL : subnets_of_pool(ctx, doc_str(doc, "id"));
	for (int i = 0; i < nh; i++) {
		bool gone = false;

		for (int j = 0; j < ng && !add && !gone; j++)
			gone = given[j].len <= have[i].len &&
			       ip4_cidr_contains(&given[j], have[i].addr);
		if (gone && pool_overlaps(subnets, &have[i], NULL)) {
			r = api_conflict(&ctx->err, "IllegalSubnetPoolUpdate",
					 "Illegal update to subnet pool prefixes: a subnet of the "
					 "pool lies in a prefix being removed.");
			break;
		}
		if (!gone)
			keep[nk++] = have[i];
	}
	json_decref(subnets);
	if (r < 0)
		return r;
	for (int j = 0; j < ng && add; j++)
		keep[nk++] = given[j];
	if (nk == 0)
		return api_bad_request(&ctx->err, "A subnet pool keeps at least one prefix.");
	if (nk > MAX_PREFIXES)
		return api_bad_request(&ctx->err, "A subnet pool has at most %d prefixes.",
				       MAX_PREFIXES);
	json_object_set_new(doc, "prefixes", prefixes_json(keep, nk));
	r = resource_save(ctx, &subnetpool_def, doc);
	if (r >= 0)
		*ret_body = json_pack("{s:O}", "prefixes", json_object_get(doc, "prefixes"));
	return r;
}

const struct resource_def subnetpool_def = {
	.type = "subnetpool",
	.collection = "subnetpools",
	.title = "Subnet pool",
	.not_found = "SubnetPoolNotFound",
	.attrs = subnetpool_attrs,
	.create = pool_create,
	.update = pool_update,
	.remove = pool_remove,
	.visible = pool_visible,
	.action = pool_action,
};
