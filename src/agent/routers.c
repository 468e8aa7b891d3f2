/* Router namespaces of a node: desired contents and plan (pure). */
#include "agent/routers.h"

#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/hash.h"
#include "base/hmap.h"
#include "base/ip4.h"
#include "base/ipaddr.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define MAX_IFACES 64

#define GROW1(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

static void leg_name(char buf[static D_IFNAMSIZ], const char *prefix, const char *id)
{
	snprintf(buf, D_IFNAMSIZ, "%s%.11s", prefix, id);
}

/* The node-side end: "t" and the inside name without its dash. */
static void peer_name(char buf[static D_IFNAMSIZ], const char *inside)
{
	snprintf(buf, D_IFNAMSIZ, "t%.2s%.11s", inside, inside + 3);
}

/* A locally administered MAC of this node for a router's Floating IP leg:
 * every node answers for its own Floating IPs with its own MAC. */
static void node_mac(const char *host, const char *router_id, uint8_t mac[static 6])
{
	uint64_t h = fnv_str(fnv_str(FNV_OFFSET, host), router_id);

	mac[0] = 0xfa;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t) (h >> (8 * i));
}

/* The subnet, CIDR and address of a port's first fixed IP (IPv4). */
static bool port_ip(struct model *m, const struct m_port *port, const struct m_subnet **subnet,
		    struct ip4_cidr *cidr, uint32_t *ip)
{
	const struct m_subnet *sub = port->n_ips ? model_subnet(m, port->ips[0].subnet_id) : NULL;

	if (!sub || !sub->is_v4 || !port->ips[0].is_v4)
		return false;
	*cidr = sub->cidr;
	*ip = port->ips[0].ip;
	if (subnet)
		*subnet = sub;
	return true;
}

/* Whether ip is one of a gateway port's addresses. */
static bool is_gw_ip(const struct m_port *gw, uint32_t ip)
{
	for (size_t i = 0; i < gw->n_ips; i++)
		if (gw->ips[i].is_v4 && gw->ips[i].ip == ip)
			return true;
	return false;
}

static struct d_router *new_router(struct d_routers *out, const struct r_node *node,
				   const char *kind, const char *id)
{
	struct d_router *d = GROW1(out->r, out->n);

	*d = (struct d_router){0};
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->ns, sizeof(d->ns), "%s%s-%s", node->ns_prefix, kind, id);
	return d;
}

static const char *add_leg(struct d_router *d, const char *prefix, const char *id,
			   const struct m_network *net, const char *phys, const uint8_t mac[6])
{
	struct r_leg *l = GROW1(d->legs, d->n_legs);

	*l = (struct r_leg){0};
	snprintf(l->net_id, sizeof(l->net_id), "%s", net->o.id);
	snprintf(l->phys, sizeof(l->phys), "%s", phys);
	if (!streq(prefix, "fg-"))
		snprintf(l->port_id, sizeof(l->port_id), "%s", id);
	leg_name(l->name, prefix, id);
	peer_name(l->peer, l->name);
	desired_bridge_name(net->o.id, l->bridge);
	memcpy(l->mac, mac, 6);
	l->mtu = net->mtu;
	return l->name;
}

static void add_addr(struct d_router *d, const char *dev, uint32_t ip, uint8_t len, bool announce)
{
	struct r_addr *a = GROW1(d->addrs, d->n_addrs);

	*a = (struct r_addr){.ip = ip, .prefixlen = len, .announce = announce};
	snprintf(a->dev, sizeof(a->dev), "%s", dev);
}

static void add_route(struct d_router *d, uint32_t table, uint32_t dst, uint8_t len, uint32_t gw,
		      const char *dev, bool onlink)
{
	struct r_route *rt = GROW1(d->routes, d->n_routes);

	*rt = (struct r_route){
		.table = table, .dst = dst, .prefixlen = len, .gateway = gw, .onlink = onlink};
	snprintf(rt->dev, sizeof(rt->dev), "%s", dev);
}

static void add_rule(struct d_router *d, uint32_t prio, uint32_t src, uint8_t len, uint32_t table,
		     int32_t suppress)
{
	*GROW1(d->rules, d->n_rules) = (struct r_rule){.priority = prio,
						       .src = src,
						       .src_len = len,
						       .table = table,
						       .suppress_prefixlen = suppress};
}

/* Static neighbours on a leg: every other port with an address in the
 * leg's subnet. */
static void add_neighs(struct model *m, struct d_router *d, const char *dev,
		       const struct m_subnet *subnet, const char *self_id)
{
	const struct m_vec *ports = model_ports_on_network(m, subnet->network_id);

	for (size_t k = 0; k < ports->len; k++) {
		const struct m_port *p = ports->v[k];

		if (streq(p->o.id, self_id) || !p->has_mac)
			continue;
		for (size_t i = 0; i < p->n_ips; i++) {
			struct r_neigh *n;

			if (!p->ips[i].is_v4 || !streq(p->ips[i].subnet_id, subnet->o.id))
				continue;
			n = GROW1(d->neighs, d->n_neighs);
			*n = (struct r_neigh){.ip = p->ips[i].ip};
			snprintf(n->dev, sizeof(n->dev), "%s", dev);
			memcpy(n->mac, p->mac, 6);
		}
	}
}

/* IPv6 on a leg: the port's addresses on IPv6 subnets (the gateway
 * address, with the subnet's prefix), and static neighbours for the other
 * ports' addresses there (a distributed router's MAC is on every node: a
 * neighbour advertisement would reach the router on the answering VM's
 * node, never the asking one). Returns whether the port has one. */
