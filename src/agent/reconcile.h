/* Reconciling the node's kernel state with the desired state, L2 and L3 in
 * one pipeline: observed state (netlink dumps of the node and of our router
 * namespaces) and desired state in, one ordered plan out (pure), then the
 * plan applied through a struct kernel_ops (real netlink and nftables in
 * kernel.c, or the in-memory fake of kernel_fake.c for tests).
 *
 * Order of a plan: the node's deletes (VXLAN, VLAN, bridges, taps let go),
 * its bridges and VXLAN devices, ports, FDB and neighbour entries; then per
 * router namespace: the namespace, its nftables table (before any address,
 * so that a Floating IP's DNAT is there before the address is), legs,
 * addresses, neighbours, routes, rules; last, the namespaces no longer
 * wanted.
 *
 * Only what is ours is touched: links in our link group (RTNL_GROUP),
 * namespaces whose loopback is in it, routes with our protocol, rules in
 * our priority range, FDB and neighbour entries on our devices, taps of our
 * ports enslaved to our bridges. An object with one of our names but
 * without the marker is left alone. Never a flush: an object that is right
 * is left alone, so reconciling live traffic loses nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/hmap.h"
#include "agent/desired.h"
#include "agent/routers.h"

/* Observed kernel objects. */
struct k_link {
	int ifindex;
	char name[D_IFNAMSIZ];
	char kind[16]; /* "bridge", "vxlan", "veth", "tun", "" */
	int master;    /* ifindex, 0 none */
	uint32_t mtu;
	bool up;
	bool ours;	/* in our link group */
	uint32_t vni;	/* vxlan */
	uint32_t local; /* vxlan */
	bool learning;	/* vxlan */
	bool nf_call;	/* bridge: netfilter on (nf_call_iptables, nf_call_ip6tables) */
	uint8_t mac[6];
};

struct k_fdb {
	int ifindex; /* the device (self) or bridge port (master) of the entry */
	uint8_t mac[6];
	uint32_t dst;
	bool master; /* in the bridge's FDB (NTF_MASTER), static */
};

struct k_neigh {
	int ifindex;
	uint32_t ip;
	uint8_t mac[6];
	bool permanent;
};

/* A router namespace of ours (by name prefix) as found on the node. */
struct ns_observed {
	char name[R_NSNAMSIZ];
	bool ours;	/* its loopback carries our marker */
	bool dumped;	/* contents below were read (else: left alone this pass) */
	char stamp[64]; /* comment of its nftables table, "" none */
	struct r_observed c;
};

struct observed {
	struct k_link *links;
	size_t n_links;
	struct k_fdb *fdb;
	size_t n_fdb;
	struct k_neigh *neigh;
	size_t n_neigh;
	struct ns_observed *ns;
	size_t n_ns;
	struct hmap by_name; /* links by name (observed_index): lookups in O(1) */
};

void observed_done(struct observed *o);
/* Indexes the links by name (observed_dump does it). observed_link()
 * falls back to a scan when the links changed since. */
void observed_index(struct observed *o);
const struct k_link *observed_link(const struct observed *o, const char *name);
struct ns_observed *observed_ns(const struct observed *o, const char *name);

enum op_kind {
	OP_BRIDGE_ADD, /* name, mtu */
	OP_VXLAN_ADD,  /* name, vni, mtu (local and underlay from the node) */
	OP_VLAN_ADD,   /* name, link (the node's interface), vni (the VLAN id), mtu */
	OP_LINK_DEL,   /* name */
	OP_LINK_SET,   /* name: master (a name, "" for none, "-" to leave it), up, mtu */
	OP_BRPORT_SET, /* name: learning, neigh_suppress */
	OP_BRIDGE_NF,  /* name (bridge): up = its netfilter switches on */
	OP_FDB_ADD,    /* name (vxlan), mac, dst */
	OP_FDB_DEL,    /* name, mac, dst */
	OP_NEIGH_SET,  /* name (bridge, or a leg in ns), ip, mac */
	OP_NEIGH_DEL,  /* name, ip */
	/* Router namespaces (op->ns). LINK_DEL, LINK_SET (master "-") and
	 * NEIGH_* apply there too. */
	OP_NS_ADD,    /* ns: made, marked, its sysctls set */
	OP_NS_DEL,    /* ns */
	OP_NFT_TABLE, /* ns: its table "ip lepton" replaced by nft, stamped */
	OP_LEG_ADD,   /* ns, leg: veth with its peer on the node, in its bridge */
	OP_ADDR_ADD,  /* ns, addr */
	OP_ADDR_DEL,  /* ns, addr */
	OP_ROUTE_ADD, /* ns, route */
	OP_ROUTE_DEL, /* ns, route */
	OP_RULE_ADD,  /* ns, rule */
	OP_RULE_DEL,  /* ns, rule */
	OP_GARP,      /* ns, name (leg), ip, mac: gratuitous ARP for an address that arrived */
};

