/* Reconciler: plan and apply. */
#include "agent/reconcile.h"
#include "agent/routers.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "base/hash.h"
#include "base/ip4.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"

void observed_done(struct observed *o)
{
	free(o->links);
	free(o->fdb);
	free(o->neigh);
	for (size_t i = 0; i < o->n_ns; i++)
		r_observed_done(&o->ns[i].c);
	free(o->ns);
	hmap_done(&o->by_name);
	*o = (struct observed){0};
}

void observed_index(struct observed *o)
{
	hmap_done(&o->by_name);
	for (size_t i = 0; i < o->n_links; i++)
		hmap_put(&o->by_name, o->links[i].name, &o->links[i]);
}

struct ns_observed *observed_ns(const struct observed *o, const char *name)
{
	for (size_t i = 0; i < o->n_ns; i++)
		if (streq(o->ns[i].name, name))
			return &o->ns[i];
	return NULL;
}

static int dump(const struct kernel_ops *ops, bool namespaces_only,
		bool (*want_ns)(void *data, const char *name), void *data, struct observed *ret)
{
	uint64_t t0 = time_mono_us(), t1;
	int r = ops->dump(ops->userdata, namespaces_only, ret);
	size_t n = 0;

	t1 = time_mono_us();
	for (size_t i = 0; r >= 0 && i < ret->n_ns; i++) {
		struct ns_observed *ns = &ret->ns[i];

		if (!ns->ours || !want_ns(data, ns->name))
			continue;
		r = ops->dump_ns(ops->userdata, ns->name, &ns->c, ns->stamp);
		ns->dumped = r >= 0;
		n++;
	}
	if (r < 0)
		observed_done(ret);
	else
		observed_index(ret);
	log_event(LOG_LVL_DEBUG, "agent.dump", "what=%s us=%llu namespaces=%zu of=%zu ns_us=%llu",
		  namespaces_only ? "namespace_list" : "node", (unsigned long long) (t1 - t0), n,
		  ret->n_ns, (unsigned long long) (time_mono_us() - t1));
	return r;
}

int observed_dump(const struct kernel_ops *ops, bool (*want_ns)(void *data, const char *name),
		  void *data, struct observed *ret)
{
	return dump(ops, false, want_ns, data, ret);
}

int observed_dump_namespaces(const struct kernel_ops *ops,
			     bool (*want_ns)(void *data, const char *name), void *data,
			     struct observed *ret)
{
	return dump(ops, true, want_ns, data, ret);
}

void reconcile_nft_stamp(const char *nft, char stamp[static 64])
{
	snprintf(stamp, 64, "lepton:%016llx", (unsigned long long) fnv_str(FNV_OFFSET, nft));
}

const struct k_link *observed_link(const struct observed *o, const char *name)
{
	if (o->n_links && o->by_name.len == o->n_links) {
		const struct k_link *l = hmap_get(&o->by_name, name);

		if (!l)
			return NULL;
		if (l >= o->links && l < o->links + o->n_links && streq(l->name, name))
			return l;
	}
	for (size_t i = 0; i < o->n_links; i++)
		if (streq(o->links[i].name, name))
			return &o->links[i];
	return NULL;
}

static const struct k_link *link_by_index(const struct observed *o, int ifindex)
{
	for (size_t i = 0; i < o->n_links; i++)
		if (o->links[i].ifindex == ifindex)
			return &o->links[i];
	return NULL;
}

/* Devices (re)created by this plan: their old FDB and neighbour entries are
 * gone with them. */
static bool made_fresh(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_ops; i++)
		if ((p->ops[i].kind == OP_BRIDGE_ADD || p->ops[i].kind == OP_VXLAN_ADD) &&
		    streq(p->ops[i].name, name))
			return true;
	return false;
}

struct op *plan_push(struct plan *p, enum op_kind kind, const char *ns, const char *name)
{
	struct op *op;

