/* nftables state of a node, built from the model (pure) and diffed into one
 * nft transaction (pure). Security groups, port security and conntrack zones
 * live in two tables of ours, whose chains do not grow with the ports: a
 * port is only elements of fixed sets and maps, so adding, changing or
 * removing one is a few element updates, and libnftables, which reads every
 * chain of the namespace before each transaction, has little to read.
 *
 *  bridge lepton: a packet from one of our ports takes the port's mark
 *    (`port_mark`, one lookup by name): its index with the secured bit
 *    (0x10000) for a port with port security, the open bit (0x20000)
 *    alone for one without; a verdict map on those bits sends it on. Every
 *    port: DHCP server traffic and DHCP requests never bridged (the agent
 *    answers DHCP itself; `dhcp_local`), nor DHCPv6 and router
 *    solicitations (answered by the agent too), router advertisements and
 *    redirects dropped (one chain, reached by UDP and ICMPv6 only). A port
 *    with port security: anti-spoofing by ether type, by lookups keyed by
 *    the mark: `macs` (mark . MAC), `ip_src` and `ip_src_net` (mark . MAC .
 *    IPv4 address, in a hash set, or prefix, in an interval one: its own
 *    addresses, 0.0.0.0 for DHCP, its allowed address pairs), `arp_ips`
 *    (mark . sender prefix), `ip6_src` and `ip6_src_net` (mark . MAC . IPv6
 *    address or prefix: its own addresses, its link-local address, :: for
 *    duplicate address detection, its IPv6 allowed address pairs); its
 *    multicast neighbour solicitations are not bridged (the agent answers
 *    those for the addresses it knows, and the port may use no other).
 *    Conntrack sees a packet only if it comes from a port with port
 *    security or goes to one's MAC (`tracked`) or to a group address: the
 *    rest is notrack (no rule would read its state).
 *    On the way out to a port with port security the packet takes the
 *    port's priority tag (`port_prio`: 4c45:<index>). (This kernel has no
 *    bridge-family conntrack, see DESIGN.md "Kernel facts"; nor can nft
 *    1.0.6 OR two registers, hence mark and priority.)
 *  Two ways to hook a port. Bridge mode is the above. Netdev mode (kernels
 *    that hook netdev chains by device name, 6.16 on) has no bridge table,
 *    whose two chains every bridged frame of the namespace crossed (about
 *    3% of a filtered stream, 4% of an open one, here): the same sets and
 *    chains live in `netdev lepton`, and each port's tap has base chains
 *    of its own, in_<tap> (ingress: the mark and sec_in, or the guard
 *    alone) and out_<tap> (egress, port security only: a frame to a group
 *    address, copied to every port by the bridge, meets the port's ingress
 *    rules there, statelessly: <set>_gin and sg_<group>_gin, the groups'
 *    remote and address group sets kept in both tables); in_<tap> passes
 *    TCP from the port's own MAC and addresses on constants before sec_in.
 *    The tracked
 *    decision moves to inet raw prerouting (ether daddr, the mark, the
 *    bridges set), the ingress verdict is keyed by bridge and destination
 *    MAC (`ingress`: iifname . ether daddr; the priority tag is gone).
 *  inet lepton (reached through br_netfilter): a raw prerouting chain lets
 *    the node's own VXLAN packets (constants, first from the underlay
 *    device) and untracked ones go at once and sets the conntrack zone of
 *    the others from the bridge (one zone per network, so overlapping
 *    tenant addresses never share conntrack state); it and the output
 *    chain that lets the outgoing VXLAN packets go untracked are piece "t".
 *    One forward chain: established traffic passes; then the source port's
 *    egress verdict by verdict map on the mark, whose accept is a goto to
 *    `dest_in`, the destination port's ingress verdict by verdict map on the
 *    priority tag (the same verdict the base chain takes for a packet from
 *    a port without port security). A bridged packet of an established flow
 *    meets one rule here. Each verdict jumps to the chain of the port's
 *    set of security groups, shared by every port with the same set, which
 *    jumps to each group's chain and drops the rest (the ingress one clears
 *    the priority tag of a new packet first). Only a VM port's side is checked: traffic
 *    between router legs and the overlay is routed asymmetrically by
 *    distributed routers (a reply may cross a node's bridge that never saw
 *    the request), so conntrack state is judged only where a port's security
 *    groups apply. Established traffic passes; a port with port security
 *    drops what no rule allows. Each security group is one chain per
 *    direction, so changing a rule rewrites one chain; remote groups are
 *    sets of member addresses updated element by element (rg_ of IPv4,
 *    rg6_ of IPv6, each built only for rules of its family), address
 *    groups sets of their prefixes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/ip4.h"

/* Input: the parts of the model the rules need. */
struct nft_pair_in {
	uint8_t mac[6];
	struct ip4_cidr cidr;
};

/* An IPv6 prefix: 16 bytes, network order, host bits cleared; 128: one
 * address. */
struct nft_cidr6 {
	uint8_t addr[16];
	uint8_t len;
};

struct nft_pair6_in {
	uint8_t mac[6];
	struct nft_cidr6 cidr;
};

