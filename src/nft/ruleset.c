/* nftables ruleset building and diffing (pure). */
#include "nft/ruleset.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/hash.h"
#include "base/hmap.h"
#include "base/ipaddr.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define BRIDGE "bridge lepton"
#define NETDEV "netdev lepton"
#define INET   "inet lepton"

static void mac_str(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* A source a port may use: a MAC and an IPv4 prefix. */
struct src {
	uint8_t mac[6];
	struct ip4_cidr cidr;
};

/* The port's sources with host bits cleared, without duplicates nor
 * prefixes inside another of the same MAC (with `any_mac`, of any MAC):
 * interval sets refuse overlapping elements. Returns how many. */
static size_t port_sources(const struct nft_port_in *p, bool any_mac, struct src *out)
{
	struct src all[1 + ARRAY_SIZE(p->ips) + ARRAY_SIZE(p->pairs)];
	size_t n = 0, kept = 0;

	all[n++] = (struct src){.cidr = {0, 32}};
	memcpy(all[0].mac, p->mac, 6);
	for (size_t i = 0; i < p->n_ips; i++) {
		all[n] = (struct src){.cidr = {p->ips[i], 32}};
		memcpy(all[n++].mac, p->mac, 6);
	}
	for (size_t i = 0; i < p->n_pairs; i++) {
		all[n] = (struct src){.cidr = p->pairs[i].cidr};
		all[n].cidr.addr = ip4_cidr_network(&all[n].cidr);
		memcpy(all[n++].mac, p->pairs[i].mac, 6);
	}
	for (size_t i = 0; i < n; i++) {
		bool covered = false;

		for (size_t j = 0; j < n && !covered; j++)
			covered = j != i && (any_mac || memcmp(all[j].mac, all[i].mac, 6) == 0) &&
				  ip4_cidr_contains(&all[j].cidr, all[i].cidr.addr) &&
				  (all[j].cidr.len < all[i].cidr.len ||
				   (all[j].cidr.len == all[i].cidr.len && j < i));
		if (!covered)
			out[kept++] = all[i];
	}
	return kept;
}

static char *cidr_str(const struct ip4_cidr *c)
{
	char buf[IP4_CIDR_STRLEN];

	if (c->len == 32)
		ip4_format(c->addr, buf);
	else
		ip4_cidr_format(c, buf);
	return xstrdup(buf);
}

static int cmp_cidr6(const void *a, const void *b)
{
	const struct nft_cidr6 *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);

	return c ? c : (int) x->len - (int) y->len;
}

/* IPv6 prefixes (host bits cleared), sorted, without duplicates nor
 * prefixes inside another (an interval set refuses overlaps), in place;
 * returns how many are left. Sorted, prefixes nest or are disjoint: only
 * the last one kept can hold the next. */
static size_t cidrs6_disjoint(struct nft_cidr6 *v, size_t n)
{
	size_t kept = 0;

	qsort(v, n, sizeof(*v), cmp_cidr6);
	for (size_t i = 0; i < n; i++)
		if (!kept || !ip6_prefix_contains(v[kept - 1].addr, v[kept - 1].len, v[i].addr))
			v[kept++] = v[i];
	return kept;
}

static char *cidr6_str(const struct nft_cidr6 *c)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, c->addr, a, sizeof(a));
	return c->len == 128 ? xstrdup(a) : xasprintf("%s/%u", a, c->len);
}

/* A source a port may use over IPv6: a MAC and a prefix. */
struct src6 {
	uint8_t mac[6];
	struct nft_cidr6 cidr;
};

static int cmp_src6(const void *a, const void *b)
{
	const struct src6 *x = a, *y = b;
	int c = memcmp(x->mac, y->mac, 6);

	return c ? c : cmp_cidr6(&x->cidr, &y->cidr);
}

/* The port's IPv6 sources: :: (duplicate address detection, RFC 4862
 * section 5.4.2), its link-local address (the kernel's, from its MAC), its
 * addresses, its IPv6 allowed address pairs; per MAC without duplicates
 * nor prefixes inside another. Returns how many. */
static size_t port_sources6(const struct nft_port_in *p, struct src6 *out)
{
	size_t n = 0, kept = 0;

	out[n++] = (struct src6){.cidr.len = 128};
	out[n] = (struct src6){.cidr.len = 128};
	ip6_link_local(p->mac, out[n++].cidr.addr);
	for (size_t i = 0; i < p->n_ips6; i++) {
		out[n] = (struct src6){.cidr.len = 128};
		memcpy(out[n++].cidr.addr, p->ips6[i], 16);
	}
	for (size_t i = 0; i < n; i++)
		memcpy(out[i].mac, p->mac, 6);
	for (size_t i = 0; i < p->n_pairs6; i++) {
		out[n] = (struct src6){.cidr = p->pairs6[i].cidr};
		memcpy(out[n++].mac, p->pairs6[i].mac, 6);
	}
	qsort(out, n, sizeof(*out), cmp_src6);
	for (size_t i = 0; i < n; i++)
		if (!kept || memcmp(out[kept - 1].mac, out[i].mac, 6) ||
		    !ip6_prefix_contains(out[kept - 1].cidr.addr, out[kept - 1].cidr.len,
					 out[i].cidr.addr))
			out[kept++] = out[i];
	return kept;
}

static bool proto_with_ports(const char *p)
{
	return streq(p, "tcp") || streq(p, "udp") || streq(p, "sctp") || streq(p, "dccp") ||
	       streq(p, "6") || streq(p, "17") || streq(p, "132") || streq(p, "33");
}

/* Neutron protocol names -> nft l4proto; NULL when unknown. */
static const char *l4proto(const char *p, bool ipv6)
{
	static const struct {
		const char *name, *nft;
	} map[] = {
		{"tcp", "tcp"},	      {"udp", "udp"},	    {"sctp", "sctp"},
		{"dccp", "dccp"},     {"gre", "gre"},	    {"esp", "esp"},
		{"ah", "ah"},	      {"igmp", "igmp"},	    {"vrrp", "112"},
		{"ospf", "89"},	      {"pgm", "113"},	    {"rsvp", "46"},
		{"egp", "8"},	      {"encap", "98"},	    {"ipip", "4"},
		{"l2tp", "115"},      {"udplite", "136"},   {"ipv6-encap", "41"},
		{"ipv6-frag", "44"},  {"ipv6-nonxt", "59"}, {"ipv6-opts", "60"},
		{"ipv6-route", "43"},
	};

	if (streq(p, "icmp"))
		return ipv6 ? "ipv6-icmp" : "icmp";
	if (streq(p, "icmpv6") || streq(p, "ipv6-icmp"))
		return "ipv6-icmp";
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (streq(p, map[i].name))
			return map[i].nft;
	if (*p && strspn(p, "0123456789") == strlen(p) && atoi(p) <= 255)
		return p;
	return NULL;
}

/* One security group rule as an nft rule line; false when inexpressible.
 * `netdev`: for a chain of the netdev table, which has no nfproto (the
 * frame's ether type says the same). */
static bool rule_line(const struct nft_rule_in *r, bool netdev, struct strbuf *sb)
{
	const char *fam = r->ipv6 ? "ip6" : "ip";
	const char *dir = r->ingress ? "saddr" : "daddr";

	if (netdev)
		strbuf_appendf(sb, "meta protocol %s", fam);
	else
		strbuf_appendf(sb, "meta nfproto %s", r->ipv6 ? "ipv6" : "ipv4");
	if (*r->proto) {
		const char *l4 = l4proto(r->proto, r->ipv6);

		if (!l4)
			return false;
		strbuf_appendf(sb, " meta l4proto %s", l4);
		if (proto_with_ports(r->proto) && r->pmin >= 0) {
			if (r->pmax >= 0 && r->pmax != r->pmin)
				strbuf_appendf(sb, " th dport %d-%d", r->pmin, r->pmax);
			else
				strbuf_appendf(sb, " th dport %d", r->pmin);
		} else if (streq(l4, "icmp") || streq(l4, "ipv6-icmp")) {
			const char *icmp = streq(l4, "icmp") ? "icmp" : "icmpv6";

			if (r->pmin >= 0)
				strbuf_appendf(sb, " %s type %d", icmp, r->pmin);
			if (r->pmin >= 0 && r->pmax >= 0)
				strbuf_appendf(sb, " %s code %d", icmp, r->pmax);
		}
	}
	if (*r->remote_prefix)
		strbuf_appendf(sb, " %s %s %s", fam, dir, r->remote_prefix);
	if (*r->remote_group)
		strbuf_appendf(sb, " %s %s @rg%s_%s", fam, dir, r->ipv6 ? "6" : "",
			       r->remote_group);
	if (*r->remote_address_group)
		strbuf_appendf(sb, " %s %s @ag%s_%s", fam, dir, r->ipv6 ? "6" : "",
			       r->remote_address_group);
	/* An egress accept goes on to the destination's ingress (one base
	 * chain holds both, see the skeleton). */
	strbuf_append(sb, r->ingress ? " accept\n" : " goto dest_in\n");
	return true;
}

