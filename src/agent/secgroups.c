/* Security groups -> nftables builder input. */
#include "agent/secgroups.h"

#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/util.h"
#include "base/xalloc.h"

void port_index_done(struct port_index *pi)
{
	free(pi->taps);
	*pi = (struct port_index){0};
}

uint16_t port_index_get(const struct port_index *pi, const char *tap)
{
	for (size_t i = 0; i < pi->n; i++)
		if (streq(pi->taps[i], tap))
			return (uint16_t) (i + 1);
	return 0;
}

void port_index_sync(struct port_index *pi, const struct desired *d)
{
	for (size_t i = 0; i < pi->n; i++)
		if (pi->taps[i][0] && !desired_port_by_tap(d, pi->taps[i]))
			pi->taps[i][0] = '\0';
	for (size_t k = 0; k < d->n_ports; k++) {
		const char *tap = d->ports[k].tap;
		size_t slot = pi->n;

		if (port_index_get(pi, tap))
			continue;
		for (size_t i = 0; i < pi->n && slot == pi->n; i++)
			if (!pi->taps[i][0])
				slot = i;
		if (slot == pi->n) {
			if (pi->n == PORT_INDEX_MAX)
				continue; /* out of marks: such a port stays unfiltered */
			pi->taps = xrealloc(pi->taps, (pi->n + 1) * sizeof(*pi->taps));
			pi->n++;
		}
		snprintf(pi->taps[slot], D_IFNAMSIZ, "%s", tap);
	}
}

static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

static int int_or(json_t *doc, const char *key, int dflt)
{
	json_t *v = json_object_get(doc, key);

	return json_is_integer(v) ? (int) json_integer_value(v) : dflt;
}

/* Whether the port lists the group before position n (a repeated group
 * adds its addresses once). */
static bool listed_before(json_t *port, const char *sg, size_t n)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(port, "security_groups"), i, e) {
		if (i >= n)
			break;
		if (streq_ptr(json_string_value(e), sg))
			return true;
	}
	return false;
}

void secgroups_input(struct replica *r, const struct desired *d, const struct port_index *pi,
		     struct nft_input *in)
{
	json_t *groups = replica_type(r, "security_group"), *ports = replica_type(r, "port");
	json_t *sg, *port, *rule;
	const char *sgid, *pid;
	size_t cap_rules = 0, cap_groups = 0;

	*in = (struct nft_input){0};
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
		json_t *doc = replica_get(r, "port", dp->id), *e;
		size_t i;

		p->idx = port_index_get(pi, dp->tap);
		if (!p->idx || !doc)
			continue;
		in->n_ports++;
		snprintf(p->tap, sizeof(p->tap), "%s", dp->tap);
		memcpy(p->mac, dp->mac, 6);
		memcpy(p->ips, dp->ips, sizeof(p->ips[0]) * dp->n_ips);
		p->n_ips = dp->n_ips;
		p->port_security = dp->port_security;
		p->dhcp_central = dp->dhcp_central;
		json_array_foreach(json_object_get(doc, "allowed_address_pairs"), i, e) {
			struct nft_pair_in *pair = &p->pairs[p->n_pairs];

			if (p->n_pairs == ARRAY_SIZE(p->pairs) ||
			    ip4_cidr_parse(str(e, "ip_address"), true, &pair->cidr) < 0)
				continue;
			pair->cidr.addr = ip4_cidr_network(&pair->cidr);
			if (desired_parse_mac(str(e, "mac_address"), pair->mac) < 0)
				memcpy(pair->mac, dp->mac, 6);
			p->n_pairs++;
		}
		json_array_foreach(json_object_get(doc, "security_groups"), i, e) {
			if (p->n_sgs < ARRAY_SIZE(p->sgs) && json_is_string(e))
				snprintf(p->sgs[p->n_sgs++], sizeof(p->sgs[0]), "%s",
					 json_string_value(e));
		}
	}
	/* Rules of every group (the builder keeps those in use). */
	json_object_foreach(groups, sgid, sg) {
		size_t i;

		json_array_foreach(json_object_get(sg, "security_group_rules"), i, rule) {
			struct nft_rule_in ru = {0};
			const char *proto = str(rule, "protocol");

			if (cap_rules == in->n_rules) {
				cap_rules = cap_rules ? cap_rules * 2 : 16;
				in->rules = xrealloc(in->rules, cap_rules * sizeof(*in->rules));
			}
			snprintf(ru.sg_id, sizeof(ru.sg_id), "%s", sgid);
			ru.ingress = streq(str(rule, "direction"), "ingress");
			ru.ipv6 = streq(str(rule, "ethertype"), "IPv6");
			if (json_is_integer(json_object_get(rule, "protocol")))
				snprintf(ru.proto, sizeof(ru.proto), "%lld",
					 (long long) json_integer_value(
						 json_object_get(rule, "protocol")));
			else
				snprintf(ru.proto, sizeof(ru.proto), "%s", proto);
			ru.pmin = int_or(rule, "port_range_min", -1);
			ru.pmax = int_or(rule, "port_range_max", -1);
			snprintf(ru.remote_prefix, sizeof(ru.remote_prefix), "%s",
				 str(rule, "remote_ip_prefix"));
			snprintf(ru.remote_group, sizeof(ru.remote_group), "%s",
				 str(rule, "remote_group_id"));
			in->rules[in->n_rules++] = ru;
		}
	}
	/* Members of each group: the addresses of every port in it (one walk
	 * over the ports, not one per group). */
	json_t *index = json_object();
	size_t *caps;

	json_object_foreach(groups, sgid, sg) {
		if (cap_groups == in->n_groups) {
			cap_groups = cap_groups ? cap_groups * 2 : 8;
			in->groups = xrealloc(in->groups, cap_groups * sizeof(*in->groups));
		}
		in->groups[in->n_groups] = (struct nft_group_in){0};
		snprintf(in->groups[in->n_groups].sg_id, sizeof(in->groups[0].sg_id), "%s", sgid);
		json_object_set_new(index, sgid, json_integer((json_int_t) in->n_groups));
		in->n_groups++;
	}
	caps = xcalloc(in->n_groups + 1, sizeof(*caps));
	json_object_foreach(ports, pid, port) {
		json_t *e;
		size_t j;

		json_array_foreach(json_object_get(port, "security_groups"), j, e) {
			json_t *k = json_object_get(
				index, json_string_value(e) ? json_string_value(e) : "");
			struct nft_group_in *g;
			json_t *ip;
			size_t i;

			if (!k || listed_before(port, json_string_value(e), j))
				continue;
			g = &in->groups[json_integer_value(k)];
			json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
				size_t *cap = &caps[json_integer_value(k)];
				uint32_t a;

				if (ip4_parse(str(ip, "ip_address"), &a) < 0)
					continue;
				if (g->n_ips == *cap) {
					*cap = *cap ? *cap * 2 : 8;
					g->ips = xrealloc(g->ips, *cap * sizeof(*g->ips));
				}
				g->ips[g->n_ips++] = a;
			}
		}
	}
	free(caps);
	json_decref(index);
}

void secgroups_input_done(struct nft_input *in)
{
	for (size_t i = 0; i < in->n_groups; i++)
		free(in->groups[i].ips);
	free(in->groups);
	free(in->ports);
	free(in->rules);
	free(in->zones);
	*in = (struct nft_input){0};
}
