/* The node's desired state: L2, then routers, then the overlay. */
#include "agent/node.h"

#include <stdlib.h>
#include "agent/routers.h"
#include "base/xalloc.h"

static uint64_t mix(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;
}

void node_compute(struct replica *r, const struct d_node *node, struct desired *prev,
		  struct desired *out)
{
	struct r_node rn = {node->host, node->ns_prefix ? node->ns_prefix : "", node->physnets,
			    node->bgp_nexthop, node->bgp_physnets};

	desired_ports(r->live, node, out);
	out->routers = xcalloc(1, sizeof(*out->routers));
	routers_compute(r->live, &rn, out, prev ? prev->routers : NULL, out->routers);
	desired_overlay(r->live, node, out);
}

void node_done(struct desired *d)
{
	if (d->routers) {
		routers_done(d->routers);
		free(d->routers);
	}
	desired_done(d);
}

uint64_t node_level_stamp(const struct model *m, const struct desired *d)
{
	const unsigned types = 1u << M_NETWORK | 1u << M_SUBNET | 1u << M_PORT | 1u << M_AGENT;
	uint64_t h = model_stamp(m, types);

	for (size_t i = 0; d->routers && i < d->routers->n; i++) {
		const struct d_router *r = &d->routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			h = mix(h, r->legs[j].peer);
			h = mix(h, r->legs[j].bridge);
			h = (h ^ r->legs[j].mtu) * 1099511628211ull;
		}
	}
	return h;
}