static bool add_v6(struct model *m, struct d_router *d, const char *dev, const struct m_port *self)
{
	bool any = false;

	for (size_t i = 0; i < self->n_ips; i++) {
		const struct m_subnet *sub = model_subnet(m, self->ips[i].subnet_id);
		const struct m_vec *ports;
		struct r_addr *a;

		if (self->ips[i].is_v4 || !sub || !sub->is_v6)
			continue;
		any = true;
		a = GROW1(d->addrs, d->n_addrs);
		*a = (struct r_addr){.v6 = true, .prefixlen = sub->len6};
		memcpy(a->ip6, self->ips[i].ip6, 16);
		snprintf(a->dev, sizeof(a->dev), "%s", dev);
		ports = model_ports_on_network(m, sub->network_id);
		for (size_t k = 0; k < ports->len; k++) {
			const struct m_port *p = ports->v[k];

			if (streq(p->o.id, self->o.id) || !p->has_mac)
				continue;
			for (size_t j = 0; j < p->n_ips; j++) {
				struct r_neigh *n;

				if (p->ips[j].is_v4 || !streq(p->ips[j].subnet_id, sub->o.id))
					continue;
				n = GROW1(d->neighs, d->n_neighs);
				*n = (struct r_neigh){.v6 = true};
				memcpy(n->ip6, p->ips[j].ip6, 16);
				snprintf(n->dev, sizeof(n->dev), "%s", dev);
				memcpy(n->mac, p->mac, 6);
			}
			/* Allowed address pairs of one address in the subnet,
			 * likewise (a prefix's addresses are the VM's to
			 * choose: none can be written down). */
			for (size_t j = 0; j < p->n_pairs6; j++) {
				const struct m_pair6 *pr = &p->pairs6[j];
				struct r_neigh *n;

				if (pr->len != 128 ||
				    !ip6_prefix_contains(sub->cidr6, sub->len6, pr->ip6))
					continue;
				n = GROW1(d->neighs, d->n_neighs);
				*n = (struct r_neigh){.v6 = true};
				memcpy(n->ip6, pr->ip6, 16);
				snprintf(n->dev, sizeof(n->dev), "%s", dev);
				memcpy(n->mac, pr->has_mac ? pr->mac : p->mac, 6);
			}
		}
	}
	return any;
}

/* The model's view of one router. */
struct rmodel {
	const struct m_router *router;
	const struct m_port *gw; /* gateway port or NULL */
	const struct m_port **ifaces;
	size_t n_ifaces;
	const struct m_port **csnat; /* centralized SNAT ports */
	size_t n_csnat;
	const struct m_floatingip **fips; /* associated Floating IPs */
	size_t n_fips;
	const struct m_network *ext_net;
	uint32_t ext_ip, ext_gw;
	struct ip4_cidr ext_cidr;
	bool has_ext6; /* the gateway port has an IPv6 address */
	bool has_gw6;  /* ... on a subnet with a gateway (ext_gw6) */
	uint8_t ext_ip6[16], ext_gw6[16], ext_len6;
};

static void load_model(struct model *mo, const struct m_router *router, struct rmodel *m)
{
	const struct m_vec *ports = model_ports_of_device(mo, router->o.id);
	const struct m_vec *fips = model_fips_of_router(mo, router->o.id);
	const struct m_subnet *sub;

	*m = (struct rmodel){.router = router,
			     .ifaces = xcalloc(ports->len + 1, sizeof(*m->ifaces)),
			     .csnat = xcalloc(ports->len + 1, sizeof(*m->csnat)),
			     .fips = xcalloc(fips->len + 1, sizeof(*m->fips))};
	for (size_t i = 0; i < ports->len; i++) {
		const struct m_port *p = ports->v[i];

		if (p->owner == M_OWNER_ROUTER_GW)
			m->gw = p;
		else if (p->owner == M_OWNER_ROUTER_IF)
			m->ifaces[m->n_ifaces++] = p;
		else if (p->owner == M_OWNER_CSNAT)
			m->csnat[m->n_csnat++] = p;
	}
	for (size_t i = 0; m->gw && i < m->gw->n_ips; i++) {
		const struct m_subnet *s6 = model_subnet(mo, m->gw->ips[i].subnet_id);

		/* The first with a gateway, else the first. */
		if (m->gw->ips[i].is_v4 || !s6 || !s6->is_v6 ||
		    (m->has_ext6 && (m->has_gw6 || !s6->has_gateway6)))
			continue;
		m->has_ext6 = true;
		m->has_gw6 = s6->has_gateway6;
		memcpy(m->ext_ip6, m->gw->ips[i].ip6, 16);
		if (s6->has_gateway6)
			memcpy(m->ext_gw6, s6->gateway6, 16);
		m->ext_len6 = s6->len6;
	}
	if (m->gw) {
		m->ext_net = model_network(mo, m->gw->network_id);
		if (!m->ext_net || !m->gw->has_mac ||
		    !port_ip(mo, m->gw, &sub, &m->ext_cidr, &m->ext_ip) || !sub->gateway)
			m->gw = NULL;
		else
			m->ext_gw = sub->gateway;
	}
	for (size_t i = 0; i < fips->len; i++) {
		const struct m_floatingip *f = fips->v[i];

		if (f->is_associated)
			m->fips[m->n_fips++] = f;
	}
}

static void free_model(struct rmodel *m)
{
	free(m->ifaces);
	free(m->csnat);
	free(m->fips);
}

/* Whether the node announces over BGP what it holds on physical network p. */
static bool bgp_on(const struct r_node *node, const char *p)
{
	return node->bgp_nexthop && (!node->bgp_physnets || json_object_get(node->bgp_physnets, p));
}

/* The only key of obj that passes (physnets: {p: x}), or NULL. */
static const char *only_physnet(const struct r_node *node, json_t *obj)
{
	const char *k, *found = NULL;
	size_t n = 0;
	json_t *v;

	json_object_foreach(obj, k, v) {
		if (json_object_get(node->physnets, k) && bgp_on(node, k)) {
			found = k;
			n++;
		}
	}
	return n == 1 ? found : NULL;
}

/* The node's interface on the external network's physical network, or
 * NULL: a node without it cannot carry the router's external legs. *bgp:
 * whether the addresses the legs hold there are announced over BGP (the
 * node's BGP mode covers that physical network) rather than answered by
 * ARP. */
static const char *ext_phys(const struct r_node *node, const struct m_network *net, bool *bgp)
{
	const char *phys, *p = net->physnet;

	*bgp = false;
	if (net->type != M_NET_FLAT && net->type != M_NET_VLAN)
		return NULL;
	phys = json_string_value(json_object_get(node->physnets, p));
	/* BGP mode, one external network over several physical ones: the
	 * network's primary segment may be another rack's; the node uses its
	 * own BGP segment (its one BGP physical network). */
	if (!phys && node->bgp_nexthop && net->type == M_NET_FLAT) {
		p = only_physnet(node, node->bgp_physnets ? node->bgp_physnets : node->physnets);
		phys = p ? json_string_value(json_object_get(node->physnets, p)) : NULL;
	}
	*bgp = phys && bgp_on(node, p);
	return phys;
}

static void ext_leg(struct d_router *d, const struct r_node *node, struct rmodel *m,
		    const char *prefix, const char *id, const uint8_t mac[6],
		    char name[static D_IFNAMSIZ])
{
	const char *phys = ext_phys(node, m->ext_net, &d->bgp);

	snprintf(name, D_IFNAMSIZ, "%s", add_leg(d, prefix, id, m->ext_net, phys ? phys : "", mac));
}