	if (p->n_ops == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->ops = xrealloc(p->ops, p->cap * sizeof(*p->ops));
	}
	op = &p->ops[p->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	snprintf(op->ns, sizeof(op->ns), "%s", ns);
	snprintf(op->name, sizeof(op->name), "%s", name);
	return op;
}

static struct op *push(struct plan *p, enum op_kind kind, const char *name)
{
	return plan_push(p, kind, "", name);
}

static const struct d_network *desired_net_by_bridge(const struct desired *d, const char *name)
{
	return desired_net_by_dev(d, name, false);
}

static const struct d_network *desired_net_by_vxlan(const struct desired *d, const char *name)
{
	return desired_net_by_dev(d, name, true);
}

/* A link with one of our names that is not ours. */
static bool foreign(const struct observed *o, const char *name)
{
	const struct k_link *l = observed_link(o, name);

	return l && !l->ours;
}

/* A device enslaved to `master` (by name) with the given state. */
static void want_port(struct plan *pl, const struct observed *o, const struct k_link *l,
		      const char *master, uint32_t mtu, bool up)
{
	const struct k_link *m = link_by_index(o, l->master);
	bool master_ok = m && streq(m->name, master);

	if (master_ok && l->up == up && l->mtu == mtu)
		return;
	struct op *op = push(pl, OP_LINK_SET, l->name);
	snprintf(op->master, sizeof(op->master), "%s", master);
	op->up = up;
	op->mtu = mtu;
}

/* A link by name through an index {name: position}. */
static const struct k_link *link_named(const struct observed *o, json_t *index, const char *name)
{
	json_t *at = json_object_get(index, name);

	return at ? &o->links[json_integer_value(at)] : NULL;
}

static void fdb_key(char buf[static 96], const char *dev, const uint8_t mac[6], uint32_t dst,
		    bool master)
{
	snprintf(buf, 96, "%s|%02x%02x%02x%02x%02x%02x|%08x|%d", dev, mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5], dst, master);
}

/* mac NULL: the key of "an entry for this address on this device". */
static void neigh_key(char buf[static 96], const char *dev, uint32_t ip, const uint8_t *mac)
{
	if (mac)
		snprintf(buf, 96, "%s|%08x|%02x%02x%02x%02x%02x%02x", dev, ip, mac[0], mac[1],
			 mac[2], mac[3], mac[4], mac[5]);
	else
		snprintf(buf, 96, "%s|%08x", dev, ip);
}

void reconcile_plan(const struct desired *d, const struct observed *o, uint32_t tunnel_ip,
		    struct plan *out)
{
	struct plan *pl = out;

