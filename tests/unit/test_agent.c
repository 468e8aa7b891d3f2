/* The agent's pure parts: replica and desired state. */
#include <errno.h>
#include "agent/desired.h"
#include "agent/replica.h"
#include "agent/secgroups.h"
#include "base/ip4.h"
#include "base/util.h"
#include "test.h"

static int apply(struct replica *r, const char *line)
{
	json_t *j = json_loads(line, 0, NULL);
	int ret = replica_apply(r, j);

	json_decref(j);
	return ret;
}

TEST(replica_snapshot_then_changes)
{
	struct replica r;

	replica_init(&r);
	CHECK(apply(&r, "{\"op\":\"snapshot_begin\",\"revision\":5}") == 0);
	CHECK(apply(&r, "{\"op\":\"snapshot\",\"revision\":5,\"type\":\"network\",\"id\":\"n1\","
			"\"object\":{\"id\":\"n1\"}}") == 0);
	/* Not live until the snapshot is complete. */
	CHECK(!r.synced && model_network(r.live, "n1") == NULL);
	CHECK(apply(&r, "{\"op\":\"snapshot_end\",\"revision\":5}") == 1);
	CHECK(r.synced && r.revision == 5 && model_network(r.live, "n1"));
	CHECK(apply(&r, "{\"op\":\"create\",\"revision\":6,\"type\":\"port\",\"id\":\"p1\","
			"\"object\":{\"id\":\"p1\"}}") == 1);
	/* A repeated change is ignored. */
	CHECK(apply(&r, "{\"op\":\"delete\",\"revision\":6,\"type\":\"port\",\"id\":\"p1\","
			"\"object\":{\"id\":\"p1\"}}") == 0);
	CHECK(model_port(r.live, "p1") != NULL);
	CHECK(apply(&r, "{\"op\":\"delete\",\"revision\":7,\"type\":\"port\",\"id\":\"p1\","
			"\"object\":{\"id\":\"p1\"}}") == 1);
	CHECK(model_port(r.live, "p1") == NULL && r.revision == 7);
	CHECK(apply(&r, "{\"op\":\"ping\",\"revision\":7}") == 0);
	CHECK(apply(&r, "{\"op\":\"bogus\",\"revision\":8}") == -EBADMSG);
	CHECK(apply(&r, "{\"op\":\"create\",\"revision\":9}") == -EBADMSG);
	CHECK(apply(&r, "[]") == -EBADMSG);
	CHECK(apply(&r, "{\"op\":\"snapshot\",\"revision\":9,\"type\":\"x\",\"id\":\"y\","
			"\"object\":{}}") == -EBADMSG);
	replica_done(&r);
}

static const char *const model_lines[] = {
	"{\"op\":\"snapshot_begin\",\"revision\":1}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"agent\",\"id\":\"a1\",\"object\":"
	"{\"host\":\"compute-1\",\"configurations\":{\"tunnel_address\":\"100.127.0.11\"}}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"agent\",\"id\":\"a2\",\"object\":"
	"{\"host\":\"compute-2\",\"configurations\":{\"tunnel_address\":\"100.127.0.12\"}}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"network\",\"id\":"
	"\"0123456789abcdef-net\",\"object\":{\"id\":\"0123456789abcdef-net\","
	"\"provider:network_type\":\"vxlan\",\"provider:segmentation_id\":1001,\"mtu\":1450}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"subnet\",\"id\":\"s1\",\"object\":{"
	"\"id\":\"s1\",\"cidr\":\"10.0.0.0/24\",\"gateway_ip\":\"10.0.0.1\",\"enable_dhcp\":true,"
	"\"dns_nameservers\":[\"192.0.2.53\"],\"host_routes\":[{\"destination\":"
	"\"172.16.0.0/12\",\"nexthop\":\"10.0.0.254\"}]}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p-local-1\",\"object\":{"
	"\"id\":\"p-local-1\",\"network_id\":\"0123456789abcdef-net\",\"binding:host_id\":"
	"\"compute-1\",\"device_owner\":\"compute:nova\",\"mac_address\":\"fa:16:3e:00:00:01\","
	"\"admin_state_up\":true,\"port_security_enabled\":true,"
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.5\"}]}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p-remote-1\",\"object\":{"
	"\"id\":\"p-remote-1\",\"network_id\":\"0123456789abcdef-net\",\"binding:host_id\":"
	"\"compute-2\",\"device_owner\":\"\",\"mac_address\":\"fa:16:3e:00:00:02\","
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.6\"}]}}",
	"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p-router\",\"object\":{"
	"\"id\":\"p-router\",\"network_id\":\"0123456789abcdef-net\",\"binding:host_id\":"
	"\"compute-1\",\"device_owner\":\"network:router_interface_distributed\","
	"\"mac_address\":\"fa:16:3e:00:00:03\","
	"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.1\"}]}}",
	"{\"op\":\"snapshot_end\",\"revision\":1}",
};

