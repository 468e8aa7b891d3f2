/* The reconciler against a fake kernel: plans, idempotence, drift repair. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agent/kernel_fake.h"
#include "agent/reconcile.h"
#include "base/ip4.h"
#include "base/xalloc.h"
#include "test.h"

static struct k_link *flink(struct kernel_fake *f, const char *name)
{
	return kernel_fake_find(f, name);
}

static struct k_link *fadd(struct kernel_fake *f, const char *name, const char *kind)
{
	return kernel_fake_link(f, name, kind, false);
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
static char *pass(struct kernel_fake *f, const struct desired *d)
{
	size_t failed = 0;
	char *text = kernel_fake_pass(f, d, NULL, NULL, &failed);

	CHECK(text && failed == 0);
	return text;
}

TEST(reconcile_builds_then_is_idempotent)
{
	struct kernel_fake f;

	kernel_fake_init(&f, 0x647f000b);
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
	kernel_fake_ops(&f).exec(&f, &del);
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
	kernel_fake_done(&f);
}

/* Netfilter on a bridge only while a local port of its network has port
 * security, set on the bridge itself (whatever the sysctls say), once. */
TEST(reconcile_bridge_netfilter_follows_port_security)
{
	struct kernel_fake f;

	kernel_fake_init(&f, 0x647f000b);
	struct desired d = sample();
	char *t;

	fadd(&f, "tapport1", "veth");
	d.nets[0].filtered = true;
	t = pass(&f, &d);
	CHECK(strstr(t, "link-set brqnet1 master - up mtu 1450\nbridge-nf brqnet1 on\n") != NULL);
	free(t);
	CHECK(flink(&f, "brqnet1")->nf_call);
	t = pass(&f, &d);
	CHECK_STREQ(t, "");
	free(t);
	/* Turned off by hand: back on. */
	flink(&f, "brqnet1")->nf_call = false;
	t = pass(&f, &d);
	CHECK_STREQ(t, "bridge-nf brqnet1 on\n");
	free(t);
	/* The last port with port security goes: off, and only that. */
	d.nets[0].filtered = false;
	t = pass(&f, &d);
	CHECK_STREQ(t, "bridge-nf brqnet1 off\n");
	free(t);
	t = pass(&f, &d);
	CHECK_STREQ(t, "");
	free(t);
	desired_done(&d);
	kernel_fake_done(&f);
}

TEST(reconcile_replaces_wrong_vxlan_and_stale_entries)
{
	struct kernel_fake f;

	kernel_fake_init(&f, 0x647f000b);
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
	kernel_fake_done(&f);
}
