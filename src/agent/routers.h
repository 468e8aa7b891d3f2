/* Routers on a node (DESIGN.md section 3): the desired contents of each
 * router namespace, computed from the model (pure), and the plan that turns
 * what a namespace holds into it (pure). The kernel work is in kernel.c.
 *
 * qrouter-<id>: one leg qr-<port> per interface, with the subnet's gateway
 *   address and the router port's MAC (the same on every node for a
 *   distributed router: anycast gateway), static neighbours for the
 *   subnet's ports.
 *   - legacy router (on its network node only): a leg qg-<port> on the
 *     external network with the gateway address, every Floating IP of the
 *     router (DNAT in, SNAT out) and SNAT for the rest (enable_snat).
 *   - distributed router (on every node with a VM on one of its subnets):
 *     east-west is routed here. The Floating IPs of this node's VMs live on
 *     a leg fg-<router> on the external network with a MAC of this node and
 *     no other address (no external address is spent on the node); policy
 *     routing sends their traffic out there, and (centralized SNAT) the
 *     rest of each subnet to the router's SNAT port on the network node.
 * snat-<id> (distributed router, centralized SNAT, on its network node):
 *   legs sg-<port> with the SNAT ports' addresses, qg-<port> with the
 *   gateway address, SNAT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/desired.h"
#include "agent/replica.h"
#include "base/hmap.h"

#define R_NSNAMSIZ 128

/* Routing tables and rule priorities of ours inside a router namespace. */
#define R_TABLE_FIP  16
#define R_TABLE_SNAT 100 /* + interface index */
#define R_PRIO_MAIN  50	 /* main table without its default route */
#define R_PRIO_FIP                                                                                 \
	100 /* every Floating IP: one priority, so that one FIP changes only its own rule */
#define R_PRIO_DSNAT	 200 /* distributed SNAT: the router's subnets, after the Floating IPs */
#define R_PRIO_SNAT	 20000
#define R_PRIO_OURS_LAST 29999

/* Every fg- leg holds this address, scope host (never a source for another
 * host, never in an ARP answer but for itself): the kernel drops every
 * route through a link whose last IPv4 address goes, so without it the
 * owner's gateway address or the last Floating IP leaving the leg would
 * take the leg's default route with it until the next op put it back. */
#define R_FG_ANCHOR 0xa9fefe01u /* 169.254.254.1 */

struct r_leg {
	char name[D_IFNAMSIZ];	 /* inside the namespace */
	char peer[D_IFNAMSIZ];	 /* on the node, in the bridge */
	char bridge[D_IFNAMSIZ]; /* the network's bridge on the node */
	char port_id[D_UUID];	 /* the router port it plugs ("" for fg-) */
	uint8_t mac[6];
	uint32_t mtu;
	char net_id[D_UUID];   /* the network it plugs into, and the node's */
	char phys[D_IFNAMSIZ]; /* physical interface for it ("" for VXLAN) */
};

struct r_addr {
	char dev[D_IFNAMSIZ];
	uint32_t ip;
	uint8_t prefixlen;
	uint8_t scope; /* RT_SCOPE_UNIVERSE (0), or RT_SCOPE_HOST: the fg- anchor */
	bool announce; /* a Floating IP: gratuitous ARP when it arrives */
	bool v6;       /* IPv6: ip6 (network order) instead of ip */
	uint8_t ip6[16];
};

struct r_route {
	uint32_t table;
	uint32_t dst;
	uint8_t prefixlen;
	uint32_t gateway;
	char dev[D_IFNAMSIZ];
	bool onlink;
	bool v6; /* IPv6: dst6 and gw6 (all zero: none) instead of dst and gateway */
	uint8_t dst6[16], gw6[16];
};

struct r_rule {
	uint32_t priority;
	uint32_t src;
	uint8_t src_len;
	uint32_t table;
	int32_t suppress_prefixlen; /* -1 none */
};

struct r_neigh {
	char dev[D_IFNAMSIZ];
	uint32_t ip;
	uint8_t mac[6];
	bool v6; /* IPv6: ip6 instead of ip */
	uint8_t ip6[16];
	bool proxy; /* IPv6: a proxy entry (the leg answers for ip6; no MAC) */
};