/* Distributed SNAT (DESIGN.md section 3, case 6; SNAT-CONTRACT.md).
 *
 * Every node with VMs of the router SNATs them on its own fg- leg to the
 * router's gateway address, within the port blocks the server gave this
 * node (TCP and UDP ports, ICMP echo identifiers: `snat to A:lo-hi` maps
 * all three into the range). One node, the owner, holds the address (it
 * answers ARP, and announces it when it becomes owner): every reply comes
 * to it. In netdev ingress on fg-, before conntrack, it sends each packet
 * of another node's block to that node's fg- MAC, unchanged but for the
 * Ethernet addresses (stateless: no conntrack entry on the owner); an ICMP
 * error goes by the port or echo id of the header it quotes. Its own
 * blocks go through conntrack as usual. Protocols without ports are the
 * owner's alone (SNAT to the address, no ports); other nodes drop them.
 *
 * A node that is not the owner does not hold the address; the kernel then
 * takes another address as sender of the ARP requests it sends for the
 * upstream (a Floating IP, or even a tenant's gateway address on a qr-
 * leg, measured), and the upstream would learn it. ARP requests leaving
 * fg- with a sender that is not one of fg-'s addresses carry 0.0.0.0
 * instead (an RFC 5227 probe: answered, and learnt by nobody). */
struct dsnat_nft {
	char *postrouting; /* rules of the nat postrouting chain */
	char *chains;	   /* more chains of table ip lepton */
	char *tables;	   /* tables after table ip lepton (netdev, arp) */
};

struct range {
	uint32_t ip;
	uint16_t lo, hi;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* This node's ACTIVE blocks as ranges, sorted, adjacent ones merged. */
static size_t own_ranges(const struct m_snat_block **b, size_t n, struct range *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct range){b[i]->ip, b[i]->port_min, b[i]->port_max};
	qsort(out, n, sizeof(*out), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && out[k - 1].ip == out[i].ip && (uint32_t) out[k - 1].hi + 1 >= out[i].lo) {
			if (out[i].hi > out[k - 1].hi)
				out[k - 1].hi = out[i].hi;
			continue;
		}
		out[k++] = out[i];
	}
	return k;
}

/* Back out where it came in (fg-, whatever its ifindex is now). */
static void fwd_rules(struct strbuf *sb, const struct m_snat_block *b, const uint8_t own[6],
		      const uint8_t peer[6])
{
	static const char *const match[] = {
		"meta l4proto { tcp, udp } th dport",
		"icmp type echo-reply icmp id",
		/* ICMP errors: the quoted IPv4 header (20 bytes) after the
		 * 8 of ICMP, then its ports or echo id. */
		"icmp type { destination-unreachable, source-quench, time-exceeded, "
		"parameter-problem } @th,64,8 0x45 @th,136,8 { 6, 17 } @th,224,16",
		"icmp type { destination-unreachable, source-quench, time-exceeded, "
		"parameter-problem } @th,64,8 0x45 @th,136,8 1 @th,256,16",
	};
	char a[IP4_STRLEN];

	ip4_format(b->ip, a);
	for (size_t i = 0; i < ARRAY_SIZE(match); i++)
		strbuf_appendf(sb,
			       "\t\tip daddr %s %s %u-%u counter ether saddr set "
			       "%02x:%02x:%02x:%02x:%02x:%02x ether daddr set "
			       "%02x:%02x:%02x:%02x:%02x:%02x fwd to meta iif\n",
			       a, match[i], b->port_min, b->port_max, own[0], own[1], own[2],
			       own[3], own[4], own[5], peer[0], peer[1], peer[2], peer[3], peer[4],
			       peer[5]);
}

static void dsnat_script(const struct d_router *d, const char *fg, const uint8_t own_mac[6],
			 const struct ip4_cidr *subnets, size_t n_subnets,
			 const struct m_snat_block **mine, size_t n_mine,
			 const struct m_snat_block **others, size_t n_others, uint32_t owner_ip,
			 struct dsnat_nft *out)
{
	struct strbuf post = STRBUF_INIT, chains = STRBUF_INIT, tables = STRBUF_INIT;
	struct range *r = xcalloc(n_mine + 1, sizeof(*r));
	size_t n_r = own_ranges(mine, n_mine, r), n_addrs = 0;
	char a[IP4_STRLEN], c[IP4_CIDR_STRLEN], from[64 + 40 * MAX_IFACES] = "";
	size_t len = 0;

	for (size_t i = 0; i < n_subnets; i++) {
		ip4_cidr_format(&subnets[i], c);
		len += (size_t) snprintf(from + len, sizeof(from) - len, "%s%s", i ? ", " : "", c);
	}
	if (n_subnets && n_r == 1) {
		ip4_format(r[0].ip, a);
		strbuf_appendf(&post,
			       "\t\toifname \"%s\" ip saddr { %s } meta l4proto { tcp, udp, icmp } "
			       "snat to %s:%u-%u\n",
			       fg, from, a, r[0].lo, r[0].hi);
	} else if (n_subnets && n_r > 1) {
		/* Blocks apart: new flows spread over them by their sizes. */
		uint32_t total = 0;

		for (size_t i = 0; i < n_r; i++)
			total += (uint32_t) (r[i].hi - r[i].lo + 1);
		strbuf_appendf(&post,
			       "\t\toifname \"%s\" ip saddr { %s } meta l4proto { tcp, udp, icmp } "
			       "numgen random mod %u vmap { ",
			       fg, from, total);
		total = 0;
		for (size_t i = 0; i < n_r; i++) {
			uint32_t size = (uint32_t) (r[i].hi - r[i].lo + 1);

			ip4_format(r[i].ip, a);
			strbuf_appendf(&post, "%s%u-%u : jump snat_%zu", i ? ", " : "", total,
				       total + size - 1, i);
			total += size;
			strbuf_appendf(
				&chains,
				"\tchain snat_%zu {\n\t\tmeta l4proto { tcp, udp, icmp } snat to "
				"%s:%u-%u\n\t}\n",
				i, a, r[i].lo, r[i].hi);
		}
		strbuf_append(&post, " }\n");
	}
	if (n_subnets && owner_ip) {
		ip4_format(owner_ip, a);
		strbuf_appendf(
			&post,
			"\t\toifname \"%s\" ip saddr { %s } meta l4proto != { tcp, udp, icmp } "
			"snat to %s\n",
			fg, from, a);
	} else if (n_subnets) {
		strbuf_appendf(
			&post,
			"\t\toifname \"%s\" ip saddr { %s } meta l4proto != { tcp, udp, icmp } "
			"drop\n",
			fg, from);
	}
	if (n_others) {
		strbuf_appendf(&tables,
			       "table netdev lepton {\n\tchain forward {\n\t\ttype filter hook "
			       "ingress device \"%s\" priority 0; policy accept;\n",
			       fg);
		for (size_t i = 0; i < n_others; i++) {
			uint8_t peer[6];

			node_mac(others[i]->host, d->id, peer);
			fwd_rules(&tables, others[i], own_mac, peer);
		}
		strbuf_append(&tables, "\t}\n}\n");
	}
	strbuf_appendf(&tables,
		       "table arp lepton {\n\tchain output {\n\t\ttype filter hook output priority "
		       "0; policy accept;\n\t\toifname \"%s\" arp operation request ",
		       fg);
	for (size_t i = 0; i < d->n_addrs; i++) {
		if (!streq(d->addrs[i].dev, fg) || d->addrs[i].scope)
			continue; /* the anchor is never a source */
		ip4_format(d->addrs[i].ip, a);
		strbuf_appendf(&tables, "%s%s", n_addrs++ ? ", " : "arp saddr ip != { ", a);
	}
	strbuf_appendf(&tables, "%sarp saddr ip set 0.0.0.0\n\t}\n}\n", n_addrs ? " } " : "");
	free(r);
	out->postrouting = strbuf_steal(&post);
	out->chains = strbuf_steal(&chains);
	out->tables = strbuf_steal(&tables);
}