/* A field that may be missing (NULL hashes as ""). */
static uint64_t mix(uint64_t h, const char *s)
{
	return fnv_field(h, s ? s : "");
}

/* The maps of the skeleton; their elements come from the pieces. */
static const char MAP_ZONES[] = "zones", SET_BRIDGES[] = "bridges", MAP_EGRESS[] = "egress",
		  MAP_INGRESS[] = "ingress", SET_DHCP_LOCAL[] = "dhcp_local",
		  MAP_PORT_MARK[] = "port_mark", MAP_PORT_PRIO[] = "port_prio",
		  SET_TRACKED[] = "tracked", SET_MACS[] = "macs", SET_IP_SRC[] = "ip_src",
		  SET_IP_SRC_NET[] = "ip_src_net", SET_ARP_IPS[] = "arp_ips",
		  SET_IP6_SRC[] = "ip6_src", SET_IP6_SRC_NET[] = "ip6_src_net";
static const char RG_DECL[] = "{ type ipv4_addr; flags interval; }";
static const char RG6_DECL[] = "{ type ipv6_addr; flags interval; }";

static struct nft_piece *piece_new(const char *key, const void *in, size_t len)
{
	struct nft_piece *p = xcalloc(1, sizeof(*p));

	p->refs = 1;
	p->key = xstrdup(key);
	p->in = xmalloc(len ? len : 1);
	if (len)
		memcpy(p->in, in, len);
	p->in_len = len;
	return p;
}

static void piece_chain(struct nft_piece *p, const char *table, char *name, char *rules)
{
	p->chains = xrealloc(p->chains, (p->n_chains + 1) * sizeof(*p->chains));
	p->chains[p->n_chains++] = (struct nft_chain){table, name, rules, NULL};
}

/* A base chain: `hook` is its "type ... policy ...;" (taken). */
static void piece_base_chain(struct nft_piece *p, const char *table, char *name, char *hook,
			     char *rules)
{
	piece_chain(p, table, name, rules);
	p->chains[p->n_chains - 1].hook = hook;
}

static void piece_elem(struct nft_piece *p, size_t *cap, const char *table, const char *coll,
		       char *key, char *value)
{
	if (p->n_elems == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		p->elems = xrealloc(p->elems, *cap * sizeof(*p->elems));
	}
	p->elems[p->n_elems++] = (struct nft_elem){table, coll, key, value};
}

static void piece_seal(struct nft_piece *p)
{
	uint64_t h =
		mix(mix(mix(mix(FNV_OFFSET, p->key), p->set), p->decl), p->set_netdev ? "n" : "i");

	for (size_t i = 0; i < p->n_chains; i++)
		h = mix(mix(mix(mix(h, p->chains[i].table), p->chains[i].name), p->chains[i].rules),
			p->chains[i].hook);
	for (size_t i = 0; i < p->n_elems; i++)
		h = mix(mix(mix(mix(h, p->elems[i].table), p->elems[i].coll), p->elems[i].key),
			p->elems[i].value);
	p->hash = h;
}

static void piece_unref(struct nft_piece *p)
{
	if (--p->refs)
		return;
	for (size_t i = 0; i < p->n_chains; i++) {
		free(p->chains[i].name);
		free(p->chains[i].rules);
		free(p->chains[i].hook);
	}
	for (size_t i = 0; i < p->n_elems; i++) {
		free(p->elems[i].key);
		free(p->elems[i].value);
	}
	free(p->chains);
	free(p->elems);
	free(p->set);
	free(p->in);
	free(p->key);
	free(p);
}

struct builder {
	struct nft_state *out;
	size_t cap;
	struct hmap prev; /* key -> piece of the previous state */
	struct hmap done; /* keys of the shared pieces already built */
	bool netdev;	  /* the input's mode */
};

static void push(struct builder *b, struct nft_piece *p)
{
	if (b->out->n_pieces == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->out->pieces = xrealloc(b->out->pieces, b->cap * sizeof(*b->out->pieces));
	}
	b->out->pieces[b->out->n_pieces++] = p;
}

/* The previous state's piece for `key` if it was built from the same input. */
static bool take(struct builder *b, const char *key, const void *in, size_t len)
{
	struct nft_piece *p = hmap_get(&b->prev, key);

	if (!p || p->in_len != len || (len && memcmp(p->in, in, len) != 0))
		return false;
	p->refs++;
	push(b, p);
	return true;
}

static void build_zones(struct builder *b, const struct nft_input *in)
{
	size_t len = in->n_zones * sizeof(*in->zones), cap = 0;
	struct nft_piece *p;

	if (take(b, "z", in->zones, len))
		return;
	p = piece_new("z", in->zones, len);
	for (size_t i = 0; i < in->n_zones; i++) {
		piece_elem(p, &cap, INET, MAP_ZONES, xasprintf("\"%s\"", in->zones[i].bridge),
			   xasprintf("%u", in->zones[i].zone));
		if (b->netdev)
			piece_elem(p, &cap, INET, SET_BRIDGES,
				   xasprintf("\"%s\"", in->zones[i].bridge), NULL);
	}
	piece_seal(p);
	push(b, p);
}

/* The priority tag a port's index takes on the way out (see the
 * skeleton): "4c45:<index>", a major number ("LE") no other traffic of the
 * node uses. */
#define PRIO_TAG "4c45"

/* What a port with port security jumps to: the chains of its set of
 * security groups (sorted; shared by every port with the same set). */
struct combo_in {
	char sgs[8][37];
	size_t n_sgs;
	bool dhcp_central;
};