TEST(desired_l2_and_dhcp)
{
	struct replica r;
	struct desired d;
	uint32_t tun;

	replica_init(&r);
	for (size_t i = 0; i < sizeof(model_lines) / sizeof(model_lines[0]); i++)
		REQUIRE(apply(&r, model_lines[i]) >= 0);
	ip4_parse("100.127.0.11", &tun);
	desired_compute(&r, "compute-1", tun, false, &d);
	REQUIRE(d.n_nets == 1 && d.n_ports == 1);
	CHECK_STREQ(d.nets[0].bridge, "brq0123456789a");
	CHECK_STREQ(d.nets[0].vxlan, "vxlan-1001");
	CHECK(d.nets[0].vni == 1001 && d.nets[0].mtu == 1450);
	/* A local port with port security: the bridge needs netfilter. */
	CHECK(d.nets[0].filtered);
	CHECK_STREQ(d.ports[0].tap, "tapp-local-1");
	CHECK(d.ports[0].dhcp.enabled && d.ports[0].dhcp.ip == 0x0a000005);
	CHECK(d.ports[0].dhcp.router == 0x0a000001 && d.ports[0].dhcp.netmask == 0xffffff00);
	CHECK(d.ports[0].dhcp.n_dns == 1 && d.ports[0].dhcp.n_routes == 1);
	CHECK(d.ports[0].dhcp.mtu == 1450);
	/* Named as Neutron names a port without dns_name; no domain, no
	 * extra options. */
	CHECK_STREQ(d.ports[0].dhcp.hostname, "host-10-0-0-5");
	CHECK_STREQ(d.ports[0].dhcp.domain, "");
	CHECK(d.ports[0].dhcp.n_extra == 0);
	/* The local port's MAC on its tap (static, in the bridge); one unicast
	 * entry for the remote port, one flood entry for its node. */
	REQUIRE(d.n_fdb == 4);
	CHECK(d.fdb[0].mac[5] == 1 && d.fdb[0].master && streq(d.fdb[0].dev, "tapp-local-1"));
	CHECK(d.fdb[1].mac[5] == 2 && d.fdb[1].dst == 0x647f000c && !d.fdb[1].master);
	CHECK(d.fdb[2].mac[5] == 2 && d.fdb[2].dst == 0 && d.fdb[2].master);
	CHECK(d.fdb[3].mac[0] == 0 && d.fdb[3].mac[5] == 0 && d.fdb[3].dst == 0x647f000c);
	/* Neighbours for every address on the network, router port included. */
	CHECK(d.n_neigh == 3);
	desired_done(&d);
	/* Another node hosts nothing of it. */
	desired_compute(&r, "compute-3", 0, false, &d);
	CHECK(d.n_nets == 0 && d.n_ports == 0 && d.n_fdb == 0);
	desired_done(&d);
	replica_done(&r);
}

TEST(desired_parse_mac_strict)
{
	uint8_t m[6];

	CHECK(desired_parse_mac("fa:16:3e:aa:bb:cc", m) == 0 && m[0] == 0xfa && m[5] == 0xcc);
	CHECK(desired_parse_mac("fa:16:3e:aa:bb", m) == -EINVAL);
	CHECK(desired_parse_mac("fa:16:3e:aa:bb:cg", m) == -EINVAL);
	CHECK(desired_parse_mac("fa-16-3e-aa-bb-cc", m) == -EINVAL);
	CHECK(desired_parse_mac(NULL, m) == -EINVAL);
}

TEST(port_index_stable_and_reused)
{
	struct port_index pi = {0};
	struct desired d = {0};
	struct d_port ports[3] = {{.tap = "tapa"}, {.tap = "tapb"}, {.tap = "tapc"}};

	d.ports = ports;
	d.n_ports = 2;
	port_index_sync(&pi, &d);
	CHECK(port_index_get(&pi, "tapa") == 1 && port_index_get(&pi, "tapb") == 2);
	/* tapa leaves, tapc comes: tapb keeps its index, tapc reuses 1. */
	d.ports = &ports[1];
	d.n_ports = 2;
	port_index_sync(&pi, &d);
	CHECK(port_index_get(&pi, "tapa") == 0);
	CHECK(port_index_get(&pi, "tapb") == 2 && port_index_get(&pi, "tapc") == 1);
	port_index_done(&pi);
}

