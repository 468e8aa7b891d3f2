/* Desired kernel state from the model. */
#include "agent/desired.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/hmap.h"
#include "base/ip4.h"
#include "base/ipaddr.h"
#include "base/util.h"
#include "base/xalloc.h"

void desired_bridge_name(const char *network_id, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "brq%.11s", network_id);
}

void desired_tap_name(const char *port_id, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "tap%.11s", port_id);
}

void desired_vxlan_name(uint32_t vni, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "vxlan-%u", vni);
}

int desired_parse_mac(const char *s, uint8_t mac[static 6])
{
	return model_parse_mac(s, mac);
}

static uint32_t agent_tunnel(struct model *m, const char *host)
{
	const struct m_agent *a = model_agent_on(m, host);

	return a ? a->tunnel_ip : 0;
}

#define PUSH(arr, n, cap, item)                                                                    \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap) *2 : 16;                                             \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
		(arr)[(n)++] = (item);                                                             \
	} while (0)

/* A locally administered MAC per network for the DHCP server. */
static void server_mac(const struct m_network *net, uint8_t mac[6])
{
	mac[0] = 0x02;
	for (int k = 0; k < 5; k++) {
		unsigned v = 0;

		sscanf(net->o.id + k * 2, "%2x", &v);
		mac[k + 1] = (uint8_t) v;
	}
}

/* The router interface port holding an address on the subnet, if any. */
static const struct m_port *router_port_on(struct model *m, const struct m_subnet *sub)
{
	const struct m_vec *ports = model_ports_on_network(m, sub->network_id);

	for (size_t i = 0; i < ports->len; i++) {
		const struct m_port *rp = ports->v[i];

		if (rp->owner != M_OWNER_ROUTER_IF || !rp->has_mac)
			continue;
		for (size_t j = 0; j < rp->n_ips; j++)
			if (!rp->ips[j].is_v4 && streq(rp->ips[j].subnet_id, sub->o.id))
				return rp;
	}
	return NULL;
}

/* Router advertisements and DHCPv6 (RFC 4861, RFC 8415), as Neutron's
 * modes ask: ipv6_ra_mode has RAs sent for the subnet's router port (from
 * its MAC and link-local address: the anycast gateway), with the M, O and A
 * bits of the mode; ipv6_address_mode dhcpv6-* has DHCPv6 answered. */
static void fill_v6(struct model *m, const struct m_port *port, struct d_port *p)
{
	for (size_t i = 0; i < port->n_ips; i++) {
		const struct m_fixed_ip *ip = &port->ips[i];
		const struct m_subnet *sub = model_subnet(m, ip->subnet_id);
		const struct m_port *rp;
		struct d_v6 *v = &p->v6;

		if (ip->is_v4 || !sub || !sub->is_v6 ||
		    (sub->ra_mode == M_V6_NONE && sub->address_mode == M_V6_NONE))
			continue;
		memcpy(v->prefix, sub->cidr6, 16);
		v->prefix_len = sub->len6;
		memcpy(v->addr, ip->ip6, 16);
		v->n_dns = sub->n_dns6;
		memcpy(v->dns, sub->dns6, sizeof(v->dns));
		v->default_router = sub->has_gateway6;
		rp = sub->ra_mode != M_V6_NONE ? router_port_on(m, sub) : NULL;
		if (rp) {
			v->ra = true;
			memcpy(v->router_mac, rp->mac, 6);
			v->managed = sub->ra_mode == M_V6_STATEFUL;
			v->other = sub->ra_mode != M_V6_SLAAC;
			v->autonomous = sub->ra_mode != M_V6_STATEFUL;
		}
		v->dhcp = sub->enable_dhcp && (sub->address_mode == M_V6_STATEFUL ||
					       sub->address_mode == M_V6_STATELESS);
		v->stateful = sub->address_mode == M_V6_STATEFUL;
		break;
	}
}

