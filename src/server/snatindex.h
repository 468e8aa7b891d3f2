/* The indexes distributed SNAT reads (snat.c), so that a request that binds a
 * port costs in proportion to what it touches, not to the number of ports:
 * the routers with an interface on each subnet, the hosts with a VM port
 * (compute:*, bound) on each subnet, and the blocks of each router.
 *
 * The index follows the store's cache, uncommitted writes included: each
 * refresh re-indexes the documents changed in the committed feed since the
 * last one, those the current transaction wrote, and those it had indexed
 * from an earlier transaction's uncommitted state (which a rollback may have
 * undone). Used with the store's lock held; one per process. */
#pragma once

#include <jansson.h>
#include "server/store.h"

/* Brings the index to the store's current state (see above). */
void snatindex_refresh(struct store *s);
/* Re-indexes one document the caller just wrote or deleted (type "port" or
 * "snat_block"; others are ignored). */
void snatindex_update(struct store *s, const char *type, const char *id);

/* Borrowed {id: n} objects (NULL when empty), valid until the next write. */
json_t *snatindex_subnet_routers(const char *subnet_id);
json_t *snatindex_router_subnets(const char *router_id);
json_t *snatindex_subnet_hosts(const char *subnet_id);
json_t *snatindex_router_blocks(const char *router_id);
/* Every router with a block: borrowed {router_id: {block: n}}. */
json_t *snatindex_blocks_by_router(void);
