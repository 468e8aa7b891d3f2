/* The agent's pass without the kernel: how much computing one change costs
 * on a big node. A model of R distributed routers, each with a subnet of P
 * VMs on this node and a Floating IP per VM (the first 500 VMs share one
 * security group, the others one per router), is loaded as a snapshot; then
 * passes run against the in-memory kernel (kernel_fake) with the real
 * nftables builder (no kernel write): the first (from nothing), a full
 * pass without change (the baseline: every step computed, as the periodic
 * check does; the security-group tables are not built when nothing they are
 * made from changed, as sync.c does), one Floating IP associated, one rule
 * added to the shared security group (as sync.c: the tables alone, since
 * only a security group changed); each the median of 9 runs. Each line
 * prints the phases in ms, the plan's ops and nftables commands, and the
 * ratio to the baseline. *
 *   build/bench-agent [ROUTERS [PORTS_PER_ROUTER]]   (default 200 10) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/kernel_fake.h"
#include "agent/node.h"
#include "agent/replica.h"
#include "agent/routers.h"
#include "agent/secgroups.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "nft/ruleset.h"

#define HOST   "compute-1"
#define BIG_SG 500

static int64_t revision;

static void feed(struct replica *r, const char *op, const char *type, json_t *doc)
{
	json_t *line;

	if (!revision)
		revision = 1;
	line = json_pack("{s:s, s:I, s:s, s:O, s:o}", "op", op, "revision",
			 (json_int_t) (strcmp(op, "snapshot") ? ++revision : revision), "type",
			 type, "id", json_object_get(doc, "id"), "object", doc);
	if (replica_apply(r, line) < 0) {
		fprintf(stderr, "bench-agent: a %s was refused\n", type);
		exit(1);
	}
	json_decref(line);
}

static void mark(struct replica *r, const char *op)
{
	json_t *line = json_pack("{s:s, s:i}", "op", op, "revision", 1);

	replica_apply(r, line);
	json_decref(line);
}

static json_t *sg_doc(const char *id, int extra_rules)
{
	json_t *rules = json_pack(
		"[{s:s, s:s, s:s, s:i, s:i, s:n, s:n}, {s:s, s:s, s:n, s:n, s:n, s:n, s:s}]",
		"direction", "ingress", "ethertype", "IPv4", "protocol", "tcp", "port_range_min",
		22, "port_range_max", 22, "remote_ip_prefix", "remote_group_id", "direction",
		"ingress", "ethertype", "IPv4", "protocol", "port_range_min", "port_range_max",
		"remote_ip_prefix", "remote_group_id", id);

	for (int i = 0; i < extra_rules; i++)
		json_array_append_new(rules,
				      json_pack("{s:s, s:s, s:s, s:i, s:i, s:n, s:n}", "direction",
						"ingress", "ethertype", "IPv4", "protocol", "tcp",
						"port_range_min", 8080 + i, "port_range_max",
						8080 + i, "remote_ip_prefix", "remote_group_id"));
	return json_pack("{s:s, s:o}", "id", id, "security_group_rules", rules);
}

static json_t *fip_doc(int vm, const char *router, const char *fip, const char *fixed,
		       bool associated)
{
	char id[32], port[32];

	snprintf(id, sizeof(id), "fip-%d", vm);
	snprintf(port, sizeof(port), "vm-%d", vm);
	if (!associated)
		return json_pack("{s:s, s:s, s:n, s:s, s:n}", "id", id, "router_id", router,
				 "port_id", "floating_ip_address", fip, "fixed_ip_address");
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "router_id", router, "port_id",
			 port, "floating_ip_address", fip, "fixed_ip_address", fixed);
}

static void load(struct replica *r, int routers, int per)
{
	char id[64], sg[64], cidr[32], ip[32], gw[32], mac[32], fip[32];
	int vm = 0;

	replica_init(r);
	mark(r, "snapshot_begin");
	feed(r, "snapshot", "agent",
	     json_pack("{s:s, s:s, s:{s:s}}", "id", "a1", "host", HOST, "configurations",
		       "tunnel_address", "100.127.0.11"));
	feed(r, "snapshot", "network",
	     json_pack("{s:s, s:s, s:s, s:i}", "id", "ext", "provider:network_type", "flat",
		       "provider:physical_network", "public", "mtu", 1500));
	feed(r, "snapshot", "subnet",
	     json_pack("{s:s, s:s, s:s, s:s}", "id", "gw", "network_id", "ext", "cidr",
		       "100.64.0.0/16", "gateway_ip", "100.64.0.1"));
	feed(r, "snapshot", "security_group", sg_doc("sgbig", 0));
	for (int i = 0; i < routers; i++) {
		char rid[40], net[40], sub[40];

		snprintf(rid, sizeof(rid), "router-%d", i);
		snprintf(net, sizeof(net), "net-%d", i);
		snprintf(sub, sizeof(sub), "sub-%d", i);
		snprintf(cidr, sizeof(cidr), "10.%d.%d.0/24", i / 250, i % 250);
		snprintf(gw, sizeof(gw), "10.%d.%d.1", i / 250, i % 250);
		snprintf(sg, sizeof(sg), "sg-%d", i);
		feed(r, "snapshot", "security_group", sg_doc(sg, 0));
		feed(r, "snapshot", "network",
		     json_pack("{s:s, s:s, s:i, s:i}", "id", net, "provider:network_type", "vxlan",
			       "provider:segmentation_id", 1000 + i, "mtu", 1450));
		feed(r, "snapshot", "subnet",
		     json_pack("{s:s, s:s, s:s, s:s}", "id", sub, "network_id", net, "cidr", cidr,
			       "gateway_ip", gw));
		feed(r, "snapshot", "router",
		     json_pack("{s:s, s:b, s:b, s:s, s:{s:s, s:b}}", "id", rid, "admin_state_up", 1,
			       "distributed", 1, "snat_mode", "distributed",
			       "external_gateway_info", "network_id", "ext", "enable_snat", 1));
		snprintf(id, sizeof(id), "qr-%d", i);
		snprintf(mac, sizeof(mac), "fa:16:3e:01:%02x:%02x", i / 256, i % 256);
		feed(r, "snapshot", "port",
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "id", id,
			       "network_id", net, "device_id", rid, "device_owner",
			       "network:router_interface_distributed", "mac_address", mac,
			       "binding:host_id", "", "fixed_ips", "subnet_id", sub, "ip_address",
			       gw));
		snprintf(id, sizeof(id), "qg-%d", i);
		snprintf(mac, sizeof(mac), "fa:16:3e:02:%02x:%02x", i / 256, i % 256);
		snprintf(ip, sizeof(ip), "100.64.%d.%d", 1 + i / 250, 2 + i % 250);
		feed(r, "snapshot", "port",
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "id", id,
			       "network_id", "ext", "device_id", rid, "device_owner",
			       "network:router_gateway", "mac_address", mac, "binding:host_id", "",
			       "fixed_ips", "subnet_id", "gw", "ip_address", ip));
		for (int j = 0; j < per; j++, vm++) {
			snprintf(id, sizeof(id), "vm-%d", vm);
			snprintf(mac, sizeof(mac), "fa:16:3e:03:%02x:%02x", vm / 256, vm % 256);
			snprintf(ip, sizeof(ip), "10.%d.%d.%d", i / 250, i % 250, 10 + j);
			snprintf(fip, sizeof(fip), "203.%d.%d.%d", vm / 65536, (vm / 256) % 256,
				 vm % 256);
			feed(r, "snapshot", "port",
			     json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:[s], s:[{s:s, s:s}]}",
				       "id", id, "network_id", net, "device_owner", "compute:bench",
				       "mac_address", mac, "binding:host_id", HOST,
				       "port_security_enabled", 1, "admin_state_up", 1,
				       "security_groups", vm < BIG_SG ? "sgbig" : sg, "fixed_ips",
				       "subnet_id", sub, "ip_address", ip));
			feed(r, "snapshot", "floatingip", fip_doc(vm, rid, fip, ip, true));
		}
	}
	mark(r, "snapshot_end");
}

struct figures {
	double model, plan, nft;
	size_t ops, nft_cmds;
};

struct bench {
	struct replica r;
	struct kernel_fake k;
	struct desired d;
	struct port_index pi;
	struct nft_state last;
	bool applied;
	uint64_t stamp;		   /* of the input last built, as sync.c keeps it */
	uint64_t node_stamp;	   /* of the node level last planned */
	uint64_t serial, gen;	   /* the model the last pass saw */
	bool full;		   /* compute every step (the baseline) */
	struct nft_input ports_in; /* as sync.c's */
	uint64_t ports_stamp;
	struct ns_marks synced; /* as sync.c's */
};