static void fill_dhcp(struct model *m, const struct m_port *port, const struct m_network *net,
		      struct d_port *p)
{
	for (size_t i = 0; i < port->n_ips; i++) {
		const struct m_fixed_ip *ip = &port->ips[i];
		const struct m_subnet *sub = model_subnet(m, ip->subnet_id);

		if (!sub || !sub->enable_dhcp || !sub->is_v4 || !ip->is_v4)
			continue;
		p->dhcp.enabled = true;
		p->dhcp.ip = ip->ip;
		p->dhcp.netmask = ip4_mask(sub->cidr.len);
		p->dhcp.router = sub->gateway;
		/* The server identifies as the gateway (the anycast router
		 * address), or the subnet's last host when it has none. */
		p->dhcp.server_id =
			p->dhcp.router ? p->dhcp.router : ip4_cidr_last_host(&sub->cidr);
		p->dhcp.n_dns = sub->n_dns < D_MAX_DNS ? sub->n_dns : D_MAX_DNS;
		memcpy(p->dhcp.dns, sub->dns, p->dhcp.n_dns * sizeof(p->dhcp.dns[0]));
		for (size_t j = 0; j < sub->n_host_routes && p->dhcp.n_routes < D_MAX_ROUTES; j++) {
			const struct m_route *rt = &sub->host_routes[j];

			p->dhcp.routes[p->dhcp.n_routes].dest = rt->dst.addr;
			p->dhcp.routes[p->dhcp.n_routes].prefixlen = rt->dst.len;
			p->dhcp.routes[p->dhcp.n_routes].gateway = rt->nexthop;
			p->dhcp.n_routes++;
		}
		p->dhcp.mtu = (uint16_t) net->mtu;
		server_mac(net, p->dhcp.server_mac);
		/* The host name Neutron gives (dns-integration). */
		if (*port->dns_name) {
			snprintf(p->dhcp.hostname, sizeof(p->dhcp.hostname), "%s", port->dns_name);
		} else {
			char a[IP4_STRLEN];

			ip4_format(ip->ip, a);
			for (char *c = a; *c; c++)
				*c = *c == '.' ? '-' : *c;
			snprintf(p->dhcp.hostname, sizeof(p->dhcp.hostname), "host-%s", a);
		}
		snprintf(p->dhcp.domain, sizeof(p->dhcp.domain), "%s", net->dns_domain);
		if (port->n_dhcp_opts)
			p->dhcp.extra = xcalloc(port->n_dhcp_opts, sizeof(*p->dhcp.extra));
		for (size_t j = 0; j < port->n_dhcp_opts; j++)
			if (dhcp_extra_parse(port->dhcp_opts[j].name, port->dhcp_opts[j].value,
					     &p->dhcp.extra[p->dhcp.n_extra]) == 0)
				p->dhcp.n_extra++;
		break; /* DHCP serves one address: the first IPv4 with DHCP on */
	}
}

static struct d_network *add_network(struct desired *out, size_t *cap, const struct m_network *net);

void desired_add_network(struct desired *out, const struct m_network *net, const char *phys)
{
	size_t before = out->n_nets;
	struct d_network *n;

	add_network(out, &out->cap_nets, net);
	if (out->n_nets == before || !*phys)
		return; /* known already, or a VXLAN network */
	n = &out->nets[out->n_nets - 1];
	n->vxlan[0] = '\0';
	n->vni = 0;
	snprintf(n->phys, D_IFNAMSIZ, "%s", phys);
	if (net->type == M_NET_VLAN) {
		uint32_t vid = net->segmentation_id;

		n->vlan = vid > 0 && vid < 4095 ? (uint16_t) vid : 0;
		snprintf(n->phys_base, D_IFNAMSIZ, "%s", phys);
		snprintf(n->phys, D_IFNAMSIZ, "%.9s.%u", phys, n->vlan);
	}
}

/* The network's entry, added when absent. */
static struct d_network *add_network(struct desired *out, size_t *cap, const struct m_network *net)
{
	struct d_network n = {0};
	uint32_t vni = net->segmentation_id;
	uintptr_t at;

	/* By id (a scan per port was quadratic on a node with many networks). */
	if (out->keyed_nets != out->nets) {
		hmap_done(&out->by_net_id);
		out->keyed_nets = out->nets;
		out->n_keyed_nets = 0;
	}
	for (; out->n_keyed_nets < out->n_nets; out->n_keyed_nets++)
		hmap_put(&out->by_net_id, out->nets[out->n_keyed_nets].id,
			 (void *) (out->n_keyed_nets + 1));
	at = (uintptr_t) hmap_get(&out->by_net_id, net->o.id);
	if (at)
		return &out->nets[at - 1];
	snprintf(n.id, sizeof(n.id), "%s", net->o.id);
	desired_bridge_name(n.id, n.bridge);
	desired_vxlan_name(vni, n.vxlan);
	n.vni = vni;
	n.mtu = net->mtu;
	n.zone = (uint16_t) (vni & 0xffff) ? (uint16_t) (vni & 0xffff) : 1;
	n.central_dhcp = net->central_dhcp;
	if (out->n_nets == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		out->nets = xrealloc(out->nets, *cap * sizeof(*out->nets));
	}
	out->nets[out->n_nets++] = n;
	return &out->nets[out->n_nets - 1];
}

