/* BGP announcements: the node's table of /32 routes that BIRD exports. */
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

void announce_diff(const uint32_t *want, size_t n_want, const struct rtnl_route *have,
		   size_t n_have, int oif, struct announce_diff *out)
{
	bool *found = xcalloc(n_want + 1, sizeof(*found));

	*out = (struct announce_diff){.add = xcalloc(n_want + 1, sizeof(*out->add)),
				      .del = xcalloc(n_have + 1, sizeof(*out->del))};
	for (size_t i = 0; i < n_have; i++) {
		const struct rtnl_route *h = &have[i];
		uint32_t *w = h->prefixlen == 32
				      ? bsearch(&h->dst, want, n_want, sizeof(*want), cmp_u32)
				      : NULL;
		bool right = w && !found[w - want] && h->oif == oif && !h->gateway;

		if (right)
			found[w - want] = true;
		else
			out->del[out->n_del++] = *h;
	}
	for (size_t i = 0; i < n_want; i++)
		if (!found[i])
			out->add[out->n_add++] = want[i];
	free(found);
}

void announce_diff_done(struct announce_diff *d)
{
	free(d->add);
	free(d->del);
	*d = (struct announce_diff){0};
}

/* Kernel side. */

struct dump {
	uint32_t table;
	struct rtnl_route *routes;
	size_t n, cap;
	bool has_rule;
	uint32_t prio;
};

static int on_route(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct rtnl_route rt;

	if (rtnl_parse_route(nlh, &rt) < 0 || rt.table != d->table || rt.protocol != RTNL_PROTO)
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

	if (rtnl_parse_rule(nlh, &ru) == 0 && ru.priority == d->prio && ru.table == d->table &&
	    ru.src_len == 0)
		d->has_rule = true;
	return 0;
}

static void keep_first(int *first, int r)
{
	if (r < 0 && *first >= 0)
		*first = r;
}

int announce_sync(struct rtnl *nl, const struct announce_cfg *cfg, const struct d_routers *rs)
{
	char buf[RTNL_BUF_SIZE];
	struct dump d = {.table = cfg->table, .prio = cfg->rule_prio};
	struct announce_diff diff;
	uint32_t *want = NULL;
	size_t n_want;
	int oif, r, first = 0, changes = 0;

	if (!cfg->table)
		return 0;
	oif = (int) if_nametoindex(cfg->dev);
	if (oif <= 0)
		return -ENODEV;
	r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETROUTE, AF_INET), on_route, &d);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETRULE, AF_INET), on_rule, &d);
	if (r < 0) {
		free(d.routes);
		return r;
	}
	n_want = announce_want(rs, &want);
	announce_diff(want, n_want, d.routes, d.n, oif, &diff);
	/* Withdrawals first: an address that left must not stay announced
	 * while others are added. */
	for (size_t i = 0; i < diff.n_del; i++) {
		struct rtnl_route rt = diff.del[i];

		rt.table = cfg->table;
		r = rtnl_request(nl, rtnl_route(buf, false, &rt));
		if (r == -ESRCH || r == -ENOENT)
			r = 0;
		keep_first(&first, r);
		changes += r >= 0;
	}
	for (size_t i = 0; i < diff.n_add; i++) {
		struct rtnl_route rt = {
			.table = cfg->table, .dst = diff.add[i], .prefixlen = 32, .oif = oif};

		r = rtnl_request(nl, rtnl_route(buf, true, &rt));
		keep_first(&first, r);
		changes += r >= 0;
	}
	if (!d.has_rule) {
		struct rtnl_rule ru = {
			.priority = cfg->rule_prio, .table = cfg->table, .suppress_prefixlen = -1};

		r = rtnl_request(nl, rtnl_rule(buf, true, &ru));
		if (r == -EEXIST)
			r = 0;
		keep_first(&first, r);
		changes += r >= 0;
	}
	announce_diff_done(&diff);
	free(want);
	free(d.routes);
	return first < 0 ? first : changes;
}
