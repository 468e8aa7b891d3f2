/* The hash map and the agent's typed model: parsing, validation, order,
 * indexes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/hmap.h"
#include "base/ip4.h"
#include "base/util.h"
#include "model/model.h"
#include "test.h"

TEST(hmap_put_get_del_many)
{
	enum { N = 5000 };
	struct hmap m = HMAP_INIT;
	static char keys[N][16];
	size_t n = 0;

	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		CHECK(hmap_put(&m, keys[i], keys[i]) == NULL);
	}
	CHECK(m.len == N);
	/* Every other key removed: the rest are still found (backward shift
	 * keeps probe runs whole). */
	for (int i = 0; i < N; i += 2)
		CHECK(hmap_del(&m, keys[i]) == keys[i]);
	CHECK(hmap_del(&m, "k0") == NULL);
	for (int i = 0; i < N; i++)
		CHECK(hmap_get(&m, keys[i]) == (i % 2 ? keys[i] : NULL));
	CHECK(m.len == N / 2);
	/* Replacing returns the old value and keeps one entry. */
	CHECK(hmap_put(&m, keys[1], keys[3]) == keys[1] && hmap_get(&m, "k1") == keys[3]);
	{
		const char *k;
		void *v;

		for (size_t pos = 0; hmap_next(&m, &pos, &k, &v);)
			n++;
	}
	CHECK(n == N / 2);
	hmap_done(&m);
	CHECK(hmap_get(&m, "k1") == NULL && hmap_del(&m, "k1") == NULL);
}

static int put(struct model *m, const char *type, const char *id, const char *doc)
{
	json_t *j = json_loads(doc, 0, NULL);
	int r = model_put(m, type, id, j);

	json_decref(j);
	return r;
}

