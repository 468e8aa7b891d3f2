/* The security-group tables in the kernel: what one change costs on a node
 * with many ports. Runs in a network namespace of its own (unshare: it
 * goes with the process), builds the state for N ports with the real
 * builder and applies it with libnftables, then applies, each the median of
 * 9 runs: one rule added to the group of the first 500 ports, one port
 * added, one port's address pair changed. The same changes on a node with
 * one port are the baseline: the ratio says how much of the cost grows
 * with the node. Both ways to hook the ports (nft/ruleset.h): bridge
 * chains, and netdev chains of the ports' taps (two base chains a port)
 * where the kernel allows them.
 *
 *   build/bench-nft [PORTS]   (default 2000; as root) */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "nft/nft.h"
#include "nft/ruleset.h"

#define RUNS	 9
#define GROUPS	 10
#define RULES	 20
#define SHARED	 500
#define MAXPORTS 60000

struct node {
	struct nft_port_in *ports; /* room for one more (change_port) */
	size_t n_ports, base;	   /* base: the ports it was made with */
	struct nft_rule_in rules[GROUPS * RULES + 1];
	size_t n_rules;
	struct ip4_cidr *members;
	struct nft_group_in group;
	struct nft_state cur;
	struct nft_handle *h;
};

static void port_at(struct nft_port_in *p, size_t i)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->tap, sizeof(p->tap), "tap%05zu", i);
	snprintf(p->bridge, sizeof(p->bridge), "brqbench");
	p->idx = (uint16_t) (i + 1);
	p->mac[0] = 0xfa;
	p->mac[1] = 0x16;
	p->mac[4] = (uint8_t) (i >> 8);
	p->mac[5] = (uint8_t) i;
	p->ips[0] = 0x0a000000u | (uint32_t) (i + 2);
	p->n_ips = 1;
	p->port_security = true;
	snprintf(p->sgs[0], sizeof(p->sgs[0]), "sg%zu", i < SHARED ? 0 : 1 + i % (GROUPS - 1));
	p->n_sgs = 1;
}

static void node_init(struct node *n, size_t ports)
{
	memset(n, 0, sizeof(*n));
	n->ports = xcalloc(ports + 1, sizeof(*n->ports));
	n->members = xcalloc(ports + 1, sizeof(*n->members));
	for (size_t i = 0; i < ports; i++) {
		port_at(&n->ports[i], i);
		if (i < SHARED)
			n->members[n->group.n_ips++] = (struct ip4_cidr){n->ports[i].ips[0], 32};
	}
	n->n_ports = n->base = ports;
	for (int g = 0; g < GROUPS; g++)
		for (int r = 0; r < RULES; r++) {
			struct nft_rule_in *ru = &n->rules[n->n_rules++];

			memset(ru, 0, sizeof(*ru));
			snprintf(ru->sg_id, sizeof(ru->sg_id), "sg%d", g);
			ru->ingress = r > 0;
			strcpy(ru->proto, r > 0 ? "tcp" : "");
			ru->pmin = ru->pmax = r > 0 ? 1000 + r : -1;
			if (r == 1)
				strcpy(ru->remote_group, "sg0");
		}
	strcpy(n->group.sg_id, "sg0");
	n->group.ips = n->members;
	if (nft_handle_new(&n->h) < 0) {
		fprintf(stderr, "bench-nft: no libnftables context\n");
		exit(1);
	}
}

static void node_done(struct node *n)
{
	nft_state_done(&n->cur);
	nft_handle_free(n->h);
	free(n->ports);
	free(n->members);
}

static bool netdev_mode;

static void input(struct node *n, struct nft_input *in)
{
	*in = (struct nft_input){.ports = n->ports,
				 .n_ports = n->n_ports,
				 .rules = n->rules,
				 .n_rules = n->n_rules,
				 .groups = &n->group,
				 .n_groups = 1,
				 .netdev = netdev_mode};
}

static void apply(struct node *n, const char *script)
{
	char *err = NULL;

	if (*script && nft_apply(n->h, script, &err) < 0) {
		fprintf(stderr, "bench-nft: nft refused the script: %s\n", err ? err : "");
		exit(1);
	}
	free(err);
}