	*out = (struct plan){0};
	/* 1. Deletes of what is ours and no longer wanted (VXLAN first), and of
	 * devices that must be made anew (a VXLAN with the wrong VNI or
	 * address, or learning on). */
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];
		const struct d_network *n;

		if (!startswith(l->name, "vxlan-"))
			continue;
		n = desired_net_by_vxlan(d, l->name);
		if (!l->ours)
			continue; /* not ours, whatever its name */
		if (!n || !streq(l->kind, "vxlan") || l->vni != n->vni || l->local != tunnel_ip ||
		    l->learning)
			push(pl, OP_LINK_DEL, l->name);
	}
	/* VLAN devices we put in our bridges for provider networks no
	 * longer wanted here. */
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];
		const struct k_link *m = link_by_index(o, l->master);
		bool wanted = false;

		if (!streq(l->kind, "vlan") || !l->ours || !m || !m->ours ||
		    !startswith(m->name, "brq"))
			continue;
		for (size_t j = 0; j < d->n_nets && !wanted; j++)
			wanted = streq(d->nets[j].phys, l->name);
		if (!wanted)
			push(pl, OP_LINK_DEL, l->name);
	}
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];

		if (startswith(l->name, "brq") && l->ours &&
		    (!desired_net_by_bridge(d, l->name) || !streq(l->kind, "bridge")))
			push(pl, OP_LINK_DEL, l->name);
	}
	/* Taps of ports that left this node: detach from our bridges. */
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];
		const struct k_link *m = link_by_index(o, l->master);

		if (startswith(l->name, "tap") && m && m->ours && startswith(m->name, "brq") &&
		    !desired_port_by_tap(d, l->name)) {
			struct op *op = push(pl, OP_LINK_SET, l->name);

			op->master[0] = '\0';
			op->up = false;
			op->mtu = l->mtu;
		}
	}
	/* 2. Bridges and VXLAN devices. */
	for (size_t i = 0; i < d->n_nets; i++) {
		const struct d_network *n = &d->nets[i];
		const struct k_link *br = observed_link(o, n->bridge);
		const struct k_link *vx = observed_link(o, n->vxlan);
		bool vx_ok = vx && streq(vx->kind, "vxlan") && vx->vni == n->vni &&
			     vx->local == tunnel_ip && !vx->learning;
		struct op *op;

		if (foreign(o, n->bridge) || (!n->phys[0] && foreign(o, n->vxlan)))
			continue; /* our name, not ours: left alone */

		if (!br || !streq(br->kind, "bridge")) {
			op = push(pl, OP_BRIDGE_ADD, n->bridge);
			op->mtu = n->mtu;
			br = NULL;
		}
		if (!br || !br->up || br->mtu != n->mtu) {
			op = push(pl, OP_LINK_SET, n->bridge);
			op->up = true;
			op->mtu = n->mtu;
			op->master[0] = '-'; /* "-": leave the master alone */
		}
		/* Netfilter on the bridge only where security groups need it
		 * (a new bridge starts with it off), whatever the namespace's
		 * bridge-nf-call-* sysctls say. */
		if ((br && br->nf_call) != n->filtered) {
			op = push(pl, OP_BRIDGE_NF, n->bridge);
			op->up = n->filtered;
		}
		if (n->phys[0]) {
			/* A flat provider network: the node's interface in the
			 * bridge, no VXLAN. */
			const struct k_link *ph = observed_link(o, n->phys);

			if (!ph && n->vlan && observed_link(o, n->phys_base)) {
				op = push(pl, OP_VLAN_ADD, n->phys);
				snprintf(op->link, sizeof(op->link), "%s", n->phys_base);
				op->vni = n->vlan;
				op->mtu = n->mtu;
				op = push(pl, OP_LINK_SET, n->phys);
				snprintf(op->master, sizeof(op->master), "%s", n->bridge);
				op->up = true;
				op->mtu = n->mtu;
				continue;
			}
			if (ph && br)
				want_port(pl, o, ph, n->bridge, ph->mtu, true);
			else if (ph) {
				op = push(pl, OP_LINK_SET, n->phys);
				snprintf(op->master, sizeof(op->master), "%s", n->bridge);
				op->up = true;
				op->mtu = ph->mtu;
			}
			continue;
		}
		if (!vx_ok) {
			op = push(pl, OP_VXLAN_ADD, n->vxlan);
			op->vni = n->vni;
			op->mtu = n->mtu;
			vx = NULL;
		}
		if (!vx || !br) {
			op = push(pl, OP_LINK_SET, n->vxlan);
			snprintf(op->master, sizeof(op->master), "%s", n->bridge);
			op->up = true;
			op->mtu = n->mtu;
		} else {
			want_port(pl, o, vx, n->bridge, n->mtu, true);
		}
		if (!vx || !br) {
			/* Fresh port: learning off, ARP suppression on. */
			op = push(pl, OP_BRPORT_SET, n->vxlan);
			op->learning = false;
			op->neigh_suppress = true;
		}
	}
	/* 3. Local taps: into their bridge, up, at the network's MTU. */
	for (size_t i = 0; i < d->n_ports; i++) {
		const struct d_port *p = &d->ports[i];
		const struct k_link *t = observed_link(o, p->tap);
		const struct d_network *n = desired_net_by_bridge(d, p->bridge);

		if (!t || !n || foreign(o, p->bridge))
			continue; /* not plugged yet, or not our bridge */
		want_port(pl, o, t, p->bridge, n->mtu, p->admin_up);
	}
	/* Router legs' node ends: in their bridge, up (they are made by the
	 * router namespaces' plans). */
	for (size_t i = 0; d->routers && i < d->routers->n; i++) {
		const struct d_router *r = &d->routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			const struct k_link *t = observed_link(o, r->legs[j].peer);

			if (t && t->ours && desired_net_by_bridge(d, r->legs[j].bridge) &&
			    !foreign(o, r->legs[j].bridge))
				want_port(pl, o, t, r->legs[j].bridge, r->legs[j].mtu, true);
		}
	}
	/* 4 and 5 compare thousands of entries: keyed sets, not nested scans. */
	json_t *links = json_object(), *want = json_object(), *have = json_object();
	char key[96];

	for (size_t i = 0; i < o->n_links; i++)
		json_object_set_new(links, o->links[i].name, json_integer((json_int_t) i));
	/* 4. FDB entries of our VXLAN devices: self entries with a remote
	 * address, and static entries in the bridge's FDB. */
	for (size_t j = 0; j < d->n_fdb; j++) {
		fdb_key(key, d->fdb[j].dev, d->fdb[j].mac, d->fdb[j].dst, d->fdb[j].master);
		json_object_set_new(want, key, json_true());
	}
	for (size_t i = 0; i < o->n_fdb; i++) {
		const struct k_fdb *f = &o->fdb[i];
		const struct k_link *l = link_by_index(o, f->ifindex);

		if (!l)
			continue;
		fdb_key(key, l->name, f->mac, f->dst, f->master);
		json_object_set_new(have, key, json_true());
		if (!startswith(l->name, "vxlan-") || !l->ours || (!f->dst && !f->master) ||
		    made_fresh(out, l->name))
			continue;
		if (!json_object_get(want, key) && desired_net_by_vxlan(d, l->name)) {
			struct op *op = push(pl, OP_FDB_DEL, l->name);

			memcpy(op->mac, f->mac, 6);
			op->dst = f->dst;
			op->fdb_master = f->master;
		}
	}
	for (size_t j = 0; j < d->n_fdb; j++) {
		const struct k_link *l = link_named(o, links, d->fdb[j].dev);

		if (!l && (startswith(d->fdb[j].dev, "tap") || d->fdb[j].later))
			continue; /* a VM port not plugged yet, a router leg not made yet */
		if (l && !l->ours && !startswith(d->fdb[j].dev, "tap"))
			continue; /* a device of ours by name only */
		fdb_key(key, d->fdb[j].dev, d->fdb[j].mac, d->fdb[j].dst, d->fdb[j].master);
		if (!l || made_fresh(out, d->fdb[j].dev) || !json_object_get(have, key)) {
			struct op *op = push(pl, OP_FDB_ADD, d->fdb[j].dev);

			memcpy(op->mac, d->fdb[j].mac, 6);
			op->dst = d->fdb[j].dst;
			op->fdb_master = d->fdb[j].master;
		}
	}
	json_object_clear(want);
	json_object_clear(have);
	/* 5. Neighbour entries on our bridges (ARP suppression): wanted by
	 * device and address; right when the MAC matches and it is permanent. */
	for (size_t j = 0; j < d->n_neigh; j++) {
		neigh_key(key, d->neigh[j].dev, d->neigh[j].ip, NULL);
		json_object_set_new(want, key, json_true());
	}
	for (size_t i = 0; i < o->n_neigh; i++) {
		const struct k_neigh *ne = &o->neigh[i];
		const struct k_link *l = link_by_index(o, ne->ifindex);

		if (!l)
			continue;
		if (ne->permanent) {
			neigh_key(key, l->name, ne->ip, ne->mac);
			json_object_set_new(have, key, json_true());
		}
		if (!startswith(l->name, "brq") || !l->ours || !desired_net_by_bridge(d, l->name) ||
		    made_fresh(out, l->name))
			continue;
		neigh_key(key, l->name, ne->ip, NULL);
		if (!json_object_get(want, key)) {
			struct op *op = push(pl, OP_NEIGH_DEL, l->name);

			op->ip = ne->ip;
		}
	}
	for (size_t j = 0; j < d->n_neigh; j++) {
		const struct k_link *l = link_named(o, links, d->neigh[j].dev);

		if (l && !l->ours)
			continue;
		neigh_key(key, d->neigh[j].dev, d->neigh[j].ip, d->neigh[j].mac);
		if (!l || made_fresh(out, d->neigh[j].dev) || !json_object_get(have, key)) {
			struct op *op = push(pl, OP_NEIGH_SET, d->neigh[j].dev);

			op->ip = d->neigh[j].ip;
			memcpy(op->mac, d->neigh[j].mac, 6);
		}
	}
	json_decref(links);
	json_decref(want);
	json_decref(have);
	/* 6 and 7: router namespaces, once the bridges their legs join exist. */
	reconcile_routers(d, o, pl);
}

