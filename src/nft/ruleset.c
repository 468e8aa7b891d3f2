/* nftables ruleset building and diffing (pure). */
#include "nft/ruleset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/hmap.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define BRIDGE "bridge lepton"
#define INET   "inet lepton"

static void add_chain(struct nft_state *st, size_t *cap, const char *table, const char *name,
		      char *rules)
{
	if (st->n_chains == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		st->chains = xrealloc(st->chains, *cap * sizeof(*st->chains));
	}
	st->chains[st->n_chains++] =
		(struct nft_chain){xstrdup(table), xstrdup(name), rules ? rules : xstrdup("")};
}

static struct nft_coll *add_coll(struct nft_state *st, size_t *cap, const char *table,
				 const char *name, const char *decl)
{
	if (st->n_colls == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		st->colls = xrealloc(st->colls, *cap * sizeof(*st->colls));
	}
	st->colls[st->n_colls] = (struct nft_coll){xstrdup(table), xstrdup(name),
						   decl ? xstrdup(decl) : NULL, NULL, 0};
	return &st->colls[st->n_colls++];
}

static void add_elem(struct nft_coll *c, size_t *cap, char *key, char *value)
{
	if (c->n_elems == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		c->elems = xrealloc(c->elems, *cap * sizeof(*c->elems));
	}
	c->elems[c->n_elems++] = (struct nft_elem){key, value};
}

