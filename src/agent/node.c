/* The node's desired state: L2, then routers, then the overlay. */
#include "agent/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/routers.h"
#include "base/hash.h"
#include "base/xalloc.h"

/* The bridge knows the MAC of each router leg with IPv6 on the leg's node
 * end from the start, as it knows the VMs': such a leg may not have spoken
 * yet (neighbour discovery for it is answered by the node, static
 * neighbours spare it asking), and the first packets to it would be flooded
 * over VXLAN, where every other node's copy of a distributed router would
 * route them too. (IPv4 legs answer ARP themselves, which teaches the
 * bridge before any packet comes.) */
static bool has_v6(const struct d_router *r, const char *leg)
{
	for (size_t i = 0; i < r->n_addrs; i++)
		if (r->addrs[i].v6 && strcmp(r->addrs[i].dev, leg) == 0)
			return true;
	return false;
}

static void pin_legs(struct desired *out)
{
	for (size_t i = 0; i < out->routers->n; i++) {
		const struct d_router *r = &out->routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			struct d_fdb f = {.master = true, .later = true};

			if (!has_v6(r, r->legs[j].name))
				continue;
			snprintf(f.dev, sizeof(f.dev), "%s", r->legs[j].peer);
			memcpy(f.mac, r->legs[j].mac, 6);
			if (out->n_fdb == out->cap_fdb) {
				out->cap_fdb = out->cap_fdb ? out->cap_fdb * 2 : 16;
				out->fdb = xrealloc(out->fdb, out->cap_fdb * sizeof(*out->fdb));
			}
			out->fdb[out->n_fdb++] = f;
		}
	}
}

/* What the L2 part of the desired state is made of: the documents it reads,
 * and what it takes from the router legs (their networks, pinned MACs). */
static uint64_t l2_stamp(const struct model *m, const struct d_routers *rs)
{
	const unsigned types = 1u << M_NETWORK | 1u << M_SUBNET | 1u << M_PORT | 1u << M_AGENT;
	uint64_t h = model_stamp(m, types);

	for (size_t i = 0; i < rs->n; i++) {
		const struct d_router *r = &rs->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			const struct r_leg *l = &r->legs[j];

			h = fnv_field(
				fnv_field(fnv_field(fnv_field(h, l->net_id), l->phys), l->peer),
				l->name);
			for (size_t k = 0; k < 6; k++)
				h = fnv_mix(h, l->mac[k]);
			h = fnv_mix(h, has_v6(r, l->name));
		}
	}
	return h ? h : 1;
}

void node_compute(struct replica *r, const struct d_node *node, struct desired *prev,
		  struct desired *out)
{
	struct r_node rn = {node->host,		node->ns_prefix ? node->ns_prefix : "",
			    node->physnets,	node->bgp_nexthop,
			    node->bgp_physnets, node->bgp_nexthop6};
	struct d_routers *rs = xcalloc(1, sizeof(*rs));
	uint64_t stamp;

	routers_compute(r->live, &rn, NULL, prev ? prev->routers : NULL, rs);
	stamp = l2_stamp(r->live, rs);
	if (prev && prev->l2_stamp == stamp) {
		/* Nothing L2 is made of changed (a Floating IP, a router's
		 * route): the previous L2 part, taken over whole. */
		struct d_routers *keep = prev->routers;

		*out = *prev;
		*prev = (struct desired){.routers = keep};
		out->routers = rs;
		return;
	}
	desired_ports(r->live, node, out);
	out->routers = rs;
	/* The networks the router legs plug into, after the VMs'. */
	for (size_t i = 0; i < rs->n; i++)
		for (size_t j = 0; j < rs->r[i].n_legs; j++) {
			const struct r_leg *l = &rs->r[i].legs[j];
			const struct m_network *net = model_network(r->live, l->net_id);

			if (net)
				desired_add_network(out, net, l->phys);
		}
	pin_legs(out);
	desired_overlay(r->live, node, out);
	out->l2_stamp = stamp;
}

void node_done(struct desired *d)
{
	if (d->routers) {
		routers_done(d->routers);
		free(d->routers);
	}
	desired_done(d);
}

uint64_t node_level_stamp(const struct model *m, const struct desired *d)
{
	const unsigned types = 1u << M_NETWORK | 1u << M_SUBNET | 1u << M_PORT | 1u << M_AGENT;
	uint64_t h = model_stamp(m, types);

	for (size_t i = 0; d->routers && i < d->routers->n; i++) {
		const struct d_router *r = &d->routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			h = fnv_field(h, r->legs[j].peer);
			h = fnv_field(h, r->legs[j].bridge);
			h = fnv_mix(h, r->legs[j].mtu);
		}
	}
	return h;
}

bool node_tables_only(const struct model *m, uint64_t serial, uint64_t generation)
{
	const unsigned only = 1u << M_SECURITY_GROUP | 1u << M_ADDRESS_GROUP;

	if (m->serial != serial)
		return false;
	for (int t = 0; t < M_NTYPES; t++)
		if (!(only & 1u << t) && m->changed[t] > generation)
			return false;
	return true;
}
