/* nftables ruleset building and diffing. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "nft/ruleset.h"
#include "test.h"

static void port(struct nft_port_in *p, const char *tap, uint16_t idx, uint32_t ip, const char *sg)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->tap, tap);
	p->idx = idx;
	p->mac[0] = 0xfa;
	p->mac[5] = (uint8_t) idx;
	p->ips[0] = ip;
	p->n_ips = 1;
	p->port_security = true;
	strcpy(p->sgs[0], sg);
	p->n_sgs = 1;
}

static struct nft_rule_in rule(const char *sg, bool ingress, const char *proto, int pmin, int pmax,
			       const char *prefix, const char *group)
{
	struct nft_rule_in r = {.ingress = ingress, .pmin = pmin, .pmax = pmax};

	strcpy(r.sg_id, sg);
	strcpy(r.proto, proto);
	strcpy(r.remote_prefix, prefix);
	strcpy(r.remote_group, group);
	return r;
}

static const char *find_chain_rules(const struct nft_state *st, const char *name)
{
	return nft_state_chain(st, name);
}

/* The rules of the chain ending in `suffix` of the one piece made for a
 * set of security groups, or NULL. */
static const char *combo_chain(const struct nft_state *st, const char *suffix)
{
	for (size_t i = 0; i < st->n_pieces; i++)
		for (size_t j = 0; j < st->pieces[i]->n_chains; j++) {
			const char *name = st->pieces[i]->chains[j].name;

			if (strncmp(name, "set_", 4) == 0 &&
			    strcmp(name + strlen(name) - strlen(suffix), suffix) == 0)
				return st->pieces[i]->chains[j].rules;
		}
	return NULL;
}

TEST(nft_build_ports_groups_rules)
{
	struct nft_port_in ports[2];
	struct nft_rule_in rules[3];
	struct nft_zone_in zones[1] = {{"brqnet", 1001}};
	struct ip4_cidr members[2] = {{0x0a000005, 32}, {0x0a000006, 32}};
	struct nft_group_in groups[1] = {{"sgA", members, 2, NULL, 0}};
	struct nft_state st;
	const char *r;
	char *full;

	port(&ports[0], "tapaaa", 1, 0x0a000005, "sgA");
	port(&ports[1], "tapbbb", 2, 0x0a000006, "sgA");
	rules[0] = rule("sgA", true, "tcp", 22, 22, "", "");
	rules[1] = rule("sgA", true, "", -1, -1, "", "sgA");
	rules[2] = rule("sgA", false, "", -1, -1, "", "");
	struct nft_input in = {ports, 2, rules,	     3,	   zones, 1, groups, 1,
			       NULL,  0, 0xc6336401, 4789, "ul0", 0, false};
	nft_build(&in, NULL, &st);
	/* Both ports share the chains of their set of groups. */
	r = combo_chain(&st, "_in");
	REQUIRE(r);
	CHECK_STREQ(r, "meta priority set none\n"
		       "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, "
		       "mld-listener-query } accept\n"
		       "ct state invalid drop\n"
		       "jump sg_sgA_in\n"
		       "drop\n");
	CHECK_STREQ(combo_chain(&st, "_eg"),
		    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, "
		    "mld-listener-query, mld-listener-report, mld2-listener-report } goto dest_in\n"
		    "ct state invalid drop\n"
		    "jump sg_sgA_eg\n"
		    "drop\n");
	CHECK_STREQ(find_chain_rules(&st, "sg_sgA_in"),
		    "meta nfproto ipv4 meta l4proto tcp th dport 22 accept\n"
		    "meta nfproto ipv4 ip saddr @rg_sgA accept\n");
	/* An egress accept goes on to the destination's ingress verdict. */
	CHECK_STREQ(find_chain_rules(&st, "sg_sgA_eg"), "meta nfproto ipv4 goto dest_in\n");
	full = nft_script_full(&st);
	CHECK(strstr(full, "add set inet lepton rg_sgA { type ipv4_addr; flags interval; }") !=
	      NULL);
	CHECK(strstr(full, "add element inet lepton rg_sgA { 10.0.0.5, 10.0.0.6 }") != NULL);
	CHECK(strstr(full, "add element inet lepton zones { \"brqnet\" : 1001 }") != NULL);
	/* The node's own VXLAN packets skip conntrack, by constants: first
	 * from the underlay device, after the bridged packets from any
	 * other (a VM's packet to that address and port meets its groups). */
	CHECK_STREQ(find_chain_rules(&st, "prerouting"),
		    "iifname \"ul0\" ip daddr 198.51.100.1 udp dport 4789 notrack accept\n"
		    "ct state untracked accept\n"
		    "ct zone set iifname map @zones accept\n"
		    "ip daddr 198.51.100.1 udp dport 4789 notrack\n");
	CHECK_STREQ(find_chain_rules(&st, "tunnel_out"),
		    "ip saddr 198.51.100.1 udp dport 4789 notrack\n");
	CHECK(strstr(full, "add chain inet lepton tunnel_out { type filter hook output priority "
			   "-310; policy accept; }") != NULL);
	/* A port is elements: its mark (index and secured bit), its
	 * priority tag, anti-spoofing keyed by the mark, its MAC among the
	 * tracked destinations, and the verdicts to its groups' chains. */
	CHECK(strstr(full, "add element bridge lepton tracked { fa:00:00:00:00:01, "
			   "fa:00:00:00:00:02 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton dhcp_local { \"tapaaa\", \"tapbbb\" }") !=
	      NULL);
	CHECK(strstr(full, "add element bridge lepton port_mark { \"tapaaa\" : 0x10001, "
			   "\"tapbbb\" : 0x10002 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton port_prio { \"tapaaa\" : 4c45:1, "
			   "\"tapbbb\" : 4c45:2 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton ip_src { "
			   "0x10001 . fa:00:00:00:00:01 . 0.0.0.0, "
			   "0x10001 . fa:00:00:00:00:01 . 10.0.0.5, "
			   "0x10002 . fa:00:00:00:00:02 . 0.0.0.0, "
			   "0x10002 . fa:00:00:00:00:02 . 10.0.0.6 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton arp_ips { 0x10001 . 0.0.0.0/32, "
			   "0x10001 . 10.0.0.5/32, ") != NULL);
	/* IPv6: ::, the link-local address of the MAC (no other address
	 * in this model). */
	CHECK(strstr(full, "add element bridge lepton ip6_src { "
			   "0x10001 . fa:00:00:00:00:01 . ::, "
			   "0x10001 . fa:00:00:00:00:01 . fe80::f800:ff:fe00:1, ") != NULL);
	CHECK(strstr(full, "add element bridge lepton macs { 0x10001 . fa:00:00:00:00:01, "
			   "0x10002 . fa:00:00:00:00:02 }") != NULL);
	CHECK(strstr(full, "add element inet lepton egress { 0x1 : jump set_") != NULL);
	CHECK(strstr(full, "add element inet lepton ingress { 4c45:1 : jump set_") != NULL);
	/* No chain per port. */
	CHECK(strstr(full, "tapaaa\n") == NULL && strstr(full, "chain bridge lepton tap") == NULL);
	/* Sets and chains are declared before the rules that use them. */
	CHECK(strstr(full, "add set inet lepton rg_sgA") < strstr(full, "@rg_sgA"));
	free(full);
	nft_state_done(&st);
}

