/* The fake kernel: ops change the observed state in memory. */
#include "agent/kernel_fake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "base/xalloc.h"

#define APPEND(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

void kernel_fake_init(struct kernel_fake *f, uint32_t tunnel)
{
	*f = (struct kernel_fake){.next_ifindex = 10, .tunnel = tunnel};
}

void kernel_fake_done(struct kernel_fake *f)
{
	observed_done(&f->o);
}

struct k_link *kernel_fake_find(struct kernel_fake *f, const char *name)
{
	for (size_t i = 0; i < f->o.n_links; i++)
		if (streq(f->o.links[i].name, name))
			return &f->o.links[i];
	return NULL;
}

struct k_link *kernel_fake_link(struct kernel_fake *f, const char *name, const char *kind,
				bool ours)
{
	struct k_link *l = APPEND(f->o.links, f->o.n_links);

	*l = (struct k_link){.ifindex = f->next_ifindex++, .mtu = 1500, .ours = ours};
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	return l;
}

static void node_link_del(struct kernel_fake *f, int idx)
{
	size_t w = 0;

	for (size_t i = 0; i < f->o.n_links; i++) {
		if (f->o.links[i].ifindex == idx)
			continue;
		if (f->o.links[i].master == idx)
			f->o.links[i].master = 0;
		f->o.links[w++] = f->o.links[i];
	}
	f->o.n_links = w;
	w = 0;
	for (size_t i = 0; i < f->o.n_fdb; i++)
		if (f->o.fdb[i].ifindex != idx)
			f->o.fdb[w++] = f->o.fdb[i];
	f->o.n_fdb = w;
	w = 0;
	for (size_t i = 0; i < f->o.n_neigh; i++)
		if (f->o.neigh[i].ifindex != idx)
			f->o.neigh[w++] = f->o.neigh[i];
	f->o.n_neigh = w;
}

struct ns_observed *kernel_fake_ns(struct kernel_fake *f, const char *name, bool ours)
{
	struct ns_observed *n = APPEND(f->o.ns, f->o.n_ns);

	*n = (struct ns_observed){.ours = ours, .dumped = true};
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->c.links = xcalloc(1, sizeof(*n->c.links));
	n->c.links[0] = (struct r_link){.ifindex = 1, .name = "lo", .group = ours ? 76 : 0};
	n->c.n_links = 1;
	return n;
}

static struct r_link *ns_link(struct ns_observed *n, const char *name)
{
	for (size_t i = 0; i < n->c.n_links; i++)
		if (streq(n->c.links[i].name, name))
			return &n->c.links[i];
	return NULL;
}

/* What a link held goes with it. */
static void drop_dev(struct r_observed *c, const char *dev)
{
	size_t w = 0;

	for (size_t i = 0; i < c->n_addrs; i++)
		if (!streq(c->addrs[i].dev, dev))
			c->addrs[w++] = c->addrs[i];
	c->n_addrs = w;
	w = 0;
	for (size_t i = 0; i < c->n_routes; i++)
		if (!streq(c->routes[i].dev, dev))
			c->routes[w++] = c->routes[i];
	c->n_routes = w;
	w = 0;
	for (size_t i = 0; i < c->n_neighs; i++)
		if (!streq(c->neighs[i].dev, dev))
			c->neighs[w++] = c->neighs[i];
	c->n_neighs = w;
}

/* As the kernel: a link's last IPv4 address deleted takes every route
 * through the link with it. */
static void drop_routes_if_no_addr(struct r_observed *c, const char *dev)
{
	size_t w = 0;

	for (size_t i = 0; i < c->n_addrs; i++)
		if (streq(c->addrs[i].dev, dev))
			return;
	for (size_t i = 0; i < c->n_routes; i++)
		if (!streq(c->routes[i].dev, dev))
			c->routes[w++] = c->routes[i];
	c->n_routes = w;
}

/* The node end of a leg is named after it: its MAC is the leg's (the
 * fake's convention), so a leg and its peer are found by MAC. */
static void ns_link_del(struct kernel_fake *f, struct ns_observed *n, const char *name)
{
	struct r_link *l = ns_link(n, name);
	size_t w = 0;

	if (!l)
		return;
	for (size_t i = 0; i < f->o.n_links; i++)
		if (f->o.links[i].ours && streq(f->o.links[i].kind, "veth") &&
		    memcmp(f->o.links[i].mac, l->mac, 6) == 0) {
			node_link_del(f, f->o.links[i].ifindex);
			break;
		}
	drop_dev(&n->c, name);
	for (size_t i = 0; i < n->c.n_links; i++)
		if (!streq(n->c.links[i].name, name))
			n->c.links[w++] = n->c.links[i];
	n->c.n_links = w;
}

