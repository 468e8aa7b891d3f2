/* A fake kernel for the reconciler: the observed state itself, in memory,
 * changed by the ops of a plan as the real kernel would change (links with
 * masters and link groups, FDB and neighbour entries, router namespaces
 * with their legs, addresses, routes, rules, neighbours and nftables
 * stamps). Unit tests run whole passes against it without root: golden
 * plans, idempotence (a second plan is empty), minimality, drift repair,
 * ownership. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/reconcile.h"

struct kernel_fake {
	struct observed o; /* node: links, fdb, neigh; ns: every namespace, dumped */
	int next_ifindex;
	uint32_t tunnel;
	size_t calls;	/* ops executed */
	size_t n_garps; /* gratuitous ARPs sent */
};

void kernel_fake_init(struct kernel_fake *f, uint32_t tunnel);
void kernel_fake_done(struct kernel_fake *f);
struct kernel_ops kernel_fake_ops(struct kernel_fake *f);

/* For tests that make drift or foreign objects: a node link (ours: in our
 * link group), a namespace (ours: with our marker), a namespace's link. */
struct k_link *kernel_fake_link(struct kernel_fake *f, const char *name, const char *kind,
				bool ours);
struct k_link *kernel_fake_find(struct kernel_fake *f, const char *name);
struct ns_observed *kernel_fake_ns(struct kernel_fake *f, const char *name, bool ours);

/* One pass: dump (every namespace, or only those want_ns names: NULL for
 * all), plan, apply. Returns the plan's text (caller frees); *ret_failed
 * (may be NULL) the number of ops that failed. */
char *kernel_fake_pass(struct kernel_fake *f, const struct desired *d,
		       bool (*want_ns)(void *data, const char *name), void *data,
		       size_t *ret_failed);
/* A pass that looks at router namespaces only (sync.c's pass when the node
 * level's stamp did not change): the namespaces want_ns names (every one
 * when NULL) dumped. */
char *kernel_fake_pass_routers(struct kernel_fake *f, const struct desired *d,
			       bool (*want_ns)(void *data, const char *name), void *data);