/* The diff from `a` to the state of `in`, checked to be the same whether
 * the new state is built from nothing or from `a` (sharing its unchanged
 * pieces), as are the full scripts and the hashes. */
static char *diff_to(const struct nft_input *in, const struct nft_state *a)
{
	struct nft_state fresh, inc;
	char *d, *d_inc, *full, *full_inc;

	nft_build(in, NULL, &fresh);
	nft_build(in, a, &inc);
	d = nft_script_diff(a, &fresh);
	d_inc = nft_script_diff(a, &inc);
	full = nft_script_full(&fresh);
	full_inc = nft_script_full(&inc);
	CHECK_STREQ(d, d_inc);
	CHECK_STREQ(full, full_inc);
	CHECK(nft_state_hash(&fresh) == nft_state_hash(&inc));
	free(d_inc);
	free(full);
	free(full_inc);
	nft_state_done(&fresh);
	nft_state_done(&inc);
	return d;
}

TEST(nft_diff_touches_only_what_changed)
{
	struct nft_port_in ports[3];
	struct nft_rule_in rules[3];
	struct ip4_cidr members[1] = {{0x0a000005, 32}};
	struct nft_group_in groups[1] = {{"sgA", members, 1, NULL, 0}};
	struct nft_state a, b;
	char *d;

	port(&ports[0], "tapaaa", 1, 0x0a000005, "sgA");
	port(&ports[1], "tapbbb", 2, 0x0a000006, "sgB");
	rules[0] = rule("sgA", true, "tcp", 22, 22, "", "");
	rules[1] = rule("sgB", true, "udp", 53, 53, "10.0.0.0/8", "");
	rules[2] = rule("sgB", true, "", -1, -1, "", "sgA");
	struct nft_input in = {ports, 2, rules, 3, NULL, 0, groups, 1, NULL, 0, 0, 0, "", 0, false};
	nft_build(&in, NULL, &a);
	d = diff_to(&in, &a);
	CHECK_STREQ(d, "");
	free(d);
	/* Built from the previous state, every piece is shared. */
	nft_build(&in, &a, &b);
	REQUIRE(a.n_pieces == b.n_pieces);
	for (size_t i = 0; i < a.n_pieces; i++)
		CHECK(a.pieces[i] == b.pieces[i]);
	nft_state_done(&b);

	/* One rule of sgA changes: only sgA's chain is rewritten. */
	rules[0] = rule("sgA", true, "tcp", 80, 443, "", "");
	d = diff_to(&in, &a);
	CHECK_STREQ(d, "flush chain inet lepton sg_sgA_in\n"
		       "add rule inet lepton sg_sgA_in meta nfproto ipv4 meta l4proto tcp th dport "
		       "80-443 accept\n");
	free(d);

	/* A new member of the remote group: one element. */
	struct ip4_cidr more[2] = {{0x0a000005, 32}, {0x0a000009, 32}};
	groups[0].ips = more;
	groups[0].n_ips = 2;
	rules[0] = rule("sgA", true, "tcp", 22, 22, "", "");
	d = diff_to(&in, &a);
	CHECK_STREQ(d, "add element inet lepton rg_sgA { 10.0.0.9 }\n");
	free(d);

	/* A port goes: its elements and its groups' chains, nothing else. */
	in.n_ports = 1;
	groups[0].ips = members;
	groups[0].n_ips = 1;
	d = diff_to(&in, &a);
	CHECK(strstr(d, "delete element bridge lepton port_mark { \"tapbbb\" }") != NULL);
	CHECK(strstr(d, "delete element bridge lepton ip_src { 0x10002 . fa:00:00:00:00:02 . "
			"0.0.0.0, 0x10002 . fa:00:00:00:00:02 . 10.0.0.6 }") != NULL);
	CHECK(strstr(d, "delete chain inet lepton sg_sgB_in") != NULL);
	CHECK(strstr(d, "delete set inet lepton rg_sgA") != NULL);
	CHECK(strstr(d, "tapaaa") == NULL);
	/* References go before the chains they point to. */
	CHECK(strstr(d, "delete element inet lepton ingress") <
	      strstr(d, "delete chain inet lepton set_"));
	CHECK(strstr(d, "delete chain inet lepton set_") <
	      strstr(d, "delete chain inet lepton sg_sgB_in"));
	free(d);
	nft_state_done(&a);
}