struct op {
	enum op_kind kind;
	char ns[R_NSNAMSIZ]; /* "" the node itself */
	char name[D_IFNAMSIZ];
	char master[D_IFNAMSIZ];
	char link[D_IFNAMSIZ];
	uint32_t vni, mtu, ip, dst;
	uint8_t mac[6];
	bool up, learning, neigh_suppress;
	bool fdb_master; /* FDB ops: the bridge's FDB entry (static) */
	struct r_leg leg;
	struct r_addr addr;
	struct r_route route;
	struct r_rule rule;
	const char *nft; /* OP_NFT_TABLE: the table, borrowed from the desired state */
	char stamp[64];	 /* OP_NFT_TABLE: the comment that marks what was written */
};

struct plan {
	struct op *ops;
	size_t n_ops;
	size_t cap;
};

/* Appends a zeroed op (ns "" for the node). */
struct op *plan_push(struct plan *p, enum op_kind kind, const char *ns, const char *name);

/* The plan from observed to desired (pure). tunnel_ip: the node's VTEP.
 * Router namespaces observed without their contents (dumped false) are
 * left as they are: the caller dumps only those whose desired state
 * changed, so a pass costs what changed. */
void reconcile_plan(const struct desired *d, const struct observed *o, uint32_t tunnel_ip,
		    struct plan *out);
/* Appends the ops that bring one router namespace from have to want
 * (pure): deletes of what is not wanted, then adds, so that a namespace
 * already right gets no op at all. */
/* Only the router namespaces' part of reconcile_plan (steps 6 and 7),
 * appended to *out: for a pass where nothing at the node level can have
 * changed. */
void reconcile_routers(const struct desired *d, const struct observed *o, struct plan *out);
void reconcile_router(const struct d_router *want, const struct r_observed *have, struct plan *out);
void plan_done(struct plan *p);
/* One line per op, for logs and golden tests. Caller frees. */
char *plan_format(const struct plan *p);

/* The stamp of a router namespace's nftables table (a hash of its text). */
void reconcile_nft_stamp(const char *nft, char stamp[static 64]);

struct kernel_ops {
	void *userdata;
	/* The node's links, FDB and neighbour entries (unless namespaces_only),
	 * and the router namespaces whose names start with the node's prefix
	 * (names and markers only). */
	int (*dump)(void *userdata, bool namespaces_only, struct observed *ret);
	/* The contents of one router namespace (links, addresses, our routes,
	 * rules and permanent neighbours) and its table's stamp. */
	int (*dump_ns)(void *userdata, const char *ns, struct r_observed *ret,
		       char stamp[static 64]);
	int (*exec)(void *userdata, const struct op *op);
};

/* Runs the plan; an add that finds its object (EEXIST) and a delete that
 * does not (ENOENT, ENODEV, ESRCH, EADDRNOTAVAIL) count as success. Carries
 * on after a failure and returns the first error; ret_failed (NULL, or
 * n_ops entries) tells which ops failed. */
int plan_apply(const struct plan *p, const struct kernel_ops *ops, bool *ret_failed);
/* Dumps through ops: the node, then the contents of the namespaces for
 * which want_ns(name) says so. */
int observed_dump(const struct kernel_ops *ops, bool (*want_ns)(void *data, const char *name),
		  void *data, struct observed *ret);
/* The same without the node's links, FDB and neighbours: for a pass that
 * plans router namespaces only (reconcile_routers). */
int observed_dump_namespaces(const struct kernel_ops *ops,
			     bool (*want_ns)(void *data, const char *name), void *data,
			     struct observed *ret);
