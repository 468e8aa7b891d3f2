/* The node's kernel through src/nl: the reconciler's kernel_ops and link
 * events. */
#include "agent/kernel.h"

#include <errno.h>
#include <stdio.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "agent/rns.h"
#include "nl/rtnl.h"

struct kernel {
	struct rtnl *req;
	struct rtnl *events;
	struct rns_set *rns;
	char tunnel_dev[IFNAMSIZ];
	uint32_t tunnel_ip;
};

int kernel_new(const char *tunnel_dev, uint32_t tunnel_ip, const char *netns_prefix,
	       struct kernel **ret)
{
	struct kernel *k = xcalloc(1, sizeof(*k));
	int r;

	snprintf(k->tunnel_dev, sizeof(k->tunnel_dev), "%s", tunnel_dev);
	k->tunnel_ip = tunnel_ip;
	r = rtnl_open(0, &k->req);
	if (r >= 0)
		r = rtnl_open(RTMGRP_LINK, &k->events);
	if (r >= 0)
		k->rns = rns_set_new(k->req, netns_prefix);
	if (r < 0) {
		kernel_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

void kernel_free(struct kernel *k)
{
	if (!k)
		return;
	rns_set_free(k->rns);
	rtnl_close(k->req);
	rtnl_close(k->events);
	free(k);
}

struct rtnl *kernel_rtnl(struct kernel *k)
{
	return k->req;
}

int kernel_ifindex(struct kernel *k, const char *name)
{
	unsigned idx = if_nametoindex(name);

	(void) k;
	return idx ? (int) idx : -ENODEV;
}

#define GROW(arr, n, cap)                                                                          \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap) *2 : 32;                                             \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
	} while (0)

struct dump_state {
	struct observed *o;
	size_t cap_links, cap_fdb, cap_neigh;
};

static int on_link(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *d = data;
	struct rtnl_link l;
	struct k_link *k;

	if (rtnl_parse_link(nlh, &l) < 0)
		return 0;
	GROW(d->o->links, d->o->n_links, d->cap_links);
	k = &d->o->links[d->o->n_links++];
	*k = (struct k_link){.ifindex = l.ifindex,
			     .master = l.master,
			     .mtu = l.mtu,
			     .up = l.up,
			     .ours = l.group == RTNL_GROUP,
			     .vni = l.vni,
			     .local = l.local,
			     .learning = l.learning,
			     .nf_call = l.nf_call};
	snprintf(k->name, sizeof(k->name), "%s", l.name);
	snprintf(k->kind, sizeof(k->kind), "%s", l.kind);
	memcpy(k->mac, l.mac, 6);
	return 0;
}

static int on_fdb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *d = data;
	struct rtnl_neigh n;
	bool self, master;

	if (rtnl_parse_neigh(nlh, &n) < 0 || n.family != AF_BRIDGE || !n.has_mac)
		return 0;
	/* Ours: self entries with a remote address; static entries of the
	 * bridge (never its own "permanent" entries for local MACs). The
	 * kernel marks the bridge's entries with NDA_MASTER, not NTF_MASTER. */
	self = (n.flags & NTF_SELF) && n.dst;
	master = !(n.flags & NTF_SELF) && (n.state & NUD_NOARP) && !(n.state & NUD_PERMANENT);
	if (!self && !master)
		return 0;
	GROW(d->o->fdb, d->o->n_fdb, d->cap_fdb);
	d->o->fdb[d->o->n_fdb++] = (struct k_fdb){
		.ifindex = n.ifindex, .dst = self ? n.dst : 0, .master = master && !self};
	memcpy(d->o->fdb[d->o->n_fdb - 1].mac, n.mac, 6);
	return 0;
}

static int on_neigh(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *d = data;
	struct rtnl_neigh n;

	/* Multicast entries are the kernel's own (IGMP reports of a bridge
	 * that is up): neither ours nor ARP. */
	if (rtnl_parse_neigh(nlh, &n) < 0 || n.family != AF_INET || !n.dst ||
	    (n.dst & 0xf0000000u) == 0xe0000000u || n.dst == 0xffffffffu)
		return 0;
	GROW(d->o->neigh, d->o->n_neigh, d->cap_neigh);
	d->o->neigh[d->o->n_neigh++] = (struct k_neigh){
		.ifindex = n.ifindex, .ip = n.dst, .permanent = n.state & NUD_PERMANENT};
	memcpy(d->o->neigh[d->o->n_neigh - 1].mac, n.mac, 6);
	return 0;
}

static int kernel_dump(void *userdata, bool namespaces_only, struct observed *ret)
{
	struct kernel *k = userdata;
	struct dump_state d = {ret, 0, 0, 0};
	char buf[RTNL_BUF_SIZE];
	int r;

	*ret = (struct observed){0};
	r = namespaces_only ? 0
			    : rtnl_dump(k->req, rtnl_dump_request(buf, RTM_GETLINK, AF_UNSPEC),
					on_link, &d);
	if (r >= 0 && !namespaces_only)
		r = rtnl_dump(k->req, rtnl_dump_request(buf, RTM_GETNEIGH, AF_BRIDGE), on_fdb, &d);
	if (r >= 0 && !namespaces_only)
		r = rtnl_dump(k->req, rtnl_dump_request(buf, RTM_GETNEIGH, AF_INET), on_neigh, &d);
	if (r >= 0)
		r = rns_list(k->rns, &ret->ns, &ret->n_ns);
	if (r < 0)
		observed_done(ret);
	return r;
}