TEST(model_validates_once)
{
	struct model m;
	const struct m_port *p;
	const struct m_security_group *g;
	const struct m_firewall_rule *fr;

	model_init(&m);
	/* Ids reach kernel names and nftables: anything else is refused. */
	CHECK(put(&m, "port", "p1; flush ruleset", "{}") == -EINVAL);
	CHECK(put(&m, "port", "0123456789012345678901234567890123456", "{}") == -EINVAL);
	CHECK(put(&m, "port", "p1", "[]") == -EINVAL);
	CHECK(put(&m, "volume", "v1", "{}") == -ENOENT);
	CHECK(model_count(&m) == 0);
	CHECK(put(&m, "port", "p1",
		  "{\"network_id\":\"n1\",\"device_owner\":\"compute:nova\",\"mac_address\":"
		  "\"fa:16:3e:00:00:0g\",\"binding:host_id\":\"bad host\",\"fixed_ips\":["
		  "{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.5\"},"
		  "{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.300\"},"
		  "{\"subnet_id\":\"s6\",\"ip_address\":\"2001:db8::5\"}],"
		  "\"security_groups\":[\"g1\",\"g1\",\"g;drop\"],"
		  "\"allowed_address_pairs\":[{\"ip_address\":\"10.1.0.0/16\"},"
		  "{\"ip_address\":\"nope\"}]}") == 0);
	p = model_port(&m, "p1");
	REQUIRE(p);
	CHECK(!p->has_mac && !*p->host && p->owner == M_OWNER_VM);
	CHECK(p->n_ips == 2 && p->ips[0].is_v4 && p->ips[0].ip == 0x0a000005 && !p->ips[1].is_v4);
	CHECK(p->n_sgs == 1 && streq(p->sgs[0], "g1"));
	CHECK(p->n_pairs == 1 && p->pairs[0].cidr.len == 16 && !p->pairs[0].has_mac);
	/* A security group rule that could smuggle text into nftables is
	 * left out; the others stay. */
	CHECK(put(&m, "security_group", "g1",
		  "{\"security_group_rules\":["
		  "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_range_min\":22,"
		  "\"port_range_max\":22,\"remote_ip_prefix\":\"10.0.0.0/8\"},"
		  "{\"direction\":\"ingress\",\"remote_ip_prefix\":\"10.0.0.0/8 accept\"},"
		  "{\"direction\":\"ingress\",\"protocol\":\"tcp; drop\"},"
		  "{\"direction\":\"ingress\",\"port_range_min\":70000},"
		  "{\"direction\":\"egress\",\"ethertype\":\"IPv6\",\"protocol\":58,"
		  "\"remote_ip_prefix\":\"2001:db8::/32\"},"
		  "{\"direction\":\"ingress\",\"remote_group_id\":\"g1\"}]}") == 0);
	g = (const struct m_security_group *) model_get(&m, M_SECURITY_GROUP, "g1");
	REQUIRE(g && g->n_rules == 3);
	CHECK(g->rules[0].ingress && streq(g->rules[0].proto, "tcp") && g->rules[0].pmin == 22);
	CHECK(g->rules[1].ipv6 && streq(g->rules[1].proto, "58") &&
	      streq(g->rules[1].remote_prefix, "2001:db8::/32"));
	CHECK(streq(g->rules[2].remote_group, "g1") && g->rules[2].pmin == -1);
	/* Firewall rules: canonical addresses and ports, or unusable. */
	CHECK(put(&m, "firewall_rule", "r1",
		  "{\"protocol\":\"tcp\",\"action\":\"allow\",\"source_ip_address\":"
		  "\"10.0.0.7/24\",\"destination_port\":\"80:90\"}") == 0);
	CHECK(put(&m, "firewall_rule", "r2",
		  "{\"protocol\":\"icmp\",\"action\":\"deny\",\"destination_port\":\"80\"}") == 0);
	fr = model_firewall_rule(&m, "r1");
	CHECK(fr && fr->usable && streq(fr->src, "10.0.0.0/24") && streq(fr->dport, "80-90"));
	fr = model_firewall_rule(&m, "r2");
	CHECK(fr && !fr->usable);
	/* IPv6 rules (ip_version 6): IPv6 prefixes, canonical; an IPv4
	 * address in one, or an IPv6 one in an IPv4 rule, unusable. */
	CHECK(put(&m, "firewall_rule", "r3",
		  "{\"protocol\":\"tcp\",\"action\":\"allow\",\"ip_version\":6,"
		  "\"source_ip_address\":\"2001:db8:1::7/64\",\"destination_ip_address\":"
		  "\"2001:DB8::1\"}") == 0);
	fr = model_firewall_rule(&m, "r3");
	CHECK(fr && fr->usable && fr->v6 && streq(fr->src, "2001:db8:1::/64") &&
	      streq(fr->dst, "2001:db8::1"));
	CHECK(put(&m, "firewall_rule", "r4",
		  "{\"ip_version\":6,\"source_ip_address\":\"10.0.0.1\"}") == 0);
	CHECK(put(&m, "firewall_rule", "r5", "{\"destination_ip_address\":\"2001:db8::1\"}") == 0);
	fr = model_firewall_rule(&m, "r4");
	CHECK(fr && !fr->usable);
	fr = model_firewall_rule(&m, "r5");
	CHECK(fr && !fr->usable && !fr->v6);
	model_done(&m);
}

/* The server's IPv6 documents (SLAAC subnets, dual-stack ports, IPv6 pairs
 * and routes) are accepted; the agent keeps only what it handles (IPv4). */
