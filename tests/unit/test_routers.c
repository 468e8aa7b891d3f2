/* Router namespaces: desired contents from the model, and the plan. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/announce.h"
#include "agent/desired.h"
#include "agent/node.h"
#include "agent/kernel_fake.h"
#include "agent/reconcile.h"
#include "agent/routers.h"
#include "base/ip4.h"
#include "base/util.h"
#include "test.h"

#define R "r0123456789abcdef"

/* The model as [[type, doc], ...], loaded as one snapshot. */
static const char model[] =
	"[[\"agent\", {\"id\":\"a1\",\"host\":\"compute-1\",\"configurations\":"
	"{\"tunnel_address\":\"100.127.0.11\"}}],"
	" [\"agent\", {\"id\":\"a2\",\"host\":\"compute-2\",\"configurations\":"
	"{\"tunnel_address\":\"100.127.0.12\"}}],"
	" [\"agent\", {\"id\":\"a3\",\"host\":\"network-1\",\"configurations\":"
	"{\"tunnel_address\":\"100.127.0.13\",\"mode\":\"network\"}}],"
	" [\"network\", {\"id\":\"ext\",\"provider:network_type\":\"flat\","
	"\"provider:physical_network\":\"public\",\"mtu\":1500}],"
	" [\"subnet\", {\"id\":\"gw\",\"network_id\":\"ext\",\"cidr\":\"100.64.0.0/24\","
	"\"gateway_ip\":\"100.64.0.1\"}],"
	" [\"subnet\", {\"id\":\"pool\",\"network_id\":\"ext\",\"cidr\":\"203.0.113.0/24\","
	"\"gateway_ip\":null}],"
	" [\"network\", {\"id\":\"net\",\"provider:network_type\":\"vxlan\","
	"\"provider:segmentation_id\":1001,\"mtu\":1450}],"
	" [\"subnet\", {\"id\":\"s1\",\"network_id\":\"net\",\"cidr\":\"10.0.0.0/24\","
	"\"gateway_ip\":\"10.0.0.1\"}],"
	" [\"router\", {\"id\":\"" R "\",\"admin_state_up\":true,\"distributed\":true,"
	"\"snat_mode\":\"centralized\",\"lepton:l3_host\":\"network-1\","
	"\"external_gateway_info\":{\"network_id\":\"ext\",\"enable_snat\":true},"
	"\"routes\":[{\"destination\":\"172.16.0.0/12\",\"nexthop\":\"10.0.0.254\"}]}],"
	" [\"port\", {\"id\":\"qr-port\",\"network_id\":\"net\",\"device_id\":\"" R "\","
	"\"device_owner\":\"network:router_interface_distributed\","
	"\"mac_address\":\"fa:16:3e:00:00:01\",\"binding:host_id\":\"\","
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.1\"}]}],"
	" [\"port\", {\"id\":\"sg-port\",\"network_id\":\"net\",\"device_id\":\"" R "\","
	"\"device_owner\":\"network:router_centralized_snat\","
	"\"mac_address\":\"fa:16:3e:00:00:02\",\"binding:host_id\":\"network-1\","
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.2\"}]}],"
	" [\"port\", {\"id\":\"qg-port\",\"network_id\":\"ext\",\"device_id\":\"" R "\","
	"\"device_owner\":\"network:router_gateway\",\"mac_address\":\"fa:16:3e:00:00:03\","
	"\"binding:host_id\":\"network-1\","
	"\"fixed_ips\":[{\"subnet_id\":\"gw\",\"ip_address\":\"100.64.0.10\"}]}],"
	" [\"port\", {\"id\":\"vm1\",\"network_id\":\"net\",\"device_owner\":\"compute:x\","
	"\"mac_address\":\"fa:16:3e:00:00:11\",\"binding:host_id\":\"compute-1\","
	"\"admin_state_up\":true,"
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.5\"}]}],"
	" [\"port\", {\"id\":\"vm2\",\"network_id\":\"net\",\"device_owner\":\"compute:x\","
	"\"mac_address\":\"fa:16:3e:00:00:12\",\"binding:host_id\":\"compute-2\","
	"\"admin_state_up\":true,"
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.6\"}]}],"
	" [\"floatingip\", {\"id\":\"f1\",\"router_id\":\"" R "\",\"port_id\":\"vm1\","
	"\"floating_ip_address\":\"203.0.113.5\",\"fixed_ip_address\":\"10.0.0.5\"}]]";

static void apply_line(struct replica *r, json_t *line)
{
	replica_apply(r, line);
	json_decref(line);
}

/* The documents loaded last, kept to derive updates from. */
static json_t *loaded;

static void load(struct replica *r, bool distributed)
{
	json_t *e;
	size_t i;

	json_decref(loaded);
	loaded = json_loads(model, 0, NULL);
	replica_init(r);
	apply_line(r, json_pack("{s:s, s:i}", "op", "snapshot_begin", "revision", 1));
	json_array_foreach(loaded, i, e) {
		json_t *doc = json_array_get(e, 1);
		json_t *line;

		if (streq(json_string_value(json_array_get(e, 0)), "router"))
			json_object_set_new(doc, "distributed", json_boolean(distributed));
		line = json_pack("{s:s, s:i, s:O, s:O, s:O}", "op", "snapshot", "revision", 1,
				 "type", json_array_get(e, 0), "id", json_object_get(doc, "id"),
				 "object", doc);
		apply_line(r, line);
	}
	apply_line(r, json_pack("{s:s, s:i}", "op", "snapshot_end", "revision", 1));
}

/* An update from the feed: the document's key set to val (stolen). */
static void update(struct replica *r, const char *type, const char *id, const char *key,
		   json_t *val)
{
	json_t *e;
	size_t i;

	json_array_foreach(loaded, i, e) {
		json_t *doc = json_array_get(e, 1);

		if (!streq(json_string_value(json_array_get(e, 0)), type) ||
		    !streq(json_string_value(json_object_get(doc, "id")), id))
			continue;
		json_object_set(doc, key, val);
		apply_line(r, json_pack("{s:s, s:I, s:s, s:s, s:O}", "op", "update", "revision",
					(json_int_t) r->revision + 1, "type", type, "id", id,
					"object", doc));
	}
	json_decref(val);
}

static struct desired node(struct replica *r, const char *host, json_t *physnets)
{
	struct d_node n = {host, 1, streq(host, "network-1"), "lab-", physnets, 0, NULL, NULL};
	struct desired d;

	node_compute(r, &n, NULL, &d);
	return d;
}

static const struct r_leg *leg(const struct d_router *d, const char *prefix)
{
	for (size_t i = 0; i < d->n_legs; i++)
		if (strncmp(d->legs[i].name, prefix, strlen(prefix)) == 0)
			return &d->legs[i];
	return NULL;
}

static bool has_addr(const struct d_router *d, const char *dev_prefix, const char *ip, int len)
{
	uint32_t a;

	ip4_parse(ip, &a);
	for (size_t i = 0; i < d->n_addrs; i++)
		if (strncmp(d->addrs[i].dev, dev_prefix, strlen(dev_prefix)) == 0 &&
		    d->addrs[i].ip == a && d->addrs[i].prefixlen == len)
			return true;
	return false;
}

static const struct d_network *net_of(const struct desired *d, const char *id)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (streq(d->nets[i].id, id))
			return &d->nets[i];
	return NULL;
}

TEST(routers_dvr_centralized_snat)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct replica r;
	struct desired c1, c2, n1;
	const struct d_router *q;

	load(&r, true);
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	n1 = node(&r, "network-1", phys);
	/* compute-1: the anycast leg, the FIP leg with only the FIP, policy
	 * routes: the FIP's VM out locally, the rest to the SNAT port. */
	REQUIRE(c1.routers->n == 1);
	q = &c1.routers->r[0];
	CHECK_STREQ(q->ns, "lab-qrouter-" R);
	REQUIRE(leg(q, "qr-") && leg(q, "fg-"));
	CHECK_STREQ(leg(q, "qr-")->peer, "tqrqr-port");
	CHECK(leg(q, "qr-")->mac[5] == 0x01 && leg(q, "qr-")->mtu == 1450);
	CHECK(has_addr(q, "qr-", "10.0.0.1", 24));
	CHECK(has_addr(q, "fg-", "203.0.113.5", 32));
	/* No other external address on the node; the fg- leg's anchor. */
	CHECK(q->n_addrs == 3 && has_addr(q, "fg-", "169.254.254.1", 32));
	CHECK(strstr(q->nft, "203.0.113.5 : 10.0.0.5") && strstr(q->nft, "10.0.0.5 : 203.0.113.5"));
	CHECK(!strstr(q->nft, "snat to 100.64"));
	CHECK(q->n_rules == 3); /* main w/o default, the FIP's VM, the subnet to SNAT */
	CHECK(net_of(&c1, "ext") && streq(net_of(&c1, "ext")->phys, "ext0"));
	/* Static neighbours for the subnet's ports, the SNAT port included. */
	CHECK(q->n_neighs == 3);
	/* compute-2: no FIP here: no external leg, no external network. */
	REQUIRE(c2.routers->n == 1);
	q = &c2.routers->r[0];
	CHECK(leg(q, "qr-") && !leg(q, "fg-") && !net_of(&c2, "ext"));
	CHECK(q->n_rules == 2);
	/* FDB: the SNAT port is reached on network-1, the anycast gateway never
	 * over the overlay. */
	size_t to_net1 = 0, gw = 0;
	for (size_t i = 0; i < c2.n_fdb; i++) {
		to_net1 += c2.fdb[i].dst == 0x647f000d && c2.fdb[i].mac[5] == 0x02;
		gw += c2.fdb[i].mac[5] == 0x01 && c2.fdb[i].mac[0] == 0xfa;
	}
	CHECK(to_net1 == 1 && gw == 0);
	/* network-1: the SNAT namespace only (no VM there). */
	REQUIRE(n1.routers->n == 1);
	q = &n1.routers->r[0];
	CHECK_STREQ(q->ns, "lab-snat-" R);
	CHECK(leg(q, "sg-") && leg(q, "qg-") && has_addr(q, "qg-", "100.64.0.10", 24));
	CHECK(has_addr(q, "sg-", "10.0.0.2", 24));
	CHECK(strstr(q->nft, "snat to 100.64.0.10") && !strstr(q->nft, "fip_in"));
	node_done(&c1);
	node_done(&c2);
	node_done(&n1);
	replica_done(&r);
	json_decref(phys);
}

