/* The plan of one router namespace (pure): what a namespace holds, turned
 * into what the model wants, with deletes first so that a namespace that is
 * already right gets no op at all. */
#include "agent/reconcile.h"
#include "agent/routers.h"

#include <stdio.h>
#include <string.h>
#include "base/hash.h"
#include "base/ip4.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

void r_observed_done(struct r_observed *o)
{
	free(o->links);
	free(o->addrs);
	free(o->routes);
	free(o->rules);
	free(o->neighs);
	*o = (struct r_observed){0};
}

/* Plan. */

/* A string with its NUL, which ends it as a separator would. */
static uint64_t fnv_s(uint64_t h, const char *s)
{
	return fnv_bytes(h, s, strlen(s) + 1);
}

#define FNV_V(h, v) fnv_bytes(h, &(v), sizeof(v))

/* Field by field: struct bytes would take in padding and what follows a
 * name's NUL, which nothing clears (the hash must be the same for the same
 * contents, pass after pass, or every namespace is dumped every time). */
uint64_t routers_hash(const struct d_router *d)
{
	uint64_t h = fnv_s(FNV_OFFSET, d->ns);

	for (size_t i = 0; i < d->n_legs; i++) {
		const struct r_leg *l = &d->legs[i];

		h = fnv_s(fnv_s(fnv_s(fnv_s(h, l->name), l->peer), l->bridge), l->port_id);
		h = FNV_V(FNV_V(h, l->mac), l->mtu);
	}
	for (size_t i = 0; i < d->n_addrs; i++) {
		const struct r_addr *a = &d->addrs[i];

		h = FNV_V(FNV_V(FNV_V(fnv_s(h, a->dev), a->ip), a->prefixlen), a->announce);
		h = FNV_V(FNV_V(h, a->v6), a->ip6);
	}
	for (size_t i = 0; i < d->n_routes; i++) {
		const struct r_route *r = &d->routes[i];

		h = FNV_V(FNV_V(FNV_V(FNV_V(h, r->table), r->dst), r->prefixlen), r->gateway);
		h = FNV_V(fnv_s(h, r->dev), r->onlink);
		h = FNV_V(FNV_V(FNV_V(h, r->v6), r->dst6), r->gw6);
	}
	for (size_t i = 0; i < d->n_rules; i++) {
		const struct r_rule *r = &d->rules[i];

		h = FNV_V(FNV_V(FNV_V(h, r->priority), r->src), r->src_len);
		h = FNV_V(FNV_V(h, r->table), r->suppress_prefixlen);
	}
	for (size_t i = 0; i < d->n_neighs; i++) {
		const struct r_neigh *n = &d->neighs[i];

		h = FNV_V(FNV_V(fnv_s(h, n->dev), n->ip), n->mac);
		h = FNV_V(FNV_V(FNV_V(h, n->v6), n->ip6), n->proxy);
	}
	if (d->nft)
		h = fnv_s(h, d->nft);
	return h ? h : 1;
}

const struct r_leg *routers_leg(const struct d_router *d, const char *name)
{
	for (size_t i = 0; i < d->n_legs; i++)
		if (streq(d->legs[i].name, name))
			return &d->legs[i];
	return NULL;
}

static bool same_addr(const struct r_addr *a, const struct r_addr *b)
{
	return streq(a->dev, b->dev) && a->ip == b->ip && a->prefixlen == b->prefixlen &&
	       a->scope == b->scope && a->v6 == b->v6 && memcmp(a->ip6, b->ip6, 16) == 0;
}

static bool same_route(const struct r_route *a, const struct r_route *b)
{
	return a->table == b->table && a->dst == b->dst && a->prefixlen == b->prefixlen &&
	       a->gateway == b->gateway && streq(a->dev, b->dev) && a->onlink == b->onlink &&
	       a->v6 == b->v6 && memcmp(a->dst6, b->dst6, 16) == 0 &&
	       memcmp(a->gw6, b->gw6, 16) == 0;
}

