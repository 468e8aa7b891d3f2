/* The composer: a node's whole desired state from the model, L2 and L3
 * together, above both (desired.h does not know routers; routers.h adds
 * the networks its legs need to L2). Pure. */
#pragma once

#include "agent/desired.h"
#include "agent/replica.h"

/* Fills *out: the node's ports and networks (desired.h), its router
 * namespaces (out->routers, routers.h), then the overlay entries of every
 * network either needs. prev (or NULL): the node's previous desired state,
 * whose router namespaces are taken over where their inputs did not change
 * (free it with node_done after). */
void node_compute(struct replica *r, const struct d_node *node, struct desired *prev,
		  struct desired *out);
/* Frees *out and its routers. */
void node_done(struct desired *d);
/* A stamp of what the node level of a plan (links, FDB, neighbours, router
 * legs' node ends) is made from: the documents it reads (networks, subnets,
 * ports, agents) and the router legs. Equal stamps: the node level needs no
 * new look unless the kernel changed (a link event, or the periodic pass). */
uint64_t node_level_stamp(const struct model *m, const struct desired *d);
/* Whether, since the model m was at (serial, generation), only documents
 * that nothing but the nftables tables are made of changed (security
 * groups with their rules, address groups): the node's links, addresses,
 * routes and router namespaces are the same, document for document. False
 * when m is another model (a new snapshot). */
bool node_tables_only(const struct model *m, uint64_t serial, uint64_t generation);