static bool same_route(const struct r_route *a, const struct r_route *b)
{
	return a->table == b->table && a->dst == b->dst && a->prefixlen == b->prefixlen &&
	       a->gateway == b->gateway && streq(a->dev, b->dev) && a->onlink == b->onlink;
}

static bool same_rule(const struct r_rule *a, const struct r_rule *b)
{
	return a->priority == b->priority && a->src == b->src && a->src_len == b->src_len &&
	       a->table == b->table && a->suppress_prefixlen == b->suppress_prefixlen;
}

static int ns_exec(struct kernel_fake *f, const struct op *op)
{
	struct ns_observed *n = observed_ns(&f->o, op->ns);
	struct r_observed *c;
	struct r_link *l;

	if (op->kind == OP_NS_ADD) {
		if (n)
			return n->ours ? -EEXIST : -EPERM;
		kernel_fake_ns(f, op->ns, true);
		return 0;
	}
	if (!n)
		return -ENOENT;
	if (!n->ours)
		return -EPERM;
	c = &n->c;
	switch (op->kind) {
	case OP_NS_DEL:
		while (c->n_links > 1)
			ns_link_del(f, n, c->links[c->n_links - 1].name);
		r_observed_done(c);
		*n = f->o.ns[--f->o.n_ns];
		return 0;
	case OP_NFT_TABLE:
		memcpy(n->stamp, op->stamp, sizeof(n->stamp));
		return 0;
	case OP_LEG_ADD: {
		struct k_link *br = kernel_fake_find(f, op->leg.bridge), *peer;

		if (ns_link(n, op->leg.name))
			return -EEXIST;
		if (!br)
			return -ENODEV;
		l = APPEND(c->links, c->n_links);
		*l = (struct r_link){.ifindex = f->next_ifindex++, .mtu = op->leg.mtu, .group = 76};
		snprintf(l->name, sizeof(l->name), "%s", op->leg.name);
		memcpy(l->mac, op->leg.mac, 6);
		peer = kernel_fake_link(f, op->leg.peer, "veth", true);
		peer->master = kernel_fake_find(f, op->leg.bridge)->ifindex;
		peer->mtu = op->leg.mtu;
		peer->up = true;
		memcpy(peer->mac, op->leg.mac, 6);
		return 0;
	}
	case OP_LINK_DEL:
		if (!ns_link(n, op->name))
			return -ENODEV;
		ns_link_del(f, n, op->name);
		return 0;
	case OP_LINK_SET:
		if (!(l = ns_link(n, op->name)))
			return -ENODEV;
		l->up = op->up;
		return 0;
	case OP_ADDR_ADD:
		if (!ns_link(n, op->name))
			return -ENODEV;
		for (size_t i = 0; i < c->n_addrs; i++)
			if (streq(c->addrs[i].dev, op->addr.dev) && c->addrs[i].ip == op->addr.ip)
				return -EEXIST;
		*APPEND(c->addrs, c->n_addrs) = op->addr;
		c->addrs[c->n_addrs - 1].announce = false;
		return 0;
	case OP_ADDR_DEL:
		for (size_t i = 0; i < c->n_addrs; i++)
			if (streq(c->addrs[i].dev, op->addr.dev) && c->addrs[i].ip == op->addr.ip) {
				c->addrs[i] = c->addrs[--c->n_addrs];
				drop_routes_if_no_addr(c, op->addr.dev);
				return 0;
			}
		return -EADDRNOTAVAIL;
	case OP_ROUTE_ADD:
		if (op->route.dev[0] && !ns_link(n, op->route.dev))
			return -ENODEV;
		for (size_t i = 0; i < c->n_routes; i++)
			if (same_route(&c->routes[i], &op->route))
				return -EEXIST;
		*APPEND(c->routes, c->n_routes) = op->route;
		return 0;
	case OP_ROUTE_DEL:
		for (size_t i = 0; i < c->n_routes; i++)
			if (same_route(&c->routes[i], &op->route)) {
				c->routes[i] = c->routes[--c->n_routes];
				return 0;
			}
		return -ESRCH;
	case OP_RULE_ADD:
		for (size_t i = 0; i < c->n_rules; i++)
			if (same_rule(&c->rules[i], &op->rule))
				return -EEXIST;
		*APPEND(c->rules, c->n_rules) = op->rule;
		return 0;
	case OP_RULE_DEL:
		for (size_t i = 0; i < c->n_rules; i++)
			if (same_rule(&c->rules[i], &op->rule)) {
				c->rules[i] = c->rules[--c->n_rules];
				return 0;
			}
		return -ENOENT;
	case OP_NEIGH_SET:
		if (!ns_link(n, op->name))
			return -ENODEV;
		for (size_t i = 0; i < c->n_neighs; i++)
			if (streq(c->neighs[i].dev, op->name) && c->neighs[i].ip == op->ip) {
				memcpy(c->neighs[i].mac, op->mac, 6);
				return 0;
			}
		*APPEND(c->neighs, c->n_neighs) = (struct r_neigh){.ip = op->ip};
		snprintf(c->neighs[c->n_neighs - 1].dev, D_IFNAMSIZ, "%s", op->name);
		memcpy(c->neighs[c->n_neighs - 1].mac, op->mac, 6);
		return 0;
	case OP_NEIGH_DEL:
		for (size_t i = 0; i < c->n_neighs; i++)
			if (streq(c->neighs[i].dev, op->name) && c->neighs[i].ip == op->ip) {
				c->neighs[i] = c->neighs[--c->n_neighs];
				return 0;
			}
		return -ENOENT;
	case OP_GARP:
		if (!ns_link(n, op->name))
			return -ENODEV;
		f->n_garps++;
		return 0;
	default:
		return -EINVAL;
	}
}