TEST(secgroups_input_from_model)
{
	static const char *const lines[] = {
		"{\"op\":\"snapshot_begin\",\"revision\":1}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"network\",\"id\":\"n1\",\"object\":"
		"{\"id\":\"n1\",\"provider:network_type\":\"vxlan\",\"provider:segmentation_id\":7,"
		"\"mtu\":1450}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"security_group\",\"id\":\"g1\","
		"\"object\":{\"id\":\"g1\",\"security_group_rules\":[{\"direction\":\"ingress\","
		"\"ethertype\":\"IPv4\",\"protocol\":\"tcp\",\"port_range_min\":22,"
		"\"port_range_max\":22,\"remote_ip_prefix\":null,\"remote_group_id\":null},"
		"{\"direction\":\"ingress\",\"ethertype\":\"IPv4\",\"protocol\":null,"
		"\"port_range_min\":null,\"port_range_max\":null,\"remote_ip_prefix\":null,"
		"\"remote_group_id\":\"g1\"}]}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p1\",\"object\":{"
		"\"id\":\"p1\",\"network_id\":\"n1\",\"binding:host_id\":\"h\",\"device_owner\":"
		"\"\","
		"\"mac_address\":\"fa:16:3e:00:00:01\",\"port_security_enabled\":true,"
		"\"admin_state_up\":true,\"security_groups\":[\"g1\"],\"allowed_address_pairs\":"
		"[{\"ip_address\":\"10.9.0.0/24\",\"mac_address\":\"fa:16:3e:00:00:09\"}],"
		"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.5\"}]}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p2\",\"object\":{"
		"\"id\":\"p2\",\"network_id\":\"n1\",\"binding:host_id\":\"other\","
		"\"mac_address\":\"fa:16:3e:00:00:02\",\"security_groups\":[\"g1\"],"
		"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.6\"}]}}",
		"{\"op\":\"snapshot_end\",\"revision\":1}",
	};
	struct replica r;
	struct desired d;
	struct port_index pi = {0};
	struct nft_input in;

	replica_init(&r);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		REQUIRE(apply(&r, lines[i]) >= 0);
	desired_compute(&r, "h", 1, false, &d);
	port_index_sync(&pi, &d);
	secgroups_input(&r, &d, &pi, &in);
	REQUIRE(in.n_ports == 1 && in.n_rules == 2 && in.n_groups == 1 && in.n_zones == 1);
	CHECK(in.ports[0].idx == 1 && in.ports[0].port_security && in.ports[0].n_sgs == 1);
	CHECK(in.ports[0].n_pairs == 1 && in.ports[0].pairs[0].cidr.len == 24);
	CHECK(in.rules[0].ingress && in.rules[0].pmin == 22 &&
	      strcmp(in.rules[0].proto, "tcp") == 0);
	CHECK(strcmp(in.rules[1].remote_group, "g1") == 0 && in.rules[1].pmin == -1);
	/* Members of g1 on every node, the remote one included, with their
	 * address pairs (as Neutron counts them). */
	REQUIRE(in.groups[0].n_ips == 3);
	CHECK(in.groups[0].ips[0].addr == 0x0a000005 && in.groups[0].ips[0].len == 32);
	CHECK(in.groups[0].ips[1].addr == 0x0a090000 && in.groups[0].ips[1].len == 24);
	CHECK(in.groups[0].ips[2].addr == 0x0a000006 && in.groups[0].ips[2].len == 32);
	CHECK(in.zones[0].zone == 7);
	secgroups_input_done(&in);
	port_index_done(&pi);
	desired_done(&d);
	replica_done(&r);
}