static int cmp_sg(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void port_combo(const struct nft_port_in *port, struct combo_in *c, char name[24])
{
	uint64_t h = FNV_OFFSET;

	memset(c, 0, sizeof(*c));
	memcpy(c->sgs, port->sgs, sizeof(c->sgs));
	c->n_sgs = port->n_sgs;
	c->dhcp_central = port->dhcp_central;
	qsort(c->sgs, c->n_sgs, sizeof(c->sgs[0]), cmp_sg);
	for (size_t i = 0; i < c->n_sgs; i++)
		h = mix(h, c->sgs[i]);
	h = mix(h, c->dhcp_central ? "c" : "l");
	snprintf(name, 24, "set_%016llx", (unsigned long long) h);
}

/* The bridge table's mark of a port: its index with the secured bit, or
 * the open bit alone; the skeleton's prerouting chain branches on them. */
#define MARK_SECURED 0x10000
#define MARK_OPEN    0x20000
#define MARK_BITS    0x30000
#define STR_(x)	     #x
#define STR(x)	     STR_(x)

/* Netdev mode: which bridged packets conntrack sees (see skeleton_netdev):
 * from a port with port security (its mark), to a tracked MAC or to a
 * group address, each in its bridge's zone; the other bridged ones not. */
/* clang-format off */
static const char TRACKED_DECISION[] =
	"meta mark and " STR(MARK_SECURED) " == " STR(MARK_SECURED)
	" ct zone set iifname map @zones accept\n"
	"ether daddr @tracked ct zone set iifname map @zones accept\n"
	"ether daddr and 01:00:00:00:00:00 == 01:00:00:00:00:00 ct zone set iifname map @zones accept\n"
	"iifname @bridges notrack accept\n";
/* clang-format on */

/* The raw chains (piece "t"), built from the node's VXLAN endpoint and the
 * mode. Its own VXLAN packets, outer headers, skip conntrack: nothing in
 * the tables looks at them, and tracking them cost a conntrack lookup
 * (and an entry per peer) for every encapsulated packet, both ways. They
 * are recognised by constants, first where they arrive from the underlay
 * device: an underlay packet meets one rule, a bridged one a name
 * compare. (A bridged packet to the endpoint's address and port is not
 * one of them: a VM could send it, and it must meet the groups; the last
 * rule catches the endpoint's packets on any other device.) Bridge mode:
 * untracked packets (notrack in the bridge table, or in a table of the
 * operator's) leave at once, the others take their bridge's zone. Netdev
 * mode: the same, then the tracked decision the bridge table made in that
 * mode (see skeleton_netdev). */
static void build_raw(struct builder *b, const struct nft_input *in)
{
	struct {
		uint32_t ip;
		uint16_t port;
		bool netdev;
		char dev[16];
	} key;
	struct strbuf pre = STRBUF_INIT;
	char ip[IP4_STRLEN], *tun = NULL;
	struct nft_piece *p;

	memset(&key, 0, sizeof(key));
	key.ip = in->tunnel_ip;
	key.port = in->tunnel_port;
	key.netdev = b->netdev;
	memcpy(key.dev, in->tunnel_dev, sizeof(key.dev));
	if (take(b, "t", &key, sizeof(key)))
		return;
	p = piece_new("t", &key, sizeof(key));
	if (in->tunnel_ip) {
		ip4_format(in->tunnel_ip, ip);
		tun = xasprintf("udp dport %u notrack", in->tunnel_port);
		if (in->tunnel_dev[0])
			strbuf_appendf(&pre, "iifname \"%s\" ip daddr %s %s accept\n",
				       in->tunnel_dev, ip, tun);
		piece_base_chain(p, INET, xstrdup("tunnel_out"),
				 xstrdup("type filter hook output priority -310; policy accept;"),
				 xasprintf("ip saddr %s %s\n", ip, tun));
	}
	strbuf_append(&pre, "ct state untracked accept\n");
	strbuf_append(&pre,
		      b->netdev ? TRACKED_DECISION : "ct zone set iifname map @zones accept\n");
	if (tun)
		strbuf_appendf(&pre, "ip daddr %s %s\n", ip, tun);
	piece_base_chain(p, INET, xstrdup("prerouting"),
			 xstrdup("type filter hook prerouting priority -300; policy accept;"),
			 strbuf_steal(&pre));
	free(tun);
	piece_seal(p);
	push(b, p);
}

/* The rules of a secured port's ingress chain: its mark; then TCP from
 * its own MAC and one of its own addresses, the bulk of its traffic,
 * passes at once on constants the chain holds (what sec_in would conclude
 * with two jumps, a verdict map and a lookup keyed by the mark: TCP never
 * meets the guard); the rest goes through sec_in. */
static char *secured_in_rules(const struct nft_port_in *port, const char *mark)
{
	struct strbuf sb = STRBUF_INIT;
	char mac[18];

	mac_str(port->mac, mac);
	strbuf_appendf(&sb, "meta mark set %s\n", mark);
	for (size_t i = 0; i < port->n_ips; i++) {
		char ip[IP4_STRLEN];

		ip4_format(port->ips[i], ip);
		strbuf_appendf(&sb, "ether saddr %s ip saddr %s meta l4proto tcp accept\n", mac,
			       ip);
	}
	for (size_t i = 0; i < port->n_ips6; i++) {
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, port->ips6[i], ip, sizeof(ip));
		strbuf_appendf(&sb, "ether saddr %s ip6 saddr %s meta l4proto tcp accept\n", mac,
			       ip);
	}
	strbuf_append(&sb, "jump sec_in\n");
	return strbuf_steal(&sb);
}

/* Netdev mode: the port's own base chains on its tap (the kernel hooks a
 * chain by the device's name, before the device exists and after it
 * goes). In: the mark and anti-spoofing of a port with port security, the
 * guard of one without. Out (port security only): group-addressed IP
 * frames meet the port's ingress rules (see build_combo). */
static void port_chains(struct nft_piece *p, const struct nft_port_in *port, const char *mark,
			const char *combo_name)
{
	piece_base_chain(
		p, NETDEV, xasprintf("in_%s", port->tap),
		xasprintf("type filter hook ingress device \"%s\" priority 0; policy accept;",
			  port->tap),
		port->port_security ? secured_in_rules(port, mark)
				    : xstrdup("meta l4proto { udp, ipv6-icmp } jump guard\n"));
	if (!port->port_security)
		return;
	piece_base_chain(
		p, NETDEV, xasprintf("out_%s", port->tap),
		xasprintf("type filter hook egress device \"%s\" priority 0; policy accept;",
			  port->tap),
		xasprintf("ether daddr and 01:00:00:00:00:00 == 01:00:00:00:00:00 "
			  "meta protocol { ip, ip6 } jump %s_gin\n",
			  combo_name));
}

/* A port is elements of the fixed sets and maps: its mark, the
 * anti-spoofing sets keyed by that mark, its priority tag (bridge mode),
 * and the verdicts that send its packets to its security groups' chains;
 * in netdev mode also its tap's base chains (port_chains). */
static void build_port(struct builder *b, const struct nft_port_in *port)
{
	const char *pt = b->netdev ? NETDEV : BRIDGE;
	struct src srcs[1 + ARRAY_SIZE(port->ips) + ARRAY_SIZE(port->pairs)];
	struct src6 srcs6[2 + ARRAY_SIZE(port->ips6) + ARRAY_SIZE(port->pairs6)];
	struct nft_piece *p;
	struct combo_in combo;
	char key[32], tap[20], combo_name[24], mac[18], mark[12];
	size_t cap = 0, n;

	snprintf(key, sizeof(key), "p:%s", port->tap);
	if (take(b, key, port, sizeof(*port)))
		return;
	p = piece_new(key, port, sizeof(*port));
	snprintf(tap, sizeof(tap), "\"%s\"", port->tap);
	snprintf(mark, sizeof(mark), "0x%x",
		 port->port_security ? MARK_SECURED | (unsigned) port->idx : MARK_OPEN);
	if (port->port_security)
		port_combo(port, &combo, combo_name);
	if (b->netdev)
		port_chains(p, port, mark, combo_name);
	else
		piece_elem(p, &cap, BRIDGE, MAP_PORT_MARK, xstrdup(tap), xstrdup(mark));
	if (!port->dhcp_central)
		piece_elem(p, &cap, pt, SET_DHCP_LOCAL, xstrdup(tap), NULL);
	if (port->port_security) {
		if (!b->netdev)
			piece_elem(p, &cap, BRIDGE, MAP_PORT_PRIO, xstrdup(tap),
				   xasprintf(PRIO_TAG ":%x", port->idx));
		/* MACs: the port's and its address pairs'. */
		n = port_sources(port, false, srcs);
		for (size_t i = 0; i < n; i++) {
			bool seen = false;

			for (size_t j = 0; j < i && !seen; j++)
				seen = memcmp(srcs[j].mac, srcs[i].mac, 6) == 0;
			if (seen)
				continue;
			mac_str(srcs[i].mac, mac);
			piece_elem(p, &cap, pt, SET_MACS, xasprintf("%s . %s", mark, mac), NULL);
		}
		for (size_t i = 0; i < port->n_pairs6; i++) {
			const uint8_t *m = port->pairs6[i].mac;
			bool seen = false;

			for (size_t j = 0; j < n && !seen; j++)
				seen = memcmp(srcs[j].mac, m, 6) == 0;
			for (size_t j = 0; j < i && !seen; j++)
				seen = memcmp(port->pairs6[j].mac, m, 6) == 0;
			if (seen)
				continue;
			mac_str(m, mac);
			piece_elem(p, &cap, pt, SET_MACS, xasprintf("%s . %s", mark, mac), NULL);
		}
		/* IPv4: the (MAC, source) pair must be the port's own (or
		 * 0.0.0.0, DHCP) or an allowed address pair; single
		 * addresses in a hash set, prefixes in an interval one. */
		for (size_t i = 0; i < n; i++) {
			char *c = cidr_str(&srcs[i].cidr);

			mac_str(srcs[i].mac, mac);
			piece_elem(p, &cap, pt,
				   srcs[i].cidr.len == 32 ? SET_IP_SRC : SET_IP_SRC_NET,
				   xasprintf("%s . %s . %s", mark, mac, c), NULL);
			free(c);
		}
		/* ARP: the sender address, whatever the MAC; 0.0.0.0 for
		 * probes (RFC 5227). Always with its prefix length: nft
		 * 1.0.6 deletes a bare address from an interval set whose
		 * key starts with a mark as another element than it added
		 * (the kernel answers ENOENT, and the whole transaction
		 * failed each time a port left), "/32" it deletes right. */
		n = port_sources(port, true, srcs);
		for (size_t i = 0; i < n; i++) {
			char c[IP4_CIDR_STRLEN];

			ip4_cidr_format(&srcs[i].cidr, c);
			piece_elem(p, &cap, pt, SET_ARP_IPS, xasprintf("%s . %s", mark, c), NULL);
		}
		/* IPv6: the (MAC, source) pair must be one of the port's
		 * (port_sources6) or an IPv6 allowed address pair. */
		n = port_sources6(port, srcs6);
		for (size_t i = 0; i < n; i++) {
			char *c = cidr6_str(&srcs6[i].cidr);

			mac_str(srcs6[i].mac, mac);
			piece_elem(p, &cap, pt,
				   srcs6[i].cidr.len == 128 ? SET_IP6_SRC : SET_IP6_SRC_NET,
				   xasprintf("%s . %s . %s", mark, mac, c), NULL);
			free(c);
		}
		piece_elem(p, &cap, INET, MAP_EGRESS, xasprintf("0x%x", port->idx),
			   xasprintf("jump %s_eg", combo_name));
		if (!b->netdev)
			piece_elem(p, &cap, INET, MAP_INGRESS, xasprintf(PRIO_TAG ":%x", port->idx),
				   xasprintf("jump %s_in", combo_name));
	}
	piece_seal(p);
	push(b, p);
}