static void dsnat_done(struct dsnat_nft *ds)
{
	free(ds->postrouting);
	free(ds->chains);
	free(ds->tables);
}

/* Table ip lepton of a namespace: Floating IPs (DNAT in, SNAT out) and
 * SNAT of the router's subnets to its gateway address. */
static char *nat_script(const char *ext_dev, const struct m_floatingip **fips, size_t n_fips,
			const struct ip4_cidr *subnets, size_t n_subnets, uint32_t snat_ip,
			bool guard, char *extra, const struct dsnat_nft *ds)
{
	struct strbuf sb = STRBUF_INIT;
	char a[IP4_STRLEN], b[IP4_STRLEN];
	size_t i;

	strbuf_append(&sb, "table ip lepton {\n");
	if (n_fips) {
		for (int dir = 0; dir < 2; dir++) {
			strbuf_appendf(&sb, "\tmap %s { type ipv4_addr : ipv4_addr; elements = { ",
				       dir ? "fip_out" : "fip_in");
			for (i = 0; i < n_fips; i++) {
				ip4_format(dir ? fips[i]->fixed_ip : fips[i]->floating_ip, a);
				ip4_format(dir ? fips[i]->floating_ip : fips[i]->fixed_ip, b);
				strbuf_appendf(&sb, "%s%s : %s", i ? ", " : "", a, b);
			}
			strbuf_append(&sb, " }; }\n");
		}
	}
	if (guard) {
		/* Flows DNATed to a Floating IP's VM live only while that
		 * association does: disassociating (or re-associating
		 * elsewhere) ends established flows too, not only new ones. */
		strbuf_append(&sb, "\tset fip_pairs { type ipv4_addr . ipv4_addr;");
		if (n_fips) {
			strbuf_append(&sb, " elements = { ");
			for (i = 0; i < n_fips; i++) {
				ip4_format(fips[i]->floating_ip, a);
				ip4_format(fips[i]->fixed_ip, b);
				strbuf_appendf(&sb, "%s%s . %s", i ? ", " : "", a, b);
			}
			strbuf_append(&sb, " };");
		}
		strbuf_append(&sb, " }\n\tchain fip_check {\n"
				   "\t\ttype filter hook forward priority -10; policy accept;\n"
				   "\t\tct status dnat ct original ip daddr . ct reply ip saddr != "
				   "@fip_pairs drop\n\t}\n");
	}
	strbuf_append(&sb, "\tchain prerouting {\n"
			   "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	if (n_fips)
		strbuf_append(&sb, "\t\tdnat to ip daddr map @fip_in\n");
	strbuf_append(&sb, "\t}\n\tchain output {\n"
			   "\t\ttype nat hook output priority -100; policy accept;\n");
	if (n_fips)
		strbuf_append(&sb, "\t\tdnat to ip daddr map @fip_in\n");
	strbuf_append(&sb, "\t}\n\tchain postrouting {\n"
			   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (n_fips)
		strbuf_appendf(&sb, "\t\toifname \"%s\" snat to ip saddr map @fip_out\n", ext_dev);
	if (snat_ip && n_subnets) {
		char c[IP4_CIDR_STRLEN];

		strbuf_appendf(&sb, "\t\toifname \"%s\" ip saddr { ", ext_dev);
		for (i = 0; i < n_subnets; i++) {
			ip4_cidr_format(&subnets[i], c);
			strbuf_appendf(&sb, "%s%s", i ? ", " : "", c);
		}
		ip4_format(snat_ip, a);
		strbuf_appendf(&sb, " } snat to %s\n", a);
	}
	if (ds)
		strbuf_append(&sb, ds->postrouting);
	strbuf_append(&sb, "\t}\n");
	if (ds)
		strbuf_append(&sb, ds->chains);
	if (extra)
		strbuf_append(&sb, extra);
	free(extra);
	strbuf_append(&sb, "}\n");
	if (ds)
		strbuf_append(&sb, ds->tables);
	return strbuf_steal(&sb);
}

/* Router firewall (FWaaS v2): firewall groups bound to this router's
 * interface ports filter routed traffic in every instance of the router.
 * A group's ingress policy sees what enters the router through one of its
 * ports, the egress policy what leaves through one; rules in order, an
 * implicit deny at the end of each policy; a direction without a policy is
 * not filtered. Stateful: established and related traffic passes. (A
 * distributed router's instances see only part of a flow, replies may
 * cross another node's instance: there the rules judge the packets that
 * open a flow, and the rest passes; security groups stay stateful at the
 * ports.) Every field was validated by the model. */
static void fw_rule(const struct m_firewall_rule *rule, bool v6, struct strbuf *sb)
{
	static const char *const proto[] = {
		[M_FW_ANY] = "", [M_FW_ICMP] = "icmp", [M_FW_TCP] = "tcp", [M_FW_UDP] = "udp"};
	const char *fam = v6 ? "ip6" : "ip";

	/* Each family's chains hold the rules of its ip_version only. */
	if (!rule->usable || rule->v6 != v6)
		return;
	strbuf_append(sb, "\t\t");
	if (*rule->src)
		strbuf_appendf(sb, "%s saddr %s ", fam, rule->src);
	if (*rule->dst)
		strbuf_appendf(sb, "%s daddr %s ", fam, rule->dst);
	if (rule->proto != M_FW_ANY && v6)
		strbuf_appendf(sb, "meta l4proto %s ",
			       rule->proto == M_FW_ICMP ? "ipv6-icmp" : proto[rule->proto]);
	else if (rule->proto != M_FW_ANY)
		strbuf_appendf(sb, "ip protocol %s ", proto[rule->proto]);
	if (*rule->sport)
		strbuf_appendf(sb, "%s sport %s ", proto[rule->proto], rule->sport);
	if (*rule->dport)
		strbuf_appendf(sb, "%s dport %s ", proto[rule->proto], rule->dport);
	if (rule->action == M_FW_ALLOW)
		strbuf_append(sb, "return\n");
	else if (rule->action == M_FW_REJECT)
		strbuf_append(sb, rule->proto == M_FW_TCP ? "reject with tcp reset\n" : "reject\n");
	else
		strbuf_append(sb, "drop\n");
}

static void fw_policy(struct model *m, const char *chain, const char *policy_id, bool v6,
		      struct strbuf *sb)
{
	const struct m_firewall_policy *policy = model_firewall_policy(m, policy_id);

	strbuf_appendf(sb, "\tchain %s {\n", chain);
	for (size_t i = 0; policy && i < policy->n_rules; i++) {
		const struct m_firewall_rule *rule = model_firewall_rule(m, policy->rules[i]);

		if (rule)
			fw_rule(rule, v6, sb);
	}
	strbuf_append(sb, "\t\tdrop\n\t}\n");
}

/* The firewall's chains of one family: IPv4 ones for table ip lepton,
 * IPv6 ones for table ip6 lepton (both with the same groups, so the
 * implicit deny at the end of a policy holds for either family; a rule
 * applies to its ip_version only, as in Neutron). */
static char *fw_script(struct model *m, const struct rmodel *rm, bool dvr, bool v6)
{
	struct strbuf chains = STRBUF_INIT, base = STRBUF_INIT;
	size_t n = 0;

	model_track_type(m, M_FIREWALL_GROUP);
	MODEL_FOREACH(m, M_FIREWALL_GROUP, const struct m_firewall_group, g)
	{
		bool used = false;
		char leg[D_IFNAMSIZ];

		if (!g->admin_up)
			continue;
		for (size_t i = 0; i < g->n_ports; i++) {
			for (size_t j = 0; j < rm->n_ifaces; j++) {
				if (!streq(rm->ifaces[j]->o.id, g->ports[i]))
					continue;
				leg_name(leg, "qr-", rm->ifaces[j]->o.id);
				if (*g->ingress_policy)
					strbuf_appendf(&base, "\t\tiifname \"%s\" jump fw_%zu_in\n",
						       leg, n);
				if (*g->egress_policy)
					/* Not the hairpin to a SNAT port. */
					strbuf_appendf(&base,
						       "\t\toifname \"%s\" iifname != \"%s\" jump "
						       "fw_%zu_eg\n",
						       leg, leg, n);
				used = true;
			}
		}
		if (!used)
			continue;
		char name[32];
		if (*g->ingress_policy) {
			snprintf(name, sizeof(name), "fw_%zu_in", n);
			fw_policy(m, name, g->ingress_policy, v6, &chains);
		}
		if (*g->egress_policy) {
			snprintf(name, sizeof(name), "fw_%zu_eg", n);
			fw_policy(m, name, g->egress_policy, v6, &chains);
		}
		n++;
	}
	if (!n) {
		strbuf_done(&chains);
		strbuf_done(&base);
		return xstrdup("");
	}
	strbuf_appendf(&chains,
		       "\tchain firewall {\n"
		       "\t\ttype filter hook forward priority 0; policy accept;\n"
		       "\t\tct state established,related accept\n"
		       "\t\t%s\n%s\t}\n",
		       dvr ? "ct state != new accept" : "ct state invalid drop", strbuf_str(&base));
	strbuf_done(&base);
	return strbuf_steal(&chains);
}

/* Routed traffic between the router's own subnets needs no conntrack when
 * no firewall group judges it (the firewall's chains, else ""): nothing
 * translates it, and tracking it cost a lookup per packet. Addresses with
 * a Floating IP stay tracked at either end (the replies of a hairpin to a
 * Floating IP go between two of the subnets and must be translated back:
 * a distributed router's instance names its node's Floating IPs, the only
 * ones it translates). Extra chains and sets for table ip lepton; takes fw. */
static char *ew_untracked(char *fw, const struct ip4_cidr *subnets, size_t n_subnets,
			  const struct m_floatingip *const *fips, size_t n_fips)
{
	struct strbuf sb = STRBUF_INIT;
	char c[IP4_CIDR_STRLEN];

	if (*fw || !n_subnets)
		return fw;
	free(fw);
	strbuf_append(&sb, "\tset ew_nets { type ipv4_addr; flags interval; elements = { ");
	for (size_t i = 0; i < n_subnets; i++) {
		struct ip4_cidr net = {ip4_cidr_network(&subnets[i]), subnets[i].len};

		ip4_cidr_format(&net, c);
		strbuf_appendf(&sb, "%s%s", i ? ", " : "", c);
	}
	strbuf_append(&sb, " }; }\n\tset ew_natted { type ipv4_addr;");
	for (size_t i = 0; i < n_fips; i++) {
		ip4_format(fips[i]->fixed_ip, c);
		strbuf_appendf(&sb, "%s%s", i ? ", " : " elements = { ", c);
	}
	strbuf_appendf(&sb,
		       "%s }\n"
		       "\tchain ew_raw {\n"
		       "\t\ttype filter hook prerouting priority raw; policy accept;\n"
		       "\t\tip saddr @ew_nets ip daddr @ew_nets ip saddr != @ew_natted "
		       "ip daddr != @ew_natted notrack\n"
		       "\t}\n",
		       n_fips ? " };" : "");
	return strbuf_steal(&sb);
}

/* The namespace's script (taken) and, when the firewall has IPv6 chains
 * (fw6, taken), table ip6 lepton after it (replaced with table ip lepton,
 * in the same transaction). */
static char *fw6_append(char *script, char *fw6)
{
	char *out;

	if (!*fw6) {
		free(fw6);
		return script;
	}
	out = xasprintf("%stable ip6 lepton {\n%s}\n", script, fw6);
	free(script);
	free(fw6);
	return out;
}

/* Interface legs of a qrouter namespace; fills the subnets' CIDRs. */
static size_t iface_legs(struct model *m, struct d_router *d, const struct rmodel *rm,
			 struct ip4_cidr *cidrs, char (*names)[D_IFNAMSIZ], size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < rm->n_ifaces; i++) {
		const struct m_port *p = rm->ifaces[i];
		const struct m_network *net = model_network(m, p->network_id);
		const struct m_subnet *sub;
		struct ip4_cidr c;
		uint32_t ip;
		const char *leg;

		if (n == max || !net || net->type != M_NET_VXLAN || !p->has_mac)
			continue;
		if (!port_ip(m, p, &sub, &c, &ip)) {
			/* An IPv6 interface: a leg with its IPv6 addresses. */
			size_t mark = d->n_legs;

			leg = add_leg(d, "qr-", p->o.id, net, "", p->mac);
			if (!add_v6(m, d, leg, p))
				d->n_legs = mark;
			continue;
		}
		leg = add_leg(d, "qr-", p->o.id, net, "", p->mac);
		add_addr(d, leg, ip, c.len, false);
		add_neighs(m, d, leg, sub, p->o.id);
		(void) add_v6(m, d, leg, p);
		cidrs[n] = (struct ip4_cidr){ip4_cidr_network(&c), c.len};
		snprintf(names[n], D_IFNAMSIZ, "%s", leg);
		n++;
	}
	return n;
}

static void extra_routes(struct d_router *d, const struct m_router *router,
			 const struct ip4_cidr *cidrs, char (*names)[D_IFNAMSIZ], size_t n)
{
	for (size_t i = 0; i < router->n_routes; i++) {
		const struct m_route *rt = &router->routes[i];

		for (size_t k = 0; k < n; k++)
			if (ip4_cidr_contains(&cidrs[k], rt->nexthop)) {
				add_route(d, 254, rt->dst.addr, rt->dst.len, rt->nexthop, names[k],
					  false);
				break;
			}
	}
}

/* IPv6 north-south, without NAT: the VMs' addresses are the upstream's to
 * reach, as the tenant prefixes are on-link on the external segment for
 * it; the external leg answers neighbour solicitations for the addresses of
 * the router's VMs (host: only those bound there; NULL: all) and routes
 * out through the external subnet's gateway. Returns how many addresses. */
static size_t ext6_proxies(struct model *mo, struct d_router *d, const struct rmodel *m,
			   const char *host, const char *dev)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_ifaces; i++) {
		const struct m_port *rp = m->ifaces[i];

		for (size_t j = 0; j < rp->n_ips; j++) {
			const struct m_subnet *sub = model_subnet(mo, rp->ips[j].subnet_id);
			const struct m_vec *ports;

			if (rp->ips[j].is_v4 || !sub || !sub->is_v6)
				continue;
			ports = model_ports_on_network(mo, sub->network_id);
			for (size_t k = 0; k < ports->len; k++) {
				const struct m_port *p = ports->v[k];

				if (p->owner != M_OWNER_VM || (host && !streq(p->host, host)))
					continue;
				for (size_t q = 0; q < p->n_ips; q++) {
					struct r_neigh *ne;

					if (p->ips[q].is_v4 ||
					    !streq(p->ips[q].subnet_id, sub->o.id))
						continue;
					n++;
					if (!dev)
						continue;
					ne = GROW1(d->neighs, d->n_neighs);
					*ne = (struct r_neigh){.v6 = true, .proxy = true};
					memcpy(ne->ip6, p->ips[q].ip6, 16);
					snprintf(ne->dev, sizeof(ne->dev), "%s", dev);
				}
			}
		}
	}
	return n;
}

