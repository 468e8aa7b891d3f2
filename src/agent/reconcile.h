/* Reconciling the node's kernel state with the desired state: observed
 * state (from netlink dumps) and desired state in, an ordered plan out
 * (pure), then the plan applied through a struct kernel_ops (real netlink,
 * or a fake for tests). Only what is ours is touched: devices named brq*,
 * vxlan-*, the taps of our ports, FDB entries on our VXLAN devices and
 * neighbour entries on our bridges. Never a flush: an object that is right
 * is left alone, so reconciling live traffic loses nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/desired.h"

/* Observed kernel objects. */
struct k_link {
	int ifindex;
	char name[D_IFNAMSIZ];
	char kind[16]; /* "bridge", "vxlan", "veth", "tun", "" */
	int master;    /* ifindex, 0 none */
	uint32_t mtu;
	bool up;
	uint32_t vni;	/* vxlan */
	uint32_t local; /* vxlan */
	bool learning;	/* vxlan */
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

struct observed {
	struct k_link *links;
	size_t n_links;
	struct k_fdb *fdb;
	size_t n_fdb;
	struct k_neigh *neigh;
	size_t n_neigh;
};

void observed_done(struct observed *o);
const struct k_link *observed_link(const struct observed *o, const char *name);

enum op_kind {
	OP_BRIDGE_ADD, /* name, mtu */
	OP_VXLAN_ADD,  /* name, vni, mtu (local and underlay from the node) */
	OP_VLAN_ADD,   /* name, link (the node's interface), vni (the VLAN id), mtu */
	OP_LINK_DEL,   /* name */
	OP_LINK_SET,   /* name: master (a name, "" for none, "-" to leave it), up, mtu */
	OP_BRPORT_SET, /* name: learning, neigh_suppress */
	OP_FDB_ADD,    /* name (vxlan), mac, dst */
	OP_FDB_DEL,    /* name, mac, dst */
	OP_NEIGH_SET,  /* name (bridge), ip, mac */
	OP_NEIGH_DEL,  /* name, ip */
};

struct op {
	enum op_kind kind;
	char name[D_IFNAMSIZ];
	char master[D_IFNAMSIZ];
	char link[D_IFNAMSIZ];
	uint32_t vni, mtu, ip, dst;
	uint8_t mac[6];
	bool up, learning, neigh_suppress;
	bool fdb_master; /* FDB ops: the bridge's FDB entry (static) */
};

struct plan {
	struct op *ops;
	size_t n_ops;
};

/* The plan from observed to desired (pure). tunnel_ip: the node's VTEP. */
void reconcile_plan(const struct desired *d, const struct observed *o, uint32_t tunnel_ip,
		    struct plan *out);
void plan_done(struct plan *p);
/* One line per op, for logs and golden tests. Caller frees. */
char *plan_format(const struct plan *p);

struct kernel_ops {
	void *userdata;
	int (*dump)(void *userdata, struct observed *ret);
	int (*exec)(void *userdata, const struct op *op);
};

/* Runs the plan; EEXIST on add and ENOENT on delete count as success. Carries
 * on after a failure and returns the first error. */
int plan_apply(const struct plan *p, const struct kernel_ops *ops);
