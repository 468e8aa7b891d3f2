/* BGP announcements: the node's tables of /32 and /128 routes that BIRD
 * exports. */
#include "agent/announce.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "base/xalloc.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

size_t announce_want(const struct d_routers *rs, uint32_t **ret)
{
	size_t n = 0, k = 0, cap = 0;
	uint32_t *v;

	for (size_t i = 0; rs && i < rs->n; i++)
		cap += rs->r[i].n_addrs;
	v = xcalloc(cap + 1, sizeof(*v));
	for (size_t i = 0; rs && i < rs->n; i++)
		for (size_t j = 0; rs->r[i].bgp && j < rs->r[i].n_addrs; j++) {
			const struct r_addr *a = &rs->r[i].addrs[j];

			if (a->announce && a->prefixlen == 32 && a->ip)
				v[n++] = a->ip;
		}
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	*ret = v;
	return k;
}

static int cmp_ip6(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct announce_ip6));
}

size_t announce_want6(const struct d_routers *rs, struct announce_ip6 **ret)
{
	size_t n = 0, k = 0, cap = 0;
	struct announce_ip6 *v;

	for (size_t i = 0; rs && i < rs->n; i++)
		cap += rs->r[i].n_neighs;
	v = xcalloc(cap + 1, sizeof(*v));
	for (size_t i = 0; rs && i < rs->n; i++)
		for (size_t j = 0; rs->r[i].bgp && j < rs->r[i].n_neighs; j++) {
			const struct r_neigh *ne = &rs->r[i].neighs[j];

			if (ne->v6 && ne->proxy)
				memcpy(v[n++].a, ne->ip6, 16);
		}
	qsort(v, n, sizeof(*v), cmp_ip6);
	for (size_t i = 0; i < n; i++)
		if (!k || cmp_ip6(&v[k - 1], &v[i]))
			v[k++] = v[i];
	*ret = v;
	return k;
}

/* One diff for both families: want holds n_want sorted keys of `size`
 * bytes; key(h) is a route's key if it is a host route of the family
 * (without gateway), else NULL. Fills add (keys) and del (routes). */
static void diff(const void *want, size_t n_want, size_t size,
		 int (*cmp)(const void *, const void *), const struct rtnl_route *have,
		 size_t n_have, int oif, const void *(*key)(const struct rtnl_route *h),
		 void **ret_add, size_t *n_add, struct rtnl_route **ret_del, size_t *n_del)
{
	bool *found = xcalloc(n_want + 1, sizeof(*found));
	char *add = xcalloc(n_want + 1, size);
	struct rtnl_route *del = xcalloc(n_have + 1, sizeof(*del));

	*n_add = *n_del = 0;
	for (size_t i = 0; i < n_have; i++) {
		const struct rtnl_route *h = &have[i];
		const void *k = key(h);
		const char *w = k ? bsearch(k, want, n_want, size, cmp) : NULL;
		size_t at = w ? (size_t) (w - (const char *) want) / size : 0;
		bool right = w && !found[at] && h->oif == oif;

		if (right)
			found[at] = true;
		else
			del[(*n_del)++] = *h;
	}
	for (size_t i = 0; i < n_want; i++)
		if (!found[i])
			memcpy(add + size * (*n_add)++, (const char *) want + size * i, size);
	free(found);
	*ret_add = add;
	*ret_del = del;
}

static const void *key4(const struct rtnl_route *h)
{
	return h->prefixlen == 32 && !h->gateway ? &h->dst : NULL;
}

static const void *key6(const struct rtnl_route *h)
{
	static const uint8_t zero[16];

	return h->prefixlen == 128 && !memcmp(h->gw6, zero, 16) ? h->dst6 : NULL;
}

void announce_diff(const uint32_t *want, size_t n_want, const struct rtnl_route *have,
		   size_t n_have, int oif, struct announce_diff *out)
{
	void *add;

	*out = (struct announce_diff){0};
	diff(want, n_want, sizeof(*want), cmp_u32, have, n_have, oif, key4, &add, &out->n_add,
	     &out->del, &out->n_del);
	out->add = add;
}

void announce_diff_done(struct announce_diff *d)
{
	free(d->add);
	free(d->del);
	*d = (struct announce_diff){0};
}

void announce_diff6(const struct announce_ip6 *want, size_t n_want, const struct rtnl_route *have,
		    size_t n_have, int oif, struct announce_diff6 *out)
{
	void *add;

	*out = (struct announce_diff6){0};
	diff(want, n_want, sizeof(*want), cmp_ip6, have, n_have, oif, key6, &add, &out->n_add,
	     &out->del, &out->n_del);
	out->add = add;
}

void announce_diff6_done(struct announce_diff6 *d)
{
	free(d->add);
	free(d->del);
	*d = (struct announce_diff6){0};
}

/* Kernel side. */

struct dump {
	uint32_t table;
	bool v6;
	struct rtnl_route *routes;
	size_t n, cap;
	bool has_rule;
	uint32_t prio;
};

static int on_route(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct rtnl_route rt;
	int r = d->v6 ? rtnl_parse_route6(nlh, &rt) : rtnl_parse_route(nlh, &rt);

	if (r < 0 || rt.table != d->table || rt.protocol != RTNL_PROTO)
		return 0;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->routes = xrealloc(d->routes, d->cap * sizeof(*d->routes));
	}
	d->routes[d->n++] = rt;
	return 0;
}

