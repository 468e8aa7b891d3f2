/* Reconciler: plan and apply. */
#include "agent/reconcile.h"
#include "agent/routers.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

void observed_done(struct observed *o)
{
	free(o->links);
	free(o->fdb);
	free(o->neigh);
	*o = (struct observed){0};
}

const struct k_link *observed_link(const struct observed *o, const char *name)
{
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

struct planner {
	struct plan *p;
	size_t cap;
};

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

static struct op *push(struct planner *pl, enum op_kind kind, const char *name)
{
	struct op *op;

	if (pl->p->n_ops == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 32;
		pl->p->ops = xrealloc(pl->p->ops, pl->cap * sizeof(*pl->p->ops));
	}
	op = &pl->p->ops[pl->p->n_ops++];
	*op = (struct op){.kind = kind};
	snprintf(op->name, sizeof(op->name), "%s", name);
	return op;
}

static bool is_ours(const char *name)
{
	return startswith(name, "brq") || startswith(name, "vxlan-");
}

static const struct d_network *desired_net_by_bridge(const struct desired *d, const char *name)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (streq(d->nets[i].bridge, name))
			return &d->nets[i];
	return NULL;
}

static const struct d_network *desired_net_by_vxlan(const struct desired *d, const char *name)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (streq(d->nets[i].vxlan, name))
			return &d->nets[i];
	return NULL;
}

