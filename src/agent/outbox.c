/* The agent's coalescing outbox to the server (pure). */
#include "agent/outbox.h"

#include <stdlib.h>
#include "base/util.h"
#include "base/xalloc.h"

void outbox_init(struct outbox *ob)
{
	*ob = (struct outbox){0};
	ob->pending = json_object();
	ob->order = json_array();
	ob->acked = json_object();
	ob->blocks = json_array();
}

void outbox_done(struct outbox *ob)
{
	json_decref(ob->pending);
	json_decref(ob->order);
	json_decref(ob->acked);
	json_decref(ob->blocks);
	free(ob->out_port);
	free(ob->out_status);
	*ob = (struct outbox){0};
}

void outbox_register(struct outbox *ob)
{
	ob->need_register = true;
}

void outbox_heartbeat(struct outbox *ob)
{
	ob->need_heartbeat = true;
}

static bool is_out(const struct outbox *ob, const char *port_id)
{
	return ob->busy && ob->out.kind == OUTBOX_STATUS && streq(ob->out_port, port_id);
}

/* Removes port_id's queued report. */
static void drop(struct outbox *ob, const char *port_id)
{
	size_t i;
	json_t *v;

	json_object_del(ob->pending, port_id);
	json_array_foreach(ob->order, i, v) {
		if (streq(json_string_value(v), port_id)) {
			json_array_remove(ob->order, i);
			return;
		}
	}
}

/* What the server has for port_id, as far as the agent knows, when no
 * report of it is out: what it acknowledged last, while the model (the
 * feed) may not have caught up with it, else the model's. */
static const char *server_has(struct outbox *ob, const char *port_id, const char *model_status,
			      uint64_t now_ms)
{
	json_t *ack = json_object_get(ob->acked, port_id);
	const char *acked = json_string_value(json_array_get(ack, 0));

	if (!ack)
		return model_status;
	if (streq_ptr(model_status, acked) ||
	    now_ms - (uint64_t) json_integer_value(json_array_get(ack, 1)) >= OUTBOX_ACK_GRACE_MS) {
		/* The model caught up (or should have): it is the reference again. */
		json_object_del(ob->acked, port_id);
		return model_status;
	}
	return acked;
}

bool outbox_report(struct outbox *ob, const char *port_id, const char *status,
		   const char *model_status, uint64_t now_ms)
{
	bool queued = json_object_get(ob->pending, port_id);

	if (is_out(ob, port_id)) {
		/* A report being sent cannot be recalled: the latest state
		 * follows it unless it is the same (then completing the one
		 * out settles the port). */
		json_object_set_new(ob->pending, port_id, json_string(status));
		return true;
	}
	if (streq_ptr(server_has(ob, port_id, model_status, now_ms), status)) {
		/* Nothing to say, or nothing any more (back to what the server
		 * has before the queued report was sent). */
		if (queued)
			drop(ob, port_id);
		return false;
	}
	json_object_set_new(ob->pending, port_id, json_string(status));
	if (!queued)
		json_array_append_new(ob->order, json_string(port_id));
	return true;
}

static bool wants_block(const struct outbox *ob, const char *router_id)
{
	size_t i;
	json_t *v;

	if (ob->busy && ob->out.kind == OUTBOX_SNAT_BLOCK && streq(ob->out_port, router_id))
		return true;
	json_array_foreach(ob->blocks, i, v) {
		if (streq(json_string_value(v), router_id))
			return true;
	}
	return false;
}

bool outbox_snat_block(struct outbox *ob, const char *router_id)
{
	if (wants_block(ob, router_id))
		return false;
	json_array_append_new(ob->blocks, json_string(router_id));
	return true;
}

static bool has_work(const struct outbox *ob)
{
	return ob->need_register ||
	       (ob->registered &&
		(ob->need_heartbeat || json_array_size(ob->order) || json_array_size(ob->blocks)));
}