TEST(routers_legacy_on_network_node)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct replica r;
	struct desired c1, n1;
	const struct d_router *q;

	load(&r, false);
	/* The legacy interface is bound to the network node by the server. */
	update(&r, "port", "qr-port", "binding:host_id", json_string("network-1"));
	update(&r, "port", "qr-port", "device_owner", json_string("network:router_interface"));
	c1 = node(&r, "compute-1", phys);
	n1 = node(&r, "network-1", phys);
	CHECK(c1.routers->n == 0);
	REQUIRE(n1.routers->n == 1);
	q = &n1.routers->r[0];
	CHECK_STREQ(q->ns, "lab-qrouter-" R);
	CHECK(has_addr(q, "qr-", "10.0.0.1", 24) && has_addr(q, "qg-", "100.64.0.10", 24));
	CHECK(has_addr(q, "qg-", "203.0.113.5", 32));
	CHECK(strstr(q->nft, "dnat to ip daddr map @fip_in") &&
	      strstr(q->nft, "snat to 100.64.0.10"));
	/* Established DNATed flows live only while their association does. */
	CHECK(strstr(q->nft, "elements = { 203.0.113.5 . 10.0.0.5 }") &&
	      strstr(q->nft,
		     "ct status dnat ct original ip daddr . ct reply ip saddr != @fip_pairs "
		     "drop"));
	CHECK(q->n_rules == 0 && q->n_routes == 2); /* default, the extra route */
	/* compute-1 reaches the router's MAC on network-1. */
	bool found = false;
	for (size_t i = 0; i < c1.n_fdb; i++)
		found = found || (c1.fdb[i].mac[5] == 0x01 && c1.fdb[i].dst == 0x647f000d);
	CHECK(found);
	/* enable_snat false: no SNAT rule, Floating IPs still. */
	update(&r, "router", R, "external_gateway_info",
	       json_pack("{s:s, s:b}", "network_id", "ext", "enable_snat", 0));
	node_done(&n1);
	n1 = node(&r, "network-1", phys);
	CHECK(!strstr(n1.routers->r[0].nft, "snat to 100.64") &&
	      strstr(n1.routers->r[0].nft, "fip_out"));
	node_done(&c1);
	node_done(&n1);
	replica_done(&r);
	json_decref(phys);
}

/* The observed state that matches a desired router exactly. */
static struct r_observed as_observed(const struct d_router *d)
{
	struct r_observed o = {0};

	o.links = calloc(d->n_legs + 1, sizeof(*o.links));
	o.links[o.n_links++] = (struct r_link){.ifindex = 1, .name = "lo", .up = true};
	for (size_t i = 0; i < d->n_legs; i++) {
		struct r_link *l = &o.links[o.n_links++];

		*l = (struct r_link){.ifindex = (int) i + 2, .mtu = d->legs[i].mtu, .up = true};
		strcpy(l->name, d->legs[i].name);
		memcpy(l->mac, d->legs[i].mac, 6);
	}
#define COPY(f, n)                                                                                 \
	o.f = calloc(d->n + 1, sizeof(*o.f));                                                      \
	memcpy(o.f, d->f, d->n * sizeof(*o.f));                                                    \
	o.n = d->n
	COPY(addrs, n_addrs);
	COPY(routes, n_routes);
	COPY(rules, n_rules);
	COPY(neighs, n_neighs);
#undef COPY
	return o;
}

TEST(router_plan_idempotent_and_minimal)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct replica r;
	struct desired c1;
	struct r_observed o;
	struct plan p = {0};
	char *text;

	load(&r, true);
	c1 = node(&r, "compute-1", phys);
	REQUIRE(c1.routers->n == 1);
	/* Empty namespace: everything is made, legs first. */
	reconcile_router(&c1.routers->r[0], &(struct r_observed){0}, &p);
	REQUIRE(p.n_ops > 0);
	CHECK(p.ops[0].kind == OP_LINK_SET && p.ops[1].kind == OP_LEG_ADD);
	plan_done(&p);
	/* What is right gets no op at all (an agent restart touches nothing). */
	o = as_observed(&c1.routers->r[0]);
	reconcile_router(&c1.routers->r[0], &o, &p);
	CHECK(p.n_ops == 0);
	plan_done(&p);
	/* A lost address (the Floating IP: announced again when it is back)
	 * and a stray rule: exactly those ops. */
	o.n_addrs--;
	o.rules[o.n_rules++] =
		(struct r_rule){.priority = 150, .table = 16, .suppress_prefixlen = -1};
	reconcile_router(&c1.routers->r[0], &o, &p);
	text = plan_format(&p);
	CHECK(p.n_ops == 3);
	CHECK(strstr(text, "rule-del pref 150") && strstr(text, "addr-add fg-") &&
	      strstr(text, "garp fg-"));
	free(text);
	plan_done(&p);
	r_observed_done(&o);
	/* A leg with a wrong MAC is made anew, with its addresses. */
	o = as_observed(&c1.routers->r[0]);
	o.links[1].mac[5] ^= 1;
	reconcile_router(&c1.routers->r[0], &o, &p);
	text = plan_format(&p);
	CHECK(strstr(text, "link-del") && strstr(text, "leg-add") && !strstr(text, "addr-del"));
	free(text);
	plan_done(&p);
	r_observed_done(&o);
	/* A leg that loses its last address (the kernel then drops every
	 * route through it, silently): its routes are made again after the
	 * delete. */
	o = as_observed(&c1.routers->r[0]);
	{
		struct d_router w = c1.routers->r[0];
		struct r_addr keep[16];
		const char *del, *add;

		w.n_addrs = 0;
		w.addrs = keep;
		for (size_t i = 0; i < c1.routers->r[0].n_addrs && w.n_addrs < 16; i++)
			if (strncmp(c1.routers->r[0].addrs[i].dev, "fg-", 3) != 0)
				keep[w.n_addrs++] = c1.routers->r[0].addrs[i];
		reconcile_router(&w, &o, &p);
		text = plan_format(&p);
		del = strstr(text, "addr-del fg-");
		add = strstr(text, "route-add fg-");
		CHECK(del && add && del < add);
		free(text);
		plan_done(&p);
	}
	r_observed_done(&o);
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

TEST(router_firewall_rules_in_order)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	static const char *const docs[][2] = {
		{"firewall_rule", "{\"id\":\"fr1\",\"protocol\":\"tcp\",\"destination_port\":"
				  "\"8000:8080\",\"source_ip_address\":\"192.0.2.7/24\","
				  "\"action\":\"reject\",\"enabled\":true,\"ip_version\":4}"},
		{"firewall_rule", "{\"id\":\"fr2\",\"protocol\":\"icmp\",\"action\":\"allow\","
				  "\"enabled\":true,\"ip_version\":4}"},
		{"firewall_rule", "{\"id\":\"fr3\",\"protocol\":\"udp\",\"action\":\"deny\","
				  "\"enabled\":false,\"ip_version\":4}"},
		{"firewall_rule", "{\"id\":\"fr4\",\"protocol\":\"tcp\",\"destination_port\":"
				  "\"1; flush ruleset\",\"action\":\"allow\",\"enabled\":true}"},
		{"firewall_rule", "{\"id\":\"fr5\",\"protocol\":\"tcp\",\"destination_port\":"
				  "\"22\",\"source_ip_address\":\"2001:db8::/32\","
				  "\"action\":\"allow\",\"enabled\":true,\"ip_version\":6}"},
		{"firewall_rule", "{\"id\":\"fr6\",\"protocol\":\"icmp\",\"action\":\"allow\","
				  "\"enabled\":true,\"ip_version\":6}"},
		{"firewall_policy", "{\"id\":\"fp\",\"firewall_rules\":[\"fr1\",\"fr5\",\"fr2\","
				    "\"fr3\",\"fr4\",\"fr6\"]}"},
		{"firewall_group", "{\"id\":\"fg\",\"admin_state_up\":true,\"ports\":[\"qr-port\"],"
				   "\"ingress_firewall_policy_id\":\"fp\","
				   "\"egress_firewall_policy_id\":null}"},
	};
	struct replica r;
	struct desired c1;
	const char *nft, *a, *b;

	load(&r, true);
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		json_t *doc = json_loads(docs[i][1], 0, NULL);

		REQUIRE(doc);
		apply_line(&r, json_pack("{s:s, s:i, s:s, s:O, s:o}", "op", "create", "revision",
					 (int) i + 2, "type", docs[i][0], "id",
					 json_object_get(doc, "id"), "object", doc));
	}
	c1 = node(&r, "compute-1", phys);
	REQUIRE(c1.routers->n == 1);
	nft = c1.routers->r[0].nft;
	a = strstr(nft, "ip saddr 192.0.2.0/24 ip protocol tcp tcp dport 8000-8080 reject with "
			"tcp reset");
	b = strstr(nft, "ip protocol icmp return");
	CHECK(a && b && a < b);
	/* Disabled rules and what cannot be expressed safely are left out;
	 * the policy ends in a deny. */
	CHECK(!strstr(nft, "udp") && !strstr(nft, "flush"));
	CHECK(strstr(nft, "return\n\t\tdrop\n\t}") != NULL);
	CHECK(strstr(nft, "iifname \"qr-qr-port\" jump fw_0_in") != NULL);
	CHECK(!strstr(nft, "fw_0_eg"));
	/* Distributed: the rules judge what opens a flow on this instance. */
	CHECK(strstr(nft, "ct state != new accept") != NULL);
	/* IPv6 rules in table ip6 lepton, after table ip lepton, with the
	 * same binding and the same implicit deny; each family's rules in
	 * its own table only. */
	{
		const char *t6 = strstr(nft, "table ip6 lepton {\n");
		const char *x, *y;

		REQUIRE(t6);
		CHECK(!strstr(t6 + 1, "table "));
		x = strstr(t6,
			   "\t\tip6 saddr 2001:db8::/32 meta l4proto tcp tcp dport 22 return\n");
		y = strstr(t6, "\t\tmeta l4proto ipv6-icmp return\n\t\tdrop\n\t}");
		CHECK(x && y && x < y);
		CHECK(!strstr(t6, "ip saddr") && !strstr(t6, "ip protocol"));
		CHECK(strstr(t6, "iifname \"qr-qr-port\" jump fw_0_in") != NULL);
		CHECK(strstr(t6, "ct state != new accept") != NULL);
		CHECK((size_t) (strstr(nft, "ip6 saddr") - nft) > (size_t) (t6 - nft));
	}
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

