/* Subnet pools (Neutron's subnet_allocation): IPv4 or IPv6 prefixes a project's
 * subnets are carved from, by CIDR or by prefix length, with bounds on the
 * prefix length, an optional per-project quota of addresses, and pools an
 * admin shares with every project. Prefixes may grow (add or widen), never
 * shrink; a pool with subnets cannot be deleted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/ipaddr.h"
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
 * both); -1 if absent or null, -2 if not an integer 0..128. */
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
	return n >= 0 && n <= 128 ? (int) n : -2;
}

/* Parses and canonicalises a prefixes list into cidrs (at most
 * MAX_PREFIXES, all of one IP version); the count, or a negative errno with
 * ctx->err set. */
static int parse_prefixes(struct api_ctx *ctx, json_t *list, struct ipnet *cidrs)
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

		if (!s || ipnet_parse(s, false, &cidrs[i]) < 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for prefixes. Reason: '%s' is not a "
					       "valid CIDR.",
					       s ? s : "value");
		cidrs[i].addr.v = ipnet_first(&cidrs[i]);
		if (cidrs[i].addr.version != cidrs[0].addr.version)
			return api_bad_request(&ctx->err,
					       "Illegal subnetpool prefixes: Cannot mix "
					       "IPv4 and IPv6 prefixes in a subnet pool.");
	}
	return (int) json_array_size(list);
}

/* The prefixes as canonical strings, wider ones swallowing those inside them. */
static json_t *prefixes_json(const struct ipnet *cidrs, int n)
{
	json_t *out = json_array();

	for (int i = 0; i < n; i++) {
		bool inside = false;
		char buf[IPNET_STRLEN];

		for (int j = 0; j < n && !inside; j++)
			inside = j != i && ipnet_overlaps(&cidrs[i], &cidrs[j]) &&
				 (cidrs[j].len < cidrs[i].len ||
				  (cidrs[j].len == cidrs[i].len && j < i));
		if (inside)
			continue;
		ipnet_format(&cidrs[i], buf);
		json_array_append_new(out, json_string(buf));
	}
	return out;
}

/* Checks prefixes and the three prefix lengths of a pool document and
 * stores them normalised. */
static int check_pool(struct api_ctx *ctx, json_t *doc)
{
	struct ipnet cidrs[MAX_PREFIXES];
	int n = parse_prefixes(ctx, json_object_get(doc, "prefixes"), cidrs);
	int bits, version;
	int minl = prefixlen_of(json_object_get(doc, "min_prefixlen"));
	int maxl = prefixlen_of(json_object_get(doc, "max_prefixlen"));
	int defl = prefixlen_of(json_object_get(doc, "default_prefixlen"));
	json_t *quota = json_object_get(doc, "default_quota");

	if (n < 0)
		return n;
	version = cidrs[0].addr.version;
	bits = (int) ipaddr_bits(cidrs[0].addr.version);
	if (minl == -2 || maxl == -2 || defl == -2 || minl > bits || maxl > bits || defl > bits)
		return api_bad_request(&ctx->err,
				       "Invalid input for a prefix length: it must be an integer "
				       "from 0 to %d.",
				       bits);
	/* Neutron's defaults: /8 for IPv4, /64 for IPv6. */
	if (minl < 0)
		minl = version == 6 ? 64 : 8;
	if (maxl < 0)
		maxl = bits;
	if (defl < 0)
		defl = minl;
	if (minl > maxl || defl < minl || defl > maxl)
		return api_fail(&ctx->err, 400, "IllegalSubnetPoolPrefixBounds",
				"Illegal prefix bounds: min_prefixlen=%d, default_prefixlen=%d, "
				"max_prefixlen=%d.",
				minl, defl, maxl);
	for (int i = 0; i < n; i++) {
		char buf[IPNET_STRLEN];

		ipnet_format(&cidrs[i], buf);
		if (cidrs[i].len > maxl)
			return api_fail(&ctx->err, 400, "IllegalSubnetPoolPrefixBounds",
					"Illegal prefix bounds: prefix %s is longer than "
					"max_prefixlen %d.",
					buf, maxl);
	}
	if (!json_is_null(quota) && (!json_is_integer(quota) || json_integer_value(quota) < 0))
		return api_bad_request(&ctx->err,
				       "Invalid input for default_quota. Reason: it must "
				       "be a non-negative integer.");
	json_object_set_new(doc, "prefixes", prefixes_json(cidrs, n));
	/* Neutron answers the prefix lengths as strings. */
	json_object_set_new(doc, "min_prefixlen", json_sprintf("%d", minl));
	json_object_set_new(doc, "max_prefixlen", json_sprintf("%d", maxl));
	json_object_set_new(doc, "default_prefixlen", json_sprintf("%d", defl));
	json_object_set_new(doc, "ip_version", json_integer(version));
	return 0;
}