TEST(model_accepts_ipv6_documents)
{
	struct model m;
	const struct m_subnet *s;
	const struct m_port *p;
	const struct m_router *r;

	model_init(&m);
	CHECK(put(&m, "subnet", "s6",
		  "{\"network_id\":\"n1\",\"ip_version\":6,\"cidr\":\"2001:db8:1::/64\","
		  "\"gateway_ip\":\"2001:db8:1::1\",\"enable_dhcp\":true,"
		  "\"ipv6_ra_mode\":\"slaac\",\"ipv6_address_mode\":\"slaac\","
		  "\"dns_nameservers\":[\"2001:db8::53\"],\"host_routes\":[{\"destination\":"
		  "\"2001:db8:9::/48\",\"nexthop\":\"2001:db8:1::9\"}]}") == 0);
	s = model_subnet(&m, "s6");
	REQUIRE(s);
	CHECK(!s->is_v4 && s->n_dns == 0 && s->n_host_routes == 0);
	CHECK(put(&m, "port", "p1",
		  "{\"network_id\":\"n1\",\"device_owner\":\"compute:nova\",\"mac_address\":"
		  "\"fa:16:3e:12:34:56\",\"fixed_ips\":["
		  "{\"subnet_id\":\"s4\",\"ip_address\":\"10.0.0.5\"},"
		  "{\"subnet_id\":\"s6\",\"ip_address\":\"2001:db8:1:0:f816:3eff:fe12:3456\"}],"
		  "\"allowed_address_pairs\":[{\"ip_address\":\"2001:db8:1::5/64\"},"
		  "{\"ip_address\":\"10.1.0.0/16\"},{\"ip_address\":\"2001:db8:1::aa\","
		  "\"mac_address\":\"fa:16:3e:00:00:aa\"},{\"ip_address\":\"2001:db8::/129\"}]}") ==
	      0);
	p = model_port(&m, "p1");
	REQUIRE(p);
	CHECK(p->n_ips == 2 && p->ips[0].is_v4 && !p->ips[1].is_v4 && p->n_pairs == 1);
	/* IPv6 pairs apart, host bits cleared, with their MAC; a bad one
	 * skipped. */
	REQUIRE(p->n_pairs6 == 2);
	CHECK(p->pairs6[0].len == 64 && p->pairs6[0].ip6[15] == 0 && p->pairs6[0].ip6[5] == 1 &&
	      !p->pairs6[0].has_mac);
	CHECK(p->pairs6[1].len == 128 && p->pairs6[1].ip6[15] == 0xaa && p->pairs6[1].has_mac &&
	      p->pairs6[1].mac[5] == 0xaa);
	CHECK(put(&m, "router", "r1",
		  "{\"routes\":[{\"destination\":\"2001:db8:77::/48\",\"nexthop\":"
		  "\"2001:db8:1::99\"},{\"destination\":\"10.9.0.0/16\",\"nexthop\":"
		  "\"10.0.0.9\"}]}") == 0);
	r = model_router(&m, "r1");
	REQUIRE(r);
	CHECK(r->n_routes == 1);
	model_done(&m);
}

TEST(model_order_and_indexes_follow_changes)
{
	struct model m;
	const struct m_vec *v;

	model_init(&m);
	CHECK(put(&m, "port", "a", "{\"network_id\":\"n1\",\"binding:host_id\":\"h1\"}") == 0);
	CHECK(put(&m, "port", "b", "{\"network_id\":\"n1\",\"binding:host_id\":\"h2\"}") == 0);
	CHECK(put(&m, "port", "c",
		  "{\"network_id\":\"n2\",\"binding:host_id\":\"h1\",\"device_id\":\"r1\","
		  "\"device_owner\":\"network:router_interface_distributed\"}") == 0);
	CHECK(put(&m, "floatingip", "f1",
		  "{\"router_id\":\"r1\",\"port_id\":\"a\",\"floating_ip_address\":"
		  "\"203.0.113.5\",\"fixed_ip_address\":\"10.0.0.5\"}") == 0);
	CHECK(put(&m, "agent", "x", "{\"host\":\"h1\",\"configurations\":{}}") == 0);
	CHECK(put(&m, "agent", "y",
		  "{\"host\":\"h1\",\"configurations\":{\"tunnel_address\":\"100.127.0.1\","
		  "\"mode\":\"network\"}}") == 0);
	CHECK(model_ports_on_network(&m, "n1")->len == 2);
	CHECK(model_ports_on_host(&m, "h1")->len == 2);
	CHECK(model_ports_of_device(&m, "r1")->len == 1);
	CHECK(model_fips_of_router(&m, "r1")->len == 1);
	CHECK(model_agent_on(&m, "h1") && model_agent_on(&m, "h1")->tunnel_ip == 0x647f0001);
	CHECK(model_network_agents(&m)->len == 1);
	CHECK(model_ports_on_network(&m, "none")->len == 0);
	/* Moving a port: the indexes follow; the document keeps its place. */
	CHECK(put(&m, "port", "a", "{\"network_id\":\"n2\",\"binding:host_id\":\"h2\"}") == 0);
	CHECK(model_ports_on_network(&m, "n1")->len == 1);
	v = model_ports_on_host(&m, "h2");
	CHECK(v->len == 2 && v->v[0] == model_port(&m, "a"));
	CHECK(streq(m.t[M_PORT].head->id, "a") && streq(m.t[M_PORT].tail->id, "c"));
	CHECK(model_del(&m, "port", "a") == 1 && model_del(&m, "port", "a") == 0);
	CHECK(model_ports_on_host(&m, "h2")->len == 1 && streq(m.t[M_PORT].head->id, "b"));
	CHECK(model_del(&m, "floatingip", "f1") == 1 && model_fips_of_router(&m, "r1")->len == 0);
	CHECK(model_count(&m) == 4);
	model_done(&m);
}