static int node_exec(struct kernel_fake *f, const struct op *op)
{
	struct k_link *l = kernel_fake_find(f, op->name);

	switch (op->kind) {
	case OP_BRIDGE_ADD:
	case OP_VXLAN_ADD:
	case OP_VLAN_ADD:
		if (l)
			return -EEXIST;
		l = kernel_fake_link(f, op->name,
				     op->kind == OP_BRIDGE_ADD ? "bridge"
				     : op->kind == OP_VLAN_ADD ? "vlan"
							       : "vxlan",
				     true);
		l->mtu = op->mtu;
		l->vni = op->vni;
		l->local = op->kind == OP_VXLAN_ADD ? f->tunnel : 0;
		return 0;
	case OP_LINK_DEL:
		if (!l)
			return -ENODEV;
		node_link_del(f, l->ifindex);
		return 0;
	case OP_LINK_SET:
		if (!l)
			return -ENODEV;
		if (!streq(op->master, "-")) {
			struct k_link *m = op->master[0] ? kernel_fake_find(f, op->master) : NULL;

			if (op->master[0] && !m)
				return -ENODEV;
			l->master = m ? m->ifindex : 0;
		}
		l->up = op->up;
		l->mtu = op->mtu;
		return 0;
	case OP_BRPORT_SET:
		return l ? 0 : -ENODEV;
	case OP_BRIDGE_NF:
		if (!l)
			return -ENODEV;
		if (!streq(l->kind, "bridge"))
			return -EOPNOTSUPP;
		l->nf_call = op->up;
		return 0;
	case OP_FDB_ADD:
		if (!l)
			return -ENODEV;
		*APPEND(f->o.fdb, f->o.n_fdb) = (struct k_fdb){
			.ifindex = l->ifindex, .dst = op->dst, .master = op->fdb_master};
		memcpy(f->o.fdb[f->o.n_fdb - 1].mac, op->mac, 6);
		return 0;
	case OP_FDB_DEL:
		for (size_t i = 0; l && i < f->o.n_fdb; i++) {
			if (f->o.fdb[i].ifindex == l->ifindex && f->o.fdb[i].dst == op->dst &&
			    f->o.fdb[i].master == op->fdb_master &&
			    memcmp(f->o.fdb[i].mac, op->mac, 6) == 0) {
				f->o.fdb[i] = f->o.fdb[--f->o.n_fdb];
				return 0;
			}
		}
		return -ENOENT;
	case OP_NEIGH_SET:
		if (!l)
			return -ENODEV;
		for (size_t i = 0; i < f->o.n_neigh; i++) {
			if (f->o.neigh[i].ifindex == l->ifindex && f->o.neigh[i].ip == op->ip) {
				memcpy(f->o.neigh[i].mac, op->mac, 6);
				f->o.neigh[i].permanent = true;
				return 0;
			}
		}
		*APPEND(f->o.neigh, f->o.n_neigh) =
			(struct k_neigh){.ifindex = l->ifindex, .ip = op->ip, .permanent = true};
		memcpy(f->o.neigh[f->o.n_neigh - 1].mac, op->mac, 6);
		return 0;
	case OP_NEIGH_DEL:
		for (size_t i = 0; l && i < f->o.n_neigh; i++) {
			if (f->o.neigh[i].ifindex == l->ifindex && f->o.neigh[i].ip == op->ip) {
				f->o.neigh[i] = f->o.neigh[--f->o.n_neigh];
				return 0;
			}
		}
		return -ENOENT;
	default:
		return -EINVAL;
	}
}