struct nft_port_in {
	char tap[16];
	char bridge[16]; /* its network's bridge (netdev mode: the ingress verdict's key) */
	uint16_t idx;	 /* 1..65535, stable while the port is on the node */
	uint8_t mac[6];
	uint32_t ips[8];
	size_t n_ips;
	uint8_t ips6[8][16]; /* IPv6, network order */
	size_t n_ips6;
	struct nft_pair_in pairs[16];
	size_t n_pairs;
	struct nft_pair6_in pairs6[16]; /* IPv6 allowed address pairs */
	size_t n_pairs6;
	bool port_security;
	bool dhcp_central; /* DHCP requests are bridged to a network node */
	char sgs[8][37];
	size_t n_sgs;
};

struct nft_rule_in {
	char sg_id[37];
	bool ingress;
	bool ipv6;
	char proto[16]; /* "" any, a name or a number */
	int pmin, pmax; /* -1 none */
	char remote_prefix[64];
	char remote_group[37];
	char remote_address_group[37];
};

struct nft_zone_in {
	char bridge[16];
	uint16_t zone;
};

/* A remote group: its members' IPv4 addresses (/32) and their address
 * pairs' prefixes, as Neutron counts them, and the same of IPv6 (/128s and
 * IPv6 pairs); overlaps allowed. */
struct nft_group_in {
	char sg_id[37];
	struct ip4_cidr *ips;
	size_t n_ips;
	struct nft_cidr6 *ips6;
	size_t n_ips6;
};

/* An address group a rule may name: its IPv4 prefixes, none inside
 * another, and its IPv6 ones (they may nest). */
struct nft_agroup_in {
	char id[37];
	const struct ip4_cidr *prefixes;
	size_t n_prefixes;
	const struct nft_cidr6 *prefixes6;
	size_t n_prefixes6;
};

struct nft_input {
	struct nft_port_in *ports;
	size_t n_ports;
	struct nft_rule_in *rules;
	size_t n_rules;
	struct nft_zone_in *zones;
	size_t n_zones;
	struct nft_group_in *groups;
	size_t n_groups;
	struct nft_agroup_in *agroups;
	size_t n_agroups;
	/* The node's VXLAN endpoint (address, UDP port; host order): its
	 * encapsulated packets skip conntrack. 0: they are tracked. */
	uint32_t tunnel_ip;
	uint16_t tunnel_port;
	char tunnel_dev[16]; /* the underlay device its packets arrive on ("": unknown) */
	/* A stamp of ports[] (0: none): a build whose previous state was made
	 * from the same stamp takes its ports' pieces over without looking. */
	uint64_t ports_stamp;
	/* The ports' hooks are netdev chains of their own taps, not bridge
	 * chains (see "Two ways to hook a port" above). */
	bool netdev;
};

/* Output: the state is a list of pieces, each built from one part of the
 * input (the zones, a port, the rules of a security group in use, the
 * members of a remote group) and holding that part's chains, the elements
 * it puts in the fixed maps and, for a remote group, its set. A piece built
 * from the same input as a piece of the previous state is that piece,
 * shared (reference counted): building from the previous state rebuilds
 * only what changed, and the diff passes shared pieces without looking into
 * them. Inputs are compared byte for byte: give zero-initialised structs. */
struct nft_chain {
	const char *table; /* "bridge lepton", "netdev lepton" or "inet lepton" */
	char *name;
	char *rules; /* one rule per line */
	char *hook;  /* a base chain's "type ... policy ...;", or NULL */
};

struct nft_elem {
	const char *table;
	const char *coll; /* a fixed map's name, or the piece's own set's */
	char *key;
	char *value; /* NULL for sets */
};

struct nft_piece {
	unsigned refs;
	char *key; /* "z", "t", "p:<tap>", "g:<group>", "s:<group>", "a:<address group>" */
	void *in;  /* what it was built from */
	size_t in_len;
	char *set;	  /* the name of a set this piece declares (inet lepton), or NULL */
	bool set_netdev;  /* and declares in netdev lepton too */
	const char *decl; /* its declaration */
	struct nft_chain *chains;
	size_t n_chains;
	struct nft_elem *elems;
	size_t n_elems;
	uint64_t hash; /* of everything above but refs and in */
};

struct nft_state {
	struct nft_piece **pieces;
	size_t n_pieces;
	uint64_t ports_stamp; /* of the input it was built from */
	bool netdev;	      /* the mode of the input it was built from */
};

/* Builds the state; `prev` (NULL: none) lends the pieces whose input did
 * not change. Input that cannot be expressed (an unknown protocol name...)
 * is skipped, never fails. */
void nft_build(const struct nft_input *in, const struct nft_state *prev, struct nft_state *out);
void nft_state_done(struct nft_state *st);
/* The rules of a chain of the state, or NULL. */
const char *nft_state_chain(const struct nft_state *st, const char *name);

/* A hash of everything the state holds (what nft_script_full would write),
 * without writing the script. */
uint64_t nft_state_hash(const struct nft_state *st);
/* The whole ruleset as one script that atomically replaces our tables. */
char *nft_script_full(const struct nft_state *st);
/* The script that turns `old` into `new`, touching only what changed (an
 * empty string when nothing did). Caller frees. */
char *nft_script_diff(const struct nft_state *old, const struct nft_state *new);