void reconcile_routers(const struct desired *d, const struct observed *o, struct plan *pl)
{
	/* 6. Router namespaces. */
	for (size_t i = 0; d->routers && i < d->routers->n; i++) {
		const struct d_router *r = &d->routers->r[i];
		const struct ns_observed *h = observed_ns(o, r->ns);
		static const struct r_observed none;
		char stamp[64];

		if (h && !h->ours)
			continue; /* our name, not ours: left alone */
		if (h && !h->dumped)
			continue; /* unchanged since it was last right */
		if (!h)
			plan_push(pl, OP_NS_ADD, r->ns, "");
		if (r->nft) {
			reconcile_nft_stamp(r->nft, stamp);
			if (!h || !streq(h->stamp, stamp)) {
				struct op *op = plan_push(pl, OP_NFT_TABLE, r->ns, "");

				op->nft = r->nft;
				memcpy(op->stamp, stamp, sizeof(op->stamp));
			}
		}
		reconcile_router(r, h ? &h->c : &none, pl);
	}
	/* 7. Namespaces of ours no longer wanted. */
	for (size_t i = 0; i < o->n_ns; i++)
		if (o->ns[i].ours && !(d->routers && routers_find(d->routers, o->ns[i].name)))
			plan_push(pl, OP_NS_DEL, o->ns[i].name, "");
}