static int cmp_mac(const void *a, const void *b)
{
	return memcmp(a, b, 6);
}

static void add_mac(uint8_t (**macs)[6], size_t *n, size_t *cap, const uint8_t mac[6])
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*macs = xrealloc(*macs, *cap * sizeof(**macs));
	}
	memcpy((*macs)[(*n)++], mac, 6);
}

/* The destination MACs whose frames conntrack must see: those of the
 * ports with port security (and of their address pairs), one element
 * each however many ports share it. Frames between ports without port
 * security are not tracked (no rule would look at their state). */
static void build_tracked(struct builder *b, const struct nft_input *in)
{
	uint8_t(*macs)[6] = NULL;
	size_t n = 0, cap = 0, ecap = 0, k = 0;
	struct nft_piece *p;
	char mac[18];

	for (size_t i = 0; i < in->n_ports; i++) {
		const struct nft_port_in *port = &in->ports[i];

		if (!port->port_security)
			continue;
		add_mac(&macs, &n, &cap, port->mac);
		for (size_t j = 0; j < port->n_pairs; j++)
			add_mac(&macs, &n, &cap, port->pairs[j].mac);
		for (size_t j = 0; j < port->n_pairs6; j++)
			add_mac(&macs, &n, &cap, port->pairs6[j].mac);
	}
	if (n)
		qsort(macs, n, sizeof(*macs), cmp_mac);
	for (size_t i = 0; i < n; i++)
		if (!k || memcmp(macs[k - 1], macs[i], 6) != 0)
			memmove(macs[k++], macs[i], 6);
	n = k;
	if (take(b, "m", macs, n * sizeof(*macs))) {
		free(macs);
		return;
	}
	p = piece_new("m", macs, n * sizeof(*macs));
	for (size_t i = 0; i < n; i++) {
		mac_str(macs[i], mac);
		piece_elem(p, &ecap, b->netdev ? INET : BRIDGE, SET_TRACKED, xstrdup(mac), NULL);
	}
	free(macs);
	piece_seal(p);
	push(b, p);
}

/* Netdev mode: a frame's ingress verdict is keyed by its bridge and
 * destination MAC (inet forward sees the bridge, not the port). */
struct dest_in {
	char bridge[16];
	uint8_t mac[6];
	char combo[24];
	size_t order; /* in the input, while sorting; then 0 */
};

static int cmp_key(const struct dest_in *x, const struct dest_in *y)
{
	int c = strcmp(x->bridge, y->bridge);

	return c ? c : memcmp(x->mac, y->mac, 6);
}

static int cmp_dest(const void *a, const void *b)
{
	const struct dest_in *x = a, *y = b;
	int c = cmp_key(x, y);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void add_dest(struct dest_in **v, size_t *n, size_t *cap, const struct nft_port_in *port,
		     const uint8_t mac[6], const char *combo)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	memcpy((*v)[*n].bridge, port->bridge, sizeof(port->bridge));
	memcpy((*v)[*n].mac, mac, 6);
	snprintf((*v)[*n].combo, sizeof((*v)[*n].combo), "%s", combo);
	(*v)[*n].order = *n;
	(*n)++;
}

/* The ingress verdicts of the ports with port security, one per bridge
 * and MAC: the port's and its address pairs'. Two ports of one bridge
 * with the same MAC (a shared address pair's) are one key: the first in
 * input order keeps it (the bridge delivers such frames to one of them
 * only, and ports sharing a MAC share their groups as a rule). */
static void build_dests(struct builder *b, const struct nft_input *in)
{
	struct dest_in *v = NULL;
	size_t n = 0, cap = 0, ecap = 0, k = 0;
	struct nft_piece *p;
	char name[24], mac[18];

	for (size_t i = 0; i < in->n_ports; i++) {
		const struct nft_port_in *port = &in->ports[i];
		struct combo_in c;

		/* (A port on no bridge gets no bridged frame to judge.) */
		if (!port->port_security || !*port->bridge)
			continue;
		port_combo(port, &c, name);
		add_dest(&v, &n, &cap, port, port->mac, name);
		for (size_t j = 0; j < port->n_pairs; j++)
			add_dest(&v, &n, &cap, port, port->pairs[j].mac, name);
		for (size_t j = 0; j < port->n_pairs6; j++)
			add_dest(&v, &n, &cap, port, port->pairs6[j].mac, name);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_dest);
	for (size_t i = 0; i < n; i++)
		if (!k || cmp_key(&v[k - 1], &v[i]) != 0) {
			v[k] = v[i];
			v[k++].order = 0; /* the piece's input: what it holds */
		}
	n = k;
	if (take(b, "i", v ? (const void *) v : "", n * sizeof(*v))) {
		free(v);
		return;
	}
	p = piece_new("i", v, n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		mac_str(v[i].mac, mac);
		piece_elem(p, &ecap, INET, MAP_INGRESS, xasprintf("\"%s\" . %s", v[i].bridge, mac),
			   xasprintf("jump %s_in", v[i].combo));
	}
	free(v);
	piece_seal(p);
	push(b, p);
}

/* Neighbour discovery and MLD pass whatever the security groups say (as in
 * Neutron): conntrack tracks none of them (they would count as invalid). */
#define ND_TYPES                                                                                   \
	"nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, mld-listener-query, "          \
	"mld-listener-report, mld2-listener-report"
/* What of it a port takes in whatever its groups say. */
#define ND_IN_ACCEPT                                                                               \
	"icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, "                \
	"mld-listener-query } accept\n"

/* The chains of a set of security groups: each jumps to the groups'
 * chains (the first match wins: an egress one goes on to the
 * destination's ingress verdict, an ingress one accepts) and drops the
 * rest. The ingress chain first clears the priority tag of a packet that
 * is not established, so that nothing after us sees it. */
