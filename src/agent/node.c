/* The node's desired state: L2, then routers, then the overlay. */
#include "agent/node.h"

#include <stdlib.h>
#include "agent/routers.h"
#include "base/xalloc.h"

void node_compute(struct replica *r, const struct d_node *node, struct desired *out)
{
	struct r_node rn = {node->host, node->ns_prefix ? node->ns_prefix : "", node->physnets};

	desired_ports(r->live, node, out);
	out->routers = xcalloc(1, sizeof(*out->routers));
	routers_compute(r->live, &rn, out, out->routers);
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