static void mac_str(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* "<match> != { the port's MAC, its address pairs' MACs } drop" */
static void append_macs(struct strbuf *sb, const char *match, const struct nft_port_in *p)
{
	char mac[18];

	mac_str(p->mac, mac);
	strbuf_appendf(sb, "%s != { %s", match, mac);
	for (size_t i = 0; i < p->n_pairs; i++) {
		char pm[18];

		mac_str(p->pairs[i].mac, pm);
		if (strcmp(pm, mac) != 0)
			strbuf_appendf(sb, ", %s", pm);
	}
	strbuf_append(sb, " } drop\n");
}

static char *from_chain(const struct nft_port_in *p)
{
	struct strbuf sb = STRBUF_INIT;
	char mac[18], ip[IP4_CIDR_STRLEN];

	strbuf_appendf(&sb, "meta mark set 0x%x\n", p->idx);
	/* DHCP is answered on the node from the model: requests are never
	 * bridged (so never cross the underlay), and VMs serve no DHCP. */
	if (!p->dhcp_central)
		strbuf_append(&sb, "udp dport 67 drop\n");
	strbuf_append(&sb, "udp sport 67 drop\n");
	strbuf_append(&sb, "icmpv6 type nd-router-advert drop\n");
	if (!p->port_security)
		return strbuf_steal(&sb);
	mac_str(p->mac, mac);
	append_macs(&sb, "ether saddr", p);
	/* ARP: the sender must be the port; 0.0.0.0 for probes (RFC 5227). */
	append_macs(&sb, "arp saddr ether", p);
	strbuf_append(&sb, "arp saddr ip != { 0.0.0.0");
	for (size_t i = 0; i < p->n_ips; i++) {
		ip4_format(p->ips[i], ip);
		strbuf_appendf(&sb, ", %s", ip);
	}
	for (size_t i = 0; i < p->n_pairs; i++) {
		ip4_cidr_format(&p->pairs[i].cidr, ip);
		strbuf_appendf(&sb, ", %s", ip);
	}
	strbuf_append(&sb, " } drop\n");
	/* IPv4: the (MAC, source address) pair must be the port's own or an
	 * allowed address pair. */
	strbuf_appendf(&sb, "ether type ip ether saddr . ip saddr != { %s . 0.0.0.0", mac);
	for (size_t i = 0; i < p->n_ips; i++) {
		ip4_format(p->ips[i], ip);
		strbuf_appendf(&sb, ", %s . %s", mac, ip);
	}
	for (size_t i = 0; i < p->n_pairs; i++) {
		char pm[18];

		mac_str(p->pairs[i].mac, pm);
		ip4_cidr_format(&p->pairs[i].cidr, ip);
		strbuf_appendf(&sb, ", %s . %s", pm, ip);
	}
	strbuf_append(&sb, " } drop\n");
	/* This cloud's networks are IPv4: IPv6 from a VM goes nowhere. */
	strbuf_append(&sb, "ether type ip6 drop\n");
	return strbuf_steal(&sb);
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

/* One security group rule as an nft rule line; false when inexpressible. */
static bool rule_line(const struct nft_rule_in *r, struct strbuf *sb)
{
	const char *fam = r->ipv6 ? "ip6" : "ip";
	const char *dir = r->ingress ? "saddr" : "daddr";

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
	if (*r->remote_group) {
		if (r->ipv6)
			return false; /* no IPv6 addresses in this cloud's groups */
		strbuf_appendf(sb, " ip %s @rg_%s", dir, r->remote_group);
	}
	if (*r->remote_address_group) {
		if (r->ipv6)
			return false; /* IPv4 prefixes only, as the data plane */
		strbuf_appendf(sb, " ip %s @ag_%s", dir, r->remote_address_group);
	}
	strbuf_append(sb, " accept\n");
	return true;
}

/* Address group sets, for the groups the rules in use name: their
 * prefixes (a group the model lacks gives an empty set, which lets nothing
 * in). */
static void add_agroup_sets(const struct nft_input *in, struct hmap *used, struct nft_state *out,
			    size_t *cap_colls)
{
	struct hmap made = HMAP_INIT;
	char name[64];

	for (size_t k = 0; k < in->n_rules; k++) {
		const struct nft_rule_in *r = &in->rules[k];
		struct nft_coll *c;
		size_t cap_e = 0;

		if (!*r->remote_address_group || r->ipv6 || !hmap_get(used, r->sg_id) ||
		    hmap_put(&made, r->remote_address_group, (void *) r))
			continue;
		snprintf(name, sizeof(name), "ag_%s", r->remote_address_group);
		c = add_coll(out, cap_colls, INET, name, "{ type ipv4_addr; flags interval; }");
		for (size_t g = 0; g < in->n_agroups; g++) {
			const struct nft_agroup_in *ag = &in->agroups[g];

			if (!streq(ag->id, r->remote_address_group))
				continue;
			for (size_t i = 0; i < ag->n_prefixes; i++) {
				char cidr[IP4_CIDR_STRLEN];

				ip4_cidr_format(&ag->prefixes[i], cidr);
				add_elem(c, &cap_e, xstrdup(cidr), NULL);
			}
		}
	}
	hmap_done(&made);
}

void nft_build(const struct nft_input *in, struct nft_state *out)
{
	size_t cap_chains = 0, cap_colls = 0, cap_pin = 0, cap_pout = 0, cap_eg = 0, cap_in = 0,
	       cap_z = 0;
	struct nft_coll *pin, *pout, *zones, *eg, *ing;
	struct hmap used = HMAP_INIT, sets = HMAP_INIT; /* groups in use; rg_ sets made */
	char name[300];

	*out = (struct nft_state){0};
	/* The fixed maps first; their elements are the per-object parts. */
	add_coll(out, &cap_colls, BRIDGE, "port_in", NULL);
	add_coll(out, &cap_colls, BRIDGE, "port_out", NULL);
	add_coll(out, &cap_colls, INET, "zones", NULL);
	add_coll(out, &cap_colls, INET, "egress", NULL);
	add_coll(out, &cap_colls, INET, "ingress", NULL);
	/* add_coll may move the array: take the pointers after the last one
	 * (the remote group sets are added after the last use of these). */
	pin = &out->colls[0];
	pout = &out->colls[1];
	zones = &out->colls[2];
	eg = &out->colls[3];
	ing = &out->colls[4];

	for (size_t i = 0; i < in->n_zones; i++)
		add_elem(zones, &cap_z, xasprintf("\"%s\"", in->zones[i].bridge),
			 xasprintf("%u", in->zones[i].zone));
	for (size_t i = 0; i < in->n_ports; i++) {
		const struct nft_port_in *p = &in->ports[i];
		struct strbuf sb = STRBUF_INIT;

		snprintf(name, sizeof(name), "from_%s", p->tap);
		add_chain(out, &cap_chains, BRIDGE, name, from_chain(p));
		add_elem(pin, &cap_pin, xasprintf("\"%s\"", p->tap), xasprintf("jump %s", name));
		snprintf(name, sizeof(name), "to_%s", p->tap);
		add_chain(out, &cap_chains, BRIDGE, name,
			  xasprintf("meta mark set meta mark or 0x%x\n", (unsigned) p->idx << 16));
		add_elem(pout, &cap_pout, xasprintf("\"%s\"", p->tap), xasprintf("jump %s", name));
		if (!p->port_security)
			continue;
		for (size_t j = 0; j < p->n_sgs; j++)
			strbuf_appendf(&sb, "jump sg_%s_eg\n", p->sgs[j]);
		strbuf_append(&sb, "drop\n");
		snprintf(name, sizeof(name), "egress_%s", p->tap);
		add_chain(out, &cap_chains, INET, name, strbuf_steal(&sb));
		add_elem(eg, &cap_eg, xasprintf("0x%x", p->idx), xasprintf("jump %s", name));
		/* DHCP answers from a network node (centralized DHCP). */
		if (p->dhcp_central)
			strbuf_append(&sb, "udp sport 67 udp dport 68 accept\n");
		for (size_t j = 0; j < p->n_sgs; j++)
			strbuf_appendf(&sb, "jump sg_%s_in\n", p->sgs[j]);
		strbuf_append(&sb, "drop\n");
		snprintf(name, sizeof(name), "ingress_%s", p->tap);
		add_chain(out, &cap_chains, INET, name, strbuf_steal(&sb));
		add_elem(ing, &cap_in, xasprintf("0x%x", (unsigned) p->idx << 16),
			 xasprintf("jump %s", name));
	}
	/* One chain per direction for each security group in use. */
	for (size_t i = 0; i < in->n_ports; i++) {
		const struct nft_port_in *p = &in->ports[i];

		if (!p->port_security)
			continue;
		for (size_t j = 0; j < p->n_sgs; j++) {
			const char *sg = p->sgs[j];
			struct strbuf sin = STRBUF_INIT, seg = STRBUF_INIT;

			if (hmap_put(&used, sg, (void *) sg))
				continue;
			snprintf(name, sizeof(name), "sg_%s_in", sg);
			for (size_t k = 0; k < in->n_rules; k++) {
				const struct nft_rule_in *r = &in->rules[k];
				struct strbuf line = STRBUF_INIT;

				if (!streq(r->sg_id, sg))
					continue;
				if (rule_line(r, &line))
					strbuf_append(r->ingress ? &sin : &seg, strbuf_str(&line));
				strbuf_done(&line);
			}
			add_chain(out, &cap_chains, INET, name, strbuf_steal(&sin));
			snprintf(name, sizeof(name), "sg_%s_eg", sg);
			add_chain(out, &cap_chains, INET, name, strbuf_steal(&seg));
		}
	}
	/* Remote group address sets, for the groups the rules in use refer to. */
	for (size_t k = 0; k < in->n_rules; k++) {
		const struct nft_rule_in *r = &in->rules[k];

		if (!*r->remote_group || r->ipv6 || !hmap_get(&used, r->sg_id) ||
		    hmap_put(&sets, r->remote_group, (void *) r))
			continue;
		snprintf(name, sizeof(name), "rg_%s", r->remote_group);
		struct nft_coll *c = add_coll(out, &cap_colls, INET, name,
					      "{ type ipv4_addr; flags interval; }");
		size_t cap_e = 0;
		for (size_t g = 0; g < in->n_groups; g++) {
			if (!streq(in->groups[g].sg_id, r->remote_group))
				continue;
			for (size_t i = 0; i < in->groups[g].n_ips; i++) {
				char ip[IP4_STRLEN];

				ip4_format(in->groups[g].ips[i], ip);
				add_elem(c, &cap_e, xstrdup(ip), NULL);
			}
		}
	}
	add_agroup_sets(in, &used, out, &cap_colls);
	hmap_done(&used);
	hmap_done(&sets);
}

void nft_state_done(struct nft_state *st)
{
	for (size_t i = 0; i < st->n_chains; i++) {
		free(st->chains[i].table);
		free(st->chains[i].name);
		free(st->chains[i].rules);
	}
	for (size_t i = 0; i < st->n_colls; i++) {
		struct nft_coll *c = &st->colls[i];

		for (size_t j = 0; j < c->n_elems; j++) {
			free(c->elems[j].key);
			free(c->elems[j].value);
		}
		free(c->elems);
		free(c->table);
		free(c->name);
		free(c->decl);
	}
	free(st->chains);
	free(st->colls);
	*st = (struct nft_state){0};
}

static const char skeleton[] =
	"table bridge lepton\n"
	"delete table bridge lepton\n"
	"table bridge lepton {\n"
	"\tmap port_in { type ifname : verdict; }\n"
	"\tmap port_out { type ifname : verdict; }\n"
	"\tchain prerouting { type filter hook prerouting priority -200; policy accept; "
	"iifname vmap @port_in; }\n"
	"\tchain forward { type filter hook forward priority -200; policy accept; "
	"oifname vmap @port_out; }\n"
	"}\n"
	"table inet lepton\n"
	"delete table inet lepton\n"
	"table inet lepton {\n"
	"\tmap zones { typeof iifname : ct zone; }\n"
	"\tmap egress { typeof meta mark : verdict; }\n"
	"\tmap ingress { typeof meta mark : verdict; }\n"
	"\tchain prerouting { type filter hook prerouting priority -300; policy accept; "
	"ct zone set iifname map @zones; }\n"
	"\tchain egress_base { type filter hook forward priority 0; policy accept; "
	"meta mark and 0x0000ffff == 0 accept; "
	"ct state established,related accept; ct state invalid drop; "
	"meta mark and 0x0000ffff vmap @egress; }\n"
	"\tchain ingress_base { type filter hook forward priority 10; policy accept; "
	"meta mark and 0xffff0000 == 0 accept; "
	"ct state established,related accept; ct state invalid drop; "
	"meta mark and 0xffff0000 vmap @ingress; }\n"
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

static void emit_elems(struct strbuf *sb, const char *verb, const struct nft_coll *c,
		       const struct nft_elem *const *elems, size_t n)
{
	if (!n)
		return;
	strbuf_appendf(sb, "%s element %s %s { ", verb, c->table, c->name);
	for (size_t i = 0; i < n; i++) {
		if (elems[i]->value && streq(verb, "add"))
			strbuf_appendf(sb, "%s%s : %s", i ? ", " : "", elems[i]->key,
				       elems[i]->value);
		else
			strbuf_appendf(sb, "%s%s", i ? ", " : "", elems[i]->key);
	}
	strbuf_append(sb, " }\n");
}

static void emit_all_elems(struct strbuf *sb, const struct nft_coll *c)
{
	const struct nft_elem **list = xcalloc(c->n_elems + 1, sizeof(*list));

	for (size_t i = 0; i < c->n_elems; i++)
		list[i] = &c->elems[i];
	emit_elems(sb, "add", c, list, c->n_elems);
	free(list);
}

static uint64_t mix(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull; /* a separator: "ab","c" != "a","bc" */
}

uint64_t nft_state_hash(const struct nft_state *st)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < st->n_colls; i++) {
		const struct nft_coll *c = &st->colls[i];

		h = mix(mix(mix(h, c->table), c->name), c->decl);
		for (size_t j = 0; j < c->n_elems; j++)
			h = mix(mix(h, c->elems[j].key), c->elems[j].value);
	}
	for (size_t i = 0; i < st->n_chains; i++)
		h = mix(mix(mix(h, st->chains[i].table), st->chains[i].name), st->chains[i].rules);
	return h ? h : 1;
}

