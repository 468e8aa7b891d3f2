/* The reconciler against a fake kernel: plans, idempotence, drift repair. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agent/reconcile.h"
#include "base/ip4.h"
#include "base/xalloc.h"
#include "test.h"

/* A fake kernel: the observed state itself, changed by the ops. */
struct fake {
	struct observed o;
	int next_ifindex;
	uint32_t tunnel;
	int calls;
};

static struct k_link *flink(struct fake *f, const char *name)
{
	for (size_t i = 0; i < f->o.n_links; i++)
		if (strcmp(f->o.links[i].name, name) == 0)
			return &f->o.links[i];
	return NULL;
}

static struct k_link *fadd(struct fake *f, const char *name, const char *kind)
{
	struct k_link *l;

	f->o.links = xrealloc(f->o.links, (f->o.n_links + 1) * sizeof(*f->o.links));
	l = &f->o.links[f->o.n_links++];
	memset(l, 0, sizeof(*l));
	l->ifindex = f->next_ifindex++;
	strcpy(l->name, name);
	strcpy(l->kind, kind);
	l->mtu = 1500;
	return l;
}

static int fake_dump(void *userdata, struct observed *ret)
{
	struct fake *f = userdata;

	ret->links = xmalloc(sizeof(*ret->links) * (f->o.n_links + 1));
	if (f->o.n_links)
		memcpy(ret->links, f->o.links, sizeof(*ret->links) * f->o.n_links);
	ret->n_links = f->o.n_links;
	ret->fdb = xmalloc(sizeof(*ret->fdb) * (f->o.n_fdb + 1));
	if (f->o.n_fdb)
		memcpy(ret->fdb, f->o.fdb, sizeof(*ret->fdb) * f->o.n_fdb);
	ret->n_fdb = f->o.n_fdb;
	ret->neigh = xmalloc(sizeof(*ret->neigh) * (f->o.n_neigh + 1));
	if (f->o.n_neigh)
		memcpy(ret->neigh, f->o.neigh, sizeof(*ret->neigh) * f->o.n_neigh);
	ret->n_neigh = f->o.n_neigh;
	return 0;
}

