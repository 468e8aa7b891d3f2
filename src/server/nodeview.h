/* The part of the model one node needs (the per-node feed's filter).
 *
 * A nodeview holds indexes over the store's documents (ports by host, by
 * network, by router and by security group; subnets by network; Floating IPs
 * by router; routers by hosting node; firewall groups by port; agents by
 * host), brought up to the store's revision from the change feed's keys, so
 * that the documents one node needs are found in time proportional to their
 * number, not to the model's. One nodeview serves every per-node stream of a
 * server; it is used with the store's lock held. The relevance rule itself is
 * written out in nodeview.c. */
#pragma once

#include <jansson.h>
#include "server/store.h"

struct nodeview;

struct nodeview *nodeview_new(void);
void nodeview_free(struct nodeview *v);

/* With the store's lock held: the documents host needs at the store's
 * committed revision, as a new {type: {id: doc}} (documents shared with the
 * store, see store_get_shared). Brings the indexes up to date first. */
json_t *nodeview_compute(struct nodeview *v, struct store *s, const char *host);

/* The order types are sent in: a document after those it refers to. NULL
 * terminated. */
extern const char *const nodeview_types[];