/* Whether the router carries IPv6 north-south on an external leg (bgp:
 * the leg's mode): its gateway port has an IPv6 address (the external
 * network carries IPv6) and the leg a way out: the node (BGP, with the
 * node's IPv6 address) or the external subnet's gateway. */
static bool ext6_on(const struct r_node *node, const struct rmodel *m, bool bgp)
{
	return m->has_ext6 && ((bgp && node->bgp_nexthop6) || m->has_gw6);
}

/* Out through the external subnet's gateway; a BGP leg through the node
 * when it has an IPv6 address there (the upstream learns the VMs' /128s
 * with the node as next hop: announce.h). */
static void ext6_route(struct d_router *d, const struct r_node *node, const struct rmodel *m,
		       const char *dev)
{
	struct r_route *rt = GROW1(d->routes, d->n_routes);

	*rt = (struct r_route){.table = 254, .v6 = true, .onlink = true};
	memcpy(rt->gw6, d->bgp && node->bgp_nexthop6 ? node->bgp_nexthop6 : m->ext_gw6, 16);
	snprintf(rt->dev, sizeof(rt->dev), "%s", dev);
}

static void legacy_router(struct model *mo, const struct r_node *node, struct rmodel *m,
			  struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "qrouter", m->router->o.id);
	struct ip4_cidr cidrs[MAX_IFACES];
	char names[MAX_IFACES][D_IFNAMSIZ], qg[D_IFNAMSIZ] = "";
	size_t n = iface_legs(mo, d, m, cidrs, names, MAX_IFACES);

	extra_routes(d, m->router, cidrs, names, n);
	if (m->gw) {
		ext_leg(d, node, m, "qg-", m->gw->o.id, m->gw->mac, qg);
		add_addr(d, qg, m->ext_ip, m->ext_cidr.len, true);
		add_route(d, 254, 0, 0, m->ext_gw, qg, false);
		for (size_t i = 0; i < m->n_fips; i++)
			add_addr(d, qg, m->fips[i]->floating_ip, 32, true);
		if (ext6_on(node, m, d->bgp)) {
			struct r_addr *a = GROW1(d->addrs, d->n_addrs);

			*a = (struct r_addr){.v6 = true, .prefixlen = m->ext_len6};
			memcpy(a->ip6, m->ext_ip6, 16);
			snprintf(a->dev, sizeof(a->dev), "%s", qg);
			ext6_route(d, node, m, qg);
			(void) ext6_proxies(mo, d, m, NULL, qg);
		}
	}
	d->nft = fw6_append(nat_script(qg, m->fips, m->gw ? m->n_fips : 0, cidrs, n,
				       m->gw && m->router->enable_snat ? m->ext_ip : 0, true,
				       ew_untracked(fw_script(mo, m, false, false), cidrs, n,
						    m->fips, m->n_fips),
				       NULL),
			    fw_script(mo, m, false, true));
}