static int fake_exec(void *userdata, const struct op *op)
{
	struct fake *f = userdata;
	struct k_link *l = flink(f, op->name);

	f->calls++;
	switch (op->kind) {
	case OP_BRIDGE_ADD:
	case OP_VXLAN_ADD:
	case OP_VLAN_ADD:
		if (l)
			return -EEXIST;
		l = fadd(f, op->name,
			 op->kind == OP_BRIDGE_ADD ? "bridge"
			 : op->kind == OP_VLAN_ADD ? "vlan"
						   : "vxlan");
		l->mtu = op->mtu;
		l->vni = op->vni;
		l->local = op->kind == OP_VXLAN_ADD ? f->tunnel : 0;
		return 0;
	case OP_LINK_DEL: {
		if (!l)
			return -ENODEV;
		int idx = l->ifindex;
		size_t w = 0;

		for (size_t i = 0; i < f->o.n_links; i++) {
			if (f->o.links[i].ifindex == idx)
				continue;
			if (f->o.links[i].master == idx)
				f->o.links[i].master = 0;
			f->o.links[w++] = f->o.links[i];
		}
		f->o.n_links = w;
		w = 0;
		for (size_t i = 0; i < f->o.n_fdb; i++)
			if (f->o.fdb[i].ifindex != idx)
				f->o.fdb[w++] = f->o.fdb[i];
		f->o.n_fdb = w;
		w = 0;
		for (size_t i = 0; i < f->o.n_neigh; i++)
			if (f->o.neigh[i].ifindex != idx)
				f->o.neigh[w++] = f->o.neigh[i];
		f->o.n_neigh = w;
		return 0;
	}
	case OP_LINK_SET:
		if (!l)
			return -ENODEV;
		if (strcmp(op->master, "-") != 0) {
			struct k_link *m = op->master[0] ? flink(f, op->master) : NULL;

			if (op->master[0] && !m)
				return -ENODEV;
			l->master = m ? m->ifindex : 0;
		}
		l->up = op->up;
		l->mtu = op->mtu;
		return 0;
	case OP_BRPORT_SET:
		return l ? 0 : -ENODEV;
	case OP_FDB_ADD:
		if (!l)
			return -ENODEV;
		f->o.fdb = xrealloc(f->o.fdb, (f->o.n_fdb + 1) * sizeof(*f->o.fdb));
		f->o.fdb[f->o.n_fdb].ifindex = l->ifindex;
		memcpy(f->o.fdb[f->o.n_fdb].mac, op->mac, 6);
		f->o.fdb[f->o.n_fdb].master = op->fdb_master;
		f->o.fdb[f->o.n_fdb++].dst = op->dst;
		return 0;
	case OP_FDB_DEL:
		for (size_t i = 0; l && i < f->o.n_fdb; i++) {
			if (f->o.fdb[i].ifindex == l->ifindex && f->o.fdb[i].dst == op->dst &&
			    f->o.fdb[i].master == op->fdb_master &&
			    memcmp(f->o.fdb[i].mac, op->mac, 6) == 0) {
				f->o.fdb[i] = f->o.fdb[--f->o.n_fdb];
				return 0;
			}
		}
		return -ENOENT;
	case OP_NEIGH_SET:
		if (!l)
			return -ENODEV;
		for (size_t i = 0; i < f->o.n_neigh; i++) {
			if (f->o.neigh[i].ifindex == l->ifindex && f->o.neigh[i].ip == op->ip) {
				memcpy(f->o.neigh[i].mac, op->mac, 6);
				f->o.neigh[i].permanent = true;
				return 0;
			}
		}
		f->o.neigh = xrealloc(f->o.neigh, (f->o.n_neigh + 1) * sizeof(*f->o.neigh));
		f->o.neigh[f->o.n_neigh] =
			(struct k_neigh){.ifindex = l->ifindex, .ip = op->ip, .permanent = true};
		memcpy(f->o.neigh[f->o.n_neigh++].mac, op->mac, 6);
		return 0;
	case OP_NEIGH_DEL:
		for (size_t i = 0; l && i < f->o.n_neigh; i++) {
			if (f->o.neigh[i].ifindex == l->ifindex && f->o.neigh[i].ip == op->ip) {
				f->o.neigh[i] = f->o.neigh[--f->o.n_neigh];
				return 0;
			}
		}
		return -ENOENT;
	}
	return -EINVAL;
}

static struct desired sample(void)
{
	struct desired d = {0};

	d.n_nets = 1;
	d.nets = xcalloc(1, sizeof(*d.nets));
	strcpy(d.nets[0].id, "net1");
	strcpy(d.nets[0].bridge, "brqnet1");
	strcpy(d.nets[0].vxlan, "vxlan-1001");
	d.nets[0].vni = 1001;
	d.nets[0].mtu = 1450;
	d.n_ports = 1;
	d.ports = xcalloc(1, sizeof(*d.ports));
	strcpy(d.ports[0].tap, "tapport1");
	strcpy(d.ports[0].bridge, "brqnet1");
	d.ports[0].admin_up = true;
	d.n_fdb = 3;
	d.fdb = xcalloc(3, sizeof(*d.fdb));
	strcpy(d.fdb[2].dev, "vxlan-1001");
	d.fdb[2].mac[0] = 0xfa;
	d.fdb[2].master = true;
	strcpy(d.fdb[0].dev, "vxlan-1001");
	d.fdb[0].mac[0] = 0xfa;
	d.fdb[0].dst = 0x647f000c;
	strcpy(d.fdb[1].dev, "vxlan-1001");
	d.fdb[1].dst = 0x647f000c;
	d.n_neigh = 1;
	d.neigh = xcalloc(1, sizeof(*d.neigh));
	strcpy(d.neigh[0].dev, "brqnet1");
	d.neigh[0].ip = 0x0a000006;
	d.neigh[0].mac[0] = 0xfa;
	return d;
}

/* Plans against the fake's state, applies, returns the plan's text. */
static char *pass(struct fake *f, const struct desired *d)
{
	struct kernel_ops ops = {f, fake_dump, fake_exec};
	struct observed o = {0};
	struct plan p;
	char *text;

	fake_dump(f, &o);
	reconcile_plan(d, &o, f->tunnel, &p);
	text = plan_format(&p);
	CHECK(plan_apply(&p, &ops) == 0);
	plan_done(&p);
	observed_done(&o);
	return text;
}

