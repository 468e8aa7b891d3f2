/* The agent's replica of the model: every document the change feed carries,
 * by type and id, and the revision of the last change applied. A snapshot is
 * staged and only replaces the live replica when it is complete, so that the
 * agent never reconciles against a half-received model (which would delete
 * kernel objects that are still wanted). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct replica {
	json_t *live;	 /* {type: {id: doc}} */
	json_t *staging; /* during a snapshot, else NULL */
	int64_t revision;
	bool synced; /* a complete snapshot has been applied */
};

void replica_init(struct replica *r);
void replica_done(struct replica *r);

/* Applies one feed line ({"op", "revision", "type", "id", "object"}).
 * Returns 1 when the live model changed, 0 when not (ping, duplicate, staged
 * snapshot line), -EBADMSG for a malformed line. */
int replica_apply(struct replica *r, json_t *line);

/* The documents of a type ({id: doc}), borrowed; an empty object if none. */
json_t *replica_type(struct replica *r, const char *type);
/* A document, borrowed, or NULL. */
json_t *replica_get(struct replica *r, const char *type, const char *id);