/* A chain of changes, each state built from the previous one (as the agent
 * does): every step equals the state built from nothing, and the diff
 * removes a key before another piece adds it back. */
TEST(nft_incremental_build_equals_build_from_nothing)
{
	struct nft_port_in ports[6];
	struct nft_rule_in rules[6];
	struct ip4_cidr members[4] = {
		{0x0a000001, 32}, {0x0a000002, 32}, {0x0a000003, 32}, {0x0a000004, 32}};
	struct nft_group_in groups[2] = {{"g1", members, 2, NULL, 0},
					 {"g2", members + 2, 2, NULL, 0}};
	struct nft_zone_in zones[2] = {{"brqa", 1}, {"brqb", 2}};
	struct nft_state cur, next, fresh;
	unsigned seed = 12345;
	char *a, *b, *d;

	for (int i = 0; i < 6; i++) {
		char tap[16];

		snprintf(tap, sizeof(tap), "tap%d", i);
		port(&ports[i], tap, (uint16_t) (i + 1), 0x0a000001 + (uint32_t) i,
		     i % 2 ? "g1" : "g2");
	}
	for (int i = 0; i < 6; i++)
		rules[i] = rule(i % 2 ? "g1" : "g2", i % 3 == 0, "tcp", 20 + i, 20 + i, "",
				i == 2 ? "g1" : "");
	struct nft_input in = {ports, 6, rules, 6, zones, 2, groups, 2,
			       NULL,  0, 0,	0, "",	  1, false};
	nft_build(&in, NULL, &cur);
	for (int step = 0; step < 200; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = (seed >> 16) % 6, what = (seed >> 8) % 6;
		struct nft_input whole;

		/* The ports' stamp follows their changes: an unchanged one
		 * takes the ports' pieces over whole. */
		if (what == 0 || what == 3 || what == 4)
			in.ports_stamp++;
		if (what == 0)
			ports[r].port_security = !ports[r].port_security;
		else if (what == 1)
			rules[r].pmin = rules[r].pmax = (int) (seed % 1000);
		else if (what == 2)
			groups[r % 2].n_ips = (seed >> 4) % 3;
		else if (what == 3)
			in.n_ports = 1 + (seed >> 4) % 6;
		else if (what == 4) /* two ports trade their marks */
			ports[r].idx = ports[(r + 1) % 6].idx,
			ports[(r + 1) % 6].idx = (uint16_t) (r + 1);
		else
			zones[r % 2].zone = (uint16_t) (seed % 4000);
		nft_build(&in, &cur, &next);
		whole = in;
		whole.ports_stamp = 0;
		nft_build(&whole, NULL, &fresh);
		a = nft_script_full(&next);
		b = nft_script_full(&fresh);
		CHECK_STREQ(a, b);
		CHECK(nft_state_hash(&next) == nft_state_hash(&fresh));
		d = nft_script_diff(&cur, &next);
		/* A key deleted and added in one step: the delete comes first. */
		for (const char *del = strstr(d, "delete element"); del;
		     del = strstr(del + 1, "delete element"))
			CHECK(strstr(d, "add element") == NULL || strstr(d, "add element") > del);
		free(a);
		free(b);
		free(d);
		nft_state_done(&fresh);
		nft_state_done(&cur);
		cur = next;
	}
	nft_state_done(&cur);
}

