/* What the agent has to tell the server, coalesced: its registration, one
 * heartbeat, and the latest status of each port. Pure (no I/O, no clock, no
 * lock): the client's reporter thread asks what to send next, sends it, and
 * says how it went; the event loop only adds to it.
 *
 * A port's new status replaces the one queued for it, so only the latest
 * state is ever sent; a report being sent is never replaced under the
 * sender, and a newer status for that port goes after it (per port, in
 * order). Nothing counts as reported until the server acknowledged it.
 * Delivery that fails for a reason that may pass (server unreachable, 5xx)
 * is retried after a backoff that doubles up to OUTBOX_BACKOFF_MAX_MS.
 * Registration comes first and is retried until the server accepts it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTBOX_BACKOFF_MIN_MS 100
#define OUTBOX_BACKOFF_MAX_MS 5000
/* How long an acknowledged status is trusted while the model (the feed) has
 * not caught up with it; after that it is sent again. */
#define OUTBOX_ACK_GRACE_MS 15000

enum outbox_kind {
	OUTBOX_REGISTER,
	OUTBOX_HEARTBEAT,
	OUTBOX_STATUS,
	OUTBOX_SNAT_BLOCK, /* one more SNAT port block for a router (distributed SNAT) */
};

enum outbox_result {
	OUTBOX_SENT,	     /* acknowledged (2xx) */
	OUTBOX_RETRY,	     /* unreachable, timed out or 5xx: try again later */
	OUTBOX_REFUSED,	     /* a 4xx that retrying will not change: dropped */
	OUTBOX_UNKNOWN_AGENT /* heartbeat 404: the server forgot us, register again */
};

struct outbox_item {
	enum outbox_kind kind;
	const char *port_id; /* OUTBOX_STATUS: valid until the next outbox_next() */
	const char *status;
	const char *router_id; /* OUTBOX_SNAT_BLOCK: valid until the next outbox_next() */
};

struct outbox {
	json_t *pending; /* {port_id: status} not yet acknowledged */
	json_t *order;	 /* [port_id] of pending, oldest first */
	json_t *acked;	 /* {port_id: [status, ms]} acknowledged, model not caught up */
	json_t *blocks;	 /* [router_id] wanting one more SNAT block, oldest first */
	bool need_register;
	bool registered;
	bool need_heartbeat;
	bool busy; /* an item is out (between outbox_next and outbox_complete) */
	struct outbox_item out;
	char *out_port, *out_status;
	unsigned failures;   /* consecutive failed deliveries */
	uint64_t retry_at;   /* no delivery before this time (ms) */
	uint64_t sent_at;    /* when the item out was taken */
	uint64_t down_since; /* when the first failed delivery of the streak was taken */
};

void outbox_init(struct outbox *ob);
void outbox_done(struct outbox *ob);

/* Registration is wanted (at start, and again when the server forgot us). */
void outbox_register(struct outbox *ob);
/* A heartbeat is due; one queued heartbeat stands for any number. */
void outbox_heartbeat(struct outbox *ob);
/* Port `port_id` is `status`; `model_status` is what the agent's model
 * says the server has (NULL if unknown). Queues a report unless the server
 * has that status already: by the model, or by an acknowledgement the
 * model has not caught up with yet (trusted for OUTBOX_ACK_GRACE_MS). A
 * queued report the port no longer needs is withdrawn. Returns whether a
 * report for the port is now queued or out. */
bool outbox_report(struct outbox *ob, const char *port_id, const char *status,
		   const char *model_status, uint64_t now_ms);

/* This node runs short of SNAT ports on router_id: one request for one
 * more block is queued (one queued or out stands for any number; the
 * server's answer, a block in the feed or 409, settles it). Returns
 * whether a new request was queued. */
bool outbox_snat_block(struct outbox *ob, const char *router_id);

/* The next item to send at `now_ms` into *ret (true), or false when there
 * is nothing to send now: *ret_wait_ms is then how long until a retry is
 * due, or UINT64_MAX when the outbox waits for work. One item at a time. */
bool outbox_next(struct outbox *ob, uint64_t now_ms, struct outbox_item *ret,
		 uint64_t *ret_wait_ms);
/* How the item given by outbox_next() went. */
void outbox_complete(struct outbox *ob, enum outbox_result result, uint64_t now_ms);

/* Items waiting (port reports, heartbeat, registration), the one out included. */
size_t outbox_depth(const struct outbox *ob);
/* Port reports waiting. */
size_t outbox_ports_queued(const struct outbox *ob);
