/* Router namespaces of a node: desired contents and plan (pure). */
#include "agent/routers.h"

#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define GROW1(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

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
	uint64_t h = 1469598103934665603ull;

	for (const char *s = host; *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ull;
	for (const char *s = router_id; *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ull;
	mac[0] = 0xfa;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t) (h >> (8 * i));
}

/* The subnet, CIDR and address of a port's first IPv4 fixed IP. */
static bool port_ip(struct replica *r, json_t *port, json_t **subnet, struct ip4_cidr *cidr,
		    uint32_t *ip)
{
	json_t *fip = json_array_get(json_object_get(port, "fixed_ips"), 0);
	json_t *sub = replica_get(r, "subnet", str(fip, "subnet_id"));

	if (!sub || ip4_cidr_parse(str(sub, "cidr"), false, cidr) < 0 ||
	    ip4_parse(str(fip, "ip_address"), ip) < 0)
		return false;
	if (subnet)
		*subnet = sub;
	return true;
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

static const char *add_leg(struct d_router *d, const char *prefix, const char *id, json_t *net,
			   const uint8_t mac[6])
{
	struct r_leg *l = GROW1(d->legs, d->n_legs);

	*l = (struct r_leg){0};
	if (!streq(prefix, "fg-"))
		snprintf(l->port_id, sizeof(l->port_id), "%s", id);
	leg_name(l->name, prefix, id);
	peer_name(l->peer, l->name);
	desired_bridge_name(str(net, "id"), l->bridge);
	memcpy(l->mac, mac, 6);
	l->mtu = (uint32_t) json_integer_value(json_object_get(net, "mtu"));
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
static void add_neighs(json_t *by_net, struct d_router *d, const char *dev, json_t *subnet,
		       const char *self_id)
{
	json_t *ports = json_object_get(by_net, str(subnet, "network_id")), *p, *ip;
	size_t i, k;

	json_array_foreach(ports, k, p) {
		uint8_t mac[6];

		if (streq(str(p, "id"), self_id) ||
		    desired_parse_mac(str(p, "mac_address"), mac) < 0)
			continue;
		json_array_foreach(json_object_get(p, "fixed_ips"), i, ip) {
			struct r_neigh *n;
			uint32_t a;

			if (!streq(str(ip, "subnet_id"), str(subnet, "id")) ||
			    ip4_parse(str(ip, "ip_address"), &a) < 0)
				continue;
			n = GROW1(d->neighs, d->n_neighs);
			*n = (struct r_neigh){.ip = a};
			snprintf(n->dev, sizeof(n->dev), "%s", dev);
			memcpy(n->mac, mac, 6);
		}
	}
}

/* The model's view of one router. */
struct rmodel {
	json_t *router;
	json_t *gw;	/* gateway port or NULL */
	json_t *ifaces; /* interface ports */
	json_t *csnat;	/* centralized SNAT ports */
	json_t *fips;	/* associated Floating IPs */
	json_t *ext_net;
	json_t *by_net; /* {network_id: [ports]}, borrowed */
	uint32_t ext_ip, ext_gw;
	struct ip4_cidr ext_cidr;
	bool snat;
};

static bool load_model(struct replica *r, json_t *router, json_t *by_device, json_t *by_net,
		       struct rmodel *m)
{
	json_t *ports = json_object_get(by_device, str(router, "id")), *p, *f, *info, *sub;
	size_t i;

	*m = (struct rmodel){.router = router,
			     .ifaces = json_array(),
			     .csnat = json_array(),
			     .fips = json_array(),
			     .by_net = by_net};
	json_array_foreach(ports, i, p) {
		const char *owner = str(p, "device_owner");

		if (streq(owner, "network:router_gateway"))
			m->gw = p;
		else if (startswith(owner, "network:router_interface"))
			json_array_append(m->ifaces, p);
		else if (streq(owner, "network:router_centralized_snat"))
			json_array_append(m->csnat, p);
	}
	info = json_object_get(router, "external_gateway_info");
	m->snat = !json_is_false(json_object_get(info, "enable_snat"));
	if (m->gw) {
		m->ext_net = replica_get(r, "network", str(m->gw, "network_id"));
		if (!m->ext_net || !port_ip(r, m->gw, &sub, &m->ext_cidr, &m->ext_ip) ||
		    ip4_parse(str(sub, "gateway_ip"), &m->ext_gw) < 0)
			m->gw = NULL;
	}
	json_array_foreach(ports, i, f) {
		/* by_device also holds the router's Floating IPs */
		if (json_object_get(f, "floating_ip_address") && *str(f, "port_id") &&
		    *str(f, "fixed_ip_address"))
			json_array_append(m->fips, f);
	}
	return true;
}

static void free_model(struct rmodel *m)
{
	json_decref(m->ifaces);
	json_decref(m->csnat);
	json_decref(m->fips);
}

/* The node's interface on the external network's physical network, or
 * NULL: a node without it cannot carry the router's external legs. */
static const char *ext_phys(const struct r_node *node, json_t *net)
{
	const char *pn = str(net, "provider:physical_network");

	if (!streq(str(net, "provider:network_type"), "flat") &&
	    !streq(str(net, "provider:network_type"), "vlan"))
		return NULL;
	return json_string_value(json_object_get(node->physnets, pn));
}

static void ext_leg(struct d_router *d, struct desired *l2, const struct r_node *node,
		    struct rmodel *m, const char *prefix, const char *id, const uint8_t mac[6],
		    char name[static D_IFNAMSIZ])
{
	const char *phys = ext_phys(node, m->ext_net);

	desired_add_network(l2, m->ext_net, phys ? phys : "");
	snprintf(name, D_IFNAMSIZ, "%s", add_leg(d, prefix, id, m->ext_net, mac));
}

/* Table ip lepton of a namespace: Floating IPs (DNAT in, SNAT out) and
 * SNAT of the router's subnets to its gateway address. */
static char *nat_script(const char *ext_dev, json_t *fips, const struct ip4_cidr *subnets,
			size_t n_subnets, uint32_t snat_ip, bool guard, char *extra)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *f;
	size_t i;

	strbuf_append(&sb, "table ip lepton {\n");
	if (json_array_size(fips)) {
		for (int dir = 0; dir < 2; dir++) {
			strbuf_appendf(&sb, "\tmap %s { type ipv4_addr : ipv4_addr; elements = { ",
				       dir ? "fip_out" : "fip_in");
			json_array_foreach(fips, i, f) {
				strbuf_appendf(
					&sb, "%s%s : %s", i ? ", " : "",
					str(f, dir ? "fixed_ip_address" : "floating_ip_address"),
					str(f, dir ? "floating_ip_address" : "fixed_ip_address"));
			}
			strbuf_append(&sb, " }; }\n");
		}
	}
	if (guard) {
		/* Flows DNATed to a Floating IP's VM live only while that
		 * association does: disassociating (or re-associating
		 * elsewhere) ends established flows too, not only new ones. */
		strbuf_append(&sb, "\tset fip_pairs { type ipv4_addr . ipv4_addr;");
		if (json_array_size(fips)) {
			strbuf_append(&sb, " elements = { ");
			json_array_foreach(fips, i, f) {
				strbuf_appendf(&sb, "%s%s . %s", i ? ", " : "",
					       str(f, "floating_ip_address"),
					       str(f, "fixed_ip_address"));
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
	if (json_array_size(fips))
		strbuf_append(&sb, "\t\tdnat to ip daddr map @fip_in\n");
	strbuf_append(&sb, "\t}\n\tchain output {\n"
			   "\t\ttype nat hook output priority -100; policy accept;\n");
	if (json_array_size(fips))
		strbuf_append(&sb, "\t\tdnat to ip daddr map @fip_in\n");
	strbuf_append(&sb, "\t}\n\tchain postrouting {\n"
			   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (json_array_size(fips))
		strbuf_appendf(&sb, "\t\toifname \"%s\" snat to ip saddr map @fip_out\n", ext_dev);
	if (snat_ip && n_subnets) {
		char a[IP4_STRLEN], c[IP4_CIDR_STRLEN];

		strbuf_appendf(&sb, "\t\toifname \"%s\" ip saddr { ", ext_dev);
		for (i = 0; i < n_subnets; i++) {
			ip4_cidr_format(&subnets[i], c);
			strbuf_appendf(&sb, "%s%s", i ? ", " : "", c);
		}
		ip4_format(snat_ip, a);
		strbuf_appendf(&sb, " } snat to %s\n", a);
	}
	strbuf_append(&sb, "\t}\n");
	if (extra)
		strbuf_append(&sb, extra);
	free(extra);
	strbuf_append(&sb, "}\n");
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
 * ports.) */
static bool fw_addr(const char *s, char out[static IP4_CIDR_STRLEN])
{
	struct ip4_cidr c;
	uint32_t a;

	if (ip4_parse(s, &a) == 0) {
		ip4_format(a, out);
		return true;
	}
	if (ip4_cidr_parse(s, true, &c) < 0)
		return false;
	c.addr = ip4_cidr_network(&c);
	ip4_cidr_format(&c, out);
	return true;
}

static bool fw_port(json_t *v, char out[static 24])
{
	unsigned lo, hi;
	char tail;
	const char *s = json_string_value(v);

	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 65536) {
		snprintf(out, 24, "%lld", (long long) json_integer_value(v));
		return true;
	}
	if (!s)
		return false;
	if (sscanf(s, "%5u:%5u%c", &lo, &hi, &tail) == 2 && lo && lo <= hi && hi < 65536) {
		snprintf(out, 24, "%u-%u", lo, hi);
		return true;
	}
	if (sscanf(s, "%5u%c", &lo, &tail) == 1 && lo && lo < 65536) {
		snprintf(out, 24, "%u", lo);
		return true;
	}
	return false;
}

static void fw_rule(json_t *rule, struct strbuf *sb)
{
	const char *proto = str(rule, "protocol"), *action = str(rule, "action");
	char a[IP4_CIDR_STRLEN], pt[24];
	struct strbuf line = STRBUF_INIT;
	bool l4 = streq(proto, "tcp") || streq(proto, "udp");

	if (json_is_false(json_object_get(rule, "enabled")) ||
	    json_integer_value(json_object_get(rule, "ip_version")) == 6)
		return;
	strbuf_append(&line, "\t\t");
	if (*str(rule, "source_ip_address")) {
		if (!fw_addr(str(rule, "source_ip_address"), a))
			goto skip;
		strbuf_appendf(&line, "ip saddr %s ", a);
	}
	if (*str(rule, "destination_ip_address")) {
		if (!fw_addr(str(rule, "destination_ip_address"), a))
			goto skip;
		strbuf_appendf(&line, "ip daddr %s ", a);
	}
	if (streq(proto, "icmp"))
		strbuf_append(&line, "ip protocol icmp ");
	else if (l4)
		strbuf_appendf(&line, "ip protocol %s ", proto);
	else if (*proto && !streq(proto, "any"))
		goto skip;
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(rule, i ? "destination_port" : "source_port");

		if (!v || json_is_null(v))
			continue;
		if (!l4 || !fw_port(v, pt))
			goto skip;
		strbuf_appendf(&line, "%s %s %s ", proto, i ? "dport" : "sport", pt);
	}
	if (streq(action, "allow"))
		strbuf_append(&line, "return\n");
	else if (streq(action, "reject"))
		strbuf_append(&line, streq(proto, "tcp") ? "reject with tcp reset\n" : "reject\n");
	else
		strbuf_append(&line, "drop\n");
	strbuf_append(sb, strbuf_str(&line));
skip:
	strbuf_done(&line);
}

static void fw_policy(struct replica *r, const char *chain, const char *policy_id,
		      struct strbuf *sb)
{
	json_t *policy = replica_get(r, "firewall_policy", policy_id), *id;
	size_t i;

	strbuf_appendf(sb, "\tchain %s {\n", chain);
	json_array_foreach(json_object_get(policy, "firewall_rules"), i, id) {
		json_t *rule = replica_get(r, "firewall_rule", json_string_value(id));

		if (rule)
			fw_rule(rule, sb);
	}
	strbuf_append(sb, "\t\tdrop\n\t}\n");
}

static char *fw_script(struct replica *r, json_t *ifaces, bool dvr)
{
	json_t *groups = replica_type(r, "firewall_group"), *g, *p, *pid;
	struct strbuf chains = STRBUF_INIT, base = STRBUF_INIT;
	const char *gid;
	size_t i, j, n = 0;

	json_object_foreach(groups, gid, g) {
		bool used = false;
		char leg[D_IFNAMSIZ];

		if (!json_is_true(json_object_get(g, "admin_state_up")))
			continue;
		json_array_foreach(json_object_get(g, "ports"), i, pid) {
			json_array_foreach(ifaces, j, p) {
				if (!streq(str(p, "id"), json_string_value(pid)))
					continue;
				leg_name(leg, "qr-", str(p, "id"));
				if (*str(g, "ingress_firewall_policy_id"))
					strbuf_appendf(&base, "\t\tiifname \"%s\" jump fw_%zu_in\n",
						       leg, n);
				if (*str(g, "egress_firewall_policy_id"))
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
		if (*str(g, "ingress_firewall_policy_id")) {
			snprintf(name, sizeof(name), "fw_%zu_in", n);
			fw_policy(r, name, str(g, "ingress_firewall_policy_id"), &chains);
		}
		if (*str(g, "egress_firewall_policy_id")) {
			snprintf(name, sizeof(name), "fw_%zu_eg", n);
			fw_policy(r, name, str(g, "egress_firewall_policy_id"), &chains);
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

/* Interface legs of a qrouter namespace; fills the subnets' CIDRs. */
static size_t iface_legs(struct replica *r, struct d_router *d, struct desired *l2, json_t *ifaces,
			 json_t *by_net, struct ip4_cidr *cidrs, char (*names)[D_IFNAMSIZ],
			 size_t max)
{
	json_t *p;
	size_t i, n = 0;

	json_array_foreach(ifaces, i, p) {
		json_t *net = replica_get(r, "network", str(p, "network_id")), *sub;
		struct ip4_cidr c;
		uint8_t mac[6];
		uint32_t ip;
		const char *leg;

		if (n == max || !net || !streq(str(net, "provider:network_type"), "vxlan") ||
		    desired_parse_mac(str(p, "mac_address"), mac) < 0 ||
		    !port_ip(r, p, &sub, &c, &ip))
			continue;
		desired_add_network(l2, net, "");
		leg = add_leg(d, "qr-", str(p, "id"), net, mac);
		add_addr(d, leg, ip, c.len, false);
		add_neighs(by_net, d, leg, sub, str(p, "id"));
		cidrs[n] = (struct ip4_cidr){ip4_cidr_network(&c), c.len};
		snprintf(names[n], D_IFNAMSIZ, "%s", leg);
		n++;
	}
	return n;
}

static void extra_routes(struct d_router *d, json_t *router, const struct ip4_cidr *cidrs,
			 char (*names)[D_IFNAMSIZ], size_t n)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(router, "routes"), i, e) {
		struct ip4_cidr dst;
		uint32_t hop;

		if (ip4_cidr_parse(str(e, "destination"), false, &dst) < 0 ||
		    ip4_parse(str(e, "nexthop"), &hop) < 0)
			continue;
		for (size_t k = 0; k < n; k++)
			if (ip4_cidr_contains(&cidrs[k], hop)) {
				add_route(d, 254, ip4_cidr_network(&dst), dst.len, hop, names[k],
					  false);
				break;
			}
	}
}

#define MAX_IFACES 64

static void legacy_router(struct replica *r, const struct r_node *node, struct desired *l2,
			  struct rmodel *m, struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "qrouter", str(m->router, "id"));
	struct ip4_cidr cidrs[MAX_IFACES];
	char names[MAX_IFACES][D_IFNAMSIZ], qg[D_IFNAMSIZ] = "";
	size_t n = iface_legs(r, d, l2, m->ifaces, m->by_net, cidrs, names, MAX_IFACES);
	json_t *f;
	size_t i;

	extra_routes(d, m->router, cidrs, names, n);
	if (m->gw) {
		uint8_t mac[6];

		desired_parse_mac(str(m->gw, "mac_address"), mac);
		ext_leg(d, l2, node, m, "qg-", str(m->gw, "id"), mac, qg);
		add_addr(d, qg, m->ext_ip, m->ext_cidr.len, false);
		add_route(d, 254, 0, 0, m->ext_gw, qg, false);
		json_array_foreach(m->fips, i, f) {
			uint32_t a;

			if (ip4_parse(str(f, "floating_ip_address"), &a) == 0)
				add_addr(d, qg, a, 32, true);
		}
	}
	d->nft = nat_script(qg, m->gw ? m->fips : NULL, cidrs, n, m->gw && m->snat ? m->ext_ip : 0,
			    true, fw_script(r, m->ifaces, false));
}

static void dvr_router(struct replica *r, const struct r_node *node, struct desired *l2,
		       struct rmodel *m, struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "qrouter", str(m->router, "id"));
	struct ip4_cidr cidrs[MAX_IFACES];
	char names[MAX_IFACES][D_IFNAMSIZ], fg[D_IFNAMSIZ] = "";
	size_t n = iface_legs(r, d, l2, m->ifaces, m->by_net, cidrs, names, MAX_IFACES);
	json_t *local = json_array(), *f, *p;
	bool policy = false;
	size_t i, j;

	extra_routes(d, m->router, cidrs, names, n);
	/* Floating IPs of this node's VMs. */
	json_array_foreach(m->fips, i, f) {
		json_t *port = replica_get(r, "port", str(f, "port_id"));

		if (port && streq(str(port, "binding:host_id"), node->host))
			json_array_append(local, f);
	}
	if (m->gw && json_array_size(local)) {
		uint8_t mac[6];

		node_mac(node->host, str(m->router, "id"), mac);
		ext_leg(d, l2, node, m, "fg-", str(m->router, "id"), mac, fg);
		add_route(d, R_TABLE_FIP, 0, 0, m->ext_gw, fg, true);
		json_array_foreach(local, i, f) {
			uint32_t a, fixed;

			if (ip4_parse(str(f, "floating_ip_address"), &a) < 0 ||
			    ip4_parse(str(f, "fixed_ip_address"), &fixed) < 0)
				continue;
			add_addr(d, fg, a, 32, true);
			add_rule(d, R_PRIO_FIP, fixed, 32, R_TABLE_FIP, -1);
			policy = true;
		}
	}
	/* Centralized SNAT: the rest of each subnet goes to its SNAT port. */
	json_array_foreach(m->csnat, i, p) {
		struct ip4_cidr c;
		uint32_t ip;

		if (!m->gw || !m->snat || !port_ip(r, p, NULL, &c, &ip))
			continue;
		for (j = 0; j < n; j++) {
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
	d->nft = nat_script(fg, *fg ? local : NULL, cidrs, 0, 0, true,
			    fw_script(r, m->ifaces, true));
	json_decref(local);
}

static void snat_router(struct replica *r, const struct r_node *node, struct desired *l2,
			struct rmodel *m, struct d_routers *out)
{
	struct d_router *d = new_router(out, node, "snat", str(m->router, "id"));
	struct ip4_cidr cidrs[MAX_IFACES];
	char qg[D_IFNAMSIZ] = "";
	uint8_t mac[6];
	json_t *p;
	size_t i, n = 0;

	json_array_foreach(m->csnat, i, p) {
		json_t *net = replica_get(r, "network", str(p, "network_id")), *sub;
		struct ip4_cidr c;
		uint32_t ip;
		const char *leg;

		if (n == MAX_IFACES || !net || !streq(str(p, "binding:host_id"), node->host) ||
		    desired_parse_mac(str(p, "mac_address"), mac) < 0 ||
		    !port_ip(r, p, &sub, &c, &ip))
			continue;
		desired_add_network(l2, net, "");
		leg = add_leg(d, "sg-", str(p, "id"), net, mac);
		add_addr(d, leg, ip, c.len, false);
		add_neighs(m->by_net, d, leg, sub, str(p, "id"));
		cidrs[n++] = (struct ip4_cidr){ip4_cidr_network(&c), c.len};
	}
	desired_parse_mac(str(m->gw, "mac_address"), mac);
	ext_leg(d, l2, node, m, "qg-", str(m->gw, "id"), mac, qg);
	add_addr(d, qg, m->ext_ip, m->ext_cidr.len, false);
	add_route(d, 254, 0, 0, m->ext_gw, qg, false);
	d->nft = nat_script(qg, NULL, cidrs, n, m->snat ? m->ext_ip : 0, false, NULL);
}

void routers_compute(struct replica *r, const struct r_node *node, struct desired *l2,
		     struct d_routers *out)
{
	json_t *routers = replica_type(r, "router"), *ports = replica_type(r, "port");
	json_t *by_device = json_object(), *local_nets = json_object(), *by_net = json_object();
	json_t *router, *p, *arr;
	const char *id;

	*out = (struct d_routers){0};
	json_object_foreach(ports, id, p) {
		const char *owner = str(p, "device_owner");

		arr = json_object_get(by_net, str(p, "network_id"));
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_net, str(p, "network_id"), arr);
		}
		json_array_append(arr, p);

		if (startswith(owner, "network:router_")) {
			arr = json_object_get(by_device, str(p, "device_id"));

			if (!arr) {
				arr = json_array();
				json_object_set_new(by_device, str(p, "device_id"), arr);
			}
			json_array_append(arr, p);
		} else if (!startswith(owner, "network:") &&
			   streq(str(p, "binding:host_id"), node->host)) {
			json_object_set_new(local_nets, str(p, "network_id"), json_true());
		}
	}
	/* Floating IPs by router, with the router's ports. */
	json_object_foreach(replica_type(r, "floatingip"), id, p) {
		if (!*str(p, "router_id"))
			continue;
		arr = json_object_get(by_device, str(p, "router_id"));
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_device, str(p, "router_id"), arr);
		}
		json_array_append(arr, p);
	}
	json_object_foreach(routers, id, router) {
		bool dvr = json_is_true(json_object_get(router, "distributed"));
		bool here = streq(str(router, "lepton:l3_host"), node->host);
		struct rmodel m;
		json_t *ifc;
		size_t i;

		if (!json_is_true(json_object_get(router, "admin_state_up")) ||
		    !load_model(r, router, by_device, by_net, &m))
			continue;
		if (!dvr) {
			if (here)
				legacy_router(r, node, l2, &m, out);
		} else {
			bool local = false;

			json_array_foreach(m.ifaces, i, ifc)
				local = local ||
					json_object_get(local_nets, str(ifc, "network_id"));
			if (local)
				dvr_router(r, node, l2, &m, out);
			if (here && m.gw && streq(str(router, "snat_mode"), "centralized"))
				snat_router(r, node, l2, &m, out);
		}
		free_model(&m);
	}
	json_decref(by_device);
	json_decref(local_nets);
	json_decref(by_net);
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
	free(rs->r);
	*rs = (struct d_routers){0};
}

const struct d_router *routers_find(const struct d_routers *rs, const char *ns)
{
	for (size_t i = 0; i < rs->n; i++)
		if (streq(rs->r[i].ns, ns))
			return &rs->r[i];
	return NULL;
}