TEST(nft_rules_protocols)
{
	struct nft_port_in p;
	struct nft_rule_in rules[5];
	struct nft_state st;
	char *full;

	port(&p, "tapx", 7, 0x0a000007, "g");
	rules[0] = rule("g", true, "icmp", 8, 0, "", "");
	rules[1] = rule("g", true, "47", -1, -1, "192.0.2.0/24", "");
	rules[2] = rule("g", false, "udp", 1000, 2000, "", "");
	rules[3] = rule("g", true, "bogus-proto", -1, -1, "", "");
	rules[4] = rule("g", true, "tcp", -1, -1, "", "");
	rules[4].ipv6 = true;
	struct nft_input in = {&p, 1, rules, 5, NULL, 0, NULL, 0, NULL, 0, 0, 0, "", 0, false};
	nft_build(&in, NULL, &st);
	CHECK_STREQ(find_chain_rules(&st, "sg_g_in"),
		    "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept\n"
		    "meta nfproto ipv4 meta l4proto 47 ip saddr 192.0.2.0/24 accept\n"
		    "meta nfproto ipv6 meta l4proto tcp accept\n");
	CHECK_STREQ(find_chain_rules(&st, "sg_g_eg"),
		    "meta nfproto ipv4 meta l4proto udp th dport 1000-2000 goto dest_in\n");
	/* Without port security: DHCP drops only, no groups, no verdicts. */
	p.port_security = false;
	nft_state_done(&st);
	nft_build(&in, NULL, &st);
	full = nft_script_full(&st);
	CHECK(strstr(full, "add element bridge lepton port_mark { \"tapx\" : 0x20000 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton dhcp_local { \"tapx\" }") != NULL);
	CHECK(strstr(full, "add element bridge lepton tracked") == NULL);
	CHECK(strstr(full, "add element bridge lepton ip_src") == NULL);
	CHECK(strstr(full, "add element inet lepton ingress") == NULL);
	CHECK(find_chain_rules(&st, "sg_g_in") == NULL && combo_chain(&st, "_in") == NULL);
	free(full);
	nft_state_done(&st);
}