TEST(vlan_external_network_on_the_node)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct k_link links[] = {{.ifindex = 5, .name = "ext0", .kind = "veth", .mtu = 1500}};
	struct observed o = {.links = links, .n_links = 1};
	const struct d_network *ext;
	struct replica r;
	struct desired c1;
	struct plan p;
	char *text;

	load(&r, true);
	update(&r, "network", "ext", "provider:network_type", json_string("vlan"));
	update(&r, "network", "ext", "provider:segmentation_id", json_integer(100));
	c1 = node(&r, "compute-1", phys);
	ext = net_of(&c1, "ext");
	REQUIRE(ext);
	CHECK_STREQ(ext->phys, "ext0.100");
	CHECK(ext->vlan == 100 && streq(ext->phys_base, "ext0") && !ext->vxlan[0]);
	reconcile_plan(&c1, &o, 1, &p);
	text = plan_format(&p);
	CHECK(strstr(text, "vlan-add ext0.100 link ext0 id 100 mtu 1500") != NULL);
	CHECK(strstr(text, "link-set ext0.100 master brqext") != NULL);
	CHECK(!strstr(text, "vxlan-add vxlan-0"));
	free(text);
	plan_done(&p);
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

/* The node pipeline against the fake kernel: L2 and L3 in one plan. */

/* Compares a plan with tests/unit/golden/NAME (LEPTON_UPDATE_GOLDEN=1
 * rewrites the file: review the diff before committing it). */
static void check_golden(const char *name, const char *text)
{
	char path[256], *want = NULL;
	size_t size = 0;
	FILE *f;

	snprintf(path, sizeof(path), "tests/unit/golden/%s", name);
	if (getenv("LEPTON_UPDATE_GOLDEN")) {
		f = fopen(path, "w");
		REQUIRE(f);
		fputs(text, f);
		fclose(f);
		return;
	}
	f = fopen(path, "r");
	REQUIRE(f);
	want = calloc(1, 1 << 16);
	size = fread(want, 1, (1 << 16) - 1, f);
	fclose(f);
	want[size] = '\0';
	if (strcmp(want, text) != 0)
		fprintf(stderr, "golden %s differs; got:\n%s\n", name, text);
	CHECK(strcmp(want, text) == 0);
	free(want);
}

/* A node as the hypervisor left it: its external interface and the taps
 * of its VMs (not ours: the planner must never delete them). */
static void plug(struct kernel_fake *f, const struct desired *d)
{
	kernel_fake_link(f, "ext0", "veth", false)->up = true;
	for (size_t i = 0; i < d->n_ports; i++)
		kernel_fake_link(f, d->ports[i].tap, "veth", false);
}

static void model_set(struct replica *r, const char *type, const char *doc)
{
	json_t *o = json_loads(doc, 0, NULL);

	REQUIRE(o);
	apply_line(r, json_pack("{s:s, s:I, s:s, s:O, s:o}", "op", "create", "revision",
				(json_int_t) r->revision + 1, "type", type, "id",
				json_object_get(o, "id"), "object", o));
}

/* A second subnet on the router (cases 2 and 3 route between two): its
 * interface, and a VM on it on compute-2. */
static void second_subnet(struct replica *r, bool legacy)
{
	model_set(r, "network",
		  "{\"id\":\"net2\",\"provider:network_type\":\"vxlan\","
		  "\"provider:segmentation_id\":1002,\"mtu\":1450}");
	model_set(r, "subnet",
		  "{\"id\":\"s2\",\"network_id\":\"net2\",\"cidr\":\"10.0.1.0/24\","
		  "\"gateway_ip\":\"10.0.1.1\",\"enable_dhcp\":true}");
	model_set(
		r, "port",
		legacy ? "{\"id\":\"qr2-port\",\"network_id\":\"net2\",\"device_id\":\"" R "\","
			 "\"device_owner\":\"network:router_interface\","
			 "\"mac_address\":\"fa:16:3e:00:00:21\",\"binding:host_id\":\"network-1\","
			 "\"fixed_ips\":[{\"subnet_id\":\"s2\",\"ip_address\":\"10.0.1.1\"}]}"
		       : "{\"id\":\"qr2-port\",\"network_id\":\"net2\",\"device_id\":\"" R "\","
			 "\"device_owner\":\"network:router_interface_distributed\","
			 "\"mac_address\":\"fa:16:3e:00:00:21\",\"binding:host_id\":\"\","
			 "\"fixed_ips\":[{\"subnet_id\":\"s2\",\"ip_address\":\"10.0.1.1\"}]}");
	if (!legacy)
		model_set(r, "port",
			  "{\"id\":\"sg2-port\",\"network_id\":\"net2\",\"device_id\":\"" R "\","
			  "\"device_owner\":\"network:router_centralized_snat\","
			  "\"mac_address\":\"fa:16:3e:00:00:22\",\"binding:host_id\":\"network-1\","
			  "\"fixed_ips\":[{\"subnet_id\":\"s2\",\"ip_address\":\"10.0.1.2\"}]}");
	model_set(r, "port",
		  "{\"id\":\"vm4\",\"network_id\":\"net2\",\"device_owner\":\"compute:x\","
		  "\"mac_address\":\"fa:16:3e:00:00:14\",\"binding:host_id\":\"compute-2\","
		  "\"admin_state_up\":true,"
		  "\"fixed_ips\":[{\"subnet_id\":\"s2\",\"ip_address\":\"10.0.1.6\"}]}");
}

/* From nothing to the golden plan; then the second pass is empty. */
static void golden_node(struct replica *r, const char *host, const char *golden)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct desired d = node(r, host, phys);
	struct kernel_fake f;
	size_t failed = 1;
	char *t;

	kernel_fake_init(&f, 1);
	plug(&f, &d);
	t = kernel_fake_pass(&f, &d, NULL, NULL, &failed);
	REQUIRE(t);
	CHECK(failed == 0);
	check_golden(golden, t);
	free(t);
	t = kernel_fake_pass(&f, &d, NULL, NULL, &failed);
	CHECK_STREQ(t, "");
	free(t);
	kernel_fake_done(&f);
	node_done(&d);
	json_decref(phys);
}

/* DESIGN.md's traffic cases, per router mode, as whole-node plans: case 1
 * (bridge, VXLAN and FDB toward the other node), 2 and 3 (the router's legs
 * on every node with a VM on its subnets), 4 and 5 (the Floating IP on its
 * VM's node: fg- leg, DNAT/SNAT maps), 6 (centralized: SNAT namespace on
 * the network node and the policy rule on the computes; legacy: all on the
 * network node), 7 (DHCP: desired.c, per port on its own node; see
 * desired_l2_and_dhcp). */
TEST(pipeline_golden_dvr_centralized)
{
	struct replica r;

	load(&r, true);
	second_subnet(&r, false);
	golden_node(&r, "compute-1", "dvr-compute-1.plan");
	golden_node(&r, "compute-2", "dvr-compute-2.plan");
	golden_node(&r, "network-1", "dvr-network-1.plan");
	replica_done(&r);
}

TEST(pipeline_golden_legacy)
{
	struct replica r;

	load(&r, false);
	update(&r, "port", "qr-port", "binding:host_id", json_string("network-1"));
	update(&r, "port", "qr-port", "device_owner", json_string("network:router_interface"));
	second_subnet(&r, true);
	golden_node(&r, "compute-1", "legacy-compute-1.plan");
	golden_node(&r, "compute-2", "legacy-compute-2.plan");
	golden_node(&r, "network-1", "legacy-network-1.plan");
	replica_done(&r);
}

/* compute-1 and compute-2 brought to the model from nothing. */
static void computes_up(struct replica *r, json_t *phys, struct kernel_fake *f1,
			struct kernel_fake *f2)
{
	struct desired c1 = node(r, "compute-1", phys), c2 = node(r, "compute-2", phys);

	kernel_fake_init(f1, 1);
	kernel_fake_init(f2, 2);
	plug(f1, &c1);
	plug(f2, &c2);
	free(kernel_fake_pass(f1, &c1, NULL, NULL, NULL));
	free(kernel_fake_pass(f2, &c2, NULL, NULL, NULL));
	node_done(&c1);
	node_done(&c2);
}

static void computes_done(struct desired *c1, struct desired *c2, struct kernel_fake *f1,
			  struct kernel_fake *f2, struct replica *r, json_t *phys)
{
	node_done(c1);
	node_done(c2);
	kernel_fake_done(f1);
	kernel_fake_done(f2);
	replica_done(r);
	json_decref(phys);
}

/* One Floating IP associated: only its ops, on its node only; drift in a
 * namespace is repaired with only what is missing. */
/* A third VM on compute-1, and then its Floating IP. */
static void add_vm3(struct replica *r)
{
	model_set(r, "port",
		  "{\"id\":\"vm3\",\"network_id\":\"net\",\"device_owner\":\"compute:x\","
		  "\"mac_address\":\"fa:16:3e:00:00:13\",\"binding:host_id\":\"compute-1\","
		  "\"admin_state_up\":true,"
		  "\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.7\"}]}");
}

static void add_fip3(struct replica *r)
{
	model_set(r, "floatingip",
		  "{\"id\":\"f3\",\"router_id\":\"" R "\",\"port_id\":\"vm3\","
		  "\"floating_ip_address\":\"203.0.113.7\",\"fixed_ip_address\":\"10.0.0.7\"}");
}