/* SNAT blocks and the router's owner: a block is usable only when every
 * field is right; only usable blocks are in the router's index. */
static uint32_t ip(const char *s)
{
	uint32_t a = 0;

	ip4_parse(s, &a);
	return a;
}

TEST(model_snat_blocks)
{
	static const char *const bad[] = {
		"\"port_min\":1023,\"port_max\":2047",
		"\"port_min\":2048,\"port_max\":2047",
		"\"port_min\":1024,\"port_max\":65536",
		"\"port_min\":\"1024\",\"port_max\":2047",
		"\"port_min\":1024.5,\"port_max\":2047",
		"\"port_min\":1024,\"port_max\":2047,\"status\":\"FREE\"",
		"\"port_min\":1024,\"port_max\":2047,\"ip_address\":\"100.64.0.300\"",
		"\"port_min\":1024,\"port_max\":2047,\"ip_address\":\"0.0.0.0\"",
		"\"port_min\":1024,\"port_max\":2047,\"host\":\"a b\"",
		"\"port_min\":1024,\"port_max\":2047,\"host\":\"\"",
		"\"port_min\":1024,\"port_max\":2047,\"router_id\":\"r; flush ruleset\"",
	};
	const struct m_snat_block *b;
	const struct m_router *rt;
	struct model m;
	char doc[512];

	model_init(&m);
	CHECK(model_type("snat_block") == M_SNAT_BLOCK);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char id[8];

		/* JSON keeps the last of repeated keys: the bad field wins. */
		snprintf(doc, sizeof(doc),
			 "{\"router_id\":\"r1\",\"host\":\"compute-1\",\"ip_address\":"
			 "\"100.64.0.10\",\"status\":\"ACTIVE\",%s}",
			 bad[i]);
		snprintf(id, sizeof(id), "b%zu", i);
		CHECK(put(&m, "snat_block", id, doc) == 0);
		b = model_get(&m, M_SNAT_BLOCK, id);
		REQUIRE(b);
		CHECK(!b->usable);
	}
	CHECK(model_snat_blocks_of_router(&m, "r1")->len == 0);
	CHECK(put(&m, "snat_block", "ok",
		  "{\"router_id\":\"r1\",\"host\":\"compute-1\",\"ip_address\":\"100.64.0.10\","
		  "\"port_min\":64512,\"port_max\":65535,\"status\":\"GRACE\","
		  "\"expires_at\":\"2026-12-01T00:02:00Z\"}") == 0);
	b = model_get(&m, M_SNAT_BLOCK, "ok");
	REQUIRE(b);
	CHECK(b->usable && !b->is_active && b->port_min == 64512 && b->port_max == 65535);
	CHECK(b->ip == 0x6440000a && streq(b->host, "compute-1"));
	REQUIRE(model_snat_blocks_of_router(&m, "r1")->len == 1);
	CHECK(model_snat_blocks_of_router(&m, "r1")->v[0] == b);
	CHECK(model_del(&m, "snat_block", "ok") == 1);
	CHECK(model_snat_blocks_of_router(&m, "r1")->len == 0);
	CHECK(put(&m, "router", "r1",
		  "{\"distributed\":true,\"snat_mode\":\"distributed\","
		  "\"lepton:snat_owner\":\"compute-2\"}") == 0);
	rt = model_router(&m, "r1");
	REQUIRE(rt);
	CHECK(rt->snat_mode == M_SNAT_DISTRIBUTED && streq(rt->snat_owner, "compute-2"));
	/* No map: the one owner owns every address. */
	CHECK(streq(model_snat_owner(rt, ip("100.64.0.10")), "compute-2"));
	/* A map: one owner per address, bad entries left out. */
	REQUIRE(put(&m, "router", "r1",
		    "{\"lepton:snat_owner\":\"compute-2\",\"lepton:snat_owners\":"
		    "{\"100.64.0.10\":\"compute-2\",\"100.65.0.10\":\"compute-3\","
		    "\"bad\":\"compute-4\",\"100.66.0.10\":7,\"100.67.0.10\":\"\"}}") == 0 &&
		(rt = model_router(&m, "r1")) != NULL && rt->n_owners == 2);
	CHECK(streq(model_snat_owner(rt, ip("100.64.0.10")), "compute-2"));
	CHECK(streq(model_snat_owner(rt, ip("100.65.0.10")), "compute-3"));
	CHECK(streq(model_snat_owner(rt, ip("100.66.0.10")), ""));
	CHECK(put(&m, "router", "r1", "{\"snat_mode\":\"other\",\"lepton:snat_owner\":7}") == 0);
	rt = model_router(&m, "r1");
	CHECK(rt->snat_mode == M_SNAT_OTHER && !*rt->snat_owner);
	model_done(&m);
}