TEST(nft_address_group_sets)
{
	struct nft_port_in ports[1];
	struct nft_rule_in rules[3];
	struct ip4_cidr pfx[2] = {{0x0a000000, 8}, {0xc0000207, 32}};
	struct nft_cidr6 pfx6[3] = {{{0x20, 0x01, 0x0d, 0xb8, 0, 0x07}, 128},
				    {{0x20, 0x01, 0x0d, 0xb8}, 32},
				    {{0xfd, 0, 0, 0x09}, 64}};
	struct nft_agroup_in ags[2] = {{"agX", pfx, 2, pfx6, 3}, {"agUnused", pfx, 1, NULL, 0}};
	struct nft_state a, b;
	char *full, *d;

	port(&ports[0], "tapaaa", 1, 0x0a000005, "sgA");
	rules[0] = rule("sgA", true, "tcp", 22, 22, "", "");
	strcpy(rules[0].remote_address_group, "agX");
	rules[1] = rule("sgA", false, "", -1, -1, "", "");
	strcpy(rules[1].remote_address_group, "agMissing");
	/* IPv6 rules naming a group: its IPv6 prefixes (disjoint). */
	rules[2] = rule("sgA", true, "", -1, -1, "", "");
	rules[2].ipv6 = true;
	strcpy(rules[2].remote_address_group, "agX");
	struct nft_input in = {ports, 1, rules, 3, NULL, 0, NULL, 0, ags, 2, 0, 0, "", 0, false};
	nft_build(&in, NULL, &a);
	CHECK_STREQ(find_chain_rules(&a, "sg_sgA_in"),
		    "meta nfproto ipv4 meta l4proto tcp th dport 22 ip saddr @ag_agX accept\n"
		    "meta nfproto ipv6 ip6 saddr @ag6_agX accept\n");
	CHECK_STREQ(find_chain_rules(&a, "sg_sgA_eg"),
		    "meta nfproto ipv4 ip daddr @ag_agMissing goto dest_in\n");
	full = nft_script_full(&a);
	CHECK(strstr(full, "add set inet lepton ag6_agX { type ipv6_addr; flags interval; }") !=
	      NULL);
	CHECK(strstr(full, "add element inet lepton ag6_agX { 2001:db8::/32, fd00:9::/64 }") !=
	      NULL);
	CHECK(strstr(full, "ag6_agMissing") == NULL);
	CHECK(strstr(full, "add set inet lepton ag_agX { type ipv4_addr; flags interval; }") !=
	      NULL);
	CHECK(strstr(full, "add element inet lepton ag_agX { 10.0.0.0/8, 192.0.2.7/32 }") != NULL);
	/* A group the model lacks: an empty set, matching nothing. */
	CHECK(strstr(full, "add set inet lepton ag_agMissing") != NULL);
	CHECK(strstr(full, "add element inet lepton ag_agMissing") == NULL);
	CHECK(strstr(full, "agUnused") == NULL);
	CHECK(strstr(full, "add set inet lepton ag_agX") < strstr(full, "@ag_agX"));
	free(full);
	/* The group loses a prefix: one element goes, nothing else. */
	ags[0].n_prefixes = 1;
	nft_build(&in, &a, &b);
	d = nft_script_diff(&a, &b);
	CHECK_STREQ(d, "delete element inet lepton ag_agX { 192.0.2.7/32 }\n");
	free(d);
	nft_state_done(&b);
	nft_state_done(&a);
}

/* Interval sets refuse overlapping elements: the port's own address inside
 * an address pair's prefix of the same MAC is left out, ARP (any MAC) and
 * remote groups keep the widest prefixes only. */
TEST(nft_port_sources_without_overlaps)
{
	struct nft_port_in p;
	struct nft_state st;
	char *full;

	struct ip4_cidr members[4] = {
		{0x0a000005, 32}, {0x0a000009, 24}, {0x0a000005, 32}, {0xc0000201, 32}};
	struct nft_group_in groups[1] = {{"g", members, 4, NULL, 0}};
	struct nft_rule_in rules[1];

	rules[0] = rule("g", true, "", -1, -1, "", "g");
	port(&p, "tapx", 3, 0x0a000005, "g");
	p.pairs[0] = (struct nft_pair_in){{0xfa, 0, 0, 0, 0, 3}, {0x0a000009, 24}};
	p.pairs[1] = (struct nft_pair_in){{0xfa, 0, 0, 0, 0, 9}, {0x0a000007, 32}};
	p.pairs[2] = (struct nft_pair_in){{0xfa, 0, 0, 0, 0, 9}, {0x0a000007, 32}};
	p.n_pairs = 3;
	struct nft_input in = {&p, 1, rules, 1, NULL, 0, groups, 1, NULL, 0, 0, 0, "", 0, false};
	nft_build(&in, NULL, &st);
	full = nft_script_full(&st);
	/* A remote group's members: a pair's prefix holds a member's address. */
	CHECK(strstr(full, "add element inet lepton rg_g { 10.0.0.0/24, 192.0.2.1 }\n") != NULL);
	/* Single addresses in the hash set, prefixes in the interval one. */
	CHECK(strstr(full, "add element bridge lepton ip_src { "
			   "0x10003 . fa:00:00:00:00:03 . 0.0.0.0, "
			   "0x10003 . fa:00:00:00:00:09 . 10.0.0.7 }\n") != NULL);
	CHECK(strstr(full, "add element bridge lepton ip_src_net { "
			   "0x10003 . fa:00:00:00:00:03 . 10.0.0.0/24 }\n") != NULL);
	CHECK(strstr(full, "add element bridge lepton arp_ips { 0x10003 . 0.0.0.0/32, "
			   "0x10003 . 10.0.0.0/24 }\n") != NULL);
	CHECK(strstr(full, "add element bridge lepton macs { 0x10003 . fa:00:00:00:00:03, "
			   "0x10003 . fa:00:00:00:00:09 }\n") != NULL);
	free(full);
	nft_state_done(&st);
}