static void dvr_router(struct model *mo, const struct r_node *node, struct rmodel *m,
		       struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "qrouter", m->router->o.id);
	struct ip4_cidr cidrs[MAX_IFACES];
	char names[MAX_IFACES][D_IFNAMSIZ], fg[D_IFNAMSIZ] = "";
	size_t n = iface_legs(mo, d, m, cidrs, names, MAX_IFACES);
	const struct m_floatingip **local = xcalloc(m->n_fips + 1, sizeof(*local));
	const struct m_vec *blocks = model_snat_blocks_of_router(mo, m->router->o.id);
	const struct m_snat_block **mine = xcalloc(blocks->len + 1, sizeof(*mine));
	const struct m_snat_block **others = xcalloc(blocks->len + 1, sizeof(*others));
	size_t n_local = 0, n_mine = 0, n_others = 0;
	bool policy = false, bgp = false, v6,
	     dsnat = m->gw && m->router->snat_mode == M_SNAT_DISTRIBUTED && m->router->enable_snat;
	uint32_t owned = 0; /* the first gateway address this node owns */
	struct dsnat_nft ds = {0};
	uint8_t mac[6];

	extra_routes(d, m->router, cidrs, names, n);
	/* Floating IPs of this node's VMs. */
	for (size_t i = 0; i < m->n_fips; i++) {
		const struct m_port *port = model_port(mo, m->fips[i]->port_id);

		if (port && streq(port->host, node->host))
			local[n_local++] = m->fips[i];
	}
	/* Blocks of the router's gateway addresses: this node's to SNAT with
	 * (in GRACE too: if the node sees the feed, it is not gone, and
	 * dropping the block until its heartbeat counts again would cut its
	 * VMs off the internet), the others' to forward (on the addresses this
	 * node owns: one owner per segment, seed case 2). */
	for (size_t i = 0; dsnat && i < blocks->len; i++) {
		const struct m_snat_block *b = blocks->v[i];

		if (!is_gw_ip(m->gw, b->ip))
			continue;
		if (streq(b->host, node->host))
			mine[n_mine++] = b;
		else if (streq(model_snat_owner(m->router, b->ip), node->host))
			others[n_others++] = b;
	}
	node_mac(node->host, m->router->o.id, mac);
	if (m->gw)
		(void) ext_phys(node, m->ext_net, &bgp);
	v6 = m->gw && ext6_on(node, m, bgp);
	if (m->gw && (n_local || dsnat || (v6 && ext6_proxies(mo, d, m, node->host, NULL)))) {
		ext_leg(d, node, m, "fg-", m->router->o.id, mac, fg);
		add_addr(d, fg, R_FG_ANCHOR, 32, false);
		d->addrs[d->n_addrs - 1].scope = RT_SCOPE_HOST;
		/* BGP mode: out through the node, which routes to its own
		 * upstream (the gateway's segment may be another rack's). */
		add_route(d, R_TABLE_FIP, 0, 0, d->bgp ? node->bgp_nexthop : m->ext_gw, fg, true);
		/* IPv6 from the VM's own node: out through its fg- leg, and
		 * the node answers the upstream for its own VMs' addresses
		 * (they follow a VM that moves). */
		if (v6 && ext6_proxies(mo, d, m, node->host, fg))
			ext6_route(d, node, m, fg);
		for (size_t i = 0; i < n_local; i++) {
			add_addr(d, fg, local[i]->floating_ip, 32, true);
			add_rule(d, R_PRIO_FIP, local[i]->fixed_ip, 32, R_TABLE_FIP, -1);
			policy = true;
		}
	}
	if (dsnat) {
		/* The owner holds its gateway addresses (announced when they
		 * arrive); the rest of the subnets leaves here with a block.
		 * Protocols without ports go to the first address it owns. */
		for (size_t i = 0; i < m->gw->n_ips; i++)
			if (m->gw->ips[i].is_v4 &&
			    streq(model_snat_owner(m->router, m->gw->ips[i].ip), node->host)) {
				add_addr(d, fg, m->gw->ips[i].ip, 32, true);
				owned = owned ? owned : m->gw->ips[i].ip;
			}
		for (size_t j = 0; n_mine && j < n; j++) {
			add_rule(d, R_PRIO_DSNAT, cidrs[j].addr, cidrs[j].len, R_TABLE_FIP, -1);
			policy = true;
		}
		for (size_t i = 0; i < n_mine; i++)
			d->snat_ports += (uint32_t) (mine[i]->port_max - mine[i]->port_min + 1);
		dsnat_script(d, fg, mac, cidrs, n_mine ? n : 0, mine, n_mine, others, n_others,
			     owned, &ds);
	}
	/* Centralized SNAT: the rest of each subnet goes to its SNAT port. */
	for (size_t i = 0; i < m->n_csnat; i++) {
		struct ip4_cidr c;
		uint32_t ip;

		if (!m->gw || !m->router->enable_snat || !port_ip(mo, m->csnat[i], NULL, &c, &ip))
			continue;
		for (size_t j = 0; j < n; j++) {
			if (!ip4_cidr_contains(&cidrs[j], ip))
				continue;
			add_route(d, R_TABLE_SNAT + (uint32_t) j, 0, 0, ip, names[j], false);
			add_rule(d, R_PRIO_SNAT + (uint32_t) j, cidrs[j].addr, cidrs[j].len,
				 R_TABLE_SNAT + (uint32_t) j, -1);
			policy = true;
		}
	}
	/* Connected and extra routes before any policy: main without default. */
	if (policy)
		add_rule(d, R_PRIO_MAIN, 0, 0, 254, 0);
	d->nft = fw6_append(
		nat_script(fg, local, *fg ? n_local : 0, cidrs, 0, 0, true,
			   ew_untracked(fw_script(mo, m, true, false), cidrs, n, local, n_local),
			   dsnat ? &ds : NULL),
		fw_script(mo, m, true, true));
	dsnat_done(&ds);
	free(local);
	free(mine);
	free(others);
}