/* A device enslaved to `master` (by name) with the given state. */
static void want_port(struct planner *pl, const struct observed *o, const struct k_link *l,
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
	struct planner pl = {out, 0};

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
		if (!n || !streq(l->kind, "vxlan") || l->vni != n->vni || l->local != tunnel_ip ||
		    l->learning)
			push(&pl, OP_LINK_DEL, l->name);
	}
	/* VLAN devices we put in our bridges for provider networks no
	 * longer wanted here. */
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];
		const struct k_link *m = link_by_index(o, l->master);
		bool wanted = false;

		if (!streq(l->kind, "vlan") || !m || !startswith(m->name, "brq"))
			continue;
		for (size_t j = 0; j < d->n_nets && !wanted; j++)
			wanted = streq(d->nets[j].phys, l->name);
		if (!wanted)
			push(&pl, OP_LINK_DEL, l->name);
	}
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];

		if (startswith(l->name, "brq") &&
		    (!desired_net_by_bridge(d, l->name) || !streq(l->kind, "bridge")))
			push(&pl, OP_LINK_DEL, l->name);
	}
	/* Taps of ports that left this node: detach from our bridges. */
	for (size_t i = 0; i < o->n_links; i++) {
		const struct k_link *l = &o->links[i];
		const struct k_link *m = link_by_index(o, l->master);

		if (startswith(l->name, "tap") && m && is_ours(m->name) &&
		    !desired_port_by_tap(d, l->name)) {
			struct op *op = push(&pl, OP_LINK_SET, l->name);

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

		if (!br || !streq(br->kind, "bridge")) {
			op = push(&pl, OP_BRIDGE_ADD, n->bridge);
			op->mtu = n->mtu;
			br = NULL;
		}
		if (!br || !br->up || br->mtu != n->mtu) {
			op = push(&pl, OP_LINK_SET, n->bridge);
			op->up = true;
			op->mtu = n->mtu;
			op->master[0] = '-'; /* "-": leave the master alone */
		}
		if (n->phys[0]) {
			/* A flat provider network: the node's interface in the
			 * bridge, no VXLAN. */
			const struct k_link *ph = observed_link(o, n->phys);

			if (!ph && n->vlan && observed_link(o, n->phys_base)) {
				op = push(&pl, OP_VLAN_ADD, n->phys);
				snprintf(op->link, sizeof(op->link), "%s", n->phys_base);
				op->vni = n->vlan;
				op->mtu = n->mtu;
				op = push(&pl, OP_LINK_SET, n->phys);
				snprintf(op->master, sizeof(op->master), "%s", n->bridge);
				op->up = true;
				op->mtu = n->mtu;
				continue;
			}
			if (ph && br)
				want_port(&pl, o, ph, n->bridge, ph->mtu, true);
			else if (ph) {
				op = push(&pl, OP_LINK_SET, n->phys);
				snprintf(op->master, sizeof(op->master), "%s", n->bridge);
				op->up = true;
				op->mtu = ph->mtu;
			}
			continue;
		}
		if (!vx_ok) {
			op = push(&pl, OP_VXLAN_ADD, n->vxlan);
			op->vni = n->vni;
			op->mtu = n->mtu;
			vx = NULL;
		}
		if (!vx || !br) {
			op = push(&pl, OP_LINK_SET, n->vxlan);
			snprintf(op->master, sizeof(op->master), "%s", n->bridge);
			op->up = true;
			op->mtu = n->mtu;
		} else {
			want_port(&pl, o, vx, n->bridge, n->mtu, true);
		}
		if (!vx || !br) {
			/* Fresh port: learning off, ARP suppression on. */
			op = push(&pl, OP_BRPORT_SET, n->vxlan);
			op->learning = false;
			op->neigh_suppress = true;
		}
	}
	/* 3. Local taps: into their bridge, up, at the network's MTU. */
	for (size_t i = 0; i < d->n_ports; i++) {
		const struct d_port *p = &d->ports[i];
		const struct k_link *t = observed_link(o, p->tap);
		const struct d_network *n = desired_net_by_bridge(d, p->bridge);

		if (!t || !n)
			continue; /* not plugged yet */
		want_port(&pl, o, t, p->bridge, n->mtu, p->admin_up);
	}
	/* Router legs' node ends: in their bridge, up (they are made by the
	 * router namespaces' plans). */
	for (size_t i = 0; d->routers && i < d->routers->n; i++) {
		const struct d_router *r = &d->routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			const struct k_link *t = observed_link(o, r->legs[j].peer);

			if (t && desired_net_by_bridge(d, r->legs[j].bridge))
				want_port(&pl, o, t, r->legs[j].bridge, r->legs[j].mtu, true);
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
		if (!startswith(l->name, "vxlan-") || (!f->dst && !f->master) ||
		    made_fresh(out, l->name))
			continue;
		if (!json_object_get(want, key) && desired_net_by_vxlan(d, l->name)) {
			struct op *op = push(&pl, OP_FDB_DEL, l->name);

			memcpy(op->mac, f->mac, 6);
			op->dst = f->dst;
			op->fdb_master = f->master;
		}
	}
	for (size_t j = 0; j < d->n_fdb; j++) {
		const struct k_link *l = link_named(o, links, d->fdb[j].dev);

		if (!l && startswith(d->fdb[j].dev, "tap"))
			continue; /* a VM port not plugged yet */
		fdb_key(key, d->fdb[j].dev, d->fdb[j].mac, d->fdb[j].dst, d->fdb[j].master);
		if (!l || made_fresh(out, d->fdb[j].dev) || !json_object_get(have, key)) {
			struct op *op = push(&pl, OP_FDB_ADD, d->fdb[j].dev);

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
		if (!startswith(l->name, "brq") || !desired_net_by_bridge(d, l->name) ||
		    made_fresh(out, l->name))
			continue;
		neigh_key(key, l->name, ne->ip, NULL);
		if (!json_object_get(want, key)) {
			struct op *op = push(&pl, OP_NEIGH_DEL, l->name);

			op->ip = ne->ip;
		}
	}
	for (size_t j = 0; j < d->n_neigh; j++) {
		const struct k_link *l = link_named(o, links, d->neigh[j].dev);

		neigh_key(key, d->neigh[j].dev, d->neigh[j].ip, d->neigh[j].mac);
		if (!l || made_fresh(out, d->neigh[j].dev) || !json_object_get(have, key)) {
			struct op *op = push(&pl, OP_NEIGH_SET, d->neigh[j].dev);

			op->ip = d->neigh[j].ip;
			memcpy(op->mac, d->neigh[j].mac, 6);
		}
	}
	json_decref(links);
	json_decref(want);
	json_decref(have);
}

void plan_done(struct plan *p)
{
	free(p->ops);
	*p = (struct plan){0};
}

char *plan_format(const struct plan *p)
{
	static const char *const names[] = {
		[OP_BRIDGE_ADD] = "bridge-add", [OP_VXLAN_ADD] = "vxlan-add",
		[OP_VLAN_ADD] = "vlan-add",	[OP_LINK_DEL] = "link-del",
		[OP_LINK_SET] = "link-set",	[OP_BRPORT_SET] = "brport-set",
		[OP_FDB_ADD] = "fdb-add",	[OP_FDB_DEL] = "fdb-del",
		[OP_NEIGH_SET] = "neigh-set",	[OP_NEIGH_DEL] = "neigh-del",
	};
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < p->n_ops; i++) {
		const struct op *op = &p->ops[i];
		char a[IP4_STRLEN];

		strbuf_appendf(&sb, "%s %s", names[op->kind], op->name);
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
			strbuf_appendf(&sb, " master %s %s mtu %u",
				       *op->master ? op->master : "none", op->up ? "up" : "down",
				       op->mtu);
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
			break;
		}
		strbuf_append(&sb, "\n");
	}
	return strbuf_steal(&sb);
}

int plan_apply(const struct plan *p, const struct kernel_ops *ops)
{
	int first = 0;

	for (size_t i = 0; i < p->n_ops; i++) {
		const struct op *op = &p->ops[i];
		int r = ops->exec(ops->userdata, op);
		bool is_add = op->kind == OP_BRIDGE_ADD || op->kind == OP_VXLAN_ADD ||
			      op->kind == OP_VLAN_ADD || op->kind == OP_FDB_ADD ||
			      op->kind == OP_NEIGH_SET;
		bool is_del = op->kind == OP_LINK_DEL || op->kind == OP_FDB_DEL ||
			      op->kind == OP_NEIGH_DEL;

		if ((r == -EEXIST && is_add) || (r == -ENOENT && is_del) ||
		    (r == -ENODEV && is_del))
			r = 0;
		if (r < 0 && !first)
			first = r;
	}
	return first;
}