char *nft_script_full(const struct nft_state *st)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_append(&sb, skeleton);
	for (size_t i = 0; i < st->n_colls; i++)
		if (st->colls[i].decl)
			strbuf_appendf(&sb, "add set %s %s %s\n", st->colls[i].table,
				       st->colls[i].name, st->colls[i].decl);
	for (size_t i = 0; i < st->n_chains; i++)
		strbuf_appendf(&sb, "add chain %s %s\n", st->chains[i].table, st->chains[i].name);
	for (size_t i = 0; i < st->n_chains; i++)
		emit_rules(&sb, &st->chains[i]);
	for (size_t i = 0; i < st->n_colls; i++)
		emit_all_elems(&sb, &st->colls[i]);
	return strbuf_steal(&sb);
}

/* Chains and sets of a state by "table\037name", and one set's elements by
 * key: the diff looks each up once, so it stays linear in the ruleset. */
struct st_index {
	struct hmap chains, colls;
	char **keys;
	size_t n_keys;
};

static char *index_key(const char *table, const char *name)
{
	return xasprintf("%s\037%s", table, name);
}

static void index_build(const struct nft_state *st, struct st_index *ix)
{
	*ix = (struct st_index){HMAP_INIT, HMAP_INIT, NULL, 0};
	ix->keys = xcalloc(st->n_chains + st->n_colls + 1, sizeof(*ix->keys));
	for (size_t i = 0; i < st->n_chains; i++) {
		ix->keys[ix->n_keys] = index_key(st->chains[i].table, st->chains[i].name);
		hmap_put(&ix->chains, ix->keys[ix->n_keys++], &st->chains[i]);
	}
	for (size_t i = 0; i < st->n_colls; i++) {
		ix->keys[ix->n_keys] = index_key(st->colls[i].table, st->colls[i].name);
		hmap_put(&ix->colls, ix->keys[ix->n_keys++], &st->colls[i]);
	}
}