static void snat_router(struct model *mo, const struct r_node *node, struct rmodel *m,
			struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "snat", m->router->o.id);
	struct ip4_cidr cidrs[MAX_IFACES];
	char qg[D_IFNAMSIZ] = "";
	size_t n = 0;

	for (size_t i = 0; i < m->n_csnat; i++) {
		const struct m_port *p = m->csnat[i];
		const struct m_network *net = model_network(mo, p->network_id);
		const struct m_subnet *sub;
		struct ip4_cidr c;
		uint32_t ip;
		const char *leg;

		if (n == MAX_IFACES || !net || !streq(p->host, node->host) || !p->has_mac ||
		    !port_ip(mo, p, &sub, &c, &ip))
			continue;
		leg = add_leg(d, "sg-", p->o.id, net, "", p->mac);
		add_addr(d, leg, ip, c.len, false);
		add_neighs(mo, d, leg, sub, p->o.id);
		cidrs[n++] = (struct ip4_cidr){ip4_cidr_network(&c), c.len};
	}
	ext_leg(d, node, m, "qg-", m->gw->o.id, m->gw->mac, qg);
	add_addr(d, qg, m->ext_ip, m->ext_cidr.len, true);
	add_route(d, 254, 0, 0, m->ext_gw, qg, false);
	d->nft = nat_script(qg, NULL, 0, cidrs, n, m->router->enable_snat ? m->ext_ip : 0, false,
			    NULL, NULL);
}