void plan_done(struct plan *p)
{
	free(p->ops);
	*p = (struct plan){0};
}

static const char *const op_names[] = {
	[OP_BRIDGE_ADD] = "bridge-add", [OP_VXLAN_ADD] = "vxlan-add",
	[OP_VLAN_ADD] = "vlan-add",	[OP_LINK_DEL] = "link-del",
	[OP_LINK_SET] = "link-set",	[OP_BRPORT_SET] = "brport-set",
	[OP_BRIDGE_NF] = "bridge-nf",	[OP_FDB_ADD] = "fdb-add",
	[OP_FDB_DEL] = "fdb-del",	[OP_NEIGH_SET] = "neigh-set",
	[OP_NEIGH_DEL] = "neigh-del",	[OP_NS_ADD] = "ns-add",
	[OP_NS_DEL] = "ns-del",		[OP_NFT_TABLE] = "nft-table",
	[OP_LEG_ADD] = "leg-add",	[OP_ADDR_ADD] = "addr-add",
	[OP_ADDR_DEL] = "addr-del",	[OP_ROUTE_ADD] = "route-add",
	[OP_ROUTE_DEL] = "route-del",	[OP_RULE_ADD] = "rule-add",
	[OP_RULE_DEL] = "rule-del",	[OP_GARP] = "garp",
};

char *plan_format(const struct plan *p)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < p->n_ops; i++) {
		const struct op *op = &p->ops[i];
		char a[IP4_STRLEN], b[IP4_STRLEN];

		if (op->kind == OP_NS_ADD || op->kind == OP_NS_DEL) {
			strbuf_appendf(&sb, "%s %s\n", op_names[op->kind], op->ns);
			continue;
		}
		if (op->ns[0])
			strbuf_appendf(&sb, "%s: ", op->ns);
		strbuf_appendf(&sb, "%s", op_names[op->kind]);
		if (op->name[0])
			strbuf_appendf(&sb, " %s", op->name);
		switch (op->kind) {
		case OP_BRIDGE_ADD:
			strbuf_appendf(&sb, " mtu %u", op->mtu);
			break;
		case OP_VXLAN_ADD:
			strbuf_appendf(&sb, " vni %u mtu %u", op->vni, op->mtu);
			break;
		case OP_VLAN_ADD:
			strbuf_appendf(&sb, " link %s id %u mtu %u", op->link, op->vni, op->mtu);
			break;
		case OP_LINK_SET:
			if (op->ns[0]) {
				strbuf_append(&sb, " up");
				break;
			}
			strbuf_appendf(&sb, " master %s %s mtu %u",
				       *op->master ? op->master : "none", op->up ? "up" : "down",
				       op->mtu);
			break;
		case OP_BRIDGE_NF:
			strbuf_appendf(&sb, " %s", op->up ? "on" : "off");
			break;
		case OP_BRPORT_SET:
			strbuf_appendf(&sb, " learning %s neigh_suppress %s",
				       op->learning ? "on" : "off",
				       op->neigh_suppress ? "on" : "off");
			break;
		case OP_FDB_ADD:
		case OP_FDB_DEL:
			ip4_format(op->dst, a);
			strbuf_appendf(&sb, " %02x:%02x:%02x:%02x:%02x:%02x", op->mac[0],
				       op->mac[1], op->mac[2], op->mac[3], op->mac[4], op->mac[5]);
			if (op->fdb_master)
				strbuf_append(&sb, " master");
			else
				strbuf_appendf(&sb, " dst %s", a);
			break;
		case OP_NEIGH_SET:
			ip4_format(op->ip, a);
			strbuf_appendf(&sb, " %s lladdr %02x:%02x:%02x:%02x:%02x:%02x", a,
				       op->mac[0], op->mac[1], op->mac[2], op->mac[3], op->mac[4],
				       op->mac[5]);
			break;
		case OP_NEIGH_DEL:
			ip4_format(op->ip, a);
			strbuf_appendf(&sb, " %s", a);
			break;
		case OP_LINK_DEL:
		case OP_NS_ADD:
		case OP_NS_DEL:
			break;
		case OP_NFT_TABLE:
			strbuf_appendf(&sb, " %s", op->stamp);
			break;
		case OP_LEG_ADD:
			strbuf_appendf(&sb, " peer %s bridge %s mtu %u", op->leg.peer,
				       op->leg.bridge, op->leg.mtu);
			break;
		case OP_ADDR_ADD:
		case OP_ADDR_DEL:
			ip4_format(op->addr.ip, a);
			strbuf_appendf(&sb, " %s/%u%s", a, op->addr.prefixlen,
				       op->addr.scope ? " scope host" : "");
			break;
		case OP_ROUTE_ADD:
		case OP_ROUTE_DEL:
			ip4_format(op->route.dst, a);
			ip4_format(op->route.gateway, b);
			strbuf_appendf(&sb, " table %u %s/%u via %s%s", op->route.table, a,
				       op->route.prefixlen, b, op->route.onlink ? " onlink" : "");
			break;
		case OP_RULE_ADD:
		case OP_RULE_DEL:
			ip4_format(op->rule.src, a);
			strbuf_appendf(&sb, " pref %u from %s/%u table %u", op->rule.priority, a,
				       op->rule.src_len, op->rule.table);
			if (op->rule.suppress_prefixlen >= 0)
				strbuf_appendf(&sb, " suppress_prefixlength %d",
					       op->rule.suppress_prefixlen);
			break;
		case OP_GARP:
			ip4_format(op->ip, a);
			strbuf_appendf(&sb, " %s", a);
			break;
		}
		strbuf_append(&sb, "\n");
	}
	return strbuf_steal(&sb);
}