TEST(desired_centralized_dhcp)
{
	static const char *const lines[] = {
		"{\"op\":\"snapshot_begin\",\"revision\":1}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"agent\",\"id\":\"a1\",\"object\":"
		"{\"host\":\"compute-1\",\"configurations\":{\"mode\":\"compute\","
		"\"tunnel_address\":\"100.127.0.11\"}}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"agent\",\"id\":\"a2\",\"object\":"
		"{\"host\":\"network-1\",\"configurations\":{\"mode\":\"network\","
		"\"tunnel_address\":\"100.127.0.13\"}}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"network\",\"id\":\"n1\",\"object\":"
		"{\"id\":\"n1\",\"provider:network_type\":\"vxlan\",\"provider:segmentation_id\":9,"
		"\"mtu\":1450,\"lepton:dhcp\":\"centralized\"}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"subnet\",\"id\":\"s1\",\"object\":{"
		"\"id\":\"s1\",\"cidr\":\"10.7.0.0/24\",\"gateway_ip\":\"10.7.0.1\","
		"\"enable_dhcp\":true}}",
		"{\"op\":\"snapshot\",\"revision\":1,\"type\":\"port\",\"id\":\"p1\",\"object\":{"
		"\"id\":\"p1\",\"network_id\":\"n1\",\"binding:host_id\":\"compute-1\","
		"\"mac_address\":\"fa:16:3e:00:00:01\",\"admin_state_up\":true,"
		"\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.7.0.5\"}]}}",
		"{\"op\":\"snapshot_end\",\"revision\":1}",
	};
	const uint8_t mac[6] = {0xfa, 0x16, 0x3e, 0, 0, 1};
	struct replica r;
	struct desired d;

	replica_init(&r);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		REQUIRE(apply(&r, lines[i]) >= 0);
	/* The compute node bridges DHCP and floods to the network node. */
	desired_compute(&r, "compute-1", 0x647f000b, false, &d);
	REQUIRE(d.n_ports == 1 && d.n_nets == 1);
	CHECK(d.ports[0].dhcp_central && !d.ports[0].dhcp.enabled);
	CHECK(d.nets[0].central_dhcp && d.n_central == 0);
	CHECK(d.n_fdb == 2 && d.fdb[0].master && d.fdb[1].dst == 0x647f000d);
	desired_done(&d);
	/* The network node has the network, no local port, and serves it. */
	desired_compute(&r, "network-1", 0x647f000d, true, &d);
	CHECK(d.n_ports == 0 && d.n_nets == 1 && d.n_central == 1);
	CHECK(desired_central_port(&d, d.nets[0].bridge, mac) != NULL);
	CHECK(d.central[0].dhcp.enabled && d.central[0].dhcp.ip == 0x0a070005);
	desired_done(&d);
	/* A compute node with no port on it has nothing of it. */
	desired_compute(&r, "compute-2", 0x647f000c, false, &d);
	CHECK(d.n_central == 0 && d.n_nets == 0);
	desired_done(&d);
	replica_done(&r);
}

TEST(desired_dhcp_names_and_extra_options)
{
	struct replica r;
	struct desired d;

	replica_init(&r);
	for (size_t i = 0; i < sizeof(model_lines) / sizeof(model_lines[0]); i++)
		REQUIRE(apply(&r, model_lines[i]) >= 0);
	REQUIRE(apply(&r, "{\"op\":\"update\",\"revision\":2,\"type\":\"network\",\"id\":"
			  "\"0123456789abcdef-net\",\"object\":{\"id\":\"0123456789abcdef-net\","
			  "\"provider:network_type\":\"vxlan\",\"provider:segmentation_id\":1001,"
			  "\"mtu\":1450,\"dns_domain\":\"example.org.\"}}") == 1);
	REQUIRE(apply(&r, "{\"op\":\"update\",\"revision\":3,\"type\":\"port\",\"id\":"
			  "\"p-local-1\",\"object\":{\"id\":\"p-local-1\",\"network_id\":"
			  "\"0123456789abcdef-net\",\"binding:host_id\":\"compute-1\","
			  "\"device_owner\":\"compute:nova\",\"mac_address\":\"fa:16:3e:00:00:01\","
			  "\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.5\"}],"
			  "\"dns_name\":\"web-1.example.org.\",\"extra_dhcp_opts\":["
			  "{\"opt_name\":\"bootfile-name\",\"opt_value\":\"pxelinux.0\","
			  "\"ip_version\":4},"
			  "{\"opt_name\":\"tftp-server\",\"opt_value\":\"2001:db8::1\","
			  "\"ip_version\":6},"
			  "{\"opt_name\":\"ntp-server\",\"opt_value\":\"not an address\","
			  "\"ip_version\":4},"
			  "{\"opt_name\":\"server-ip-address\",\"opt_value\":\"192.0.2.45\","
			  "\"ip_version\":4}]}}") == 1);
	desired_compute(&r, "compute-1", 0x647f000b, false, &d);
	REQUIRE(d.n_ports == 1);
	/* The host name is dns_name's first label; the domain the network's,
	 * without its final dot. */
	CHECK_STREQ(d.ports[0].dhcp.hostname, "web-1");
	CHECK_STREQ(d.ports[0].dhcp.domain, "example.org");
	/* IPv4 options that encode; the IPv6 one and the bad value left out. */
	REQUIRE(d.ports[0].dhcp.n_extra == 2);
	CHECK(d.ports[0].dhcp.extra[0].code == 67 && d.ports[0].dhcp.extra[0].size == 10);
	CHECK(d.ports[0].dhcp.extra[1].code == DHCP_EXTRA_NEXT_SERVER);
	desired_done(&d);
	replica_done(&r);
}
