/* Distributed SNAT (issue 10; the contract is SNAT-CONTRACT.md): the port
 * blocks of a router's gateway addresses handed out per (router, node), the
 * router's SNAT owner (lepton:snat_owner), the grace period of blocks a node
 * no longer needs, and the admin API /v2.0/lepton/snat_blocks.
 *
 * A router "has distributed SNAT" when it is distributed, its snat_mode is
 * distributed, it has a gateway and enable_snat. Its nodes are the hosts of
 * its VM ports (device_owner compute:*) on the subnets of its interfaces;
 * those whose agent is alive need SNAT: each gets a first block at once
 * (in the transaction that made it need one), more on request, and the owner
 * is one of them. A block whose node no longer needs it goes to GRACE for
 * snat_block_grace seconds, back to ACTIVE if the node needs it again, and is
 * freed when the grace runs out. Blocks on an address the router no longer
 * has are freed at once.
 *
 * Three paths keep this true: the generic handlers call snat_before_commit()
 * for the routers a request touched; POST /v2.0/lepton/snat_blocks gives a
 * node one more block; a sweeper thread re-checks every router with SNAT
 * four times a second for what time changes (agent liveness, expiry). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "server/config.h"
#include "server/http.h"
#include "server/resource.h"
#include "server/store.h"

/* The ports blocks are cut from (TCP and UDP ports, ICMP echo ids). */
#define SNAT_PORT_FIRST 1024u
#define SNAT_PORT_LAST	65535u

struct snat_range {
	unsigned min, max;
};

/* How many blocks of `size` ports one address has (the last may be short
 * when size does not divide the range). size > 0. */
unsigned snat_block_count(unsigned size);
/* The ports of block `index`; -ERANGE past the last block. */
int snat_block_range(unsigned size, unsigned index, struct snat_range *ret);
/* The first block of `size` that overlaps none of `used` (ranges already
 * taken on the address, any geometry); -ENOSPC when every block does. */
int snat_block_pick(unsigned size, const struct snat_range *used, size_t used_len,
		    struct snat_range *ret);

extern const struct resource_def snat_block_def;

/* Called by the generic handlers inside a request's transaction, after its
 * writes and before the commit: brings the blocks and owner of every router
 * the writes may concern (its own document, its ports, VM ports on its
 * subnets) up to date. A node left without a block because no address has
 * room is not an error here (the sweeper retries; POST answers 409). */
int snat_before_commit(struct api_ctx *ctx);

/* /v2.0/lepton/snat_blocks[/ID]: `parts` are the path parts after
 * "snat_blocks" (0 or 1); body is the parsed POST body. Takes the store
 * lock itself. Returns the HTTP status or < 0 with ctx->err set. */
int snat_api(struct api_ctx *ctx, const char *method, char **parts, size_t n,
	     const struct http_request *req, json_t *body, json_t **ret_body);

/* The sweeper thread; stop it before the store is freed. */
struct snat_sweeper;
struct snat_sweeper *snat_sweeper_start(struct store *store, const struct server_config *cfg);
void snat_sweeper_stop(struct snat_sweeper *sw);