static bool is_add(enum op_kind k)
{
	return k == OP_BRIDGE_ADD || k == OP_VXLAN_ADD || k == OP_VLAN_ADD || k == OP_FDB_ADD ||
	       k == OP_NEIGH_SET || k == OP_ADDR_ADD || k == OP_RULE_ADD;
}

static bool is_del(enum op_kind k)
{
	return k == OP_LINK_DEL || k == OP_FDB_DEL || k == OP_NEIGH_DEL || k == OP_ADDR_DEL ||
	       k == OP_ROUTE_DEL || k == OP_RULE_DEL || k == OP_NS_DEL;
}

/* Plans at least this big say where their time went, by op kind. */
#define PLAN_TIMING_MIN 100

static struct metric kernel_ops_total = METRIC_COUNTER(
	"lepton_agent_kernel_ops_total",
	"Kernel operations applied by reconcile passes, by op and result.", "op,result");

int plan_apply(const struct plan *p, const struct kernel_ops *ops, bool *ret_failed)
{
	uint64_t us[ARRAY_SIZE(op_names)] = {0}, n[ARRAY_SIZE(op_names)] = {0};
	int first = 0;

	for (size_t i = 0; i < p->n_ops; i++) {
		const struct op *op = &p->ops[i];
		uint64_t t0 = time_mono_us();
		int r = ops->exec(ops->userdata, op);

		us[op->kind] += time_mono_us() - t0;
		n[op->kind]++;
		if ((r == -EEXIST && is_add(op->kind)) ||
		    ((r == -ENOENT || r == -ENODEV || r == -ESRCH || r == -EADDRNOTAVAIL) &&
		     is_del(op->kind)))
			r = 0;
		if (ret_failed)
			ret_failed[i] = r < 0;
		metrics_add(&kernel_ops_total, 1, op_names[op->kind], r < 0 ? "failed" : "ok");
		if (r < 0 && !first)
			first = r;
	}
	if (p->n_ops >= PLAN_TIMING_MIN) {
		struct strbuf sb = STRBUF_INIT;

		for (size_t k = 0; k < ARRAY_SIZE(op_names); k++)
			if (n[k])
				strbuf_appendf(&sb, "%s%s:%llu:%llums", sb.len ? "," : "",
					       op_names[k], (unsigned long long) n[k],
					       (unsigned long long) (us[k] / 1000));
		log_event(LOG_LVL_INFO, "agent.plan_applied", "ops=%zu by_kind=%s", p->n_ops,
			  strbuf_str(&sb));
		strbuf_done(&sb);
	}
	return first;
}