static void build_combo(struct builder *b, const struct nft_port_in *port)
{
	struct strbuf sb = STRBUF_INIT;
	struct combo_in c;
	struct nft_piece *p;
	char name[24], key[32];

	port_combo(port, &c, name);
	snprintf(key, sizeof(key), "c:%s", name);
	if (hmap_get(&b->done, key))
		return;
	if (take(b, key, &c, sizeof(c))) {
		p = b->out->pieces[b->out->n_pieces - 1];
		hmap_put(&b->done, p->key, p);
		return;
	}
	p = piece_new(key, &c, sizeof(c));
	strbuf_append(&sb, "icmpv6 type { " ND_TYPES " } goto dest_in\n"
			   "ct state invalid drop\n");
	for (size_t j = 0; j < c.n_sgs; j++)
		strbuf_appendf(&sb, "jump sg_%s_eg\n", c.sgs[j]);
	strbuf_append(&sb, "drop\n");
	piece_chain(p, INET, xasprintf("%s_eg", name), strbuf_steal(&sb));
	strbuf_append(&sb, "meta priority set none\n" ND_IN_ACCEPT "ct state invalid drop\n");
	/* DHCP answers from a network node (centralized DHCP). */
	if (c.dhcp_central)
		strbuf_append(&sb, "udp sport 67 udp dport 68 accept\n");
	for (size_t j = 0; j < c.n_sgs; j++)
		strbuf_appendf(&sb, "jump sg_%s_in\n", c.sgs[j]);
	strbuf_append(&sb, "drop\n");
	piece_chain(p, INET, xasprintf("%s_in", name), strbuf_steal(&sb));
	/* Netdev mode: group-addressed IP frames leaving to the port, which
	 * inet forward cannot tell from the other ports' copies: the same
	 * ingress rules, stateless (such a frame is never a reply: conntrack
	 * would call it new every time), at the tap's egress. DHCP offers
	 * pass: DHCP servers are dropped where they come in (guard). */
	if (b->netdev) {
		strbuf_append(&sb, ND_IN_ACCEPT "udp sport 67 udp dport 68 accept\n");
		for (size_t j = 0; j < c.n_sgs; j++)
			strbuf_appendf(&sb, "jump sg_%s_gin\n", c.sgs[j]);
		strbuf_append(&sb, "drop\n");
		piece_chain(p, NETDEV, xasprintf("%s_gin", name), strbuf_steal(&sb));
	}
	piece_seal(p);
	push(b, p);
	hmap_put(&b->done, p->key, p);
}

/* The pieces of the ports, of their tracked MACs, of their ingress verdicts
 * by MAC and of their sets of groups, from the previous state whole (its
 * ports input had the same stamp), in their order. */
static void take_ports(struct builder *b, const struct nft_state *prev)
{
	for (int combos = 0; combos < 2; combos++)
		for (size_t i = 0; i < prev->n_pieces; i++) {
			struct nft_piece *p = prev->pieces[i];

			bool ports_half = combos ? startswith(p->key, "c:")
						 : startswith(p->key, "p:") || streq(p->key, "m") ||
							   streq(p->key, "i");

			if (!ports_half)
				continue;
			p->refs++;
			push(b, p);
			if (combos)
				hmap_put(&b->done, p->key, p);
		}
}

#define NONE SIZE_MAX

/* One chain per direction for a group in use, from its rules (linked
 * through `next` from `first`). */
static void build_group(struct builder *b, const struct nft_input *in, const char *sg, size_t first,
			const size_t *next)
{
	struct nft_rule_in *rules = NULL;
	struct strbuf sin = STRBUF_INIT, seg = STRBUF_INIT, sgin = STRBUF_INIT;
	struct nft_piece *p;
	size_t n = 0, cap = 0;
	char key[64];

	for (size_t k = first; k != NONE; k = next[k]) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			rules = xrealloc(rules, cap * sizeof(*rules));
		}
		rules[n++] = in->rules[k];
	}
	snprintf(key, sizeof(key), "g:%s", sg);
	if (take(b, key, rules, n * sizeof(*rules))) {
		free(rules);
		return;
	}
	p = piece_new(key, rules, n * sizeof(*rules));
	for (size_t k = 0; k < n; k++) {
		struct strbuf line = STRBUF_INIT;

		if (rule_line(&rules[k], false, &line))
			strbuf_append(rules[k].ingress ? &sin : &seg, strbuf_str(&line));
		strbuf_done(&line);
		if (b->netdev && rules[k].ingress && rule_line(&rules[k], true, &line))
			strbuf_append(&sgin, strbuf_str(&line));
		strbuf_done(&line);
	}
	piece_chain(p, INET, xasprintf("sg_%s_in", sg), strbuf_steal(&sin));
	piece_chain(p, INET, xasprintf("sg_%s_eg", sg), strbuf_steal(&seg));
	if (b->netdev)
		piece_chain(p, NETDEV, xasprintf("sg_%s_gin", sg), strbuf_steal(&sgin));
	free(rules);
	piece_seal(p);
	push(b, p);
}

static int cmp_cidr(const void *a, const void *b)
{
	const struct ip4_cidr *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int) x->len - (int) y->len;
}

/* The prefixes with host bits cleared, sorted, without duplicates nor
 * prefixes inside another (an interval set refuses overlaps): caller
 * frees; *ret_n says how many. Prefixes nest or are disjoint, so once
 * sorted only the last one kept can hold the next. */
static struct ip4_cidr *cidrs_disjoint(const struct ip4_cidr *v, size_t n, size_t *ret_n)
{
	struct ip4_cidr *out = xcalloc(n + 1, sizeof(*out));
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		out[i].len = v[i].len;
		out[i].addr = ip4_cidr_network(&v[i]);
	}
	qsort(out, n, sizeof(*out), cmp_cidr);
	for (size_t i = 0; i < n; i++)
		if (!kept || !ip4_cidr_contains(&out[kept - 1], out[i].addr))
			out[kept++] = out[i];
	*ret_n = kept;
	return out;
}

/* A member of the piece's own set (taken); netdev mode: of its twin in the
 * netdev table too (the group-addressed ingress chains read it there). */
static void set_elem(const struct builder *b, struct nft_piece *p, size_t *cap, char *key)
{
	if (b->netdev)
		piece_elem(p, cap, NETDEV, p->set, xstrdup(key), NULL);
	piece_elem(p, cap, INET, p->set, key, NULL);
}

/* A remote group's set: the addresses of its members. */
static void build_set(struct builder *b, const struct nft_group_in *g, const char *sg)
{
	struct nft_piece *p;
	struct ip4_cidr *members;
	char key[64];
	size_t cap = 0, len = g ? g->n_ips * sizeof(*g->ips) : 0, n;
	const struct ip4_cidr none = {0};

	snprintf(key, sizeof(key), "s:%s", sg);
	if (take(b, key, g ? g->ips : &none, len))
		return;
	p = piece_new(key, g ? g->ips : &none, len);
	p->set = xasprintf("rg_%s", sg);
	p->decl = RG_DECL;
	p->set_netdev = b->netdev;
	members = cidrs_disjoint(g ? g->ips : &none, g ? g->n_ips : 0, &n);
	for (size_t i = 0; i < n; i++)
		set_elem(b, p, &cap, cidr_str(&members[i]));
	free(members);
	piece_seal(p);
	push(b, p);
}

/* A set of IPv6 prefixes, piece `key`, set `name` (taken): the prefixes
 * disjoint (an empty set lets nothing in). */
static void build_set6(struct builder *b, const char *key, char *name, const struct nft_cidr6 *v,
		       size_t n)
{
	const struct nft_cidr6 none = {{0}, 0};
	size_t cap = 0, len = n * sizeof(*v);
	struct nft_cidr6 *members;
	struct nft_piece *p;

	if (take(b, key, n ? v : &none, len)) {
		free(name);
		return;
	}
	p = piece_new(key, n ? v : &none, len);
	p->set = name;
	p->decl = RG6_DECL;
	p->set_netdev = b->netdev;
	members = xcalloc(n + 1, sizeof(*members));
	if (n)
		memcpy(members, v, len);
	n = cidrs6_disjoint(members, n);
	for (size_t i = 0; i < n; i++)
		set_elem(b, p, &cap, cidr6_str(&members[i]));
	free(members);
	piece_seal(p);
	push(b, p);
}

/* A remote group's IPv6 set: the IPv6 addresses of its members. */
static void build_group_set6(struct builder *b, const struct nft_group_in *g, const char *sg)
{
	char key[64];

	snprintf(key, sizeof(key), "s6:%s", sg);
	build_set6(b, key, xasprintf("rg6_%s", sg), g ? g->ips6 : NULL, g ? g->n_ips6 : 0);
}

