/* The desired kernel state of one node, computed from the model: a pure
 * function of (replica, host, tunnel address). Unit-tested without root.
 *
 * L2 (DESIGN.md section 3): every tenant network with a port bound to this
 * node gets a bridge brq<net-id[:11]> and a VXLAN device vxlan-<vni>
 * (learning off); each local port's tap<port-id[:11]> is enslaved to it; the
 * VXLAN device carries one FDB entry per remote port (MAC -> the remote
 * node's tunnel address) and one all-zero entry per remote node that has the
 * network (head-end replication only to those nodes); the bridge holds a
 * neighbour entry per known port address, so ARP for known ports is answered
 * on the node. Local ports also carry what DHCP must tell their VM. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "base/hmap.h"
#include "agent/replica.h"
#include "dhcp/extra.h"
#include "model/model.h"

#define D_IFNAMSIZ   16
#define D_UUID	     37
#define D_MAX_IPS    8
#define D_MAX_DNS    8
#define D_MAX_ROUTES 32

/* An IPv6 address the node answers neighbour solicitations for on a
 * network: a port's address or link-local address (router: a router
 * port's), or a port's IPv6 allowed address pair (a prefix: len < 128). */
struct d_nd {
	uint8_t ip6[16];
	uint8_t mac[6];
	bool router;
	uint8_t len;
};

struct d_network {
	char id[D_UUID];
	char bridge[D_IFNAMSIZ];
	char vxlan[D_IFNAMSIZ];
	uint32_t vni;
	uint32_t mtu;
	uint16_t zone;		    /* conntrack zone of the network on this node */
	bool central_dhcp;	    /* DHCP served by network nodes (lepton:dhcp centralized) */
	bool filtered;		    /* a local port has port security: the bridge's IP
				     * packets go through netfilter (security groups) */
	char phys[D_IFNAMSIZ];	    /* provider network: the node's interface (flat) or
				     * its VLAN device <iface>.<vid>; no VXLAN */
	char phys_base[D_IFNAMSIZ]; /* VLAN: the node's interface */
	uint16_t vlan;
	struct d_nd *nd; /* VXLAN networks (owned: desired_done frees it) */
	size_t n_nd;
};

struct d_dhcp {
	uint32_t ip, netmask, router, server_id;
	uint32_t dns[D_MAX_DNS];
	size_t n_dns;
	struct {
		uint32_t dest;
		uint8_t prefixlen;
		uint32_t gateway;
	} routes[D_MAX_ROUTES];
	size_t n_routes;
	uint16_t mtu;
	uint8_t server_mac[6];
	char hostname[64]; /* option 12: dns_name, else host-<address with dashes> */
	char domain[64];   /* option 15: the network's dns_domain, or "" */
	bool enabled;
	/* The port's extra DHCP options that encode (owned: desired_done
	 * frees them). */
	struct dhcp_extra_opt *extra;
	size_t n_extra;
};

/* What the node tells a port over IPv6, from its first IPv6 subnet that has
 * ipv6_ra_mode or ipv6_address_mode (addresses in network order). */
struct d_v6 {
	bool ra;	       /* send router advertisements (ipv6_ra_mode and a router port) */
	bool dhcp;	       /* answer DHCPv6 (enable_dhcp and a DHCPv6 address mode) */
	bool stateful;	       /* dhcpv6-stateful: the address in IA_NA */
	bool managed, other;   /* RA flags */
	bool autonomous;       /* SLAAC */
	bool default_router;   /* the subnet has a gateway */
	uint8_t router_mac[6]; /* the router port's MAC */
	uint8_t prefix[16];
	uint8_t prefix_len;
	uint8_t addr[16]; /* the port's address on that subnet */
	uint8_t dns[4][16];
	size_t n_dns;
};

struct d_port {
	char id[D_UUID];
	char network_id[D_UUID];
	char tap[D_IFNAMSIZ];
	char bridge[D_IFNAMSIZ];
	uint8_t mac[6];
	uint32_t ips[D_MAX_IPS];
	size_t n_ips;
	bool admin_up;
	bool port_security;
	bool dhcp_central; /* its network's DHCP is centralized: requests are bridged */
	struct d_dhcp dhcp;
	uint8_t ips6[D_MAX_IPS][16]; /* IPv6 addresses */
	size_t n_ips6;
	struct d_v6 v6;
};

/* On the VXLAN device: "self" entries (MAC -> remote tunnel address, and
 * the all-zero MAC for flooding) and "master" entries in the bridge's FDB
 * (MAC -> the VXLAN port, static), which the bridge's ARP suppression needs
 * to answer for remote ports. */
