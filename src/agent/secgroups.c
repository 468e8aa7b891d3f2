/* Security groups -> nftables builder input. */
#include "agent/secgroups.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "base/hash.h"
#include "base/ip4.h"
#include "base/util.h"
#include "base/xalloc.h"

void port_index_done(struct port_index *pi)
{
	free(pi->taps);
	hmap_done(&pi->by_tap);
	*pi = (struct port_index){0};
}

uint16_t port_index_get(const struct port_index *pi, const char *tap)
{
	return (uint16_t) (uintptr_t) hmap_get(&pi->by_tap, tap);
}

void port_index_sync(struct port_index *pi, const struct desired *d)
{
	size_t free_slot = 0;

	for (size_t i = 0; i < pi->n; i++)
		if (pi->taps[i][0] && !desired_port_by_tap(d, pi->taps[i]))
			pi->taps[i][0] = '\0';
	/* Room for every new port first: the map borrows its keys from taps. */
	if (pi->n < PORT_INDEX_MAX) {
		size_t cap =
			pi->n + d->n_ports < PORT_INDEX_MAX ? pi->n + d->n_ports : PORT_INDEX_MAX;

		pi->taps = xrealloc(pi->taps, (cap + 1) * sizeof(*pi->taps));
	}
	hmap_done(&pi->by_tap);
	for (size_t i = 0; i < pi->n; i++)
		if (pi->taps[i][0])
			hmap_put(&pi->by_tap, pi->taps[i], (void *) (uintptr_t) (i + 1));
	for (size_t k = 0; k < d->n_ports; k++) {
		const char *tap = d->ports[k].tap;

		if (port_index_get(pi, tap))
			continue;
		while (free_slot < pi->n && pi->taps[free_slot][0])
			free_slot++;
		if (free_slot == pi->n) {
			if (pi->n == PORT_INDEX_MAX)
				continue; /* out of marks: such a port stays unfiltered */
			pi->n++;
		}
		snprintf(pi->taps[free_slot], D_IFNAMSIZ, "%s", tap);
		hmap_put(&pi->by_tap, pi->taps[free_slot], (void *) (uintptr_t) (free_slot + 1));
	}
}

uint64_t secgroups_stamp(const struct model *m, const struct desired *d)
{
	const unsigned types = 1u << M_NETWORK | 1u << M_SUBNET | 1u << M_PORT |
			       1u << M_SECURITY_GROUP | 1u << M_AGENT | 1u << M_ADDRESS_GROUP;
	uint64_t h = model_stamp(m, types);

	for (size_t i = 0; i < d->n_nets; i++) {
		h = fnv_mix(fnv_str(h, d->nets[i].bridge), d->nets[i].zone);
	}
	return h;
}

void secgroups_input_ports(struct replica *r, const struct desired *d, const struct port_index *pi,
			   struct nft_input *in)
{
	struct model *m = r->live;

	in->ports = xcalloc(d->n_ports + 1, sizeof(*in->ports));
	in->zones = xcalloc(d->n_nets + 1, sizeof(*in->zones));
	for (size_t i = 0; i < d->n_nets; i++) {
		snprintf(in->zones[i].bridge, sizeof(in->zones[i].bridge), "%s", d->nets[i].bridge);
		in->zones[i].zone = d->nets[i].zone;
	}
	in->n_zones = d->n_nets;
	for (size_t k = 0; k < d->n_ports; k++) {
		const struct d_port *dp = &d->ports[k];
		struct nft_port_in *p = &in->ports[in->n_ports];
		const struct m_port *doc = model_port(m, dp->id);

		p->idx = port_index_get(pi, dp->tap);
		if (!p->idx || !doc)
			continue;
		in->n_ports++;
		snprintf(p->tap, sizeof(p->tap), "%s", dp->tap);
		snprintf(p->bridge, sizeof(p->bridge), "%s", dp->bridge);
		memcpy(p->mac, dp->mac, 6);
		memcpy(p->ips, dp->ips, sizeof(p->ips[0]) * dp->n_ips);
		p->n_ips = dp->n_ips;
		memcpy(p->ips6, dp->ips6, sizeof(p->ips6[0]) * dp->n_ips6);
		p->n_ips6 = dp->n_ips6;
		p->port_security = dp->port_security;
		p->dhcp_central = dp->dhcp_central;
		for (size_t i = 0; i < doc->n_pairs && p->n_pairs < ARRAY_SIZE(p->pairs); i++) {
			struct nft_pair_in *pair = &p->pairs[p->n_pairs++];

			pair->cidr = doc->pairs[i].cidr;
			memcpy(pair->mac, doc->pairs[i].has_mac ? doc->pairs[i].mac : dp->mac, 6);
		}
		for (size_t i = 0; i < doc->n_pairs6 && p->n_pairs6 < ARRAY_SIZE(p->pairs6); i++) {
			const struct m_pair6 *pr = &doc->pairs6[i];
			struct nft_pair6_in *pair = &p->pairs6[p->n_pairs6++];

			memcpy(pair->cidr.addr, pr->ip6, 16);
			pair->cidr.len = pr->len;
			memcpy(pair->mac, pr->has_mac ? pr->mac : dp->mac, 6);
		}
		for (size_t i = 0; i < doc->n_sgs && p->n_sgs < ARRAY_SIZE(p->sgs); i++)
			snprintf(p->sgs[p->n_sgs++], sizeof(p->sgs[0]), "%s", doc->sgs[i]);
	}
}

