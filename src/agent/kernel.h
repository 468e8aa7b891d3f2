/* The node's kernel, through src/nl, src/nft and rns.c: struct kernel_ops
 * for the reconciler (dumps of the node's links, FDB and neighbour entries
 * and of our router namespaces; the ops of a plan) and a
 * link-event subscription so that a tap appearing or vanishing wakes the
 * agent at once (no polling loop). */
#pragma once

#include "agent/reconcile.h"

struct kernel;

/* tunnel_dev: the underlay device VXLAN devices send through; tunnel_ip: the
 * node's address on it; netns_prefix: router namespace names start with it. */
int kernel_new(const char *tunnel_dev, uint32_t tunnel_ip, const char *netns_prefix,
	       struct kernel **ret);
void kernel_free(struct kernel *k);
/* The reconciler's view of it. */
struct kernel_ops kernel_ops(struct kernel *k);
/* An fd that is readable when links or neighbours changed; kernel_events()
 * drains it and returns how many relevant events it read (at least 1 when
 * events were lost: the socket overflowed), or -errno. */
int kernel_events_fd(struct kernel *k);
int kernel_events(struct kernel *k);
/* The node's rtnetlink socket (router namespaces make legs through it). */
struct rtnl *kernel_rtnl(struct kernel *k);
/* The ifindex of a device by name, or -ENODEV. */
int kernel_ifindex(struct kernel *k, const char *name);
/* Repeats of gratuitous ARPs that are due (rns_tick). */
int kernel_tick(struct kernel *k, uint64_t now_ms);
/* Connections tracked in one of our router namespaces (rns_flows). */
int kernel_ns_flows(struct kernel *k, const char *ns, uint64_t *ret);