/* The namespaces a router asks for on this node (r_unit.kinds). */
enum { U_LEGACY = 1, U_DVR = 2, U_SNAT = 4 };

static unsigned router_kinds(struct model *mo, const struct r_node *node,
			     const struct m_router *router, const struct hmap *local_nets)
{
	bool here = streq(router->l3_host, node->host);
	const struct m_vec *ports;
	unsigned kinds = 0;

	if (!router->admin_up)
		return 0;
	if (!router->distributed)
		return here ? U_LEGACY : 0;
	ports = model_ports_of_device(mo, router->o.id);
	for (size_t i = 0; i < ports->len && !kinds; i++) {
		const struct m_port *p = ports->v[i];

		if (p->owner == M_OWNER_ROUTER_IF && hmap_get(local_nets, p->network_id))
			kinds = U_DVR;
	}
	if (here && router->snat_mode == M_SNAT_CENTRALIZED)
		kinds |= U_SNAT;
	return kinds;
}

/* Computes a router's namespaces into out, recording what it reads. */
static void compute_unit(struct model *mo, const struct r_node *node, const struct m_router *router,
			 struct r_unit *u, struct d_routers *out)
{
	struct rmodel m;

	model_track(mo, &u->deps);
	(void) model_router(mo, router->o.id); /* its own fields */
	load_model(mo, router, &m);
	if (u->kinds & U_LEGACY)
		legacy_router(mo, node, &m, out);
	if (u->kinds & U_DVR)
		dvr_router(mo, node, &m, out);
	if ((u->kinds & U_SNAT) && m.gw)
		snat_router(mo, node, &m, out);
	free_model(&m);
	model_track(mo, NULL);
	for (size_t i = u->first; i < out->n; i++)
		out->r[i].hash = routers_hash(&out->r[i]);
}

/* Moves a previous unit's namespaces (and what they read) into out. */
static void take_unit(struct d_routers *prev, struct r_unit *pu, struct r_unit *u,
		      struct d_routers *out)
{
	for (size_t i = 0; i < pu->n; i++) {
		*GROW1(out->r, out->n) = prev->r[pu->first + i];
		prev->r[pu->first + i] = (struct d_router){0};
	}
	u->deps = pu->deps;
	pu->deps = (struct m_deps){0};
	out->reused++;
}

void routers_compute(struct model *mo, const struct r_node *node, struct desired *l2,
		     struct d_routers *prev, struct d_routers *out)
{
	const struct m_vec *local = model_ports_on_host(mo, node->host);
	struct hmap local_nets = HMAP_INIT, before = HMAP_INIT;

	*out = (struct d_routers){0};
	for (size_t i = 0; i < local->len; i++) {
		const struct m_port *p = local->v[i];

		if (p->owner == M_OWNER_VM && *p->network_id)
			hmap_put(&local_nets, p->network_id, (void *) p);
	}
	for (size_t i = 0; prev && i < prev->n_units; i++)
		hmap_put(&before, prev->units[i].router, &prev->units[i]);
	MODEL_FOREACH(mo, M_ROUTER, const struct m_router, router)
	{
		unsigned kinds = router_kinds(mo, node, router, &local_nets);
		struct r_unit *u, *pu;

		if (!kinds)
			continue;
		u = GROW1(out->units, out->n_units);
		*u = (struct r_unit){.kinds = kinds, .first = out->n};
		snprintf(u->router, sizeof(u->router), "%s", router->o.id);
		pu = hmap_get(&before, router->o.id);
		if (pu && pu->kinds == kinds && model_deps_valid(mo, &pu->deps))
			take_unit(prev, pu, u, out);
		else
			compute_unit(mo, node, router, u, out);
		u->n = out->n - u->first;
		/* The networks its legs plug into, in the order of the legs. */
		for (size_t i = u->first; l2 && i < out->n; i++)
			for (size_t j = 0; j < out->r[i].n_legs; j++) {
				const struct r_leg *l = &out->r[i].legs[j];
				const struct m_network *net = model_network(mo, l->net_id);

				if (net)
					desired_add_network(l2, net, l->phys);
			}
	}
	hmap_done(&before);
	hmap_done(&local_nets);
}

static void router_free(struct d_router *d)
{
	free(d->legs);
	free(d->addrs);
	free(d->routes);
	free(d->rules);
	free(d->neighs);
	free(d->nft);
}

void routers_done(struct d_routers *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		router_free(&rs->r[i]);
	for (size_t i = 0; i < rs->n_units; i++)
		model_deps_done(&rs->units[i].deps);
	free(rs->r);
	free(rs->units);
	*rs = (struct d_routers){0};
}

bool routers_snat_short(const struct d_router *d, uint64_t flows)
{
	return d->snat_ports && flows * 4 >= (uint64_t) d->snat_ports * 3;
}

const struct d_router *routers_find(const struct d_routers *rs, const char *ns)
{
	for (size_t i = 0; i < rs->n; i++)
		if (streq(rs->r[i].ns, ns))
			return &rs->r[i];
	return NULL;
}

struct ns_mark {
	char ns[R_NSNAMSIZ]; /* the key */
	uint64_t hash;
};

void ns_marks_done(struct ns_marks *m)
{
	void *v;

	for (size_t i = 0; hmap_next(&m->by_ns, &i, &(const char *){NULL}, &v);)
		free(v);
	hmap_done(&m->by_ns);
}

bool ns_marks_match(const struct ns_marks *m, const struct d_router *d)
{
	const struct ns_mark *k = hmap_get(&m->by_ns, d->ns);

	return k && k->hash == d->hash;
}

void ns_marks_set(struct ns_marks *m, const char *ns, uint64_t hash)
{
	struct ns_mark *k = hmap_get(&m->by_ns, ns);

	if (!k) {
		k = xcalloc(1, sizeof(*k));
		snprintf(k->ns, sizeof(k->ns), "%s", ns);
		hmap_put(&m->by_ns, k->ns, k);
	}
	k->hash = hash;
}

void ns_marks_copy(struct ns_marks *to, const struct ns_marks *from, const char *ns)
{
	const struct ns_mark *k = hmap_get(&from->by_ns, ns);

	if (k)
		ns_marks_set(to, ns, k->hash);
}