/* An address group's set: its prefixes (a group the input lacks gives an
 * empty set, which lets nothing in). */
static void build_agroup_set(struct builder *b, const struct nft_input *in, const char *id)
{
	const struct nft_agroup_in *ag = NULL;
	const struct ip4_cidr none = {0};
	struct nft_piece *p;
	char key[64];
	size_t cap = 0, len;

	for (size_t g = 0; g < in->n_agroups && !ag; g++)
		if (streq(in->agroups[g].id, id))
			ag = &in->agroups[g];
	len = ag ? ag->n_prefixes * sizeof(*ag->prefixes) : 0;
	snprintf(key, sizeof(key), "a:%s", id);
	if (take(b, key, ag ? (const void *) ag->prefixes : &none, len))
		return;
	p = piece_new(key, ag ? (const void *) ag->prefixes : &none, len);
	p->set = xasprintf("ag_%s", id);
	p->decl = RG_DECL;
	p->set_netdev = b->netdev;
	for (size_t i = 0; ag && i < ag->n_prefixes; i++) {
		char cidr[IP4_CIDR_STRLEN];

		ip4_cidr_format(&ag->prefixes[i], cidr);
		set_elem(b, p, &cap, xstrdup(cidr));
	}
	piece_seal(p);
	push(b, p);
}

/* An address group's IPv6 set: its IPv6 prefixes. */
static void build_agroup_set6(struct builder *b, const struct nft_input *in, const char *id)
{
	const struct nft_agroup_in *ag = NULL;
	char key[64];

	for (size_t g = 0; g < in->n_agroups && !ag; g++)
		if (streq(in->agroups[g].id, id))
			ag = &in->agroups[g];
	snprintf(key, sizeof(key), "a6:%s", id);
	build_set6(b, key, xasprintf("ag6_%s", id), ag ? ag->prefixes6 : NULL,
		   ag ? ag->n_prefixes6 : 0);
}

void nft_build(const struct nft_input *in, const struct nft_state *prev, struct nft_state *out)
{
	struct builder b = {out, 0, HMAP_INIT, HMAP_INIT, in->netdev};
	struct hmap first = HMAP_INIT, used = HMAP_INIT, sets = HMAP_INIT, groups = HMAP_INIT;
	struct hmap agsets = HMAP_INIT, sets6 = HMAP_INIT, agsets6 = HMAP_INIT;
	size_t *next = xcalloc(in->n_rules + 1, sizeof(*next));

	*out = (struct nft_state){0};
	if (prev && prev->netdev != in->netdev)
		prev = NULL; /* nothing of another mode's state is of use */
	for (size_t i = 0; prev && i < prev->n_pieces; i++)
		hmap_put(&b.prev, prev->pieces[i]->key, prev->pieces[i]);
	/* Each group's rules, in order: first[group] and next[rule]. */
	for (size_t k = in->n_rules; k-- > 0;) {
		uintptr_t f = (uintptr_t) hmap_get(&first, in->rules[k].sg_id);

		next[k] = f ? f - 1 : NONE;
		hmap_put(&first, in->rules[k].sg_id, (void *) (k + 1));
	}
	for (size_t g = in->n_groups; g-- > 0;)
		hmap_put(&groups, in->groups[g].sg_id, (void *) &in->groups[g]);

	build_zones(&b, in);
	build_raw(&b, in);
	out->netdev = in->netdev;
	if (in->ports_stamp && prev && prev->ports_stamp == in->ports_stamp) {
		take_ports(&b, prev);
	} else {
		for (size_t i = 0; i < in->n_ports; i++)
			build_port(&b, &in->ports[i]);
		build_tracked(&b, in);
		if (in->netdev)
			build_dests(&b, in);
		for (size_t i = 0; i < in->n_ports; i++)
			if (in->ports[i].port_security)
				build_combo(&b, &in->ports[i]);
	}
	out->ports_stamp = in->ports_stamp;
	/* The groups the ports with port security use. */
	for (size_t i = 0; i < in->n_ports; i++) {
		const struct nft_port_in *p = &in->ports[i];

		for (size_t j = 0; p->port_security && j < p->n_sgs; j++) {
			uintptr_t f = (uintptr_t) hmap_get(&first, p->sgs[j]);

			if (!hmap_put(&used, p->sgs[j], (void *) p->sgs[j]))
				build_group(&b, in, p->sgs[j], f ? f - 1 : NONE, next);
		}
	}
	/* The sets of the remote groups their rules refer to. */
	for (size_t k = 0; k < in->n_rules; k++) {
		const struct nft_rule_in *r = &in->rules[k];

		if (!*r->remote_group || !hmap_get(&used, r->sg_id) ||
		    hmap_put(r->ipv6 ? &sets6 : &sets, r->remote_group, (void *) r))
			continue;
		(r->ipv6 ? build_group_set6 : build_set)(&b, hmap_get(&groups, r->remote_group),
							 r->remote_group);
	}
	/* The sets of the address groups their rules name. */
	for (size_t k = 0; k < in->n_rules; k++) {
		const struct nft_rule_in *r = &in->rules[k];

		if (!*r->remote_address_group || !hmap_get(&used, r->sg_id) ||
		    hmap_put(r->ipv6 ? &agsets6 : &agsets, r->remote_address_group, (void *) r))
			continue;
		if (r->ipv6)
			build_agroup_set6(&b, in, r->remote_address_group);
		else
			build_agroup_set(&b, in, r->remote_address_group);
	}
	hmap_done(&agsets);
	hmap_done(&sets6);
	hmap_done(&agsets6);
	hmap_done(&b.prev);
	hmap_done(&b.done);
	hmap_done(&first);
	hmap_done(&used);
	hmap_done(&sets);
	hmap_done(&groups);
	free(next);
}

void nft_state_done(struct nft_state *st)
{
	for (size_t i = 0; i < st->n_pieces; i++)
		piece_unref(st->pieces[i]);
	free(st->pieces);
	*st = (struct nft_state){0};
}

const char *nft_state_chain(const struct nft_state *st, const char *name)
{
	for (size_t i = 0; i < st->n_pieces; i++)
		for (size_t j = 0; j < st->pieces[i]->n_chains; j++)
			if (streq(st->pieces[i]->chains[j].name, name))
				return st->pieces[i]->chains[j].rules;
	return NULL;
}

uint64_t nft_state_hash(const struct nft_state *st)
{
	uint64_t h = FNV_OFFSET ^ st->netdev;

	for (size_t i = 0; i < st->n_pieces; i++)
		for (int k = 0; k < 64; k += 8)
			h = fnv_mix(h, (uint8_t) (st->pieces[i]->hash >> k));
	return h ? h : 1;
}

/* The anti-spoofing sets and chains, the same in the bridge table (bridge
 * mode) and the netdev one (netdev mode). */
#define SEC_SETS                                                                                   \
	"\tset dhcp_local { type ifname; }\n"                                                      \
	"\tset macs { type mark . ether_addr; }\n"                                                 \
	"\tset ip_src { type mark . ether_addr . ipv4_addr; }\n"                                   \
	"\tset ip_src_net { type mark . ether_addr . ipv4_addr; flags interval; }\n"               \
	"\tset arp_ips { type mark . ipv4_addr; flags interval; }\n"                               \
	"\tset ip6_src { type mark . ether_addr . ipv6_addr; }\n"                                  \
	"\tset ip6_src_net { type mark . ether_addr . ipv6_addr; flags interval; }\n"