static int on_rule(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct rtnl_rule ru;

	if (rtnl_parse_rule(nlh, &ru) == 0 && ru.v6 == d->v6 && ru.priority == d->prio &&
	    ru.table == d->table && ru.src_len == 0)
		d->has_rule = true;
	return 0;
}

static void keep_first(int *first, int r)
{
	if (r < 0 && *first >= 0)
		*first = r;
}

/* Our routes in the table and whether our rule is there, of one family. */
static int dump(struct rtnl *nl, const struct announce_cfg *cfg, bool v6, struct dump *d)
{
	char buf[RTNL_BUF_SIZE];
	uint8_t family = v6 ? AF_INET6 : AF_INET;
	int r;

	*d = (struct dump){.table = cfg->table, .prio = cfg->rule_prio, .v6 = v6};
	r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETROUTE, family), on_route, d);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETRULE, family), on_rule, d);
	if (r < 0) {
		free(d->routes);
		d->routes = NULL;
	}
	return r;
}

/* Withdrawals first: an address that left must not stay announced while
 * others are added. Returns the changes made; *first keeps the first
 * failure. */
static int del_routes(struct rtnl *nl, const struct announce_cfg *cfg, bool v6,
		      const struct rtnl_route *del, size_t n, int *first)
{
	char buf[RTNL_BUF_SIZE];
	int r, changes = 0;

	for (size_t i = 0; i < n; i++) {
		struct rtnl_route rt = del[i];

		rt.table = cfg->table;
		r = rtnl_request(nl, v6 ? rtnl_route6(buf, false, rt.table, rt.dst6, rt.prefixlen,
						      rt.gw6, rt.oif, false)
					: rtnl_route(buf, false, &rt));
		if (r == -ESRCH || r == -ENOENT)
			r = 0;
		keep_first(first, r);
		changes += r >= 0;
	}
	return changes;
}

static int add_rule(struct rtnl *nl, const struct announce_cfg *cfg, bool v6, int *first)
{
	char buf[RTNL_BUF_SIZE];
	struct rtnl_rule ru = {.priority = cfg->rule_prio,
			       .table = cfg->table,
			       .suppress_prefixlen = -1,
			       .v6 = v6};
	int r = rtnl_request(nl, rtnl_rule(buf, true, &ru));

	if (r == -EEXIST)
		r = 0;
	keep_first(first, r);
	return r >= 0;
}

static int sync4(struct rtnl *nl, const struct announce_cfg *cfg, const struct d_routers *rs,
		 int oif, int *first)
{
	char buf[RTNL_BUF_SIZE];
	struct announce_diff diff;
	struct dump d;
	uint32_t *want = NULL;
	size_t n_want;
	int r, changes;

	r = dump(nl, cfg, false, &d);
	if (r < 0)
		return r;
	n_want = announce_want(rs, &want);
	announce_diff(want, n_want, d.routes, d.n, oif, &diff);
	changes = del_routes(nl, cfg, false, diff.del, diff.n_del, first);
	for (size_t i = 0; i < diff.n_add; i++) {
		struct rtnl_route rt = {
			.table = cfg->table, .dst = diff.add[i], .prefixlen = 32, .oif = oif};

		r = rtnl_request(nl, rtnl_route(buf, true, &rt));
		keep_first(first, r);
		changes += r >= 0;
	}
	if (!d.has_rule)
		changes += add_rule(nl, cfg, false, first);
	announce_diff_done(&diff);
	free(want);
	free(d.routes);
	return changes;
}

static int sync6(struct rtnl *nl, const struct announce_cfg *cfg, const struct d_routers *rs,
		 int oif, int *first)
{
	static const uint8_t zero[16];
	char buf[RTNL_BUF_SIZE];
	struct announce_diff6 diff;
	struct announce_ip6 *want = NULL;
	struct dump d;
	size_t n_want;
	int r, changes;

	r = dump(nl, cfg, true, &d);
	if (r < 0)
		return r;
	n_want = announce_want6(rs, &want);
	announce_diff6(want, n_want, d.routes, d.n, oif, &diff);
	changes = del_routes(nl, cfg, true, diff.del, diff.n_del, first);
	for (size_t i = 0; i < diff.n_add; i++) {
		r = rtnl_request(nl, rtnl_route6(buf, true, cfg->table, diff.add[i].a, 128, zero,
						 oif, false));
		keep_first(first, r);
		changes += r >= 0;
	}
	if (!d.has_rule)
		changes += add_rule(nl, cfg, true, first);
	announce_diff6_done(&diff);
	free(want);
	free(d.routes);
	return changes;
}

int announce_sync(struct rtnl *nl, const struct announce_cfg *cfg, const struct d_routers *rs)
{
	static const uint8_t zero[16];
	int oif, r, first = 0, changes = 0;

	if (!cfg->table)
		return 0;
	oif = (int) if_nametoindex(cfg->dev);
	if (oif <= 0)
		return -ENODEV;
	r = sync4(nl, cfg, rs, oif, &first);
	keep_first(&first, r);
	changes += r > 0 ? r : 0;
	if (memcmp(cfg->nexthop6, zero, 16)) {
		r = sync6(nl, cfg, rs, oif, &first);
		keep_first(&first, r);
		changes += r > 0 ? r : 0;
	}
	return first < 0 ? first : changes;
}