TEST(pipeline_minimal_and_drift)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake f1, f2;
	struct desired c1, c2;
	struct replica r;
	char *t;

	load(&r, true);
	add_vm3(&r);
	computes_up(&r, phys, &f1, &f2);
	add_fip3(&r);
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	f1.n_garps = 0;
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	/* Its table (new map elements), its address and announcement, its
	 * rule: nothing of the other Floating IP, legs or neighbours. */
	REQUIRE(t && strncmp(t, "lab-qrouter-" R ": nft-table lepton:", 43) == 0);
	CHECK_STREQ(strchr(t, '\n') + 1,
		    "lab-qrouter-" R ": addr-add fg-r0123456789 203.0.113.7/32\n"
		    "lab-qrouter-" R ": garp fg-r0123456789 203.0.113.7\n"
		    "lab-qrouter-" R ": rule-add pref 100 from 10.0.0.7/32 table 16\n");
	free(t);
	CHECK(f1.n_garps == 1);
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	CHECK_STREQ(t, "");
	free(t);
	/* Drift: an address and a neighbour lost in the namespace. */
	struct ns_observed *ns = observed_ns(&f1.o, "lab-qrouter-" R);
	REQUIRE(ns && ns->c.n_addrs > 1 && ns->c.n_neighs > 0);
	ns->c.addrs[0] = ns->c.addrs[--ns->c.n_addrs];
	ns->c.n_neighs--;
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	CHECK(t && strstr(t, "addr-add") && strstr(t, "neigh-set"));
	{
		size_t lines = 0;

		for (const char *p = t; p && *p; p++)
			lines += *p == '\n';
		CHECK(lines == 2 || lines == 3); /* + its gratuitous ARP for a FIP */
	}
	free(t);
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	CHECK_STREQ(t, "");
	free(t);
	computes_done(&c1, &c2, &f1, &f2, &r, phys);
}

/* Objects with our names but without our marker are never touched: a
 * bridge and a VXLAN device as Neutron's linuxbridge agent names them, a
 * namespace named like a router of ours. Ours that are no longer wanted
 * go. */
TEST(pipeline_ownership)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake f;
	struct desired c1, empty = {0};
	struct replica r;
	char *t;

	load(&r, true);
	c1 = node(&r, "compute-1", phys);
	kernel_fake_init(&f, 1);
	plug(&f, &c1);
	kernel_fake_link(&f, "brqforeign0000", "bridge", false);
	kernel_fake_link(&f, "vxlan-4242", "vxlan", false);
	kernel_fake_link(&f, "brqnet", "bridge", false); /* the name our network wants */
	kernel_fake_ns(&f, "lab-qrouter-someone-elses", false);
	t = kernel_fake_pass(&f, &c1, NULL, NULL, NULL);
	REQUIRE(t);
	CHECK(!strstr(t, "brqforeign0000") && !strstr(t, "vxlan-4242"));
	CHECK(!strstr(t, "someone-elses"));
	CHECK(!strstr(t, "bridge-add brqnet\n") && !strstr(t, "link-del brqnet\n"));
	CHECK(!strstr(t, "master brqnet "));	   /* nothing enslaved to a bridge not ours */
	CHECK(strstr(t, "ns-add lab-qrouter-" R)); /* the router itself is made */
	free(t);
	/* Everything goes: ours only. */
	t = kernel_fake_pass(&f, &empty, NULL, NULL, NULL);
	REQUIRE(t);
	CHECK(strstr(t, "ns-del lab-qrouter-" R) && !strstr(t, "someone-elses"));
	CHECK(!strstr(t, "brqforeign0000") && !strstr(t, "vxlan-4242") &&
	      !strstr(t, "link-del brqnet\n"));
	free(t);
	CHECK(kernel_fake_find(&f, "brqforeign0000") && kernel_fake_find(&f, "vxlan-4242") &&
	      kernel_fake_find(&f, "brqnet") && observed_ns(&f.o, "lab-qrouter-someone-elses"));
	/* The executor refuses too, whatever a plan says. */
	struct op del = {.kind = OP_NS_DEL};
	strcpy(del.ns, "lab-qrouter-someone-elses");
	CHECK(kernel_fake_ops(&f).exec(&f, &del) == -EPERM);
	kernel_fake_done(&f);
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

/* Only the namespaces the caller asks for are read and planned: a pass
 * that skips a namespace leaves it as it is, even with drift. */
static bool none_ns(void *data, const char *name)
{
	(void) data;
	(void) name;
	return false;
}

TEST(pipeline_skips_unchanged_namespaces)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake f;
	struct desired c1;
	struct replica r;
	char *t;

	load(&r, true);
	c1 = node(&r, "compute-1", phys);
	kernel_fake_init(&f, 1);
	plug(&f, &c1);
	free(kernel_fake_pass(&f, &c1, NULL, NULL, NULL));
	observed_ns(&f.o, "lab-qrouter-" R)->c.n_rules = 0;
	t = kernel_fake_pass(&f, &c1, none_ns, NULL, NULL);
	CHECK_STREQ(t, "");
	free(t);
	t = kernel_fake_pass(&f, &c1, NULL, NULL, NULL);
	CHECK(t && strstr(t, "rule-add") && !strstr(t, "ns-add"));
	free(t);
	kernel_fake_done(&f);
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

/* Distributed SNAT (SNAT-CONTRACT.md): the router as the server sends it
 * with snat_mode distributed (no SNAT port), its owner, and blocks. */
static void model_delete(struct replica *r, const char *type, const char *id)
{
	apply_line(r, json_pack("{s:s, s:I, s:s, s:s, s:{s:s}}", "op", "delete", "revision",
				(json_int_t) r->revision + 1, "type", type, "id", id, "object",
				"id", id));
}

static void block(struct replica *r, const char *id, const char *host, const char *ip, int lo,
		  int hi, const char *status)
{
	char doc[512];

	snprintf(doc, sizeof(doc),
		 "{\"id\":\"%s\",\"router_id\":\"" R "\",\"host\":\"%s\",\"ip_address\":\"%s\","
		 "\"port_min\":%d,\"port_max\":%d,\"status\":\"%s\",\"expires_at\":null,"
		 "\"project_id\":\"p\",\"created_at\":\"2026-12-01T00:00:00Z\"}",
		 id, host, ip, lo, hi, status);
	model_set(r, "snat_block", doc);
}

static void load_dsnat(struct replica *r, const char *owner)
{
	load(r, true);
	update(r, "router", R, "snat_mode", json_string("distributed"));
	update(r, "router", R, "lepton:snat_owner", json_string(owner));
	model_delete(r, "port", "sg-port");
	block(r, "b1", "compute-1", "100.64.0.10", 1024, 2047, "ACTIVE");
	block(r, "b2", "compute-2", "100.64.0.10", 2048, 3071, "ACTIVE");
	block(r, "b3", "compute-3", "100.64.0.10", 3072, 4095, "GRACE");
}

static const struct d_router *qrouter(const struct desired *d)
{
	return d->routers && d->routers->n == 1 ? &d->routers->r[0] : NULL;
}

/* Owner compute-1 (and a Floating IP there), compute-2 not: whole-node
 * plans and the nftables of each (goldens), and what each holds. */
TEST(pipeline_golden_dvr_distributed_snat)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct desired c1, c2;
	const struct d_router *q;
	struct replica r;

	load_dsnat(&r, "compute-1");
	golden_node(&r, "compute-1", "dsnat-compute-1.plan");
	golden_node(&r, "compute-2", "dsnat-compute-2.plan");
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	REQUIRE((q = qrouter(&c1)) != NULL);
	check_golden("dsnat-compute-1.nft", q->nft);
	/* The owner: the gateway address (announced), SNAT in its block,
	 * the others' blocks forwarded (the GRACE one too), never its own. */
	CHECK(has_addr(q, "fg-", "100.64.0.10", 32) && has_addr(q, "fg-", "203.0.113.5", 32));
	CHECK(strstr(q->nft, "snat to 100.64.0.10:1024-2047") != NULL);
	CHECK(strstr(q->nft, "th dport 2048-3071") && strstr(q->nft, "th dport 3072-4095"));
	CHECK(!strstr(q->nft, "th dport 1024-2047"));
	CHECK(strstr(q->nft, "meta l4proto != { tcp, udp, icmp } snat to 100.64.0.10\n") != NULL);
	/* One more block is asked for at 3/4 of its 1024 ports in use. */
	CHECK(q->snat_ports == 1024 && !routers_snat_short(q, 767) && routers_snat_short(q, 768));
	REQUIRE((q = qrouter(&c2)) != NULL);
	check_golden("dsnat-compute-2.nft", q->nft);
	/* Not the owner: an fg- leg without any address, SNAT in its block,
	 * no forwarding, no protocol without ports, ARP requests without the
	 * gateway address. */
	REQUIRE(leg(q, "fg-"));
	CHECK(q->n_addrs == 2 && has_addr(q, "fg-", "169.254.254.1", 32)); /* qr-, the anchor */
	CHECK(strstr(q->nft, "snat to 100.64.0.10:2048-3071") != NULL);
	CHECK(!strstr(q->nft, "netdev") && !strstr(q->nft, "fwd to"));
	CHECK(strstr(q->nft, "meta l4proto != { tcp, udp, icmp } drop") != NULL);
	CHECK(strstr(q->nft, "oifname \"fg-r0123456789\" arp operation request arp saddr ip set "
			     "0.0.0.0") != NULL);
	node_done(&c1);
	node_done(&c2);
	replica_done(&r);
	json_decref(phys);
}

/* One external network over two segments (seed case 2): the router has an
 * address on each, each with its owner (lepton:snat_owners); a node holds
 * and forwards only for the address it owns, and SNATs in its own block,
 * whoever owns the router's first address. */