static void v6(uint8_t out[16], const char *s)
{
	REQUIRE(inet_pton(AF_INET6, s, out) == 1);
}

/* IPv6 remote groups (issue 14): a set rg6_ of the members' IPv6 addresses
 * and IPv6 address pairs (disjoint, sorted), used by the IPv6 rules only;
 * the IPv4 set only where an IPv4 rule names the group. IPv6 allowed
 * address pairs pass anti-spoofing (ip6_src, with their own MAC), a prefix
 * swallowing the addresses it holds. */
TEST(nft_ipv6_remote_groups_and_pairs)
{
	struct nft_port_in ports[2];
	struct nft_rule_in rules[4];
	struct ip4_cidr members[2] = {{0x0a000005, 32}, {0x0a000006, 32}};
	struct nft_cidr6 members6[4] = {{{0}, 128}, {{0}, 128}, {{0}, 120}, {{0}, 128}};
	struct nft_group_in groups[2] = {{"sgA", members, 2, members6, 4},
					 {"sgB", members, 1, members6, 1}};
	struct nft_state st;
	char *full;

	port(&ports[0], "tapaaa", 1, 0x0a000005, "sgA");
	port(&ports[1], "tapbbb", 2, 0x0a000006, "sgA");
	v6(ports[0].ips6[0], "2001:db8:100::5");
	ports[0].n_ips6 = 1;
	v6(ports[1].ips6[0], "2001:db8:100::6");
	ports[1].n_ips6 = 1;
	/* tapaaa: a pair of one address (its own MAC), a prefix holding its
	 * address and that pair, a prefix with a MAC of its own. */
	memcpy(ports[0].pairs6[0].mac, ports[0].mac, 6);
	v6(ports[0].pairs6[0].cidr.addr, "2001:db8:100::aa");
	ports[0].pairs6[0].cidr.len = 128;
	memcpy(ports[0].pairs6[1].mac, ports[0].mac, 6);
	v6(ports[0].pairs6[1].cidr.addr, "2001:db8:100::");
	ports[0].pairs6[1].cidr.len = 64;
	ports[0].pairs6[2].mac[0] = 0x02;
	ports[0].pairs6[2].mac[5] = 0x99;
	v6(ports[0].pairs6[2].cidr.addr, "2001:db8:200::");
	ports[0].pairs6[2].cidr.len = 64;
	ports[0].n_pairs6 = 3;
	v6(members6[0].addr, "2001:db8:100::6");
	v6(members6[1].addr, "2001:db8:100::5");
	v6(members6[2].addr, "2001:db8:300::");
	v6(members6[3].addr, "2001:db8:100::6");
	rules[0] = rule("sgA", true, "", -1, -1, "", "sgA");
	rules[0].ipv6 = true;
	rules[1] = rule("sgA", false, "tcp", 80, 80, "", "sgB");
	rules[1].ipv6 = true;
	rules[2] = rule("sgA", true, "tcp", 22, 22, "", "sgA");
	rules[3] = rule("sgA", true, "", -1, -1, "", "sgMissing");
	rules[3].ipv6 = true;
	struct nft_input in = {ports, 2, rules, 4, NULL, 0, groups, 2, NULL, 0, 0, 0, "", 0, false};
	nft_build(&in, NULL, &st);
	CHECK_STREQ(find_chain_rules(&st, "sg_sgA_in"),
		    "meta nfproto ipv6 ip6 saddr @rg6_sgA accept\n"
		    "meta nfproto ipv4 meta l4proto tcp th dport 22 ip saddr @rg_sgA accept\n"
		    "meta nfproto ipv6 ip6 saddr @rg6_sgMissing accept\n");
	CHECK_STREQ(
		find_chain_rules(&st, "sg_sgA_eg"),
		"meta nfproto ipv6 meta l4proto tcp th dport 80 ip6 daddr @rg6_sgB goto dest_in\n");
	full = nft_script_full(&st);
	CHECK(strstr(full, "add set inet lepton rg6_sgA { type ipv6_addr; flags interval; }") !=
	      NULL);
	CHECK(strstr(full, "add element inet lepton rg6_sgA { 2001:db8:100::5, 2001:db8:100::6, "
			   "2001:db8:300::/120 }") != NULL);
	CHECK(strstr(full, "add element inet lepton rg6_sgB { 2001:db8:100::6 }") != NULL);
	CHECK(strstr(full, "add element inet lepton rg_sgA { 10.0.0.5, 10.0.0.6 }") != NULL);
	/* sgB is named by an IPv6 rule only: no IPv4 set; a group the input
	 * lacks: an empty set. */
	CHECK(strstr(full, "rg_sgB") == NULL);
	CHECK(strstr(full, "add set inet lepton rg6_sgMissing") != NULL);
	CHECK(strstr(full, "add element inet lepton rg6_sgMissing") == NULL);
	/* Anti-spoofing: the pair of another MAC, then the port's own MAC
	 * with ::, the /64 (holding its address and the one-address pair)
	 * and its link-local address; tapbbb as before. */
	CHECK(strstr(full, "set ip6_src_net { type mark . ether_addr . ipv6_addr; "
			   "flags interval; }") != NULL);
	CHECK(strstr(full, "add element bridge lepton ip6_src { "
			   "0x10001 . fa:00:00:00:00:01 . ::, "
			   "0x10001 . fa:00:00:00:00:01 . fe80::f800:ff:fe00:1, "
			   "0x10002 . fa:00:00:00:00:02 . ::, "
			   "0x10002 . fa:00:00:00:00:02 . 2001:db8:100::6, "
			   "0x10002 . fa:00:00:00:00:02 . fe80::f800:ff:fe00:2 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton ip6_src_net { "
			   "0x10001 . 02:00:00:00:00:99 . 2001:db8:200::/64, "
			   "0x10001 . fa:00:00:00:00:01 . 2001:db8:100::/64 }") != NULL);
	/* The tracked destinations: each MAC once. */
	CHECK(strstr(full, "add element bridge lepton tracked { 02:00:00:00:00:99, "
			   "fa:00:00:00:00:01, fa:00:00:00:00:02 }") != NULL);
	CHECK(strstr(full, "add element bridge lepton macs { 0x10001 . fa:00:00:00:00:01, "
			   "0x10001 . 02:00:00:00:00:99, 0x10002 . fa:00:00:00:00:02 }") != NULL);
	free(full);
	nft_state_done(&st);
}

