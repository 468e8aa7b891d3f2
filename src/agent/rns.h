/* Router namespaces in the kernel, the namespace half of the real kernel
 * provider (kernel.c dispatches to it): named network namespaces (bind
 * mounts under /run/netns, as iproute2 makes them, so `ip netns exec` works
 * and they outlive the agent), our netlink socket inside each, the ops of a
 * plan that name a namespace, dumps of a namespace's contents.
 *
 * A namespace is ours when its loopback is in our link group (RTNL_GROUP):
 * OP_NS_ADD puts it there, and a namespace with one of our names but
 * without the marker is reported as not ours and never changed or deleted
 * (rns_exec answers -EPERM). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "agent/reconcile.h"

struct rns_set;
struct rtnl;

/* node_nl: the node's own rtnetlink socket (the node ends of legs);
 * prefix: our namespaces are prefix + "qrouter-..." or prefix + "snat-...". */
struct rns_set *rns_set_new(struct rtnl *node_nl, const char *prefix);
void rns_set_free(struct rns_set *s);

/* The namespaces named like ours, with their markers (caller frees *ret). */
int rns_list(struct rns_set *s, struct ns_observed **ret, size_t *ret_n);
/* The contents of one and its nftables table's stamp. */
int rns_dump(struct rns_set *s, const char *name, struct r_observed *ret, char stamp[static 64]);
/* How many connections conntrack tracks in one of ours (its
 * nf_conntrack_count). */
int rns_flows(struct rns_set *s, const char *name, uint64_t *ret);
/* One op of a plan whose op->ns is set (and OP_NS_ADD / OP_NS_DEL). */
int rns_exec(struct rns_set *s, const struct op *op);
/* Sends the repeats of gratuitous ARPs that are due (see rns.c); returns how
 * many went. Call it a few times a second. */
int rns_tick(struct rns_set *s, uint64_t now_ms);