TEST(pipeline_dsnat_one_owner_per_address)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	json_t *ips = json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "gw", "ip_address",
				"100.64.0.10", "subnet_id", "gw", "ip_address", "100.64.0.20");
	struct desired c1, c2;
	const struct d_router *q;
	struct replica r;

	load(&r, true);
	update(&r, "router", R, "snat_mode", json_string("distributed"));
	update(&r, "router", R, "lepton:snat_owner", json_string("compute-1"));
	update(&r, "router", R, "lepton:snat_owners",
	       json_pack("{s:s, s:s}", "100.64.0.10", "compute-1", "100.64.0.20", "compute-2"));
	update(&r, "port", "qg-port", "fixed_ips", ips);
	model_delete(&r, "port", "sg-port");
	block(&r, "b1", "compute-1", "100.64.0.10", 1024, 2047, "ACTIVE");
	block(&r, "b2", "compute-2", "100.64.0.20", 1024, 2047, "ACTIVE");
	block(&r, "b3", "compute-3", "100.64.0.20", 2048, 3071, "ACTIVE");
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	REQUIRE((q = qrouter(&c1)) != NULL);
	CHECK(has_addr(q, "fg-", "100.64.0.10", 32) && !has_addr(q, "fg-", "100.64.0.20", 32));
	CHECK(strstr(q->nft, "snat to 100.64.0.10:1024-2047") != NULL);
	CHECK(!strstr(q->nft, "fwd to")); /* no other block on its address */
	CHECK(strstr(q->nft, "meta l4proto != { tcp, udp, icmp } snat to 100.64.0.10\n") != NULL);
	REQUIRE((q = qrouter(&c2)) != NULL);
	CHECK(has_addr(q, "fg-", "100.64.0.20", 32) && !has_addr(q, "fg-", "100.64.0.10", 32));
	CHECK(strstr(q->nft, "snat to 100.64.0.20:1024-2047") != NULL);
	CHECK(strstr(q->nft, "ip daddr 100.64.0.20 meta l4proto { tcp, udp } th dport 2048-3071"));
	CHECK(!strstr(q->nft, "ip daddr 100.64.0.10"));
	CHECK(strstr(q->nft, "meta l4proto != { tcp, udp, icmp } snat to 100.64.0.20\n") != NULL);
	node_done(&c1);
	node_done(&c2);
	/* An address without an owner in the map is nobody's (the router's
	 * one owner counts only when the server sent no map). */
	update(&r, "router", R, "lepton:snat_owners",
	       json_pack("{s:s}", "100.64.0.10", "compute-1"));
	c2 = node(&r, "compute-2", phys);
	REQUIRE((q = qrouter(&c2)) != NULL);
	CHECK(!has_addr(q, "fg-", "100.64.0.20", 32) && !strstr(q->nft, "fwd to"));
	CHECK(strstr(q->nft, "meta l4proto != { tcp, udp, icmp } drop") != NULL);
	node_done(&c2);
	replica_done(&r);
	json_decref(phys);
}

/* Blocks bring only their ops: a new block of compute-2 changes the table
 * of compute-2 (SNAT) and of the owner (forwarding), nothing else; a block
 * of a node without VMs only the owner's; the owner moving: the address
 * leaves one node and arrives, announced, at the other. */
TEST(pipeline_dsnat_minimal)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake f1, f2;
	struct desired c1, c2;
	struct replica r;
	const char *nft_op = "lab-qrouter-" R ": nft-table lepton:";
	char *t;

	load_dsnat(&r, "compute-1");
	computes_up(&r, phys, &f1, &f2);

	block(&r, "b4", "compute-2", "100.64.0.10", 5120, 6143, "ACTIVE");
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	CHECK(t && strncmp(t, nft_op, strlen(nft_op)) == 0 && strchr(t, '\n')[1] == '\0');
	CHECK(strstr(qrouter(&c1)->nft, "th dport 5120-6143") != NULL);
	free(t);
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	CHECK(t && strncmp(t, nft_op, strlen(nft_op)) == 0 && strchr(t, '\n')[1] == '\0');
	/* Two ranges apart: new flows spread over both, by their sizes. */
	CHECK(strstr(qrouter(&c2)->nft, "numgen random mod 2048 vmap { 0-1023 : jump snat_0, "
					"1024-2047 : jump snat_1 }") &&
	      strstr(qrouter(&c2)->nft, "snat to 100.64.0.10:2048-3071") &&
	      strstr(qrouter(&c2)->nft, "snat to 100.64.0.10:5120-6143"));
	free(t);
	node_done(&c1);
	node_done(&c2);

	block(&r, "b5", "network-1", "100.64.0.10", 6144, 7167, "ACTIVE");
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	CHECK(t && strncmp(t, nft_op, strlen(nft_op)) == 0 && strchr(t, '\n')[1] == '\0');
	free(t);
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	CHECK_STREQ(t, "");
	free(t);
	node_done(&c1);
	node_done(&c2);

	update(&r, "router", R, "lepton:snat_owner", json_string("compute-2"));
	c1 = node(&r, "compute-1", phys);
	c2 = node(&r, "compute-2", phys);
	f2.n_garps = 0;
	t = kernel_fake_pass(&f1, &c1, NULL, NULL, NULL);
	REQUIRE(t && strncmp(t, nft_op, strlen(nft_op)) == 0);
	CHECK_STREQ(strchr(t, '\n') + 1,
		    "lab-qrouter-" R ": addr-del fg-r0123456789 100.64.0.10/32\n");
	free(t);
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	REQUIRE(t && strncmp(t, nft_op, strlen(nft_op)) == 0);
	CHECK_STREQ(strchr(t, '\n') + 1,
		    "lab-qrouter-" R ": addr-add fg-r0123456789 100.64.0.10/32\n"
		    "lab-qrouter-" R ": garp fg-r0123456789 100.64.0.10\n");
	free(t);
	CHECK(f2.n_garps == 1);
	computes_done(&c1, &c2, &f1, &f2, &r, phys);
}

/* An agent restarted more slowly than agent_down_time: the server moves
 * the owner away and puts the node's block in GRACE. The node keeps
 * SNATing with its block, and its fg- leg loses the gateway address but
 * keeps its anchor, so the kernel keeps the leg's routes: the plan is the
 * address's delete and nothing else. Without the anchor, a leg that loses
 * its last address gets its routes back in the same plan. */
TEST(pipeline_dsnat_owner_leaves_a_node_that_keeps_its_snat)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake f1, f2;
	struct desired c1, c2;
	struct replica r;
	char *t;

	load_dsnat(&r, "compute-2");
	computes_up(&r, phys, &f1, &f2);
	c2 = node(&r, "compute-2", phys);
	REQUIRE(qrouter(&c2) && has_addr(qrouter(&c2), "fg-", "100.64.0.10", 32));
	node_done(&c2);

	update(&r, "router", R, "lepton:snat_owner", json_string("compute-1"));
	block(&r, "b2", "compute-2", "100.64.0.10", 2048, 3071, "GRACE");
	c2 = node(&r, "compute-2", phys);
	REQUIRE(qrouter(&c2) != NULL);
	CHECK(strstr(qrouter(&c2)->nft, "snat to 100.64.0.10:2048-3071") != NULL);
	CHECK(qrouter(&c2)->snat_ports == 1024);
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	REQUIRE(t != NULL);
	CHECK(strstr(t, "addr-del fg-r0123456789 100.64.0.10/32\n") != NULL);
	CHECK(!strstr(t, "route-") && !strstr(t, "rule-") && !strstr(t, "169.254"));
	free(t);
	/* Nothing is missing afterwards: the next pass is empty. */
	t = kernel_fake_pass(&f2, &c2, NULL, NULL, NULL);
	CHECK_STREQ(t, "");
	free(t);
	c1 = node(&r, "compute-1", phys);
	computes_done(&c1, &c2, &f1, &f2, &r, phys);
}

/* A Floating IP on a router whose fg- leg exists leaves the node level's
 * stamp as it was: the pass that only looks at router namespaces plans
 * exactly what the full pass plans. A port changes the stamp. */
TEST(pipeline_routers_only_pass)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct kernel_fake full, only;
	struct desired c1;
	struct replica r;
	uint64_t before;
	char *a, *b;

	load(&r, true);
	add_vm3(&r);
	c1 = node(&r, "compute-1", phys);
	before = node_level_stamp(r.live, &c1);
	kernel_fake_init(&full, 1);
	kernel_fake_init(&only, 1);
	plug(&full, &c1);
	plug(&only, &c1);
	free(kernel_fake_pass(&full, &c1, NULL, NULL, NULL));
	free(kernel_fake_pass(&only, &c1, NULL, NULL, NULL));
	node_done(&c1);
	add_fip3(&r);
	c1 = node(&r, "compute-1", phys);
	CHECK(node_level_stamp(r.live, &c1) == before);
	a = kernel_fake_pass(&full, &c1, NULL, NULL, NULL);
	b = kernel_fake_pass_routers(&only, &c1, NULL, NULL);
	REQUIRE(a && b && strstr(a, "addr-add fg-r0123456789 203.0.113.7/32"));
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	b = kernel_fake_pass_routers(&only, &c1, NULL, NULL);
	CHECK_STREQ(b, "");
	free(b);
	node_done(&c1);
	update(&r, "port", "vm1", "admin_state_up", json_false());
	c1 = node(&r, "compute-1", phys);
	CHECK(node_level_stamp(r.live, &c1) != before);
	node_done(&c1);
	kernel_fake_done(&full);
	kernel_fake_done(&only);
	replica_done(&r);
	json_decref(phys);
}

/* The router namespaces computed from the previous state equal those
 * computed from nothing; a router is taken over only when nothing it read
 * changed. */