/* The default pool of an IP version other than skip_id (new reference). */
static json_t *default_pool(struct api_ctx *ctx, json_int_t version, const char *skip_id)
{
	json_t *all = store_list_shared(ctx->store, "subnetpool"), *p, *found = NULL;
	size_t i;

	json_array_foreach(all, i, p) {
		if (!found && doc_bool(p, "is_default") &&
		    !streq(doc_str(p, "id"), skip_id ?: "") &&
		    json_integer_value(json_object_get(p, "ip_version")) == version)
			found = json_deep_copy(p);
	}
	json_decref(all);
	return found;
}

/* default-subnetpools: one default pool per IP version. */
static int check_default(struct api_ctx *ctx, json_t *doc)
{
	json_t *other;

	if (!doc_bool(doc, "is_default"))
		return 0;
	other = default_pool(ctx, json_integer_value(json_object_get(doc, "ip_version")),
			     doc_str(doc, "id"));
	json_decref(other);
	if (other)
		return api_bad_request(&ctx->err, "Invalid input for operation: A default "
						  "subnetpool for this IP family has already been "
						  "set. Only one default may exist per IP family.");
	return 0;
}

static int pool_create(struct api_ctx *ctx, json_t *doc)
{
	int r;

	if (doc_bool(doc, "shared") && !ctx->is_admin)
		return api_forbidden(&ctx->err, "(rule:create_subnetpool and "
						"rule:create_subnetpool:shared) is disallowed by "
						"policy");
	r = check_pool(ctx, doc);
	if (r >= 0)
		r = check_default(ctx, doc);
	return r < 0 ? r : address_scope_check_pool(ctx, doc, false);
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
	struct ipnet was[MAX_PREFIXES], now[MAX_PREFIXES];
	int nw, nn, r;

	r = check_pool(ctx, doc);
	if (r >= 0)
		r = check_default(ctx, doc);
	if (r >= 0 &&
	    (json_object_get(changes, "address_scope_id") || json_object_get(changes, "prefixes")))
		r = address_scope_check_pool(ctx, doc,
					     !json_equal(json_object_get(old, "prefixes"),
							 json_object_get(doc, "prefixes")));
	if (r < 0)
		return r;
	/* Prefixes grow only: every old prefix stays covered. */
	nw = parse_prefixes(ctx, json_object_get(old, "prefixes"), was);
	nn = parse_prefixes(ctx, json_object_get(doc, "prefixes"), now);
	if (nw < 0 || nn < 0)
		return nw < 0 ? nw : nn;
	if (nw && nn && was[0].addr.version != now[0].addr.version)
		return api_bad_request(&ctx->err, "Illegal update to prefixes: the IP version of "
						  "a subnet pool cannot change.");
	for (int i = 0; i < nw; i++) {
		bool covered = false;

		for (int j = 0; j < nn && !covered; j++)
			covered = ipnet_covers(&now[j], &was[i]);
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
	return rbac_object_deleted(ctx, doc_str(doc, "id"));
}

static bool pool_visible(struct api_ctx *ctx, json_t *doc)
{
	return doc_bool(doc, "shared") || rbac_shares(ctx, doc);
}

/* Whether c overlaps a subnet already carved from the pool; *ret_end (may
 * be NULL) gets the last address of the one it overlaps. */
static bool pool_overlaps(json_t *subnets, const struct ipnet *c, ipaddr_int *ret_end)
{
	json_t *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		struct ipnet other;

		if (ipnet_parse(doc_str(s, "cidr"), false, &other) == 0 &&
		    ipnet_overlaps(c, &other)) {
			if (ret_end)
				*ret_end = ipnet_last(&other);
			return true;
		}
	}
	return false;
}

/* The quota units of a prefix: addresses for IPv4, /64s for IPv6 (as
 * Neutron counts them). */
static uint64_t quota_units(uint8_t version, int len)
{
	int unit = version == 6 ? 64 : 32;

	return len >= unit ? 1 : len <= unit - 63 ? UINT64_MAX / 2 : 1ull << (unit - len);
}

/* Quota units the project holds in the pool's subnets. */
static uint64_t project_usage(json_t *subnets, const char *project_id)
{
	uint64_t used = 0;
	json_t *s;
	size_t i;

	json_array_foreach(subnets, i, s) {
		struct ipnet c;

		if (streq(doc_str(s, "project_id"), project_id) &&
		    ipnet_parse(doc_str(s, "cidr"), false, &c) == 0)
			used += quota_units(c.addr.version, c.len);
	}
	return used;
}

/* The first free block of length len inside the pool's prefixes: each
 * taken block is jumped over, so the cost follows the subnets, not the
 * pool's size. */