static bool has_u32(const uint32_t *a, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/* A VM port of a VXLAN network, with a MAC: one this node can plug or
 * serve. */
static const struct m_network *vm_network(struct model *m, const struct m_port *port)
{
	const struct m_network *net = model_network(m, port->network_id);

	if (port->owner != M_OWNER_VM || !net || net->type != M_NET_VXLAN || !port->has_mac)
		return NULL;
	return net;
}

/* Remote ports of a network: FDB and flood entries; every port's
 * addresses: neighbour entries for ARP suppression. */
static void add_nd(struct d_network *n, size_t *cap, const uint8_t ip6[16], const uint8_t mac[6],
		   bool router)
{
	struct d_nd e = {.router = router, .len = 128};

	memcpy(e.ip6, ip6, 16);
	memcpy(e.mac, mac, 6);
	PUSH(n->nd, n->n_nd, *cap, e);
}

static void overlay(struct model *m, const struct d_node *node, struct d_network *n,
		    const struct m_vec *netnodes, struct desired *out)
{
	size_t cap_nd = 0;

	const struct m_vec *ports = model_ports_on_network(m, n->id);
	uint32_t *vteps = xcalloc(ports->len + netnodes->len + 1, sizeof(*vteps));
	size_t n_vteps = 0;

	for (size_t pi = 0; pi < ports->len; pi++) {
		const struct m_port *port = ports->v[pi];
		uint32_t vtep;

		if (!port->has_mac)
			continue;
		for (size_t i = 0; i < port->n_ips; i++) {
			struct d_neigh ne = {0};

			if (!port->ips[i].is_v4) {
				add_nd(n, &cap_nd, port->ips[i].ip6, port->mac,
				       port->owner == M_OWNER_ROUTER_IF);
				continue;
			}
			ne.ip = port->ips[i].ip;
			snprintf(ne.dev, sizeof(ne.dev), "%s", n->bridge);
			memcpy(ne.mac, port->mac, 6);
			PUSH(out->neigh, out->n_neigh, out->cap_neigh, ne);
		}
		if (port->owner == M_OWNER_VM || port->owner == M_OWNER_ROUTER_IF) {
			uint8_t ll[16];

			ip6_link_local(port->mac, ll);
			add_nd(n, &cap_nd, ll, port->mac, port->owner == M_OWNER_ROUTER_IF);
		}
		/* IPv6 allowed address pairs: answered with the pair's MAC
		 * (the port's when it names none), as the VM holding one
		 * would; a secured port's solicitations never cross. */
		for (size_t i = 0; i < port->n_pairs6; i++) {
			const struct m_pair6 *pr = &port->pairs6[i];

			add_nd(n, &cap_nd, pr->ip6, pr->has_mac ? pr->mac : port->mac, false);
			n->nd[n->n_nd - 1].len = pr->len;
		}
		/* Ports that sit on one node, where they are bound: VMs, and
		 * the legacy router and centralized SNAT legs on network
		 * nodes. (Distributed router interfaces are on every node:
		 * never reached over the overlay.) */
		if (!*port->host || streq(port->host, node->host) ||
		    (port->owner != M_OWNER_VM && port->owner != M_OWNER_ROUTER_IF &&
		     port->owner != M_OWNER_CSNAT))
			continue;
		vtep = agent_tunnel(m, port->host);
		if (!vtep || vtep == node->tunnel_ip)
			continue;
		struct d_fdb f = {0};
		snprintf(f.dev, sizeof(f.dev), "%s", n->vxlan);
		memcpy(f.mac, port->mac, 6);
		f.dst = vtep;
		PUSH(out->fdb, out->n_fdb, out->cap_fdb, f);
		f.dst = 0;
		f.master = true;
		PUSH(out->fdb, out->n_fdb, out->cap_fdb, f);
		if (!has_u32(vteps, n_vteps, vtep))
			vteps[n_vteps++] = vtep;
	}
	/* Centralized DHCP: broadcasts must reach the network nodes. */
	for (size_t i = 0; n->central_dhcp && i < netnodes->len; i++) {
		uint32_t ip = ((const struct m_agent *) netnodes->v[i])->tunnel_ip;

		if (ip && ip != node->tunnel_ip && !has_u32(vteps, n_vteps, ip))
			vteps[n_vteps++] = ip;
	}
	for (size_t i = 0; i < n_vteps; i++) {
		struct d_fdb f = {0};

		snprintf(f.dev, sizeof(f.dev), "%s", n->vxlan);
		f.dst = vteps[i];
		PUSH(out->fdb, out->n_fdb, out->cap_fdb, f);
	}
	free(vteps);
}

void desired_ports(struct model *m, const struct d_node *node, struct desired *out)
{
	const struct m_vec *local = model_ports_on_host(m, node->host);
	size_t cap_ports = 0, cap_central = 0;
	const struct m_network *net;

	*out = (struct desired){0};
	/* Local ports, and the networks they need. */
	for (size_t k = 0; k < local->len; k++) {
		const struct m_port *port = local->v[k];
		struct d_port p = {0};

		net = vm_network(m, port);
		if (!net)
			continue;
		snprintf(p.id, sizeof(p.id), "%s", port->o.id);
		snprintf(p.network_id, sizeof(p.network_id), "%s", net->o.id);
		desired_tap_name(p.id, p.tap);
		desired_bridge_name(p.network_id, p.bridge);
		memcpy(p.mac, port->mac, 6);
		p.admin_up = port->admin_up;
		p.port_security = port->port_security;
		for (size_t i = 0; i < port->n_ips && p.n_ips < D_MAX_IPS; i++)
			if (port->ips[i].is_v4)
				p.ips[p.n_ips++] = port->ips[i].ip;
		for (size_t i = 0; i < port->n_ips && p.n_ips6 < D_MAX_IPS; i++)
			if (!port->ips[i].is_v4)
				memcpy(p.ips6[p.n_ips6++], port->ips[i].ip6, 16);
		fill_dhcp(m, port, net, &p);
		fill_v6(m, port, &p);
		if (p.v6.dhcp && !p.dhcp.enabled)
			server_mac(net, p.dhcp.server_mac);
		if (net->central_dhcp) {
			/* A network node answers; this node bridges the requests. */
			p.dhcp_central = true;
			p.dhcp.enabled = false;
		}
		PUSH(out->ports, out->n_ports, cap_ports, p);
		if (p.port_security)
			add_network(out, &out->cap_nets, net)->filtered = true;
		else
			add_network(out, &out->cap_nets, net);
		/* The bridge knows the port's MAC from the model: a VM that has
		 * not spoken yet is never flooded to other nodes. */
		struct d_fdb f = {.master = true};
		snprintf(f.dev, sizeof(f.dev), "%s", p.tap);
		memcpy(f.mac, p.mac, 6);
		PUSH(out->fdb, out->n_fdb, out->cap_fdb, f);
	}
	/* A network node serves centralized DHCP for every port of the
	 * networks that ask for it, on nodes anywhere. */
	MODEL_FOREACH(m, M_PORT, const struct m_port, port)
	{
		struct d_port p = {0};

		if (!node->network_node)
			break;
		net = vm_network(m, port);
		if (!*port->host || !net || !net->central_dhcp)
			continue;
		snprintf(p.id, sizeof(p.id), "%s", port->o.id);
		snprintf(p.network_id, sizeof(p.network_id), "%s", net->o.id);
		desired_bridge_name(p.network_id, p.bridge);
		memcpy(p.mac, port->mac, 6);
		fill_dhcp(m, port, net, &p);
		PUSH(out->central, out->n_central, cap_central, p);
		add_network(out, &out->cap_nets, net);
	}
}

void desired_overlay(struct model *m, const struct d_node *node, struct desired *out)
{
	const struct m_vec *netnodes = model_network_agents(m);

	for (size_t k = 0; k < out->n_nets; k++)
		if (!out->nets[k].phys[0]) /* a provider network: no overlay, no ARP suppression */
			overlay(m, node, &out->nets[k], netnodes, out);
	/* DHCP's server identifier is the subnet's gateway address: while no
	 * router port holds it, the bridge answers ARP for it with the DHCP
	 * server's MAC, so that unicast renewals (RFC 2131 4.4.5) reach us. */
	struct hmap known = HMAP_INIT;
	char(*keys)[D_IFNAMSIZ + IP4_STRLEN] =
		xcalloc(out->n_neigh + out->n_ports + 1, sizeof(*keys));
	size_t n_keys = 0;

	for (size_t i = 0; i < out->n_neigh; i++) {
		snprintf(keys[n_keys], sizeof(keys[0]), "%s/%08x", out->neigh[i].dev,
			 out->neigh[i].ip);
		hmap_put(&known, keys[n_keys], keys[n_keys]);
		n_keys++;
	}
	for (size_t k = 0; k < out->n_ports; k++) {
		const struct d_port *p = &out->ports[k];
		struct d_neigh ne = {0};

		if (!p->dhcp.enabled || !p->dhcp.router)
			continue;
		snprintf(keys[n_keys], sizeof(keys[0]), "%s/%08x", p->bridge, p->dhcp.router);
		if (hmap_get(&known, keys[n_keys]))
			continue;
		hmap_put(&known, keys[n_keys], keys[n_keys]);
		n_keys++;
		snprintf(ne.dev, sizeof(ne.dev), "%s", p->bridge);
		ne.ip = p->dhcp.router;
		memcpy(ne.mac, p->dhcp.server_mac, 6);
		PUSH(out->neigh, out->n_neigh, out->cap_neigh, ne);
	}
	hmap_done(&known);
	free(keys);
	desired_index(out);
}

void desired_index(struct desired *d)
{
	hmap_done(&d->by_tap);
	hmap_done(&d->by_dev);
	for (size_t i = 0; i < d->n_ports; i++)
		hmap_put(&d->by_tap, d->ports[i].tap, &d->ports[i]);
	for (size_t i = 0; i < d->n_nets; i++) {
		hmap_put(&d->by_dev, d->nets[i].bridge, &d->nets[i]);
		if (d->nets[i].vxlan[0])
			hmap_put(&d->by_dev, d->nets[i].vxlan, &d->nets[i]);
	}
	d->indexed_ports = d->n_ports;
	d->indexed_nets = d->n_nets;
}

void desired_compute(struct replica *r, const char *host, uint32_t tunnel_ip, bool network_node,
		     struct desired *out)
{
	struct d_node node = {host, tunnel_ip, network_node, "", NULL, 0, NULL, NULL};

	desired_ports(r->live, &node, out);
	desired_overlay(r->live, &node, out);
}

const struct d_nd *desired_nd(const struct d_network *n, const uint8_t ip6[16])
{
	const struct d_nd *in_pair = NULL;

	for (size_t i = 0; i < n->n_nd; i++) {
		if (n->nd[i].len == 128 && memcmp(n->nd[i].ip6, ip6, 16) == 0)
			return &n->nd[i];
		if (!in_pair && n->nd[i].len < 128 &&
		    ip6_prefix_contains(n->nd[i].ip6, n->nd[i].len, ip6))
			in_pair = &n->nd[i];
	}
	return in_pair;
}

void desired_done(struct desired *d)
{
	for (size_t i = 0; i < d->n_nets; i++)
		free(d->nets[i].nd);
	for (size_t i = 0; i < d->n_ports; i++)
		free(d->ports[i].dhcp.extra);
	for (size_t i = 0; i < d->n_central; i++)
		free(d->central[i].dhcp.extra);
	free(d->nets);
	free(d->ports);
	free(d->fdb);
	free(d->neigh);
	free(d->central);
	hmap_done(&d->by_tap);
	hmap_done(&d->by_dev);
	hmap_done(&d->by_net_id);
	*d = (struct desired){0};
}

const struct d_port *desired_port_by_mac(const struct desired *d, const uint8_t mac[static 6])
{
	for (size_t i = 0; i < d->n_ports; i++)
		if (memcmp(d->ports[i].mac, mac, 6) == 0)
			return &d->ports[i];
	return NULL;
}

const struct d_port *desired_port_by_tap(const struct desired *d, const char *tap)
{
	if (d->indexed_ports == d->n_ports && d->n_ports) {
		const struct d_port *p = hmap_get(&d->by_tap, tap);

		return p && streq(p->tap, tap) ? p : NULL;
	}
	for (size_t i = 0; i < d->n_ports; i++)
		if (streq(d->ports[i].tap, tap))
			return &d->ports[i];
	return NULL;
}

const struct d_network *desired_net_by_dev(const struct desired *d, const char *name, bool vxlan)
{
	if (d->indexed_nets == d->n_nets && d->n_nets) {
		const struct d_network *n = hmap_get(&d->by_dev, name);

		return n && streq(vxlan ? n->vxlan : n->bridge, name) ? n : NULL;
	}
	for (size_t i = 0; i < d->n_nets; i++)
		if (streq(vxlan ? d->nets[i].vxlan : d->nets[i].bridge, name))
			return &d->nets[i];
	return NULL;
}

const struct d_port *desired_central_port(const struct desired *d, const char *bridge,
					  const uint8_t mac[static 6])
{
	for (size_t i = 0; i < d->n_central; i++)
		if (streq(d->central[i].bridge, bridge) && memcmp(d->central[i].mac, mac, 6) == 0)
			return &d->central[i];
	return NULL;
}