static void same_routers(const struct desired *a, const struct desired *b)
{
	REQUIRE(a->routers->n == b->routers->n);
	for (size_t i = 0; i < a->routers->n; i++) {
		CHECK_STREQ(a->routers->r[i].ns, b->routers->r[i].ns);
		CHECK(a->routers->r[i].hash == b->routers->r[i].hash);
		CHECK(a->routers->r[i].hash == routers_hash(&b->routers->r[i]));
	}
	/* The L2 part, taken over or made anew, is the one made from nothing. */
	REQUIRE(a->n_nets == b->n_nets && a->n_ports == b->n_ports && a->n_fdb == b->n_fdb &&
		a->n_neigh == b->n_neigh && a->n_central == b->n_central);
	for (size_t i = 0; i < a->n_nets; i++) {
		CHECK_STREQ(a->nets[i].id, b->nets[i].id);
		CHECK_STREQ(a->nets[i].bridge, b->nets[i].bridge);
		CHECK_STREQ(a->nets[i].phys, b->nets[i].phys);
		CHECK(a->nets[i].mtu == b->nets[i].mtu && a->nets[i].n_nd == b->nets[i].n_nd);
	}
	for (size_t i = 0; i < a->n_ports; i++) {
		CHECK_STREQ(a->ports[i].id, b->ports[i].id);
		CHECK_STREQ(a->ports[i].tap, b->ports[i].tap);
		CHECK(a->ports[i].admin_up == b->ports[i].admin_up);
	}
	for (size_t i = 0; i < a->n_fdb; i++) {
		CHECK_STREQ(a->fdb[i].dev, b->fdb[i].dev);
		CHECK(memcmp(a->fdb[i].mac, b->fdb[i].mac, 6) == 0 &&
		      a->fdb[i].dst == b->fdb[i].dst);
	}
	for (size_t i = 0; i < a->n_neigh; i++) {
		CHECK_STREQ(a->neigh[i].dev, b->neigh[i].dev);
		CHECK(a->neigh[i].ip == b->neigh[i].ip);
	}
}

static size_t step(struct replica *r, const struct d_node *n, struct desired *prev)
{
	struct desired next, fresh;
	size_t reused;

	node_compute(r, n, prev, &next);
	node_compute(r, n, NULL, &fresh);
	same_routers(&next, &fresh);
	reused = next.routers->reused;
	node_done(&fresh);
	node_done(prev);
	*prev = next;
	return reused;
}

TEST(routers_taken_over_only_when_their_inputs_did_not_change)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct d_node n = {"compute-1", 1, false, "lab-", phys, 0, NULL, NULL};
	struct desired prev;
	struct replica r;

	load_dsnat(&r, "compute-1");
	node_compute(&r, &n, NULL, &prev);
	REQUIRE(prev.routers->n_units == 1);
	CHECK(step(&r, &n, &prev) == 1); /* nothing changed */
	const struct d_network *nets = prev.nets;

	block(&r, "b4", "compute-1", "100.64.0.10", 5120, 6143, "ACTIVE");
	CHECK(step(&r, &n, &prev) == 0);
	CHECK(strstr(qrouter(&prev)->nft, "snat to 100.64.0.10:5120-6143") != NULL);
	CHECK(prev.nets == nets); /* L2 taken over: nothing it reads changed */
	CHECK(step(&r, &n, &prev) == 1);
	update(&r, "router", R, "lepton:snat_owner", json_string("compute-2"));
	CHECK(step(&r, &n, &prev) == 0);
	update(&r, "network", "ext", "mtu", json_integer(1400));
	CHECK(step(&r, &n, &prev) == 0);
	CHECK(step(&r, &n, &prev) == 1);
	/* A VM port's change: its L2 made anew (same_routers compares). */
	nets = prev.nets;
	update(&r, "port", "vm1", "admin_state_up", json_false());
	step(&r, &n, &prev);
	CHECK(prev.nets != nets);
	node_done(&prev);
	replica_done(&r);
	json_decref(phys);
}

static bool has_route(const struct d_router *d, uint32_t table, const char *dst, int len,
		      const char *gw)
{
	uint32_t a, g;

	ip4_parse(dst, &a);
	ip4_parse(gw, &g);
	for (size_t i = 0; i < d->n_routes; i++)
		if (d->routes[i].table == table && d->routes[i].dst == a &&
		    d->routes[i].prefixlen == len && d->routes[i].gateway == g)
			return true;
	return false;
}

static uint32_t ip(const char *s)
{
	uint32_t a = 0;

	ip4_parse(s, &a);
	return a;
}

/* BGP mode (announce.h): a node of rack 2 (its only external mapping is
 * ext2, not the network's primary physnet) plugs fg- into its own external
 * interface and sends through its own address; it announces its VM's
 * Floating IP and the SNAT address it owns, nothing a tenant wrote (an
 * allowed address pair that looks like a Floating IP), and a node that
 * owns nothing announces nothing. */
TEST(announce_bgp_mode)
{
	json_t *phys = json_pack("{s:s}", "ext2", "ext0");
	struct d_node n1 = {"compute-1", 1, false, "lab-", phys, ip("100.65.0.11"), NULL, NULL};
	struct d_node n2 = {"compute-2", 1, false, "lab-", phys, ip("100.65.0.12"), NULL, NULL};
	struct desired c1, c2;
	const struct d_router *q;
	struct replica r;
	uint32_t *want;
	size_t n;

	load_dsnat(&r, "compute-1");
	update(&r, "port", "vm1", "allowed_address_pairs",
	       json_pack("[{s:s}]", "ip_address", "203.0.113.77"));
	node_compute(&r, &n1, NULL, &c1);
	node_compute(&r, &n2, NULL, &c2);
	REQUIRE((q = qrouter(&c1)) != NULL);
	REQUIRE(leg(q, "fg-"));
	CHECK_STREQ(leg(q, "fg-")->phys, "ext0");
	CHECK(has_route(q, R_TABLE_FIP, "0.0.0.0", 0, "100.65.0.11"));
	n = announce_want(c1.routers, &want);
	CHECK(n == 2 && want[0] == ip("100.64.0.10") && want[1] == ip("203.0.113.5"));
	free(want);
	REQUIRE((q = qrouter(&c2)) != NULL);
	CHECK(has_route(q, R_TABLE_FIP, "0.0.0.0", 0, "100.65.0.12"));
	n = announce_want(c2.routers, &want);
	CHECK(n == 0);
	free(want);
	/* The owner moves: the address goes with it. */
	update(&r, "router", R, "lepton:snat_owner", json_string("compute-2"));
	node_done(&c2);
	node_compute(&r, &n2, NULL, &c2);
	n = announce_want(c2.routers, &want);
	CHECK(n == 1 && want[0] == ip("100.64.0.10"));
	free(want);
	/* ARP mode: the gateway of the router's segment, as before. */
	node_done(&c1);
	n1.bgp_nexthop = 0;
	node_compute(&r, &n1, NULL, &c1);
	REQUIRE((q = qrouter(&c1)) != NULL);
	CHECK(has_route(q, R_TABLE_FIP, "0.0.0.0", 0, "100.64.0.1"));
	node_done(&c1);
	node_done(&c2);
	replica_done(&r);
	json_decref(phys);
}

/* How many addresses the node's routers announce. */
static size_t announced(const struct desired *c)
{
	uint32_t *want;
	size_t n = announce_want(c->routers, &want);

	free(want);
	return n;
}

/* The mode is per physical network (segment): with --bgp-physnet, an
 * external network on another physical network keeps ARP ownership (its
 * segment's gateway, nothing in the table); a network the node does not
 * map (another rack's segment) plugs into the one BGP physical network. */
TEST(announce_bgp_mode_per_physical_network)
{
	json_t *phys = json_pack("{s:s, s:s}", "ext2", "ext0", "public", "arp0");
	json_t *only_ext2 = json_pack("{s:b}", "ext2", 1);
	json_t *only_public = json_pack("{s:b}", "public", 1);
	json_t *two = json_pack("{s:s, s:s}", "ext2", "ext0", "arp", "arp0");
	struct d_node n = {"compute-1", 1, false, "lab-", phys, ip("100.65.0.11"), only_ext2, NULL};
	const struct d_router *q;
	struct desired c;
	struct replica r;

	load_dsnat(&r, "compute-1");
	/* "public" is mapped, and ARP's: its own interface and gateway. */
	node_compute(&r, &n, NULL, &c);
	REQUIRE((q = qrouter(&c)) != NULL && leg(q, "fg-"));
	CHECK(!q->bgp);
	CHECK_STREQ(leg(q, "fg-")->phys, "arp0");
	CHECK(has_route(q, R_TABLE_FIP, "0.0.0.0", 0, "100.64.0.1"));
	CHECK(has_addr(q, "fg-", "100.64.0.10", 32) && has_addr(q, "fg-", "203.0.113.5", 32));
	CHECK(announced(&c) == 0);
	node_done(&c);
	/* The same network, BGP's. */
	n.bgp_physnets = only_public;
	node_compute(&r, &n, NULL, &c);
	REQUIRE((q = qrouter(&c)) != NULL && leg(q, "fg-"));
	CHECK(q->bgp && has_route(q, R_TABLE_FIP, "0.0.0.0", 0, "100.65.0.11"));
	CHECK_STREQ(leg(q, "fg-")->phys, "arp0");
	CHECK(announced(&c) == 2);
	node_done(&c);
	/* Not mapped here (another rack's segment): the BGP physical
	 * network's interface; with two mappings and no --bgp-physnet, the
	 * node cannot tell which is its segment: the leg is on no interface. */
	n.physnets = two;
	n.bgp_physnets = only_ext2;
	node_compute(&r, &n, NULL, &c);
	REQUIRE((q = qrouter(&c)) != NULL && leg(q, "fg-"));
	CHECK(q->bgp);
	CHECK_STREQ(leg(q, "fg-")->phys, "ext0");
	CHECK(announced(&c) == 2);
	node_done(&c);
	n.bgp_physnets = NULL;
	node_compute(&r, &n, NULL, &c);
	REQUIRE((q = qrouter(&c)) != NULL && leg(q, "fg-"));
	CHECK(!q->bgp);
	CHECK_STREQ(leg(q, "fg-")->phys, "");
	node_done(&c);
	replica_done(&r);
	json_decref(phys);
	json_decref(only_ext2);
	json_decref(only_public);
	json_decref(two);
}

/* The table's diff: what is right stays, the rest goes (another prefix, a
 * route on another interface, a duplicate), what is missing comes. */