/* Netdev mode: no bridge chain; each port's tap has its own base chains
 * (anti-spoofing in, group-addressed ingress out), the ingress verdict is
 * keyed by bridge and MAC, remote groups are sets of both tables. */
TEST(nft_netdev_mode)
{
	struct nft_port_in ports[3];
	struct nft_rule_in rules[2];
	struct nft_zone_in zones[1] = {{"brqnet", 1001}};
	struct ip4_cidr members[1] = {{0x0a000005, 32}};
	struct nft_group_in groups[1] = {{"sgA", members, 1, NULL, 0}};
	struct nft_state st;
	char *full, *d;

	port(&ports[0], "tapaaa", 1, 0x0a000005, "sgA");
	port(&ports[1], "tapbbb", 2, 0x0a000006, "sgA");
	port(&ports[2], "tapccc", 3, 0x0a000007, "sgA");
	ports[2].port_security = false;
	/* tapbbb answers for tapaaa's MAC too (a shared address pair). */
	memcpy(ports[1].pairs[0].mac, ports[0].mac, 6);
	ports[1].pairs[0].cidr = (struct ip4_cidr){0x0a000063, 32};
	ports[1].n_pairs = 1;
	for (size_t i = 0; i < 3; i++)
		strcpy(ports[i].bridge, "brqnet");
	rules[0] = rule("sgA", true, "udp", 5353, 5353, "", "");
	rules[1] = rule("sgA", true, "", -1, -1, "", "sgA");
	struct nft_input in = {ports, 3, rules, 2, zones, 1, groups, 1, NULL, 0, 0, 0, "", 0, true};
	nft_build(&in, NULL, &st);
	full = nft_script_full(&st);
	/* A bridge table of an earlier agent goes; nothing makes one. */
	CHECK(strstr(full, "delete table bridge lepton\n") != NULL);
	CHECK(strstr(full, "table bridge lepton {") == NULL);
	CHECK(strstr(full, "bridge lepton port_") == NULL);
	CHECK(strstr(full, "add chain netdev lepton in_tapaaa { type filter hook ingress device "
			   "\"tapaaa\" priority 0; policy accept; }") != NULL);
	/* Its mark; TCP from its own MAC and address at once; the rest
	 * through sec_in. */
	CHECK_STREQ(find_chain_rules(&st, "in_tapaaa"),
		    "meta mark set 0x10001\n"
		    "ether saddr fa:00:00:00:00:01 ip saddr 10.0.0.5 meta l4proto tcp accept\n"
		    "jump sec_in\n");
	/* The tracked decision (no tunnel here). */
	CHECK_STREQ(find_chain_rules(&st, "prerouting"),
		    "ct state untracked accept\n"
		    "meta mark and 0x10000 == 0x10000 ct zone set iifname map @zones accept\n"
		    "ether daddr @tracked ct zone set iifname map @zones accept\n"
		    "ether daddr and 01:00:00:00:00:00 == 01:00:00:00:00:00 ct zone set iifname "
		    "map @zones accept\n"
		    "iifname @bridges notrack accept\n");
	CHECK(find_chain_rules(&st, "tunnel_out") == NULL);
	/* A port without port security: the guard, no mark, no way out. */
	CHECK(strstr(full, "add rule netdev lepton in_tapccc meta l4proto { udp, ipv6-icmp } "
			   "jump guard\n") != NULL);
	CHECK(strstr(full, "out_tapccc") == NULL);
	CHECK(strstr(full, "add chain netdev lepton out_tapbbb { type filter hook egress device "
			   "\"tapbbb\" priority 0; policy accept; }") != NULL);
	CHECK(strstr(full, "add rule netdev lepton out_tapbbb ether daddr and 01:00:00:00:00:00 "
			   "== 01:00:00:00:00:00 meta protocol { ip, ip6 } jump set_") != NULL);
	/* Anti-spoofing sets in the netdev table, tracked MACs in inet. */
	CHECK(strstr(full, "add element netdev lepton ip_src { "
			   "0x10001 . fa:00:00:00:00:01 . 0.0.0.0, ") != NULL);
	CHECK(strstr(full, "add element netdev lepton dhcp_local { \"tapaaa\", \"tapbbb\", "
			   "\"tapccc\" }") != NULL);
	CHECK(strstr(full, "add element inet lepton tracked { fa:00:00:00:00:01, "
			   "fa:00:00:00:00:02 }") != NULL);
	CHECK(strstr(full, "add element inet lepton bridges { \"brqnet\" }") != NULL);
	/* One verdict per bridge and MAC: the shared MAC is tapaaa's (the
	 * first), tapbbb's own MAC is its. */
	CHECK(strstr(full, "add element inet lepton ingress { \"brqnet\" . fa:00:00:00:00:01 : "
			   "jump set_") != NULL);
	CHECK(strstr(full, "\"brqnet\" . fa:00:00:00:00:02 : jump set_") != NULL);
	CHECK(strstr(strstr(full, "fa:00:00:00:00:01 : jump") + 1, "fa:00:00:00:00:01 : jump") ==
	      NULL);
	CHECK(strstr(full, "iifname . ether daddr vmap @ingress") != NULL);
	/* The group's ingress rules once more for the netdev table, and
	 * their remote group's set in both tables. */
	CHECK_STREQ(find_chain_rules(&st, "sg_sgA_gin"),
		    "meta protocol ip meta l4proto udp th dport 5353 accept\n"
		    "meta protocol ip ip saddr @rg_sgA accept\n");
	CHECK(strstr(full, "add set netdev lepton rg_sgA { type ipv4_addr; flags interval; }") !=
	      NULL);
	CHECK(strstr(full, "add element netdev lepton rg_sgA { 10.0.0.5 }") != NULL);
	CHECK(strstr(full, "add element inet lepton rg_sgA { 10.0.0.5 }") != NULL);
	CHECK(strstr(combo_chain(&st, "_gin"), "jump sg_sgA_gin\ndrop\n") != NULL);
	/* The mode is part of the state's hash. */
	{
		struct nft_state br;

		in.netdev = false;
		nft_build(&in, NULL, &br);
		CHECK(nft_state_hash(&br) != nft_state_hash(&st));
		nft_state_done(&br);
		in.netdev = true;
	}
	free(full);

	/* A port goes: its base chains with it, the other ports untouched. */
	in.n_ports = 1;
	d = diff_to(&in, &st);
	CHECK(strstr(d, "delete chain netdev lepton in_tapbbb\n") != NULL);
	CHECK(strstr(d, "delete chain netdev lepton out_tapbbb\n") != NULL);
	CHECK(strstr(d, "delete chain netdev lepton in_tapccc\n") != NULL);
	CHECK(strstr(d, "delete element inet lepton ingress { \"brqnet\" . fa:00:00:00:00:02 }") !=
	      NULL);
	CHECK(strstr(d, "tapaaa") == NULL);
	free(d);
	nft_state_done(&st);
}