static int fake_exec(void *userdata, const struct op *op)
{
	struct kernel_fake *f = userdata;

	f->calls++;
	if (op->ns[0])
		return ns_exec(f, op);
	return node_exec(f, op);
}

#define DUP(dst, src, n)                                                                           \
	do {                                                                                       \
		(dst) = xmalloc(sizeof(*(dst)) * ((n) + 1));                                       \
		if (n)                                                                             \
			memcpy((dst), (src), sizeof(*(dst)) * (n));                                \
	} while (0)

static int fake_dump(void *userdata, bool namespaces_only, struct observed *ret)
{
	struct kernel_fake *f = userdata;

	*ret = (struct observed){0};
	if (!namespaces_only) {
		DUP(ret->links, f->o.links, f->o.n_links);
		ret->n_links = f->o.n_links;
		DUP(ret->fdb, f->o.fdb, f->o.n_fdb);
		ret->n_fdb = f->o.n_fdb;
		DUP(ret->neigh, f->o.neigh, f->o.n_neigh);
		ret->n_neigh = f->o.n_neigh;
	}
	ret->ns = xcalloc(f->o.n_ns + 1, sizeof(*ret->ns));
	for (size_t i = 0; i < f->o.n_ns; i++) {
		memcpy(ret->ns[i].name, f->o.ns[i].name, sizeof(ret->ns[i].name));
		ret->ns[i].ours = f->o.ns[i].ours;
	}
	ret->n_ns = f->o.n_ns;
	return 0;
}

static int fake_dump_ns(void *userdata, const char *name, struct r_observed *ret,
			char stamp[static 64])
{
	struct kernel_fake *f = userdata;
	const struct ns_observed *n = observed_ns(&f->o, name);
	const struct r_observed *c;

	*ret = (struct r_observed){0};
	if (!n)
		return -ENOENT;
	c = &n->c;
	DUP(ret->links, c->links, c->n_links);
	ret->n_links = c->n_links;
	DUP(ret->addrs, c->addrs, c->n_addrs);
	ret->n_addrs = c->n_addrs;
	DUP(ret->routes, c->routes, c->n_routes);
	ret->n_routes = c->n_routes;
	DUP(ret->rules, c->rules, c->n_rules);
	ret->n_rules = c->n_rules;
	DUP(ret->neighs, c->neighs, c->n_neighs);
	ret->n_neighs = c->n_neighs;
	memcpy(stamp, n->stamp, 64);
	return 0;
}

struct kernel_ops kernel_fake_ops(struct kernel_fake *f)
{
	return (struct kernel_ops){f, fake_dump, fake_dump_ns, fake_exec};
}

static bool all(void *data, const char *name)
{
	(void) data;
	(void) name;
	return true;
}

char *kernel_fake_pass(struct kernel_fake *f, const struct desired *d,
		       bool (*want_ns)(void *data, const char *name), void *data,
		       size_t *ret_failed)
{
	struct kernel_ops ops = kernel_fake_ops(f);
	struct observed o;
	struct plan p;
	bool *failed;
	size_t n = 0;
	char *text;

	if (observed_dump(&ops, want_ns ? want_ns : all, data, &o) < 0)
		return NULL;
	reconcile_plan(d, &o, f->tunnel, &p);
	text = plan_format(&p);
	failed = xcalloc(p.n_ops + 1, sizeof(*failed));
	plan_apply(&p, &ops, failed);
	for (size_t i = 0; i < p.n_ops; i++)
		n += failed[i];
	if (ret_failed)
		*ret_failed = n;
	free(failed);
	plan_done(&p);
	observed_done(&o);
	return text;
}

char *kernel_fake_pass_routers(struct kernel_fake *f, const struct desired *d,
			       bool (*want_ns)(void *data, const char *name), void *data)
{
	struct kernel_ops ops = kernel_fake_ops(f);
	struct observed o;
	struct plan p = {0};
	bool *failed;
	char *text;

	if (observed_dump_namespaces(&ops, want_ns ? want_ns : all, data, &o) < 0)
		return NULL;
	reconcile_routers(d, &o, &p);
	text = plan_format(&p);
	failed = xcalloc(p.n_ops + 1, sizeof(*failed));
	plan_apply(&p, &ops, failed);
	free(failed);
	plan_done(&p);
	observed_done(&o);
	return text;
}
