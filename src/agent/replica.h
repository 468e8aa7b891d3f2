/* The agent's replica of the model: every document the change feed carries
 * that the agent uses, typed (model/model.h), and the revision of the last
 * change applied. A snapshot is staged and only replaces the live replica
 * when it is complete, so that the agent never reconciles against a
 * half-received model (which would delete kernel objects that are still
 * wanted). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"

struct replica {
	struct model *live;
	struct model *staging; /* during a snapshot, else NULL */
	int64_t revision;
	bool synced;	  /* a complete snapshot has been applied */
	size_t n_refused; /* documents refused (invalid id) since start */
};

void replica_init(struct replica *r);
void replica_done(struct replica *r);

/* Applies one feed line ({"op", "revision", "type", "id", "object"}).
 * Returns 1 when the live model changed, 0 when not (ping, duplicate, staged
 * snapshot line, a type the agent does not use), -EBADMSG for a malformed
 * line, -EINVAL for a document refused by the model (its id); neither
 * changes the model. */
int replica_apply(struct replica *r, json_t *line);