TEST(announce_diff_table)
{
	uint32_t want[] = {ip("100.64.0.10"), ip("203.0.113.5"), ip("203.0.113.6")};
	struct rtnl_route have[] = {
		{.dst = ip("203.0.113.5"), .prefixlen = 32, .oif = 3},
		{.dst = ip("203.0.113.5"), .prefixlen = 32, .oif = 3},
		{.dst = ip("198.51.100.9"), .prefixlen = 32, .oif = 3},
		{.dst = ip("100.64.0.10"), .prefixlen = 32, .oif = 9},
		{.dst = ip("203.0.113.6"), .prefixlen = 31, .oif = 3},
	};
	struct announce_diff d;

	announce_diff(want, 3, have, 5, 3, &d);
	CHECK(d.n_add == 2 && d.add[0] == ip("100.64.0.10") && d.add[1] == ip("203.0.113.6"));
	CHECK(d.n_del == 4 && d.del[0].dst == ip("203.0.113.5") &&
	      d.del[1].dst == ip("198.51.100.9") && d.del[2].oif == 9 && d.del[3].prefixlen == 31);
	announce_diff_done(&d);
	/* Right: nothing to do. */
	announce_diff(want, 1, have + 3, 1, 9, &d);
	CHECK(d.n_add == 0 && d.n_del == 0);
	announce_diff_done(&d);
}

/* A legacy router's network node announces its Floating IPs (qg-), not
 * its gateway address (held with its subnet's prefix, on-link at the
 * upstream of its segment); a compute node of it nothing. */
TEST(announce_legacy_router)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct d_node n = {"network-1", 1, true, "lab-", phys, ip("100.64.0.3"), NULL, NULL};
	struct d_node c = {"compute-1", 1, false, "lab-", phys, ip("100.64.0.2"), NULL, NULL};
	struct desired d1, d2;
	struct replica r;
	uint32_t *want;
	size_t k;

	load(&r, false);
	node_compute(&r, &n, NULL, &d1);
	node_compute(&r, &c, NULL, &d2);
	k = announce_want(d1.routers, &want);
	CHECK(k == 1 && want[0] == ip("203.0.113.5"));
	free(want);
	k = announce_want(d2.routers, &want);
	CHECK(k == 0);
	free(want);
	node_done(&d1);
	node_done(&d2);
	replica_done(&r);
	json_decref(phys);
}

static bool has_v6(const struct d_router *d, const char *dev_prefix, const char *ip, int len)
{
	uint8_t a[16];

	inet_pton(AF_INET6, ip, a);
	for (size_t i = 0; i < d->n_addrs; i++)
		if (strncmp(d->addrs[i].dev, dev_prefix, strlen(dev_prefix)) == 0 &&
		    d->addrs[i].v6 && memcmp(d->addrs[i].ip6, a, 16) == 0 &&
		    d->addrs[i].prefixlen == len)
			return true;
	return false;
}

static int v6_neigh(const struct d_router *d, const char *dev_prefix, const char *ip, bool proxy)
{
	uint8_t a[16];
	int n = 0;

	inet_pton(AF_INET6, ip, a);
	for (size_t i = 0; i < d->n_neighs; i++)
		if (strncmp(d->neighs[i].dev, dev_prefix, strlen(dev_prefix)) == 0 &&
		    d->neighs[i].v6 && d->neighs[i].proxy == proxy &&
		    memcmp(d->neighs[i].ip6, a, 16) == 0)
			n++;
	return n;
}

/* IPv6: a leg for an IPv6-only interface with the gateway address, static
 * neighbours for the subnet's ports; on the external leg of the VM's own
 * node, a default route through the external subnet's gateway and proxy
 * entries for that node's VMs only; RAs for the VM from the router port. */
TEST(routers_ipv6_legs_north_south_and_ra)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	struct replica r;
	struct desired c1;
	struct r_observed o;
	struct plan p = {0};
	const struct d_router *d;
	const struct d_port *vm1 = NULL;

	load(&r, true);
	model_set(&r, "subnet",
		  "{\"id\":\"s6\",\"network_id\":\"net\",\"cidr\":\"fd00:1::/64\","
		  "\"gateway_ip\":\"fd00:1::1\",\"enable_dhcp\":true,\"ipv6_ra_mode\":\"slaac\","
		  "\"ipv6_address_mode\":\"slaac\"}");
	model_set(&r, "subnet",
		  "{\"id\":\"gw6\",\"network_id\":\"ext\",\"cidr\":\"2001:db8:e0::/64\","
		  "\"gateway_ip\":\"2001:db8:e0::1\"}");
	model_set(&r, "port",
		  "{\"id\":\"qr6\",\"network_id\":\"net\",\"device_id\":\"" R "\","
		  "\"device_owner\":\"network:router_interface_distributed\","
		  "\"mac_address\":\"fa:16:3e:00:00:06\",\"binding:host_id\":\"\","
		  "\"fixed_ips\":[{\"subnet_id\":\"s6\",\"ip_address\":\"fd00:1::1\"}]}");
	update(&r, "port", "qg-port", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "gw", "ip_address", "100.64.0.10",
			 "subnet_id", "gw6", "ip_address", "2001:db8:e0::10"));
	update(&r, "port", "vm1", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "s1", "ip_address", "10.0.0.5",
			 "subnet_id", "s6", "ip_address", "fd00:1::f816:3eff:fe00:11"));
	update(&r, "port", "vm2", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "s1", "ip_address", "10.0.0.6",
			 "subnet_id", "s6", "ip_address", "fd00:1::f816:3eff:fe00:12"));
	c1 = node(&r, "compute-1", phys);
	REQUIRE(c1.routers && c1.routers->n == 1);
	d = &c1.routers->r[0];
	CHECK(leg(d, "qr-qr6") != NULL);
	CHECK(has_v6(d, "qr-qr6", "fd00:1::1", 64));
	CHECK(v6_neigh(d, "qr-qr6", "fd00:1::f816:3eff:fe00:11", false) == 1);
	CHECK(v6_neigh(d, "qr-qr6", "fd00:1::f816:3eff:fe00:12", false) == 1);
	CHECK(v6_neigh(d, "fg-", "fd00:1::f816:3eff:fe00:11", true) == 1);
	CHECK(v6_neigh(d, "fg-", "fd00:1::f816:3eff:fe00:12", true) == 0);
	{
		uint8_t gw[16];
		bool found = false;

		inet_pton(AF_INET6, "2001:db8:e0::1", gw);
		for (size_t i = 0; i < d->n_routes; i++)
			found |= d->routes[i].v6 && d->routes[i].prefixlen == 0 &&
				 memcmp(d->routes[i].gw6, gw, 16) == 0 &&
				 strncmp(d->routes[i].dev, "fg-", 3) == 0;
		CHECK(found);
	}
	for (size_t i = 0; i < c1.n_ports; i++)
		if (streq(c1.ports[i].id, "vm1"))
			vm1 = &c1.ports[i];
	REQUIRE(vm1);
	CHECK(vm1->v6.ra && vm1->v6.autonomous && !vm1->v6.managed && !vm1->v6.dhcp);
	CHECK(vm1->v6.router_mac[5] == 0x06 && vm1->v6.prefix_len == 64);
	CHECK(vm1->n_ips6 == 1);
	/* What is right gets no op. */
	o = as_observed(d);
	reconcile_router(d, &o, &p);
	CHECK(p.n_ops == 0);
	plan_done(&p);
	r_observed_done(&o);
	node_done(&c1);
	replica_done(&r);
	json_decref(phys);
}

/* A dual-stack tenant subnet behind the router, the VMs' IPv6 addresses,
 * and an IPv6 subnet on the external network (gw6: its gateway, or NULL:
 * none, as on a BGP network whose racks each have their own upstream). */
static void load_v6(struct replica *r, bool distributed, const char *gw6)
{
	char doc[256];

	load(r, distributed);
	model_set(r, "subnet",
		  "{\"id\":\"s6\",\"network_id\":\"net\",\"cidr\":\"2001:db8:100::/64\","
		  "\"gateway_ip\":\"2001:db8:100::1\",\"enable_dhcp\":true,"
		  "\"ipv6_ra_mode\":\"slaac\",\"ipv6_address_mode\":\"slaac\"}");
	snprintf(doc, sizeof(doc),
		 "{\"id\":\"gw6\",\"network_id\":\"ext\",\"cidr\":\"2001:db8:e0::/64\","
		 "\"gateway_ip\":%s%s%s}",
		 gw6 ? "\"" : "", gw6 ? gw6 : "null", gw6 ? "\"" : "");
	model_set(r, "subnet", doc);
	model_set(r, "port",
		  "{\"id\":\"qr6\",\"network_id\":\"net\",\"device_id\":\"" R "\","
		  "\"device_owner\":\"network:router_interface_distributed\","
		  "\"mac_address\":\"fa:16:3e:00:00:06\",\"binding:host_id\":\"\","
		  "\"fixed_ips\":[{\"subnet_id\":\"s6\",\"ip_address\":\"2001:db8:100::1\"}]}");
	update(r, "port", "qg-port", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "gw", "ip_address", "100.64.0.10",
			 "subnet_id", "gw6", "ip_address", "2001:db8:e0::10"));
	update(r, "port", "vm1", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "s1", "ip_address", "10.0.0.5",
			 "subnet_id", "s6", "ip_address", "2001:db8:100::11"));
	update(r, "port", "vm2", "fixed_ips",
	       json_pack("[{s:s, s:s}, {s:s, s:s}]", "subnet_id", "s1", "ip_address", "10.0.0.6",
			 "subnet_id", "s6", "ip_address", "2001:db8:100::12"));
}

static bool has_route6(const struct d_router *d, const char *dev_prefix, const char *gw)
{
	uint8_t g[16];

	inet_pton(AF_INET6, gw, g);
	for (size_t i = 0; i < d->n_routes; i++)
		if (d->routes[i].v6 && d->routes[i].prefixlen == 0 &&
		    !memcmp(d->routes[i].gw6, g, 16) &&
		    !strncmp(d->routes[i].dev, dev_prefix, strlen(dev_prefix)))
			return true;
	return false;
}