/* Builds from the current state and applies the diff: ms. */
static double step(struct node *n)
{
	struct nft_input in;
	struct nft_state next;
	uint64_t t0 = time_mono_us();
	char *d;

	input(n, &in);
	nft_build(&in, &n->cur, &next);
	d = nft_script_diff(&n->cur, &next);
	apply(n, d);
	free(d);
	nft_state_done(&n->cur);
	n->cur = next;
	return (double) (time_mono_us() - t0) / 1000.0;
}

static double load(struct node *n)
{
	struct nft_input in;
	uint64_t t0 = time_mono_us();
	char *full;

	input(n, &in);
	nft_build(&in, NULL, &n->cur);
	full = nft_script_full(&n->cur);
	apply(n, full);
	free(full);
	return (double) (time_mono_us() - t0) / 1000.0;
}

static void change_rule(struct node *n, bool undo)
{
	n->n_rules = GROUPS * RULES + !undo;
	memset(&n->rules[GROUPS * RULES], 0, sizeof(n->rules[0]));
	strcpy(n->rules[GROUPS * RULES].sg_id, "sg0");
	n->rules[GROUPS * RULES].ingress = true;
	strcpy(n->rules[GROUPS * RULES].proto, "udp");
	n->rules[GROUPS * RULES].pmin = n->rules[GROUPS * RULES].pmax = 53;
}

/* The node's own count: a count kept across nodes made the big node's
 * "port added" and "pair changed" run on a node cut to the small one's
 * ports. */
static void change_port(struct node *n, bool undo)
{
	if (undo) {
		n->n_ports = n->base;
	} else {
		port_at(&n->ports[n->base], n->base);
		n->n_ports = n->base + 1;
	}
}

static void change_pair(struct node *n, bool undo)
{
	struct nft_port_in *p = &n->ports[n->n_ports - 1];

	p->n_pairs = !undo;
	p->pairs[0].cidr = (struct ip4_cidr){0x0ac80000, 24};
	memcpy(p->pairs[0].mac, p->mac, 6);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double median(struct node *n, void (*change)(struct node *, bool))
{
	double t[RUNS];

	for (int i = 0; i < RUNS; i++) {
		change(n, true);
		step(n);
		change(n, false);
		t[i] = step(n);
	}
	change(n, true);
	step(n);
	qsort(t, RUNS, sizeof(t[0]), by_value);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	long ports = argc > 1 ? atol(argv[1]) : 2000;
	struct node small, big;
	double lsmall, lbig, f[2][3];
	static const char *what[3] = {"one rule on the group of 500 ports", "one port added",
				      "one port's address pair changed"};
	void (*changes[3])(struct node *, bool) = {change_rule, change_port, change_pair};

	if (ports < SHARED || ports >= MAXPORTS) {
		fprintf(stderr, "usage: bench-nft [PORTS (%d-%d)]   (as root)\n", SHARED,
			MAXPORTS - 1);
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("bench-nft: unshare(CLONE_NEWNET) (run as root)");
		return 1;
	}
	log_set_level(LOG_LVL_WARN);
	printf("security-group tables in the kernel (libnftables), median of %d, ms\n", RUNS);
	for (int mode = 0; mode < 2; mode++) {
		netdev_mode = mode;
		if (netdev_mode) {
			struct nft_handle *h;

			if (nft_handle_new(&h) < 0)
				return 1;
			bool can = nft_netdev_hooks_by_name(h);

			nft_handle_free(h);
			if (!can) {
				printf("netdev chains: this kernel cannot hook them by name\n");
				break;
			}
		}
		node_init(&small, 1);
		lsmall = load(&small);
		for (int c = 0; c < 3; c++)
			f[0][c] = median(&small, changes[c]);
		node_done(&small);
		/* The same namespace: the big node replaces the small one's
		 * tables. */
		node_init(&big, (size_t) ports);
		lbig = load(&big);
		for (int c = 0; c < 3; c++)
			f[1][c] = median(&big, changes[c]);
		node_done(&big);
		printf("%-40s %10s %10s %8s\n",
		       netdev_mode ? "ports' hooks: netdev chains of their taps"
				   : "ports' hooks: bridge chains",
		       "1 port", "ports", "ratio");
		printf("%-40s %10.2f %10.2f %8.1f   (%ld ports)\n", "full load (from nothing)",
		       lsmall, lbig, lbig / lsmall, ports);
		for (int c = 0; c < 3; c++)
			printf("%-40s %10.2f %10.2f %8.1f\n", what[c], f[0][c], f[1][c],
			       f[1][c] / f[0][c]);
	}
	return 0;
}