void secgroups_input_groups(struct replica *r, struct nft_input *in)
{
	struct model *m = r->live;
	size_t cap_rules = 0;

	/* Address groups, borrowed from the model (it outlives the input). */
	in->agroups = xcalloc(m->t[M_ADDRESS_GROUP].len + 1, sizeof(*in->agroups));
	MODEL_FOREACH(m, M_ADDRESS_GROUP, const struct m_address_group, ag)
	{
		struct nft_agroup_in *a = &in->agroups[in->n_agroups++];

		struct nft_cidr6 *p6 = xcalloc(ag->n_prefixes6 + 1, sizeof(*p6));

		snprintf(a->id, sizeof(a->id), "%s", ag->o.id);
		a->prefixes = ag->prefixes;
		a->n_prefixes = ag->n_prefixes;
		for (size_t i = 0; i < ag->n_prefixes6; i++) {
			memcpy(p6[i].addr, ag->prefixes6[i].ip6, 16);
			p6[i].len = ag->prefixes6[i].len;
		}
		a->prefixes6 = p6; /* ours: secgroups_input_done frees it */
		a->n_prefixes6 = ag->n_prefixes6;
	}
	/* Rules of every group (the builder keeps those in use), and each
	 * group's members: the addresses of every port in it. */
	in->groups = xcalloc(m->t[M_SECURITY_GROUP].len + 1, sizeof(*in->groups));
	MODEL_FOREACH(m, M_SECURITY_GROUP, const struct m_security_group, sg)
	{
		const struct m_vec *members = model_sg_members(m, sg->o.id);
		struct nft_group_in *g = &in->groups[in->n_groups++];
		size_t cap = 0, cap6 = 0;

		for (size_t i = 0; i < sg->n_rules; i++) {
			const struct m_sg_rule *rule = &sg->rules[i];
			struct nft_rule_in *ru;

			if (cap_rules == in->n_rules) {
				cap_rules = cap_rules ? cap_rules * 2 : 16;
				in->rules = xrealloc(in->rules, cap_rules * sizeof(*in->rules));
			}
			ru = &in->rules[in->n_rules++];
			*ru = (struct nft_rule_in){.ingress = rule->ingress,
						   .ipv6 = rule->ipv6,
						   .pmin = rule->pmin,
						   .pmax = rule->pmax};
			snprintf(ru->sg_id, sizeof(ru->sg_id), "%s", sg->o.id);
			snprintf(ru->proto, sizeof(ru->proto), "%s", rule->proto);
			snprintf(ru->remote_prefix, sizeof(ru->remote_prefix), "%s",
				 rule->remote_prefix);
			snprintf(ru->remote_group, sizeof(ru->remote_group), "%s",
				 rule->remote_group);
			snprintf(ru->remote_address_group, sizeof(ru->remote_address_group), "%s",
				 rule->remote_address_group);
		}
		snprintf(g->sg_id, sizeof(g->sg_id), "%s", sg->o.id);
		/* Members: their IPv4 addresses and, as in Neutron, their
		 * address pairs. */
		for (size_t k = 0; k < members->len; k++) {
			const struct m_port *port = members->v[k];

			for (size_t i = 0; i < port->n_ips + port->n_pairs; i++) {
				struct ip4_cidr c = {0};

				if (i < port->n_ips && !port->ips[i].is_v4)
					continue;
				if (i < port->n_ips)
					c.addr = port->ips[i].ip, c.len = 32;
				else
					c = port->pairs[i - port->n_ips].cidr;
				if (g->n_ips == cap) {
					cap = cap ? cap * 2 : 8;
					g->ips = xrealloc(g->ips, cap * sizeof(*g->ips));
				}
				/* Zeroed padding: the builder compares bytes. */
				memset(&g->ips[g->n_ips], 0, sizeof(g->ips[0]));
				g->ips[g->n_ips].addr = c.addr;
				g->ips[g->n_ips++].len = c.len;
			}
			/* IPv6: the same, for the rules of IPv6. */
			for (size_t i = 0; i < port->n_ips + port->n_pairs6; i++) {
				struct nft_cidr6 c = {.len = 128};

				if (i < port->n_ips && port->ips[i].is_v4)
					continue;
				if (i < port->n_ips) {
					memcpy(c.addr, port->ips[i].ip6, 16);
				} else {
					memcpy(c.addr, port->pairs6[i - port->n_ips].ip6, 16);
					c.len = port->pairs6[i - port->n_ips].len;
				}
				if (g->n_ips6 == cap6) {
					cap6 = cap6 ? cap6 * 2 : 8;
					g->ips6 = xrealloc(g->ips6, cap6 * sizeof(*g->ips6));
				}
				g->ips6[g->n_ips6++] = c;
			}
		}
	}
}

void secgroups_input(struct replica *r, const struct desired *d, const struct port_index *pi,
		     struct nft_input *in)
{
	*in = (struct nft_input){0};
	secgroups_input_ports(r, d, pi, in);
	secgroups_input_groups(r, in);
}

void secgroups_input_groups_done(struct nft_input *in)
{
	for (size_t i = 0; i < in->n_agroups; i++)
		free((void *) in->agroups[i].prefixes6);
	free(in->agroups);
	for (size_t i = 0; i < in->n_groups; i++) {
		free(in->groups[i].ips);
		free(in->groups[i].ips6);
	}
	free(in->groups);
	free(in->rules);
	in->agroups = NULL, in->n_agroups = 0;
	in->groups = NULL, in->n_groups = 0;
	in->rules = NULL, in->n_rules = 0;
}

void secgroups_input_done(struct nft_input *in)
{
	secgroups_input_groups_done(in);
	free(in->ports);
	free(in->zones);
	*in = (struct nft_input){0};
}