static bool same_rule(const struct r_rule *a, const struct r_rule *b)
{
	return a->priority == b->priority && a->src == b->src && a->src_len == b->src_len &&
	       a->table == b->table && a->suppress_prefixlen == b->suppress_prefixlen;
}

static bool same_neigh(const struct r_neigh *a, const struct r_neigh *b)
{
	return streq(a->dev, b->dev) && a->ip == b->ip && memcmp(a->mac, b->mac, 6) == 0 &&
	       a->v6 == b->v6 && memcmp(a->ip6, b->ip6, 16) == 0 && a->proxy == b->proxy;
}

static const struct r_link *have_link(const struct r_observed *o, const char *name)
{
	for (size_t i = 0; i < o->n_links; i++)
		if (streq(o->links[i].name, name))
			return &o->links[i];
	return NULL;
}

/* Legs (re)made by this plan in this namespace: whatever they held is gone
 * with them. */
static bool is_fresh(const struct plan *p, size_t from, const char *dev)
{
	for (size_t i = from; i < p->n_ops; i++)
		if (p->ops[i].kind == OP_LEG_ADD && streq(p->ops[i].leg.name, dev))
			return true;
	return false;
}

/* Whether this plan deletes every IPv4 address of leg `dev`: the kernel
 * then drops every route through it, without a word (fib_disable_ip), so
 * the routes through it that are wanted are made again after the delete
 * (a non-owner's fg- leg has no address: the owner's gateway address
 * leaving must not take the default route of its VMs' SNAT with it). */
static bool loses_all_addrs(const struct d_router *want, const struct r_observed *have,
			    const char *dev)
{
	bool had = false;

	for (size_t i = 0; i < have->n_addrs && !had; i++)
		had = streq(have->addrs[i].dev, dev) && !have->addrs[i].v6;
	for (size_t j = 0; had && j < want->n_addrs; j++)
		if (streq(want->addrs[j].dev, dev) && !want->addrs[j].v6)
			return false;
	return had;
}

static struct op *push(struct plan *p, enum op_kind kind, const struct d_router *want,
		       const char *name)
{
	return plan_push(p, kind, want->ns, name);
}

