/* The plan of one router namespace (pure): what a namespace holds, turned
 * into what the model wants, with deletes first so that a namespace that is
 * already right gets no op at all. */
#include "agent/routers.h"

#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define GROW1(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

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

static struct rop *push(struct rplan *p, enum rop_kind kind, const char *name)
{
	struct rop *op = GROW1(p->ops, p->n_ops);

	*op = (struct rop){.kind = kind};
	snprintf(op->name, sizeof(op->name), "%s", name ? name : "");
	return op;
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
	return streq(a->dev, b->dev) && a->ip == b->ip && a->prefixlen == b->prefixlen;
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

static bool same_neigh(const struct r_neigh *a, const struct r_neigh *b)
{
	return streq(a->dev, b->dev) && a->ip == b->ip && memcmp(a->mac, b->mac, 6) == 0;
}

static const struct r_link *have_link(const struct r_observed *o, const char *name)
{
	for (size_t i = 0; i < o->n_links; i++)
		if (streq(o->links[i].name, name))
			return &o->links[i];
	return NULL;
}

/* Legs (re)made by this plan: whatever they held is gone with them. */
static bool is_fresh(const struct rplan *p, const char *dev)
{
	for (size_t i = 0; i < p->n_ops; i++)
		if (p->ops[i].kind == ROP_LEG_ADD && streq(p->ops[i].leg.name, dev))
			return true;
	return false;
}

void router_plan(const struct d_router *want, const struct r_observed *have, struct rplan *out)
{
	const struct r_link *lo = NULL;

	*out = (struct rplan){0};
	/* Legs: wrong MAC or MTU means made anew; unknown ones go. */
	for (size_t i = 0; i < have->n_links; i++) {
		const struct r_link *l = &have->links[i];
		const struct r_leg *w = routers_leg(want, l->name);

		if (streq(l->name, "lo")) {
			lo = l;
			continue;
		}
		if (!w || memcmp(w->mac, l->mac, 6) != 0 || w->mtu != l->mtu)
			push(out, ROP_LEG_DEL, l->name);
	}
	if (!lo || !lo->up)
		push(out, ROP_LINK_UP, "lo");
	for (size_t i = 0; i < want->n_legs; i++) {
		const struct r_leg *w = &want->legs[i];
		const struct r_link *l = have_link(have, w->name);

		if (!l || memcmp(w->mac, l->mac, 6) != 0 || w->mtu != l->mtu)
			push(out, ROP_LEG_ADD, w->name)->leg = *w;
	}
	/* Then up, once all legs exist (one fresh look at the namespace). */
	for (size_t i = 0; i < want->n_legs; i++) {
		const struct r_link *l = have_link(have, want->legs[i].name);

		if (!l || !l->up || is_fresh(out, want->legs[i].name))
			push(out, ROP_LINK_UP, want->legs[i].name);
	}
	/* Deletes of what is not wanted (on legs that stay). */
	for (size_t i = 0; i < have->n_addrs; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_addrs && !w; j++)
			w = same_addr(&have->addrs[i], &want->addrs[j]);
		if (!w && routers_leg(want, have->addrs[i].dev) &&
		    !is_fresh(out, have->addrs[i].dev))
			push(out, ROP_ADDR_DEL, have->addrs[i].dev)->addr = have->addrs[i];
	}
	for (size_t i = 0; i < have->n_rules; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_rules && !w; j++)
			w = same_rule(&have->rules[i], &want->rules[j]);
		if (!w)
			push(out, ROP_RULE_DEL, NULL)->rule = have->rules[i];
	}
	for (size_t i = 0; i < have->n_routes; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_routes && !w; j++)
			w = same_route(&have->routes[i], &want->routes[j]);
		if (!w && !is_fresh(out, have->routes[i].dev))
			push(out, ROP_ROUTE_DEL, have->routes[i].dev)->route = have->routes[i];
	}
	for (size_t i = 0; i < have->n_neighs; i++) {
		bool w = false;

		for (size_t j = 0; j < want->n_neighs && !w; j++)
			w = same_neigh(&have->neighs[i], &want->neighs[j]);
		if (!w && routers_leg(want, have->neighs[i].dev) &&
		    !is_fresh(out, have->neighs[i].dev))
			push(out, ROP_NEIGH_DEL, have->neighs[i].dev)->neigh = have->neighs[i];
	}
	/* Adds: addresses (the connected routes come with them), neighbours,
	 * routes, then the rules that use them. */
	for (size_t j = 0; j < want->n_addrs; j++) {
		bool h = false;

		for (size_t i = 0; i < have->n_addrs && !h && !is_fresh(out, want->addrs[j].dev);
		     i++)
			h = same_addr(&have->addrs[i], &want->addrs[j]);
		if (!h)
			push(out, ROP_ADDR_ADD, want->addrs[j].dev)->addr = want->addrs[j];
	}
	for (size_t j = 0; j < want->n_neighs; j++) {
		bool h = false;

		for (size_t i = 0; i < have->n_neighs && !h && !is_fresh(out, want->neighs[j].dev);
		     i++)
			h = same_neigh(&have->neighs[i], &want->neighs[j]);
		if (!h)
			push(out, ROP_NEIGH_SET, want->neighs[j].dev)->neigh = want->neighs[j];
	}
	for (size_t j = 0; j < want->n_routes; j++) {
		bool h = false;

		for (size_t i = 0; i < have->n_routes && !h && !is_fresh(out, want->routes[j].dev);
		     i++)
			h = same_route(&have->routes[i], &want->routes[j]);
		if (!h)
			push(out, ROP_ROUTE_ADD, want->routes[j].dev)->route = want->routes[j];
	}
	for (size_t j = 0; j < want->n_rules; j++) {
		bool h = false;

		for (size_t i = 0; i < have->n_rules && !h; i++)
			h = same_rule(&have->rules[i], &want->rules[j]);
		if (!h)
			push(out, ROP_RULE_ADD, NULL)->rule = want->rules[j];
	}
}