#define SEC_CHAINS                                                                                 \
	"\tchain guard {\n"                                                                        \
	"\t\tiifname @dhcp_local udp dport 67 drop\n"                                              \
	"\t\tudp sport 67 drop\n"                                                                  \
	"\t\tudp dport 547 drop\n"                                                                 \
	"\t\tudp sport 547 drop\n"                                                                 \
	"\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-redirect } drop\n"              \
	"\t}\n"                                                                                    \
	"\tchain sec4 {\n"                                                                         \
	"\t\tmeta l4proto udp jump guard\n"                                                        \
	"\t\tmeta mark . ether saddr . ip saddr @ip_src accept\n"                                  \
	"\t\tmeta mark . ether saddr . ip saddr @ip_src_net accept\n"                              \
	"\t\tdrop\n"                                                                               \
	"\t}\n"                                                                                    \
	"\tchain sec6 {\n"                                                                         \
	"\t\tmeta l4proto { udp, ipv6-icmp } jump guard\n"                                         \
	"\t\tip6 daddr ff02::1:ff00:0/104 icmpv6 type nd-neighbor-solicit drop\n"                  \
	"\t\tmeta mark . ether saddr . ip6 saddr @ip6_src accept\n"                                \
	"\t\tmeta mark . ether saddr . ip6 saddr @ip6_src_net accept\n"                            \
	"\t\tdrop\n"                                                                               \
	"\t}\n"                                                                                    \
	"\tchain sec_arp {\n"                                                                      \
	"\t\tmeta mark . arp saddr ether != @macs drop\n"                                          \
	"\t\tmeta mark . arp saddr ip != @arp_ips drop\n"                                          \
	"\t\taccept\n"                                                                             \
	"\t}\n"                                                                                    \
	"\tchain sec_in {\n"                                                                       \
	"\t\tether type vmap { ip : goto sec4, ip6 : goto sec6, arp : goto sec_arp }\n"            \
	"\t\tmeta mark . ether saddr != @macs drop\n"                                              \
	"\t\taccept\n"                                                                             \
	"\t}\n"
/* The inet table's declarations both modes share. */
#define INET_HEAD                                                                                  \
	"table inet lepton\n"                                                                      \
	"delete table inet lepton\n"                                                               \
	"table inet lepton {\n"                                                                    \
	"\tmap zones { typeof iifname : ct zone; }\n"                                              \
	"\tmap egress { typeof meta mark : verdict; }\n"

/* The tables and their fixed sets, maps and base chains; everything
 * per port is an element of them. Each packet crosses as few rules as
 * can be: most of the cost of a bridged packet here is the number of
 * rules and lookups it meets.
 *
 * bridge prerouting: a packet from a port of ours takes the port's mark
 * (one lookup by name): its index and the secured bit (0x10000), or the
 * open bit (0x20000) for a port without port security. Every port: DHCP,
 * DHCPv6 and router solicitations are not bridged (the agent answers
 * them) and router advertisements, redirects and DHCP servers are dropped
 * (chain guard, reached by UDP and ICMPv6 only). A port with port
 * security: anti-spoofing by lookups keyed by its mark, by ether type
 * (sec4, sec6, sec_arp), its IPv4 and IPv6 single addresses in hash sets
 * and its address pairs' prefixes in interval ones; then accept, which
 * leaves its packets to conntrack. Any other packet is tracked only when
 * it goes to a MAC of a port with port security (set tracked) or to a
 * group address; the rest is not tracked at all (notrack).
 * bridge forward: a packet going out to a port with port security takes
 * the port's priority tag (4c45:<index>), the key of its ingress verdict.
 * inet (through br_netfilter): raw prerouting (built with the node's VXLAN
 * endpoint, build_raw): untracked packets leave at once, bridged ones take
 * the conntrack zone of their bridge, the node's own VXLAN packets are not
 * tracked. One forward chain: established and
 * untracked traffic passes; then the egress verdict by mark (a jump to the
 * chain of the source port's set of security groups, whose accept is a
 * goto to dest_in) and the ingress verdict by priority tag.
 * The mark is cleared once it has been read (open_in, the forward chain's
 * first rule, dest_in): a packet with a mark makes VXLAN skip its route
 * cache and look its route up again (ip_tunnel_dst_cache_usable()), about
 * 6% of the CPU a bridged stream costs here. */
static const char skeleton[] =
	"table netdev lepton\n"
	"delete table netdev lepton\n"
	"table bridge lepton\n"
	"delete table bridge lepton\n"
	"table bridge lepton {\n"
	"\tmap port_mark { type ifname : mark; }\n"
	"\tmap port_prio { type ifname : classid; }\n"
	"\tset tracked { type ether_addr; }\n" SEC_SETS SEC_CHAINS
	"\tchain open_in { meta mark set 0; meta l4proto { udp, ipv6-icmp } jump guard; }\n"
	"\tchain prerouting {\n"
	"\t\ttype filter hook prerouting priority -200; policy accept;\n"
	"\t\tmeta mark set iifname map @port_mark\n"
	"\t\tmeta mark and " STR(MARK_BITS) " vmap { " STR(MARK_SECURED) " : jump sec_in, " STR(
		MARK_OPEN) " : jump open_in }\n"
			   "\t\tether daddr @tracked accept\n"
			   "\t\tether daddr and 01:00:00:00:00:00 == 01:00:00:00:00:00 accept\n"
			   "\t\tnotrack\n"
			   "\t}\n"
			   "\tchain forward { type filter hook forward priority -200; policy "
			   "accept; "
			   "meta priority set oifname map @port_prio; }\n"
			   "}\n" INET_HEAD "\tmap ingress { typeof meta priority : verdict; }\n"
			   "\tchain dest_in { meta mark set 0; meta priority vmap @ingress; "
			   "accept; }\n"
			   "\tchain forward { type filter hook forward priority 0; policy accept; "
			   "ct state established,related,untracked meta mark set 0 accept; "
			   "meta mark and 0x0000ffff vmap @egress; meta priority vmap @ingress; }\n"
			   "}\n";

/* Netdev mode: no bridge table (any bridge chain is a hook every bridged
 * frame of the namespace crosses); each port's tap has its base chains
 * (port_chains). What the bridge prerouting chain decided moves to inet
 * raw prerouting (build_raw; a bridged frame there knows its bridge and
 * MACs, not its port): conntrack sees frames from a port with port
 * security (the mark its tap's chain set) or to a tracked MAC or a group
 * address; the rest of the bridged frames is notrack. The ingress verdict is keyed by bridge
 * and destination MAC, read only by packets that are not established. */
static const char skeleton_netdev[] =
	"table bridge lepton\n"
	"delete table bridge lepton\n"
	"table netdev lepton\n"
	"delete table netdev lepton\n"
	"table netdev lepton {\n" SEC_SETS SEC_CHAINS "}\n" INET_HEAD
	"\tset bridges { type ifname; }\n"
	"\tset tracked { type ether_addr; }\n"
	"\tmap ingress { typeof iifname . ether daddr : verdict; }\n"
	"\tchain dest_in { meta mark set 0; iifname . ether daddr vmap @ingress; accept; }\n"
	"\tchain forward { type filter hook forward priority 0; policy accept; "
	"ct state established,related,untracked meta mark set 0 accept; "
	"meta mark and 0x0000ffff vmap @egress; "
	"iifname . ether daddr vmap @ingress; }\n"
	"}\n";

static void emit_rules(struct strbuf *sb, const struct nft_chain *c)
{
	const char *line = c->rules;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t) (end - line) : strlen(line);

		if (n)
			strbuf_appendf(sb, "add rule %s %s %.*s\n", c->table, c->name, (int) n,
				       line);
		line += n + (end ? 1 : 0);
	}
}

/* Elements gathered per map or set, written as one statement each. */
struct elist {
	const char *table, *coll;
	const struct nft_elem **v;
	size_t n, cap;
};

struct elists {
	struct elist *l;
	size_t n, cap;
};

static void elists_add(struct elists *ls, const struct nft_elem *e)
{
	struct elist *l = NULL;

	for (size_t i = 0; i < ls->n && !l; i++)
		if ((ls->l[i].coll == e->coll || streq(ls->l[i].coll, e->coll)) &&
		    (ls->l[i].table == e->table || streq(ls->l[i].table, e->table)))
			l = &ls->l[i];
	if (!l) {
		if (ls->n == ls->cap) {
			ls->cap = ls->cap ? ls->cap * 2 : 8;
			ls->l = xrealloc(ls->l, ls->cap * sizeof(*ls->l));
		}
		l = &ls->l[ls->n++];
		*l = (struct elist){e->table, e->coll, NULL, 0, 0};
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = e;
}

/* Writes one statement per list and frees the lists. */
static void elists_emit(struct strbuf *sb, const char *verb, struct elists *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const struct elist *l = &ls->l[i];

		strbuf_appendf(sb, "%s element %s %s { ", verb, l->table, l->coll);
		for (size_t j = 0; j < l->n; j++) {
			if (l->v[j]->value && streq(verb, "add"))
				strbuf_appendf(sb, "%s%s : %s", j ? ", " : "", l->v[j]->key,
					       l->v[j]->value);
			else
				strbuf_appendf(sb, "%s%s", j ? ", " : "", l->v[j]->key);
		}
		strbuf_append(sb, " }\n");
		free(ls->l[i].v);
	}
	free(ls->l);
	*ls = (struct elists){0};
}