static bool first_free(const struct ipnet *prefixes, int n, json_t *subnets, int len,
		       struct ipnet *ret)
{
	for (int i = 0; i < n; i++) {
		uint8_t version = prefixes[i].addr.version;
		ipaddr_int step = (ipaddr_int) 1 << (ipaddr_bits(version) - (unsigned) len);
		ipaddr_int end = ipnet_last(&prefixes[i]), a = prefixes[i].addr.v;

		if (prefixes[i].len > len || len == 0)
			continue;
		while (a <= end && end - a >= step - 1) {
			struct ipnet c = {{a, version}, (uint8_t) len};
			ipaddr_int taken_end;

			if (!pool_overlaps(subnets, &c, &taken_end)) {
				*ret = c;
				return true;
			}
			/* The next aligned block after the taken one. */
			if (taken_end >= end)
				break;
			a = (taken_end + 1 + step - 1) / step * step;
			if (a <= c.addr.v)
				a = c.addr.v + step;
		}
	}
	return false;
}

int subnetpool_use_default(struct api_ctx *ctx, json_t *subnet)
{
	json_t *use = json_object_get(subnet, "use_default_subnetpool"), *pool;
	json_int_t version = json_integer_value(json_object_get(subnet, "ip_version"));
	int r = 0;

	if (!json_is_true(use)) {
		json_object_del(subnet, "use_default_subnetpool");
		return 0;
	}
	if (!json_is_null(json_object_get(subnet, "subnetpool_id")))
		return api_bad_request(&ctx->err, "subnetpool_id and use_default_subnetpool cannot "
						  "both be specified.");
	pool = default_pool(ctx, version, NULL);
	if (pool)
		json_object_set(subnet, "subnetpool_id", json_object_get(pool, "id"));
	else
		r = api_bad_request(&ctx->err, "No default subnetpool found for IPv%lld.",
				    (long long) version);
	json_decref(pool);
	json_object_del(subnet, "use_default_subnetpool");
	return r;
}

int subnetpool_allocate(struct api_ctx *ctx, json_t *subnet)
{
	const char *pool_id = doc_str(subnet, "subnetpool_id");
	json_t *pool = resource_get_visible(ctx, &subnetpool_def, pool_id), *subnets = NULL;
	json_t *given = json_object_get(subnet, "cidr");
	struct ipnet prefixes[MAX_PREFIXES], c;
	char buf[IPNET_STRLEN];
	json_int_t version = json_integer_value(json_object_get(subnet, "ip_version"));
	int n, len, r = 0;
	bool inside = false;

	if (!pool)
		return -ENOENT;
	n = parse_prefixes(ctx, json_object_get(pool, "prefixes"), prefixes);
	if (n < 0) {
		r = n;
		goto out;
	}
	if (version != prefixes[0].addr.version) {
		r = api_bad_request(&ctx->err,
				    "Cannot allocate IPv%lld subnet from IPv%u subnet pool.",
				    (long long) version, prefixes[0].addr.version);
		goto out;
	}
	subnets = subnets_of_pool(ctx, pool_id);
	if (given) {
		if (ipnet_parse(json_string_value(given), false, &c) < 0 ||
		    c.addr.version != version) {
			r = api_bad_request(&ctx->err,
					    "Invalid input for cidr. Reason: '%s' is not "
					    "a valid IPv%lld CIDR.",
					    json_string_value(given), (long long) version);
			goto out;
		}
		c.addr.v = ipnet_first(&c);
		len = c.len;
	} else {
		len = prefixlen_of(json_object_get(subnet, "prefixlen"));
		if (len == -2 || len > (int) ipaddr_bits(prefixes[0].addr.version)) {
			r = api_bad_request(&ctx->err,
					    "Invalid input for prefixlen. Reason: it must be an "
					    "integer from 0 to %u.",
					    ipaddr_bits(prefixes[0].addr.version));
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
			inside = ipnet_covers(&prefixes[i], &c);
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
	    project_usage(subnets, doc_str(subnet, "project_id")) +
			    quota_units(c.addr.version, len) >
		    (uint64_t) json_integer_value(json_object_get(pool, "default_quota"))) {
		r = api_conflict(&ctx->err, "SubnetPoolQuotaExceeded",
				 "Per-tenant subnet pool prefix quota exceeded.");
		goto out;
	}
	ipnet_format(&c, buf);
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
	struct ipnet have[MAX_PREFIXES], given[MAX_PREFIXES], keep[2 * MAX_PREFIXES];
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
	if (given[0].addr.version != have[0].addr.version)
		return api_bad_request(&ctx->err, "Illegal subnetpool prefixes: Cannot mix IPv4 "
						  "and IPv6 prefixes in a subnet pool.");
	subnets = add ? NULL : subnets_of_pool(ctx, doc_str(doc, "id"));
	for (int i = 0; i < nh; i++) {
		bool gone = false;

		for (int j = 0; j < ng && !add && !gone; j++)
			gone = ipnet_covers(&given[j], &have[i]);
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