TEST(reconcile_builds_then_is_idempotent)
{
	struct fake f = {.next_ifindex = 10, .tunnel = 0x647f000b};
	struct desired d = sample();
	char *t;

	fadd(&f, "tapport1", "veth"); /* plugged by the "hypervisor" */
	t = pass(&f, &d);
	CHECK_STREQ(t, "bridge-add brqnet1 mtu 1450\n"
		       "link-set brqnet1 master - up mtu 1450\n"
		       "vxlan-add vxlan-1001 vni 1001 mtu 1450\n"
		       "link-set vxlan-1001 master brqnet1 up mtu 1450\n"
		       "brport-set vxlan-1001 learning off neigh_suppress on\n"
		       "link-set tapport1 master brqnet1 up mtu 1450\n"
		       "fdb-add vxlan-1001 fa:00:00:00:00:00 dst 100.127.0.12\n"
		       "fdb-add vxlan-1001 00:00:00:00:00:00 dst 100.127.0.12\n"
		       "fdb-add vxlan-1001 fa:00:00:00:00:00 master\n"
		       "neigh-set brqnet1 10.0.0.6 lladdr fa:00:00:00:00:00\n");
	free(t);
	/* Reconcile twice: the second plan is empty. */
	t = pass(&f, &d);
	CHECK_STREQ(t, "");
	free(t);
	/* Drift: a VXLAN device deleted by hand comes back, with its FDB. */
	struct op del = {.kind = OP_LINK_DEL};
	strcpy(del.name, "vxlan-1001");
	fake_exec(&f, &del);
	t = pass(&f, &d);
	CHECK(strstr(t, "vxlan-add vxlan-1001") != NULL);
	CHECK(strstr(t, "fdb-add vxlan-1001 00:00:00:00:00:00") != NULL);
	CHECK(strstr(t, "bridge-add") == NULL);
	free(t);
	t = pass(&f, &d);
	CHECK_STREQ(t, "");
	free(t);
	/* The network goes: its devices go, the tap is let go, nothing else. */
	struct desired empty = {0};
	fadd(&f, "eth0", "veth");
	t = pass(&f, &empty);
	CHECK_STREQ(t, "link-del vxlan-1001\n"
		       "link-del brqnet1\n"
		       "link-set tapport1 master none down mtu 1450\n");
	free(t);
	CHECK(flink(&f, "tapport1") && flink(&f, "tapport1")->master == 0);
	CHECK(flink(&f, "eth0") != NULL);
	t = pass(&f, &empty);
	CHECK_STREQ(t, "");
	free(t);
	desired_done(&d);
	observed_done(&f.o);
}

TEST(reconcile_replaces_wrong_vxlan_and_stale_entries)
{
	struct fake f = {.next_ifindex = 10, .tunnel = 0x647f000b};
	struct desired d = sample();
	char *t;

	t = pass(&f, &d);
	free(t);
	/* Someone flipped learning on and added a stale FDB entry. */
	flink(&f, "vxlan-1001")->learning = true;
	t = pass(&f, &d);
	CHECK(strncmp(t, "link-del vxlan-1001\n", 20) == 0);
	CHECK(strstr(t, "fdb-add vxlan-1001 00:00:00:00:00:00") != NULL);
	free(t);
	t = pass(&f, &d);
	CHECK_STREQ(t, "");
	free(t);
	f.o.fdb = xrealloc(f.o.fdb, (f.o.n_fdb + 1) * sizeof(*f.o.fdb));
	f.o.fdb[f.o.n_fdb++] = (struct k_fdb){
		flink(&f, "vxlan-1001")->ifindex, {1, 2, 3, 4, 5, 6}, 0x647f0063, false};
	t = pass(&f, &d);
	CHECK_STREQ(t, "fdb-del vxlan-1001 01:02:03:04:05:06 dst 100.127.0.99\n");
	free(t);
	desired_done(&d);
	observed_done(&f.o);
}