void rplan_done(struct rplan *p)
{
	free(p->ops);
	*p = (struct rplan){0};
}

char *rplan_format(const struct rplan *p)
{
	static const char *const names[] = {
		[ROP_LEG_DEL] = "leg-del",     [ROP_LEG_ADD] = "leg-add",
		[ROP_LINK_UP] = "link-up",     [ROP_ADDR_ADD] = "addr-add",
		[ROP_ADDR_DEL] = "addr-del",   [ROP_ROUTE_ADD] = "route-add",
		[ROP_ROUTE_DEL] = "route-del", [ROP_RULE_ADD] = "rule-add",
		[ROP_RULE_DEL] = "rule-del",   [ROP_NEIGH_SET] = "neigh-set",
		[ROP_NEIGH_DEL] = "neigh-del",
	};
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < p->n_ops; i++) {
		const struct rop *op = &p->ops[i];
		char a[IP4_STRLEN], b[IP4_STRLEN];

		strbuf_appendf(&sb, "%s", names[op->kind]);
		switch (op->kind) {
		case ROP_LEG_ADD:
			strbuf_appendf(&sb, " %s peer %s bridge %s mtu %u", op->leg.name,
				       op->leg.peer, op->leg.bridge, op->leg.mtu);
			break;
		case ROP_LEG_DEL:
		case ROP_LINK_UP:
			strbuf_appendf(&sb, " %s", op->name);
			break;
		case ROP_ADDR_ADD:
		case ROP_ADDR_DEL:
			ip4_format(op->addr.ip, a);
			strbuf_appendf(&sb, " %s/%u dev %s", a, op->addr.prefixlen, op->addr.dev);
			break;
		case ROP_ROUTE_ADD:
		case ROP_ROUTE_DEL:
			ip4_format(op->route.dst, a);
			ip4_format(op->route.gateway, b);
			strbuf_appendf(&sb, " table %u %s/%u via %s dev %s%s", op->route.table, a,
				       op->route.prefixlen, b, op->route.dev,
				       op->route.onlink ? " onlink" : "");
			break;
		case ROP_RULE_ADD:
		case ROP_RULE_DEL:
			ip4_format(op->rule.src, a);
			strbuf_appendf(&sb, " pref %u from %s/%u table %u", op->rule.priority, a,
				       op->rule.src_len, op->rule.table);
			if (op->rule.suppress_prefixlen >= 0)
				strbuf_appendf(&sb, " suppress_prefixlength %d",
					       op->rule.suppress_prefixlen);
			break;
		case ROP_NEIGH_SET:
		case ROP_NEIGH_DEL:
			ip4_format(op->neigh.ip, a);
			strbuf_appendf(&sb, " %s dev %s", a, op->neigh.dev);
			break;
		}
		strbuf_append(&sb, "\n");
	}
	return strbuf_steal(&sb);
}