static bool routes6(const struct d_router *d)
{
	for (size_t i = 0; i < d->n_routes; i++)
		if (d->routes[i].v6)
			return true;
	return false;
}

/* The IPv6 addresses a node announces, as text, space-separated. */
static const char *announced6(const struct desired *c, char *buf, size_t size)
{
	struct announce_ip6 *want;
	size_t n = announce_want6(c->routers, &want), len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, want[i].a, a, sizeof(a));
		len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? " " : "", a);
	}
	free(want);
	return buf;
}

/* IPv6 north-south on a BGP network (issue 14): the VM's own node sends
 * IPv6 out through its own IPv6 address on the segment (--bgp-nexthop6)
 * and announces a /128 for each IPv6 address of its VMs, no NAT; the
 * external subnet needs no gateway then. The /128 follows a moving VM and
 * goes with its port. Without the node's IPv6 address, or in ARP mode
 * without an external gateway, the router has no IPv6 way out. */
TEST(announce_ipv6_bgp_mode)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	uint8_t nh1[16], nh2[16];
	struct d_node n1 = {"compute-1", 1, false, "lab-", phys, ip("100.64.0.2"), NULL, nh1};
	struct d_node n2 = {"compute-2", 1, false, "lab-", phys, ip("100.64.0.3"), NULL, nh2};
	struct desired c1, c2;
	const struct d_router *q;
	struct replica r;
	char buf[256];

	inet_pton(AF_INET6, "2001:db8:e1::2", nh1);
	inet_pton(AF_INET6, "2001:db8:e1::3", nh2);
	load_v6(&r, true, NULL);
	node_compute(&r, &n1, NULL, &c1);
	node_compute(&r, &n2, NULL, &c2);
	REQUIRE((q = qrouter(&c1)) != NULL && q->bgp);
	CHECK(has_route6(q, "fg-", "2001:db8:e1::2"));
	CHECK(v6_neigh(q, "fg-", "2001:db8:100::11", true) == 1);
	CHECK(v6_neigh(q, "fg-", "2001:db8:100::12", true) == 0);
	CHECK_STREQ(announced6(&c1, buf, sizeof(buf)), "2001:db8:100::11");
	CHECK_STREQ(announced6(&c2, buf, sizeof(buf)), "2001:db8:100::12");
	/* A tenant's IPv6 allowed address pair is not the node's to
	 * announce; nor is anything IPv4 among the IPv6 ones. */
	update(&r, "port", "vm1", "allowed_address_pairs",
	       json_pack("[{s:s}]", "ip_address", "2001:db8:100::99"));
	node_done(&c1);
	node_compute(&r, &n1, NULL, &c1);
	CHECK_STREQ(announced6(&c1, buf, sizeof(buf)), "2001:db8:100::11");
	CHECK(announced(&c1) == 1); /* the Floating IP */
	/* vm1 moves to compute-2: its /128 with it, sorted, each once. */
	update(&r, "port", "vm1", "binding:host_id", json_string("compute-2"));
	node_done(&c1);
	node_done(&c2);
	node_compute(&r, &n1, NULL, &c1);
	node_compute(&r, &n2, NULL, &c2);
	CHECK_STREQ(announced6(&c1, buf, sizeof(buf)), "");
	CHECK_STREQ(announced6(&c2, buf, sizeof(buf)), "2001:db8:100::11 2001:db8:100::12");
	/* vm2's port goes: its /128 too. */
	model_delete(&r, "port", "vm2");
	node_done(&c2);
	node_compute(&r, &n2, NULL, &c2);
	CHECK_STREQ(announced6(&c2, buf, sizeof(buf)), "2001:db8:100::11");
	REQUIRE((q = qrouter(&c2)) != NULL);
	CHECK(has_route6(q, "fg-", "2001:db8:e1::3"));
	/* No IPv6 address of the node: no IPv6 way out (the external subnet
	 * has no gateway), nothing to answer for or announce. */
	node_done(&c2);
	n2.bgp_nexthop6 = NULL;
	node_compute(&r, &n2, NULL, &c2);
	REQUIRE((q = qrouter(&c2)) != NULL);
	CHECK(!routes6(q) && v6_neigh(q, "fg-", "2001:db8:100::11", true) == 0);
	CHECK_STREQ(announced6(&c2, buf, sizeof(buf)), "");
	node_done(&c1);
	node_done(&c2);
	replica_done(&r);
	/* ARP mode with an external gateway: through it, as before; the
	 * node's IPv6 address is BGP's only. */
	load_v6(&r, true, "2001:db8:e0::1");
	n2.bgp_nexthop = 0;
	n2.bgp_nexthop6 = nh2;
	node_compute(&r, &n2, NULL, &c2);
	REQUIRE((q = qrouter(&c2)) != NULL && !q->bgp);
	CHECK(has_route6(q, "fg-", "2001:db8:e0::1") && !has_route6(q, "fg-", "2001:db8:e1::3"));
	CHECK_STREQ(announced6(&c2, buf, sizeof(buf)), "");
	node_done(&c2);
	replica_done(&r);
	json_decref(phys);
}

/* A legacy router on a BGP network: its network node routes IPv6 through
 * itself and announces every VM of the router; its compute nodes nothing. */
TEST(announce_ipv6_legacy_router)
{
	json_t *phys = json_pack("{s:s}", "public", "ext0");
	uint8_t nh[16];
	struct d_node n = {"network-1", 1, true, "lab-", phys, ip("100.64.0.3"), NULL, nh};
	struct d_node c = {"compute-1", 1, false, "lab-", phys, ip("100.64.0.2"), NULL, nh};
	struct desired d1, d2;
	const struct d_router *q;
	struct replica r;
	char buf[256];

	inet_pton(AF_INET6, "2001:db8:e1::3", nh);
	load_v6(&r, false, NULL);
	node_compute(&r, &n, NULL, &d1);
	node_compute(&r, &c, NULL, &d2);
	REQUIRE((q = qrouter(&d1)) != NULL);
	CHECK(has_route6(q, "qg-", "2001:db8:e1::3"));
	CHECK_STREQ(announced6(&d1, buf, sizeof(buf)), "2001:db8:100::11 2001:db8:100::12");
	CHECK_STREQ(announced6(&d2, buf, sizeof(buf)), "");
	node_done(&d1);
	node_done(&d2);
	replica_done(&r);
	json_decref(phys);
}

static struct announce_ip6 a6(const char *s)
{
	struct announce_ip6 a;

	inet_pton(AF_INET6, s, a.a);
	return a;
}

/* The IPv6 table's diff, as the IPv4 one's: another address, a route on
 * another interface, a duplicate, another prefix length, a route through a
 * gateway go; what is missing comes. */
TEST(announce_diff6_table)
{
	struct announce_ip6 want[] = {a6("2001:db8:100::5"), a6("2001:db8:100::6"),
				      a6("2001:db8:100::7")};
	struct rtnl_route have[6] = {
		{.prefixlen = 128, .oif = 3}, {.prefixlen = 128, .oif = 3},
		{.prefixlen = 128, .oif = 3}, {.prefixlen = 128, .oif = 9},
		{.prefixlen = 64, .oif = 3},  {.prefixlen = 128, .oif = 3},
	};
	struct announce_diff6 d;

	memcpy(have[0].dst6, want[1].a, 16);
	memcpy(have[1].dst6, want[1].a, 16);
	inet_pton(AF_INET6, "2001:db8:99::1", have[2].dst6);
	memcpy(have[3].dst6, want[0].a, 16);
	memcpy(have[4].dst6, want[2].a, 16);
	memcpy(have[5].dst6, want[2].a, 16);
	inet_pton(AF_INET6, "fe80::1", have[5].gw6);
	announce_diff6(want, 3, have, 6, 3, &d);
	CHECK(d.n_add == 2 && !memcmp(d.add[0].a, want[0].a, 16) &&
	      !memcmp(d.add[1].a, want[2].a, 16));
	CHECK(d.n_del == 5 && d.del[0].oif == 3 && !memcmp(d.del[0].dst6, want[1].a, 16) &&
	      d.del[2].oif == 9 && d.del[3].prefixlen == 64 && d.del[4].gw6[0] == 0xfe);
	announce_diff6_done(&d);
	/* Right: nothing to do. */
	announce_diff6(want + 1, 1, have, 1, 3, &d);
	CHECK(d.n_add == 0 && d.n_del == 0);
	announce_diff6_done(&d);
}

/* A pass after which only security or address groups changed looks at the
 * nftables tables alone; any other document, or another model (a new
 * snapshot), makes it a whole pass again. */
TEST(node_tables_only_after_group_changes)
{
	struct model m, other;
	uint64_t serial, gen;
	json_t *j;

	model_init(&m);
	model_init(&other);
	j = json_loads("{\"network_id\":\"n1\",\"binding:host_id\":\"compute-1\"}", 0, NULL);
	REQUIRE(model_put(&m, "port", "p1", j) == 0);
	json_decref(j);
	serial = m.serial;
	gen = m.generation;
	CHECK(node_tables_only(&m, serial, gen)); /* nothing changed */
	j = json_loads("{\"security_group_rules\":[]}", 0, NULL);
	REQUIRE(model_put(&m, "security_group", "g1", j) == 0);
	json_decref(j);
	j = json_loads("{\"addresses\":[\"10.0.0.0/24\"]}", 0, NULL);
	REQUIRE(model_put(&m, "address_group", "a1", j) == 0);
	json_decref(j);
	CHECK(node_tables_only(&m, serial, gen));
	CHECK(!node_tables_only(&other, serial, gen));
	j = json_loads("{\"floating_ip_address\":\"203.0.113.5\",\"router_id\":\"r\"}", 0, NULL);
	REQUIRE(model_put(&m, "floatingip", "f1", j) == 0);
	json_decref(j);
	CHECK(!node_tables_only(&m, serial, gen));
	CHECK(node_tables_only(&m, m.serial, m.generation));
	CHECK(model_del(&m, "port", "p1") == 1);
	CHECK(!node_tables_only(&m, serial, m.generation - 1));
	model_done(&m);
	model_done(&other);
}