/* As sync.c: a namespace is looked at when its desired state changed. */
static bool want_ns(void *data, const char *name)
{
	struct bench *b = data;
	const struct d_router *d = routers_find(b->d.routers, name);

	return d && !ns_marks_match(&b->synced, d);
}

static void note_synced(struct bench *b)
{
	for (size_t i = 0; i < b->d.routers->n; i++)
		ns_marks_set(&b->synced, b->d.routers->r[i].ns, b->d.routers->r[i].hash);
}

static double ms_since(uint64_t t0)
{
	return (double) (time_mono_us() - t0) / 1000.0;
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One pass as sync.c does it, against the fake kernel; the nftables part
 * is built and diffed, not applied. */
static struct figures pass(struct bench *b)
{
	struct d_node node = {HOST, 0x647f000b, false, "bench-", NULL, 0, NULL, NULL};
	struct figures f = {0};
	struct nft_input in;
	struct nft_state st;
	uint64_t t0 = time_mono_us();
	char *text, *script;

	struct desired prev = b->d;
	bool tables = !b->full && b->applied && node_tables_only(b->r.live, b->serial, b->gen);

	b->serial = b->r.live->serial;
	b->gen = b->r.live->generation;
	/* As sync.c: when only security or address groups changed, the tables
	 * alone. */
	if (!tables) {
		b->d = (struct desired){0};
		node_compute(&b->r, &node, &prev, &b->d);
		node_done(&prev);
	}
	f.model = ms_since(t0);
	t0 = time_mono_us();
	/* As sync.c: when nothing the node level reads changed, router
	 * namespaces only; and only those whose desired state changed. */
	if (tables)
		text = NULL;
	else if (b->applied && node_level_stamp(b->r.live, &b->d) == b->node_stamp)
		text = kernel_fake_pass_routers(&b->k, &b->d, want_ns, b);
	else
		text = kernel_fake_pass(&b->k, &b->d, want_ns, b, NULL);
	b->node_stamp = node_level_stamp(b->r.live, &b->d);
	note_synced(b);
	f.ops = text ? lines(text) : 0;
	free(text);
	f.plan = ms_since(t0);
	t0 = time_mono_us();
	if (b->applied && secgroups_stamp(b->r.live, &b->d) == b->stamp) {
		f.nft = ms_since(t0);
		return f;
	}
	b->stamp = secgroups_stamp(b->r.live, &b->d);
	port_index_sync(&b->pi, &b->d);
	/* As sync.c: the ports half of the input kept while the desired L2 is
	 * the same. */
	if (b->ports_stamp != b->d.l2_stamp) {
		secgroups_input_done(&b->ports_in);
		secgroups_input_ports(&b->r, &b->d, &b->pi, &b->ports_in);
		b->ports_stamp = b->d.l2_stamp;
	}
	in = b->ports_in;
	in.ports_stamp = b->ports_stamp;
	secgroups_input_groups(&b->r, &in);
	nft_build(&in, &b->last, &st);
	secgroups_input_groups_done(&in);
	script = b->applied ? nft_script_diff(&b->last, &st) : nft_script_full(&st);
	f.nft_cmds = lines(script);
	free(script);
	nft_state_done(&b->last);
	b->last = st;
	b->applied = true;
	f.nft = ms_since(t0);
	return f;
}

static double total(struct figures f)
{
	return f.model + f.plan + f.nft;
}

static void print(const char *what, struct figures f, double base)
{
	printf("  %-38s %9.2f ms  x%-7.1f model %7.2f  plan+apply %7.2f  nftables %7.2f  "
	       "| %zu ops, %zu nftables commands\n",
	       what, total(f), base > 0 ? total(f) / base : 1.0, f.model, f.plan, f.nft, f.ops,
	       f.nft_cmds);
}

/* The changes measured; each is undone by an unmeasured pass before it
 * runs again. `i` counts the runs. */
static void change_none(struct bench *b, int i, bool undo)
{
	(void) i, (void) undo;
	b->full = true; /* every step computed, as a full pass does */
}

/* The first VM's Floating IP, disassociated (undo), then associated. */
static void change_fip(struct bench *b, int i, bool undo)
{
	(void) i;
	feed(&b->r, "update", "floatingip",
	     fip_doc(0, "router-0", "203.0.0.0", undo ? NULL : "10.0.0.10", !undo));
}

/* One rule more on the group of 500 ports (run i: from i extra rules to i + 1). */
static void change_sg(struct bench *b, int i, bool undo)
{
	feed(&b->r, "update", "security_group", sg_doc("sgbig", undo ? i : 1 + i));
}

#define RUNS 9

static int by_total(const void *x, const void *y)
{
	double a = total(*(const struct figures *) x), c = total(*(const struct figures *) y);

	return (a > c) - (a < c);
}

/* The median run of a change (by total time); the time spent applying the
 * feed line counts as model time. */
static struct figures median_of(struct bench *b, void (*change)(struct bench *b, int i, bool undo))
{
	struct figures f[RUNS];

	for (int i = 0; i < RUNS; i++) {
		uint64_t t0;

		change(b, i, true);
		pass(b);
		t0 = time_mono_us();
		change(b, i, false);
		f[i] = pass(b);
		f[i].model += ms_since(t0) - total(f[i]);
	}
	qsort(f, RUNS, sizeof(*f), by_total);
	return f[RUNS / 2];
}

int main(int argc, char **argv)
{
	int routers = argc > 1 ? atoi(argv[1]) : 200, per = argc > 2 ? atoi(argv[2]) : 10;
	struct bench b = {0};
	struct figures cold, base, fip, sg;
	uint64_t t0;

	if (routers < 1 || routers > 60000 || per < 1 || per > 240) {
		fprintf(stderr,
			"usage: bench-agent [ROUTERS (1-60000) [PORTS_PER_ROUTER (1-240)]]\n");
		return 2;
	}
	log_set_level(LOG_LVL_WARN);
	kernel_fake_init(&b.k, 0x647f000b);
	t0 = time_mono_us();
	load(&b.r, routers, per);
	printf("agent pass without the kernel: %d routers, %d ports with a Floating IP each, "
	       "one security group of %d ports (snapshot loaded in %.1f ms)\n",
	       routers, routers * per, routers * per < BIG_SG ? routers * per : BIG_SG,
	       ms_since(t0));
	cold = pass(&b);
	base = pass(&b);
	print("first pass (from nothing)", cold, 0);
	base = median_of(&b, change_none);
	b.full = false;
	print("no change (baseline)", base, 0);
	fip = median_of(&b, change_fip);
	print("one Floating IP associated", fip, total(base));
	sg = median_of(&b, change_sg);
	print("one rule on the shared group", sg, total(base));
	node_done(&b.d);
	nft_state_done(&b.last);
	secgroups_input_done(&b.ports_in);
	port_index_done(&b.pi);
	ns_marks_done(&b.synced);
	kernel_fake_done(&b.k);
	replica_done(&b.r);
	return 0;
}