struct d_fdb {
	char dev[D_IFNAMSIZ];
	uint8_t mac[6];
	uint32_t dst; /* self entries */
	bool master;
	bool later; /* on a device made later in the pass (a router leg's node end):
		     * skipped while it is missing */
};

struct d_neigh {
	char dev[D_IFNAMSIZ];
	uint32_t ip;
	uint8_t mac[6];
};

struct desired {
	struct d_network *nets;
	size_t n_nets, cap_nets;
	struct d_port *ports;
	size_t n_ports;
	struct d_fdb *fdb;
	size_t n_fdb, cap_fdb;
	struct d_neigh *neigh;
	size_t n_neigh, cap_neigh;
	/* On a network node: the ports whose DHCP it serves, centralized. */
	struct d_port *central;
	size_t n_central;
	/* Router namespaces (routers.h), when the composer (node.h) made
	 * this desired state; owned by it. */
	struct d_routers *routers;
	/* Ports by tap, networks by bridge and VXLAN device names, made by
	 * desired_index() (desired_overlay() calls it); counts at that time,
	 * so that lookups scan when the arrays grew since. */
	struct hmap by_tap, by_dev;
	size_t indexed_ports, indexed_nets;
	/* Networks by id while they are added (keys in nets[]: made anew when
	 * nets moved). */
	struct hmap by_net_id;
	const struct d_network *keyed_nets;
	size_t n_keyed_nets;
	/* Of what the L2 part (nets, ports, fdb, neigh, central) was made from
	 * (node.c): a pass whose stamp is the same takes it over. */
	uint64_t l2_stamp;
};

struct d_node {
	const char *host;
	uint32_t tunnel_ip;
	bool network_node;
	const char *ns_prefix; /* router namespace names start with it */
	json_t *physnets;      /* {physnet: interface} */
	uint32_t bgp_nexthop;  /* BGP mode: the node's address on its external segment */
	json_t *bgp_physnets;  /* BGP mode on these physical networks ({p: true}); NULL: all */
	const uint8_t *bgp_nexthop6; /* BGP mode, IPv6: the node's IPv6 address there, or NULL */
};

/* L2 of a node in two steps, so that the composer (node.h) can put the
 * networks that router legs need in between: desired_ports() fills *out
 * (zeroed first) with the node's ports and their networks; desired_overlay()
 * adds the FDB and neighbour entries of every network in *out. Never fail
 * on model content: documents that do not make sense are skipped.
 * network_node: a node in `network` mode, which serves centralized DHCP for
 * every network that asks for it (classic Neutron, for comparison). */
void desired_ports(struct model *m, const struct d_node *node, struct desired *out);
void desired_overlay(struct model *m, const struct d_node *node, struct desired *out);
/* Both, without routers. */
void desired_compute(struct replica *r, const char *host, uint32_t tunnel_ip, bool network_node,
		     struct desired *out);
void desired_index(struct desired *d);
/* A network by its bridge's (vxlan false) or VXLAN device's name. */
const struct d_network *desired_net_by_dev(const struct desired *d, const char *name, bool vxlan);
/* Frees what desired_ports() and desired_overlay() made (not routers). */
void desired_done(struct desired *d);
/* Adds a network (once); phys: the node's interface of the network's
 * physical network (flat or VLAN provider networks), "" for VXLAN. */
void desired_add_network(struct desired *out, const struct m_network *net, const char *phys);

/* Names, exposed for the reconciler and tests. */
void desired_bridge_name(const char *network_id, char buf[static D_IFNAMSIZ]);
void desired_tap_name(const char *port_id, char buf[static D_IFNAMSIZ]);
void desired_vxlan_name(uint32_t vni, char buf[static D_IFNAMSIZ]);
/* "aa:bb:cc:dd:ee:ff" -> bytes; -EINVAL if malformed. */
int desired_parse_mac(const char *s, uint8_t mac[static 6]);
/* The entry of a network for an IPv6 address (an address's own entry
 * before an allowed address pair's prefix holding it), or NULL. */
const struct d_nd *desired_nd(const struct d_network *n, const uint8_t ip6[16]);
const struct d_port *desired_port_by_mac(const struct desired *d, const uint8_t mac[static 6]);
const struct d_port *desired_port_by_tap(const struct desired *d, const char *tap);
/* A centrally served port of the network on this bridge, by MAC. */
const struct d_port *desired_central_port(const struct desired *d, const char *bridge,
					  const uint8_t mac[static 6]);