TEST(model_stamp_follows_the_types_asked_for)
{
	const unsigned sg_types = 1u << M_PORT | 1u << M_SECURITY_GROUP;
	struct model m, other;
	uint64_t s0, s1;

	model_init(&m);
	model_init(&other);
	/* Two empty models are still two models. */
	CHECK(model_stamp(&m, sg_types) != model_stamp(&other, sg_types));
	s0 = model_stamp(&m, sg_types);
	REQUIRE(put(&m, "floatingip", "f1",
		    "{\"floating_ip_address\":\"203.0.113.5\",\"router_id\":\"r\"}") == 0);
	CHECK(model_stamp(&m, sg_types) == s0);
	REQUIRE(put(&m, "security_group", "g1", "{\"security_group_rules\":[]}") == 0);
	s1 = model_stamp(&m, sg_types);
	CHECK(s1 != s0);
	CHECK(model_del(&m, "floatingip", "f1") == 1 && model_stamp(&m, sg_types) == s1);
	CHECK(model_del(&m, "security_group", "g1") == 1 && model_stamp(&m, sg_types) != s1);
	model_done(&m);
	model_done(&other);
}

TEST(model_address_groups)
{
	struct model m;
	const struct m_address_group *g;
	const struct m_security_group *sg;

	model_init(&m);
	/* IPv4 prefixes only, canonical; a prefix inside another one and
	 * repeats are dropped (whatever their order); bad entries skipped. */
	CHECK(put(&m, "address_group", "ag1",
		  "{\"addresses\":[\"10.1.0.0/16\",\"2001:db8::/64\",\"10.0.0.0/8\","
		  "\"192.0.2.7/32\",\"192.0.2.7/32\",\"bad\",7,\"172.16.5.9/24\","
		  "\"10.200.3.0/24\"]}") == 0);
	g = (const struct m_address_group *) model_get(&m, M_ADDRESS_GROUP, "ag1");
	REQUIRE(g && g->n_prefixes == 3);
	CHECK(g->prefixes[0].addr == 0x0a000000 && g->prefixes[0].len == 8);
	CHECK(g->prefixes[1].addr == 0xc0000207 && g->prefixes[1].len == 32);
	CHECK(g->prefixes[2].addr == 0xac100500 && g->prefixes[2].len == 24);
	/* A rule names its address group; an id that could reach nftables as
	 * text leaves the rule out. */
	CHECK(put(&m, "security_group", "g1",
		  "{\"security_group_rules\":["
		  "{\"direction\":\"ingress\",\"remote_address_group_id\":\"ag1\"},"
		  "{\"direction\":\"ingress\",\"remote_address_group_id\":\"ag1 } accept\"}]}") ==
	      0);
	sg = (const struct m_security_group *) model_get(&m, M_SECURITY_GROUP, "g1");
	REQUIRE(sg && sg->n_rules == 1);
	CHECK(streq(sg->rules[0].remote_address_group, "ag1") && !*sg->rules[0].remote_group);
	model_done(&m);
}