static void index_done(struct st_index *ix)
{
	hmap_done(&ix->chains);
	hmap_done(&ix->colls);
	for (size_t i = 0; i < ix->n_keys; i++)
		free(ix->keys[i]);
	free(ix->keys);
}

static void *index_find(const struct hmap *m, const char *table, const char *name)
{
	char *key = index_key(table, name);
	void *v = hmap_get(m, key);

	free(key);
	return v;
}

static const struct nft_chain *find_chain(const struct st_index *ix, const struct nft_chain *c)
{
	return index_find(&ix->chains, c->table, c->name);
}

static const struct nft_coll *find_coll(const struct st_index *ix, const struct nft_coll *c)
{
	return index_find(&ix->colls, c->table, c->name);
}

static void elems_index(const struct nft_coll *c, struct hmap *out)
{
	*out = HMAP_INIT;
	for (size_t i = 0; c && i < c->n_elems; i++)
		hmap_put(out, c->elems[i].key, &c->elems[i]);
}

/* Elements of `from` that `other` lacks or holds with another value. */
static void emit_changed(struct strbuf *sb, const char *verb, const struct nft_coll *from,
			 const struct nft_coll *other)
{
	const struct nft_elem **pick = xcalloc(from->n_elems + 1, sizeof(*pick));
	struct hmap have;
	size_t n = 0;

	elems_index(other, &have);
	for (size_t j = 0; j < from->n_elems; j++) {
		const struct nft_elem *e = hmap_get(&have, from->elems[j].key);

		if (!e || !streq_ptr(e->value, from->elems[j].value))
			pick[n++] = &from->elems[j];
	}
	emit_elems(sb, verb, from, pick, n);
	hmap_done(&have);
	free(pick);
}