bool outbox_next(struct outbox *ob, uint64_t now_ms, struct outbox_item *ret, uint64_t *ret_wait_ms)
{
	if (ob->busy || !has_work(ob)) {
		*ret_wait_ms = UINT64_MAX;
		return false;
	}
	if (now_ms < ob->retry_at) {
		*ret_wait_ms = ob->retry_at - now_ms;
		return false;
	}
	ob->out = (struct outbox_item){0};
	if (ob->need_register) {
		ob->out.kind = OUTBOX_REGISTER;
	} else if (ob->need_heartbeat) {
		ob->out.kind = OUTBOX_HEARTBEAT;
		ob->need_heartbeat = false; /* a new one may be asked for meanwhile */
	} else if (json_array_size(ob->blocks)) {
		/* Before port status: flows are waiting for ports. The
		 * router's id is kept in out_port while it is out. */
		free(ob->out_port);
		ob->out_port = xstrdup(json_string_value(json_array_get(ob->blocks, 0)));
		json_array_remove(ob->blocks, 0);
		ob->out.kind = OUTBOX_SNAT_BLOCK;
		ob->out.router_id = ob->out_port;
	} else {
		const char *id = json_string_value(json_array_get(ob->order, 0));

		free(ob->out_port);
		free(ob->out_status);
		ob->out_port = xstrdup(id);
		ob->out_status = xstrdup(json_string_value(json_object_get(ob->pending, id)));
		ob->out = (struct outbox_item){
			.kind = OUTBOX_STATUS, .port_id = ob->out_port, .status = ob->out_status};
	}
	ob->busy = true;
	ob->sent_at = now_ms;
	*ret = ob->out;
	return true;
}

static void backoff(struct outbox *ob, uint64_t now_ms)
{
	uint64_t delay = OUTBOX_BACKOFF_MIN_MS;

	if (ob->failures++ == 0)
		ob->down_since = ob->sent_at;
	for (unsigned i = 1; i < ob->failures && delay < OUTBOX_BACKOFF_MAX_MS; i++)
		delay *= 2;
	ob->retry_at = now_ms + (delay < OUTBOX_BACKOFF_MAX_MS ? delay : OUTBOX_BACKOFF_MAX_MS);
}

/* Forgets acknowledgements past their grace (they suppress nothing any
 * more), so that ports deleted before the model caught up do not stay. */
static void prune_acked(struct outbox *ob, uint64_t now_ms)
{
	const char *id;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(ob->acked, tmp, id, v) {
		if (now_ms - (uint64_t) json_integer_value(json_array_get(v, 1)) >=
		    OUTBOX_ACK_GRACE_MS)
			json_object_del(ob->acked, id);
	}
}

static void complete_status(struct outbox *ob, enum outbox_result result, uint64_t now_ms)
{
	const char *queued = json_string_value(json_object_get(ob->pending, ob->out_port));
	bool unchanged = streq_ptr(queued, ob->out_status);

	if (result == OUTBOX_SENT) {
		prune_acked(ob, now_ms);
		json_object_set_new(ob->acked, ob->out_port,
				    json_pack("[s, I]", ob->out_status, (json_int_t) now_ms));
	}
	/* Sent or refused: done with that state, unless a newer one came
	 * while it was out (it stays first in line). */
	if (result != OUTBOX_RETRY && unchanged)
		drop(ob, ob->out_port);
}

void outbox_complete(struct outbox *ob, enum outbox_result result, uint64_t now_ms)
{
	bool failed = result == OUTBOX_RETRY;

	if (!ob->busy)
		return;
	ob->busy = false;
	switch (ob->out.kind) {
	case OUTBOX_REGISTER:
		if (result == OUTBOX_SENT) {
			ob->need_register = false;
			ob->registered = true;
		}
		/* A refused registration is retried too, not in a tight loop. */
		failed = result != OUTBOX_SENT;
		break;
	case OUTBOX_HEARTBEAT:
		if (result == OUTBOX_RETRY) {
			ob->need_heartbeat = true;
		} else if (result == OUTBOX_UNKNOWN_AGENT) {
			ob->registered = false;
			ob->need_register = true;
		}
		break;
	case OUTBOX_STATUS:
		complete_status(ob, result, now_ms);
		break;
	case OUTBOX_SNAT_BLOCK:
		/* Again, first in line, unless it was answered (a block, or
		 * 409: none left; the agent asks again if it still needs). */
		if (result == OUTBOX_RETRY && !wants_block(ob, ob->out_port))
			json_array_insert_new(ob->blocks, 0, json_string(ob->out_port));
		break;
	}
	ob->out = (struct outbox_item){0};
	if (failed) {
		backoff(ob, now_ms);
	} else {
		ob->failures = 0;
		ob->retry_at = 0;
	}
}

size_t outbox_depth(const struct outbox *ob)
{
	return json_object_size(ob->pending) + json_array_size(ob->blocks) + ob->need_heartbeat +
	       ob->need_register +
	       (ob->busy &&
		(ob->out.kind == OUTBOX_HEARTBEAT || ob->out.kind == OUTBOX_SNAT_BLOCK));
}

size_t outbox_ports_queued(const struct outbox *ob)
{
	return json_object_size(ob->pending);
}
