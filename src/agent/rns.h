/* Router namespaces in the kernel: named network namespaces (bind mounts
 * under /run/netns, as iproute2 makes them, so `ip netns exec` works and
 * they outlive the agent), our netlink socket inside each, the plan of
 * routers.h applied there, the namespace's nftables table, gratuitous ARP
 * for Floating IPs that arrive. */
#pragma once

#include <stdbool.h>
#include "agent/routers.h"

struct rns_set;
struct rtnl;

/* node_nl: the node's own rtnetlink socket (the node ends of legs). */
struct rns_set *rns_set_new(struct rtnl *node_nl);
void rns_set_free(struct rns_set *s);

/* Brings every router namespace whose name starts with prefix+"qrouter-" or
 * prefix+"snat-" to the desired state: creates what is missing (with its
 * sysctls), applies each namespace's plan and nftables table, deletes the
 * namespaces no longer wanted. Returns the number of ops applied, or the
 * first error (after carrying on with the rest). */
/* full: look at every namespace; otherwise a namespace whose desired state
 * is the same as at its last successful pass is skipped (feed-driven passes
 * then cost what changed, not what exists; the periodic pass repairs
 * drift). */
int rns_sync(struct rns_set *s, const char *prefix, const struct d_routers *want, bool full,
	     size_t *ret_ops);