char *nft_script_diff(const struct nft_state *old, const struct nft_state *new)
{
	struct strbuf sb = STRBUF_INIT;
	struct st_index io, in;

	index_build(old, &io);
	index_build(new, &in);
	/* New sets and chains exist before anything refers to them. */
	for (size_t i = 0; i < new->n_colls; i++)
		if (new->colls[i].decl && !find_coll(&io, &new->colls[i]))
			strbuf_appendf(&sb, "add set %s %s %s\n", new->colls[i].table,
				       new->colls[i].name, new->colls[i].decl);
	for (size_t i = 0; i < new->n_chains; i++)
		if (!find_chain(&io, &new->chains[i]))
			strbuf_appendf(&sb, "add chain %s %s\n", new->chains[i].table,
				       new->chains[i].name);
	/* Chains whose rules changed are rewritten, and only those. */
	for (size_t i = 0; i < new->n_chains; i++) {
		const struct nft_chain *o = find_chain(&io, &new->chains[i]);

		if (o && streq(o->rules, new->chains[i].rules))
			continue;
		if (o)
			strbuf_appendf(&sb, "flush chain %s %s\n", o->table, o->name);
		emit_rules(&sb, &new->chains[i]);
	}
	/* Elements: removed or changed keys out (from sets that stay), new or
	 * changed keys in. */
	for (size_t i = 0; i < old->n_colls; i++) {
		const struct nft_coll *nc = find_coll(&in, &old->colls[i]);

		if (nc)
			emit_changed(&sb, "delete", &old->colls[i], nc);
	}
	for (size_t i = 0; i < new->n_colls; i++)
		emit_changed(&sb, "add", &new->colls[i], find_coll(&io, &new->colls[i]));
	/* Then what nothing refers to any more goes. */
	for (size_t i = 0; i < old->n_chains; i++)
		if (!find_chain(&in, &old->chains[i]))
			strbuf_appendf(&sb, "flush chain %s %s\n", old->chains[i].table,
				       old->chains[i].name);
	for (size_t i = 0; i < old->n_chains; i++)
		if (!find_chain(&in, &old->chains[i]))
			strbuf_appendf(&sb, "delete chain %s %s\n", old->chains[i].table,
				       old->chains[i].name);
	for (size_t i = 0; i < old->n_colls; i++)
		if (old->colls[i].decl && !find_coll(&in, &old->colls[i]))
			strbuf_appendf(&sb, "delete set %s %s\n", old->colls[i].table,
				       old->colls[i].name);
	index_done(&io);
	index_done(&in);
	return strbuf_steal(&sb);
}