void reconcile_router(const struct d_router *want, const struct r_observed *have, struct plan *out)
{
	const struct r_link *lo = NULL;
	size_t from = out->n_ops;
	struct op *op;

	/* Legs: wrong MAC or MTU means made anew; unknown ones go. */
	for (size_t i = 0; i < have->n_links; i++) {
		const struct r_link *l = &have->links[i];
		const struct r_leg *w = routers_leg(want, l->name);

		if (streq(l->name, "lo")) {
			lo = l;
			continue;
		}
		if (!w || memcmp(w->mac, l->mac, 6) != 0 || w->mtu != l->mtu)
			push(out, OP_LINK_DEL, want, l->name);
	}
	if (!lo || !lo->up) {
		op = push(out, OP_LINK_SET, want, "lo");
		op->up = true;
		op->master[0] = '-';
	}
	for (size_t i = 0; i < want->n_legs; i++) {
		const struct r_leg *w = &want->legs[i];
		const struct r_link *l = have_link(have, w->name);

		if (!l || memcmp(w->mac, l->mac, 6) != 0 || w->mtu != l->mtu)
			push(out, OP_LEG_ADD, want, w->name)->leg = *w;
	}
	/* Then up, once all legs exist. */
	for (size_t i = 0; i < want->n_legs; i++) {
		const struct r_link *l = have_link(have, want->legs[i].name);

		if (!l || !l->up || is_fresh(out, from, want->legs[i].name)) {
			op = push(out, OP_LINK_SET, want, want->legs[i].name);
			op->up = true;
			op->master[0] = '-';
		}
	}
	/* Deletes of what is not wanted (on legs that stay). */
	for (size_t i = 0; i < have->n_addrs; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_addrs && !w; j++)
			w = same_addr(&have->addrs[i], &want->addrs[j]);
		if (!w && routers_leg(want, have->addrs[i].dev) &&
		    !is_fresh(out, from, have->addrs[i].dev))
			push(out, OP_ADDR_DEL, want, have->addrs[i].dev)->addr = have->addrs[i];
	}
	for (size_t i = 0; i < have->n_rules; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_rules && !w; j++)
			w = same_rule(&have->rules[i], &want->rules[j]);
		if (!w)
			push(out, OP_RULE_DEL, want, "")->rule = have->rules[i];
	}
	for (size_t i = 0; i < have->n_routes; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_routes && !w; j++)
			w = same_route(&have->routes[i], &want->routes[j]);
		if (!w && !is_fresh(out, from, have->routes[i].dev))
			push(out, OP_ROUTE_DEL, want, have->routes[i].dev)->route = have->routes[i];
	}
	for (size_t i = 0; i < have->n_neighs; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_neighs && !w; j++)
			w = same_neigh(&have->neighs[i], &want->neighs[j]);
		if (!w && routers_leg(want, have->neighs[i].dev) &&
		    !is_fresh(out, from, have->neighs[i].dev)) {
			op = push(out, OP_NEIGH_DEL, want, have->neighs[i].dev);
			op->ip = have->neighs[i].ip;
			op->v6 = have->neighs[i].v6;
			op->proxy = have->neighs[i].proxy;
			memcpy(op->ip6, have->neighs[i].ip6, 16);
		}
	}
	/* Adds: addresses (the connected routes come with them), neighbours,
	 * routes, then the rules that use them. An address to announce (a
	 * Floating IP) is followed by its gratuitous ARP. */
	for (size_t j = 0; j < want->n_addrs; j++) {
		const struct r_addr *w = &want->addrs[j];
		const struct r_leg *leg;
		bool h = false;

		for (size_t i = 0; i < have->n_addrs && !h && !is_fresh(out, from, w->dev); i++)
			h = same_addr(&have->addrs[i], w);
		if (h)
			continue;
		push(out, OP_ADDR_ADD, want, w->dev)->addr = *w;
		if (w->announce && (leg = routers_leg(want, w->dev))) {
			op = push(out, OP_GARP, want, w->dev);
			op->ip = w->ip;
			memcpy(op->mac, leg->mac, 6);
		}
	}
	for (size_t j = 0; j < want->n_neighs; j++) {
		bool h = false;

		for (size_t i = 0;
		     i < have->n_neighs && !h && !is_fresh(out, from, want->neighs[j].dev); i++)
			h = same_neigh(&have->neighs[i], &want->neighs[j]);
		if (!h) {
			op = push(out, OP_NEIGH_SET, want, want->neighs[j].dev);
			op->ip = want->neighs[j].ip;
			op->v6 = want->neighs[j].v6;
			op->proxy = want->neighs[j].proxy;
			memcpy(op->ip6, want->neighs[j].ip6, 16);
			memcpy(op->mac, want->neighs[j].mac, 6);
		}
	}
	for (size_t j = 0; j < want->n_routes; j++) {
		bool h = false;

		for (size_t i = 0;
		     i < have->n_routes && !h && !is_fresh(out, from, want->routes[j].dev); i++)
			h = same_route(&have->routes[i], &want->routes[j]);
		if (!h ||
		    (*want->routes[j].dev && loses_all_addrs(want, have, want->routes[j].dev)))
			push(out, OP_ROUTE_ADD, want, want->routes[j].dev)->route = want->routes[j];
	}
	for (size_t j = 0; j < want->n_rules; j++) {
		bool h = false;

		for (size_t i = 0; i < have->n_rules && !h; i++)
			h = same_rule(&have->rules[i], &want->rules[j]);
		if (!h)
			push(out, OP_RULE_ADD, want, "")->rule = want->rules[j];
	}
}