static int kernel_dump_ns(void *userdata, const char *ns, struct r_observed *ret,
			  char stamp[static 64])
{
	struct kernel *k = userdata;

	return rns_dump(k->rns, ns, ret, stamp);
}

int kernel_tick(struct kernel *k, uint64_t now_ms)
{
	return rns_tick(k->rns, now_ms);
}

int kernel_ns_flows(struct kernel *k, const char *ns, uint64_t *ret)
{
	return rns_flows(k->rns, ns, ret);
}

/* No IPv6 on the node's own bridges and VXLAN devices (they carry the
 * VMs' IPv6, they have none of their own): an interface with IPv6 sends
 * router solicitations and MLD reports when it comes up, which the bridge
 * floods over VXLAN to every node of the network. Before the link is up,
 * so it never sends one. */
static int no_ipv6(int r, const char *name)
{
	char path[96];
	FILE *f;

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "we");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* a kernel without IPv6 */
	if (fputs("1", f) < 0) {
		r = -EIO;
	}
	if (fclose(f) != 0 && r >= 0)
		r = -errno;
	return r;
}

static int kernel_exec(void *userdata, const struct op *op)
{
	struct kernel *k = userdata;
	char buf[RTNL_BUF_SIZE];
	int idx, master;

	if (op->ns[0])
		return rns_exec(k->rns, op);
	idx = kernel_ifindex(k, op->name);
	switch (op->kind) {
	case OP_BRIDGE_ADD: {
		/* An address of its own (from its name, locally administered):
		 * taking its first port's would flush the ARP suppression
		 * entries set before that port came. */
		uint64_t h = fnv_str(FNV_OFFSET, op->name);
		uint8_t mac[6];

		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t) (h >> (8 * i));
		mac[0] = (uint8_t) ((mac[0] & 0xfc) | 0x02);
		return no_ipv6(rtnl_request(k->req, rtnl_bridge_add(buf, op->name, op->mtu, mac)),
			       op->name);
	}
	case OP_VXLAN_ADD: {
		int link = kernel_ifindex(k, k->tunnel_dev);

		if (link < 0)
			return link;
		return no_ipv6(rtnl_request(k->req, rtnl_vxlan_add(buf, op->name, op->vni,
								   k->tunnel_ip, link, op->mtu)),
			       op->name);
	}
	case OP_VLAN_ADD: {
		int link = kernel_ifindex(k, op->link);

		if (link < 0)
			return link;
		return rtnl_request(
			k->req, rtnl_vlan_add(buf, op->name, link, (uint16_t) op->vni, op->mtu));
	}
	case OP_LINK_DEL:
		return idx < 0 ? -ENODEV : rtnl_request(k->req, rtnl_link_del(buf, idx));
	case OP_LINK_SET:
		if (idx < 0)
			return idx;
		if (streq(op->master, "-"))
			master = -1;
		else if (!op->master[0])
			master = 0;
		else if ((master = kernel_ifindex(k, op->master)) < 0)
			return master;
		return rtnl_request(k->req, rtnl_link_set(buf, idx, master, op->up, op->mtu));
	case OP_BRIDGE_NF:
		return idx < 0 ? idx : rtnl_request(k->req, rtnl_bridge_nf(buf, idx, op->up));
	case OP_BRPORT_SET:
		return idx < 0 ? idx
			       : rtnl_request(k->req, rtnl_brport_set(buf, idx, op->learning,
								      op->neigh_suppress));
	case OP_FDB_ADD:
	case OP_FDB_DEL:
		if (idx < 0)
			return idx;
		return rtnl_request(k->req, rtnl_fdb(buf, op->kind == OP_FDB_ADD, idx, op->mac,
						     op->dst, op->fdb_master));
	case OP_NEIGH_SET:
	case OP_NEIGH_DEL:
		if (idx < 0)
			return idx;
		return rtnl_request(
			k->req, rtnl_neigh(buf, op->kind == OP_NEIGH_SET, idx, op->ip, op->mac));
	default:
		return -EINVAL; /* namespace ops carry op->ns */
	}
}

struct kernel_ops kernel_ops(struct kernel *k)
{
	return (struct kernel_ops){k, kernel_dump, kernel_dump_ns, kernel_exec};
}

int kernel_events_fd(struct kernel *k)
{
	return rtnl_fd(k->events);
}

static int on_event(const struct nlmsghdr *nlh, void *data)
{
	int *relevant = data;
	struct rtnl_link l;

	if (rtnl_parse_link(nlh, &l) == 0 &&
	    (startswith(l.name, "tap") || startswith(l.name, "brq") ||
	     startswith(l.name, "vxlan-")))
		(*relevant)++;
	return 0;
}

int kernel_events(struct kernel *k)
{
	int relevant = 0;
	int r = rtnl_read_events(k->events, on_event, &relevant);

	if (r == -ENOBUFS) {
		/* Some events were lost, maybe a tap's: look at everything. */
		log_event(LOG_LVL_WARN, "agent.link_events_lost", "action=full_pass");
		return 1;
	}
	return r < 0 ? r : relevant;
}
