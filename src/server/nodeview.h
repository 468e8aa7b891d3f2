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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/store.h"

struct nodeview;
/* What one view read (its documents and index entries), kept by the stream
 * to ask nodeview_may_differ after each change. */
struct nodeview_deps;

struct nodeview *nodeview_new(void);
void nodeview_free(struct nodeview *v);

/* With the store's lock held: the documents host needs at the store's
 * committed revision, as a new {type: {id: doc}} (documents shared with the
 * store, see store_get_shared). Brings the indexes up to date first.
 * *ret_deps (new reference) gets what the computation read: the result is a
 * function of those documents and index entries only. */
json_t *nodeview_compute(struct nodeview *v, struct store *s, const char *host,
			 struct nodeview_deps **ret_deps);

/* With the store's lock held: whether a view computed at revision `rev`
 * that read `deps` may differ at the committed revision (a change since
 * touched one of its documents or index entries). false is exact: the view
 * is the same; true may be conservative (the journal of changes no longer
 * reaches back to rev). */
bool nodeview_may_differ(struct nodeview *v, struct store *s, int64_t rev,
			 const struct nodeview_deps *deps);
void nodeview_deps_free(struct nodeview_deps *d);
/* How many distinct keys it holds (for tests). */
size_t nodeview_deps_count(const struct nodeview_deps *d);

/* The order types are sent in: a document after those it refers to. NULL
 * terminated. */
extern const char *const nodeview_types[];