struct d_router {
	char id[D_UUID];
	char ns[R_NSNAMSIZ];
	struct r_leg *legs;
	size_t n_legs;
	struct r_addr *addrs;
	size_t n_addrs;
	struct r_route *routes;
	size_t n_routes;
	struct r_rule *rules;
	size_t n_rules;
	struct r_neigh *neighs;
	size_t n_neighs;
	char *nft;	     /* the namespace's nftables table (NAT), a whole script */
	uint32_t snat_ports; /* distributed SNAT: this node's ports (ACTIVE blocks), or 0 */
	bool bgp;	     /* its external addresses are announced over BGP, not ARP */
	uint64_t hash;	     /* routers_hash(), taken once when it was computed */
};

/* What one router of the model gave (0, 1 or 2 namespaces: r[first..first+n)),
 * and what its computation read from the model: when none of that changed,
 * the next computation takes the namespaces over instead of computing them
 * again (cost follows the change). */
struct r_unit {
	char router[D_UUID];
	unsigned kinds; /* which namespaces were asked for (routers.c) */
	size_t first, n;
	struct m_deps deps;
};

struct d_routers {
	struct d_router *r;
	size_t n;
	struct r_unit *units;
	size_t n_units;
	size_t reused; /* units taken over from the previous computation */
};

struct r_node {
	const char *host;
	const char *ns_prefix; /* prepended to namespace names ("" in production) */
	json_t *physnets;      /* {physnet: interface} */
	/* BGP mode (announce.h): the node's own address on its external
	 * segment, or 0 (ARP ownership). With it, fg- legs send through the
	 * node (default route via this address), whatever segment the
	 * router's gateway address came from, and plug into the node's
	 * external interface even when the network's primary physical
	 * network is another rack's. */
	uint32_t bgp_nexthop;
	/* ... on these physical networks only ({physnet: true}); NULL: on
	 * all of them. An external network of another physical network keeps
	 * ARP ownership (the mode is per segment: DESIGN.md). */
	json_t *bgp_physnets;
	/* The node's IPv6 address on its BGP segment, or NULL: with it, BGP
	 * external legs send IPv6 through the node too (announce.h). */
	const uint8_t *bgp_nexthop6;
};

/* Computes the node's router namespaces, and adds to *l2 (unless NULL) the
 * networks their legs need (tenant networks; flat external networks on the
 * node's physical interface). prev (or NULL) is the previous computation for the same node:
 * the namespaces of routers whose inputs did not change are moved from it
 * into *out (prev keeps what is left, for routers_done). */
void routers_compute(struct model *m, const struct r_node *node, struct desired *l2,
		     struct d_routers *prev, struct d_routers *out);
void routers_done(struct d_routers *rs);
const struct d_router *routers_find(const struct d_routers *rs, const char *ns);

/* The router namespaces last brought to their desired state, each with the
 * hash of that state: a pass driven by the feed reads only the others. */
struct ns_marks {
	struct hmap by_ns; /* namespace -> struct ns_mark */
};

void ns_marks_done(struct ns_marks *m);
/* Whether d's namespace was brought to exactly d's state. */
bool ns_marks_match(const struct ns_marks *m, const struct d_router *d);
/* Marks namespace ns as brought to the state of that hash. */
void ns_marks_set(struct ns_marks *m, const char *ns, uint64_t hash);
/* The mark of ns in `from`, copied to `to` (nothing when it has none). */
void ns_marks_copy(struct ns_marks *to, const struct ns_marks *from, const char *ns);
/* A hash of a namespace's whole desired state (its structs are zeroed
 * before they are filled, so padding is stable). */
uint64_t routers_hash(const struct d_router *d);
/* Whether a router namespace that tracks `flows` connections runs short of
 * distributed SNAT ports (3/4 of its blocks' ports: it asks for one more
 * block in time). Conservative: every tracked flow counts, though a port
 * serves one flow per destination address and port. */
bool routers_snat_short(const struct d_router *d, uint64_t flows);
/* A router's leg by its name inside the namespace, or NULL. */
const struct r_leg *routers_leg(const struct d_router *d, const char *name);

/* Observed contents of one router namespace. */
struct r_link {
	int ifindex;
	char name[D_IFNAMSIZ];
	uint8_t mac[6];
	uint32_t mtu;
	uint32_t group; /* link group (the namespace's marker is lo's) */
	bool up;
};

struct r_observed {
	struct r_link *links;
	size_t n_links;
	struct r_addr *addrs; /* dev by name */
	size_t n_addrs;
	struct r_route *routes; /* ours only (our protocol) */
	size_t n_routes;
	struct r_rule *rules; /* our priorities only */
	size_t n_rules;
	struct r_neigh *neighs; /* permanent ones */
	size_t n_neighs;
};

void r_observed_done(struct r_observed *o);

/* The plan of one router namespace is part of the node's plan: see
 * reconcile_router() in reconcile.h. */
