/* BGP announcements of a node (DESIGN.md, "Abstracted external network"):
 * the /32 and /128 routes the node's BIRD exports to its rack's upstream
 * router.
 *
 * The agent writes them into a dedicated routing table of the node's
 * namespace (our protocol number, one link route per address on the node's
 * interface on its external segment); BIRD learns that table (protocol
 * kernel, learn) and announces it with the node's own address as next hop.
 * The same table forwards: a rule sends lookups there first, so the traffic
 * the upstream hands to the node for one of these addresses goes out on the
 * segment, where the router namespace that holds the address answers ARP.
 *
 * What is announced comes from the desired router namespaces, never from
 * ports: each Floating IP of this node's VMs (fg- legs), each Floating IP
 * of a legacy router hosted here (qg- legs), each distributed-SNAT gateway
 * address this node owns: the /32s the router namespaces hold and mark
 * `announce`. (Legacy and centralized SNAT gateway addresses are held with
 * their subnet's prefix, on-link at their segment's upstream: not here.)
 * A tenant's IPv4 fixed IP or allowed address pair never reaches the table
 * (those live on qr- legs, never marked announce).
 *
 * IPv6 north-south has no NAT (issue 14): with the node's own IPv6 address
 * on the segment (nexthop6), the IPv6 table holds a /128 for each global
 * address of the VMs whose router's external leg here is BGP's: the
 * addresses that leg answers neighbour solicitations for (proxy entries:
 * this node's VMs on a distributed router; every VM of a legacy router on
 * its network node). They follow a VM that moves, and go with its port.
 * The pure part (announce_want, announce_want6, announce_diff,
 * announce_diff6) is unit-tested; announce_sync is the thin kernel
 * layer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/routers.h"
#include "nl/rtnl.h"

#define ANNOUNCE_TABLE	   76 /* 'L', as RTNL_PROTO */
#define ANNOUNCE_RULE_PRIO 76

struct announce_cfg {
	uint32_t table;	    /* 0: no announcements (ARP ownership only) */
	uint32_t rule_prio; /* of the rule "lookup table" (before main) */
	const char *dev;    /* the node's interface on its external segment */
	uint32_t nexthop;   /* the node's address there (BIRD's next hop) */
	/* The node's IPv6 address there, next hop of its routers' IPv6; all
	 * zero: no IPv6 announcements (nor rule, nor table). */
	uint8_t nexthop6[16];
};

/* An IPv6 address, network order. */
struct announce_ip6 {
	uint8_t a[16];
};

/* The addresses the node's router namespaces hold and announce (addresses
 * marked announce, /32), sorted, each once. Returns how many; *ret is
 * malloc'ed (free it). Pure. */
size_t announce_want(const struct d_routers *rs, uint32_t **ret);
/* The IPv6 addresses the node's BGP router legs answer for (proxy
 * neighbour entries), sorted, each once. Returns how many; *ret is
 * malloc'ed. Pure. */
size_t announce_want6(const struct d_routers *rs, struct announce_ip6 **ret);

/* The changes that turn `have` (our routes found in the table) into link
 * routes of `want` (sorted, unique) on oif: routes to add and routes to
 * delete (a route of ours on another interface, or a duplicate, goes and
 * comes back on oif). Pure. */
struct announce_diff {
	uint32_t *add;
	size_t n_add;
	struct rtnl_route *del;
	size_t n_del;
};

void announce_diff(const uint32_t *want, size_t n_want, const struct rtnl_route *have,
		   size_t n_have, int oif, struct announce_diff *out);
void announce_diff_done(struct announce_diff *d);

/* The same for IPv6 (have: IPv6 routes, dst6 and gw6; /128 link routes). */
struct announce_diff6 {
	struct announce_ip6 *add;
	size_t n_add;
	struct rtnl_route *del;
	size_t n_del;
};

void announce_diff6(const struct announce_ip6 *want, size_t n_want, const struct rtnl_route *have,
		    size_t n_have, int oif, struct announce_diff6 *out);
void announce_diff6_done(struct announce_diff6 *d);

/* Brings the node's table to the announcements of rs, and its rule in
 * place (IPv4; IPv6 too with nexthop6). Returns the number of routes and rules changed, or a
 * negative errno (the first failure; the rest is still tried). */
int announce_sync(struct rtnl *nl, const struct announce_cfg *cfg, const struct d_routers *rs);