/* The piece's own set, declared (or deleted: `verb`) in each table it is in. */
static void emit_set(struct strbuf *sb, const char *verb, const struct nft_piece *p)
{
	if (streq(verb, "add"))
		strbuf_appendf(sb, "add set %s %s %s\n", INET, p->set, p->decl);
	else
		strbuf_appendf(sb, "delete set %s %s\n", INET, p->set);
	if (p->set_netdev && streq(verb, "add"))
		strbuf_appendf(sb, "add set %s %s %s\n", NETDEV, p->set, p->decl);
	else if (p->set_netdev)
		strbuf_appendf(sb, "delete set %s %s\n", NETDEV, p->set);
}

static void emit_chain(struct strbuf *sb, const struct nft_chain *c)
{
	if (c->hook)
		strbuf_appendf(sb, "add chain %s %s { %s }\n", c->table, c->name, c->hook);
	else
		strbuf_appendf(sb, "add chain %s %s\n", c->table, c->name);
}

char *nft_script_full(const struct nft_state *st)
{
	struct strbuf sb = STRBUF_INIT;
	struct elists add = {0};

	strbuf_append(&sb, st->netdev ? skeleton_netdev : skeleton);
	for (size_t i = 0; i < st->n_pieces; i++)
		if (st->pieces[i]->set)
			emit_set(&sb, "add", st->pieces[i]);
	for (size_t i = 0; i < st->n_pieces; i++)
		for (size_t j = 0; j < st->pieces[i]->n_chains; j++)
			emit_chain(&sb, &st->pieces[i]->chains[j]);
	for (size_t i = 0; i < st->n_pieces; i++)
		for (size_t j = 0; j < st->pieces[i]->n_chains; j++)
			emit_rules(&sb, &st->pieces[i]->chains[j]);
	for (size_t i = 0; i < st->n_pieces; i++)
		for (size_t j = 0; j < st->pieces[i]->n_elems; j++)
			elists_add(&add, &st->pieces[i]->elems[j]);
	elists_emit(&sb, "add", &add);
	return strbuf_steal(&sb);
}

/* A piece's chain by name; NULL when the piece (or the chain) is absent. */
static const struct nft_chain *piece_find_chain(const struct nft_piece *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_chains; i++)
		if (streq(p->chains[i].name, name))
			return &p->chains[i];
	return NULL;
}

/* A piece's elements by collection and key: a map by key for the big ones
 * (a set's members, the zones: one collection each), a scan for the rest. */
struct elem_index {
	const struct nft_piece *p;
	struct hmap by_key;
};

static void elem_index_init(struct elem_index *ix, const struct nft_piece *p)
{
	*ix = (struct elem_index){p, HMAP_INIT};
	if (p && p->n_elems > 8)
		for (size_t i = 0; i < p->n_elems; i++)
			hmap_put(&ix->by_key, p->elems[i].key, &p->elems[i]);
}

static const struct nft_elem *elem_find(const struct elem_index *ix, const struct nft_elem *e)
{
	const struct nft_elem *hit;

	if (!ix->p)
		return NULL;
	hit = ix->by_key.len ? hmap_get(&ix->by_key, e->key) : NULL;
	if (hit && streq(hit->coll, e->coll) && streq(hit->table, e->table))
		return hit;
	for (size_t i = 0; i < ix->p->n_elems; i++) {
		hit = &ix->p->elems[i];
		if (streq(hit->key, e->key) && streq(hit->coll, e->coll) &&
		    streq(hit->table, e->table))
			return hit;
	}
	return NULL;
}

/* Elements of `from` that `other` lacks or holds with another value, into
 * `out`; `sets_stay` says whether the piece's own set stays (the elements
 * of a set that goes go with it). */
static void elems_changed(struct elists *out, const struct nft_piece *from,
			  const struct nft_piece *other, bool sets_stay)
{
	struct elem_index ix;

	elem_index_init(&ix, other);
	for (size_t i = 0; i < from->n_elems; i++) {
		const struct nft_elem *e = &from->elems[i], *o;

		if (from->set && e->coll == from->set && !sets_stay)
			continue;
		o = elem_find(&ix, e);
		if (!o || !streq_ptr(o->value, e->value))
			elists_add(out, e);
	}
	hmap_done(&ix.by_key);
}

struct change {
	const struct nft_piece *o, *n; /* old, new; one may be NULL */
};

char *nft_script_diff(const struct nft_state *old, const struct nft_state *new)
{
	struct strbuf sb = STRBUF_INIT;
	struct hmap io = HMAP_INIT, in = HMAP_INIT;
	struct change *ch = xcalloc(old->n_pieces + new->n_pieces + 1, sizeof(*ch));
	struct elists del = {0}, add = {0};
	size_t n = 0;

	for (size_t i = 0; i < old->n_pieces; i++)
		hmap_put(&io, old->pieces[i]->key, old->pieces[i]);
	for (size_t i = 0; i < new->n_pieces; i++)
		hmap_put(&in, new->pieces[i]->key, new->pieces[i]);
	/* Shared pieces are the same: only the others are looked into. */
	for (size_t i = 0; i < new->n_pieces; i++) {
		const struct nft_piece *o = hmap_get(&io, new->pieces[i]->key);

		if (o != new->pieces[i])
			ch[n++] = (struct change){o, new->pieces[i]};
	}
	for (size_t i = 0; i < old->n_pieces; i++)
		if (!hmap_get(&in, old->pieces[i]->key))
			ch[n++] = (struct change){old->pieces[i], NULL};

	/* New sets and chains exist before anything refers to them. */
	for (size_t i = 0; i < n; i++)
		if (ch[i].n && ch[i].n->set && !(ch[i].o && ch[i].o->set))
			emit_set(&sb, "add", ch[i].n);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; ch[i].n && j < ch[i].n->n_chains; j++)
			if (!piece_find_chain(ch[i].o, ch[i].n->chains[j].name))
				emit_chain(&sb, &ch[i].n->chains[j]);
	/* Chains whose rules changed are rewritten, and only those. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; ch[i].n && j < ch[i].n->n_chains; j++) {
			const struct nft_chain *c = &ch[i].n->chains[j];
			const struct nft_chain *o = piece_find_chain(ch[i].o, c->name);

			if (o && streq(o->rules, c->rules))
				continue;
			if (o)
				strbuf_appendf(&sb, "flush chain %s %s\n", o->table, o->name);
			emit_rules(&sb, c);
		}
	/* Elements: removed or changed keys out (from maps and sets that
	 * stay), new or changed keys in. */
	for (size_t i = 0; i < n; i++)
		if (ch[i].o)
			elems_changed(&del, ch[i].o, ch[i].n, ch[i].n && ch[i].n->set);
	elists_emit(&sb, "delete", &del);
	for (size_t i = 0; i < n; i++)
		if (ch[i].n)
			elems_changed(&add, ch[i].n, ch[i].o, true);
	elists_emit(&sb, "add", &add);
	/* Then what nothing refers to any more goes. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; ch[i].o && j < ch[i].o->n_chains; j++)
				if (!piece_find_chain(ch[i].n, ch[i].o->chains[j].name))
					strbuf_appendf(
						&sb, "%s chain %s %s\n", pass ? "delete" : "flush",
						ch[i].o->chains[j].table, ch[i].o->chains[j].name);
	for (size_t i = 0; i < n; i++)
		if (ch[i].o && ch[i].o->set && !(ch[i].n && ch[i].n->set))
			emit_set(&sb, "delete", ch[i].o);
	hmap_done(&io);
	hmap_done(&in);
	free(ch);
	return strbuf_steal(&sb);
}
