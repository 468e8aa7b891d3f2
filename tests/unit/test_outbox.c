/* The agent's outbox (agent/outbox.h): registration first, one heartbeat for
 * many, the latest status per port in first-report order, nothing lost while
 * the server is away, backoff, and registering again when the server forgot
 * the agent. The clock is the tests' own. */
#include <stdint.h>
#include "agent/outbox.h"
#include "base/util.h"
#include "test.h"

/* The next item at `now`, or kind -1 when there is none. */
static struct outbox_item next_at(struct outbox *ob, uint64_t now)
{
	struct outbox_item it = {.kind = (enum outbox_kind) - 1};
	uint64_t wait;

	if (!outbox_next(ob, now, &it, &wait))
		it.kind = (enum outbox_kind) - 1;
	return it;
}

/* An outbox that has registered at time 0. */
static void registered(struct outbox *ob)
{
	struct outbox_item it;

	outbox_init(ob);
	outbox_register(ob);
	it = next_at(ob, 0);
	CHECK(it.kind == OUTBOX_REGISTER);
	outbox_complete(ob, OUTBOX_SENT, 0);
}

static bool is_status(struct outbox_item it, const char *port, const char *status)
{
	return it.kind == OUTBOX_STATUS && streq_ptr(it.port_id, port) &&
	       streq_ptr(it.status, status);
}

/* Whether the next item at `now` is that report; it is then acknowledged. */
static bool sent(struct outbox *ob, uint64_t now, const char *port, const char *status)
{
	if (!is_status(next_at(ob, now), port, status))
		return false;
	outbox_complete(ob, OUTBOX_SENT, now);
	return true;
}

TEST(outbox_registers_before_anything_else)
{
	struct outbox ob;
	struct outbox_item it;
	uint64_t wait = 0;

	outbox_init(&ob);
	/* Nothing asked: nothing to do, and it waits for work. */
	CHECK(!outbox_next(&ob, 0, &it, &wait) && wait == UINT64_MAX);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	outbox_heartbeat(&ob);
	/* Not registered: reports and heartbeats wait for registration. */
	CHECK(!outbox_next(&ob, 0, &it, &wait) && wait == UINT64_MAX);
	outbox_register(&ob);
	CHECK(outbox_depth(&ob) == 3);
	it = next_at(&ob, 0);
	CHECK(it.kind == OUTBOX_REGISTER);
	/* One item out at a time. */
	CHECK(!outbox_next(&ob, 0, &it, &wait) && wait == UINT64_MAX);
	outbox_complete(&ob, OUTBOX_SENT, 1);
	CHECK(ob.registered && outbox_depth(&ob) == 2);
	it = next_at(&ob, 1);
	CHECK(it.kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_SENT, 2);
	CHECK(is_status(next_at(&ob, 2), "p1", "ACTIVE"));
	outbox_complete(&ob, OUTBOX_SENT, 3);
	CHECK(outbox_depth(&ob) == 0 && next_at(&ob, 3).kind == (enum outbox_kind) - 1);
	outbox_done(&ob);
}

TEST(outbox_coalesces_heartbeats_and_statuses)
{
	struct outbox ob;

	registered(&ob);
	for (int i = 0; i < 5; i++)
		outbox_heartbeat(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 10));
	CHECK(outbox_report(&ob, "p2", "ACTIVE", "DOWN", 10));
	CHECK(outbox_report(&ob, "p1", "DOWN", NULL, 11));
	CHECK(outbox_report(&ob, "p3", "DOWN", "ACTIVE", 12));
	CHECK(outbox_report(&ob, "p1", "ACTIVE", NULL, 13));
	/* One heartbeat, one report per port. */
	CHECK(outbox_depth(&ob) == 4 && outbox_ports_queued(&ob) == 3);
	CHECK(next_at(&ob, 20).kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_SENT, 20);
	/* Ports in the order they were first reported, each with its latest. */
	CHECK(sent(&ob, 20, "p1", "ACTIVE"));
	CHECK(sent(&ob, 20, "p2", "ACTIVE"));
	CHECK(sent(&ob, 20, "p3", "DOWN"));
	CHECK(outbox_depth(&ob) == 0);
	outbox_done(&ob);
}

TEST(outbox_skips_what_the_server_has)
{
	struct outbox ob;

	registered(&ob);
	/* The model says the server has it already. */
	CHECK(!outbox_report(&ob, "p1", "ACTIVE", "ACTIVE", 0));
	/* Queued, then the port went back to what the server has before
	 * anything was sent: nothing to say. */
	CHECK(outbox_report(&ob, "p2", "ACTIVE", "DOWN", 0));
	CHECK(!outbox_report(&ob, "p2", "DOWN", "DOWN", 1));
	CHECK(outbox_ports_queued(&ob) == 0 && next_at(&ob, 1).kind == (enum outbox_kind) - 1);
	outbox_done(&ob);
}

TEST(outbox_never_recalls_a_report_being_sent)
{
	struct outbox ob;
	struct outbox_item it;

	registered(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(outbox_report(&ob, "p2", "ACTIVE", "DOWN", 0));
	it = next_at(&ob, 0);
	CHECK(is_status(it, "p1", "ACTIVE"));
	/* While ACTIVE is out, the port goes down (the model still says DOWN:
	 * the server will have ACTIVE, so DOWN must follow). */
	CHECK(outbox_report(&ob, "p1", "DOWN", "DOWN", 1));
	CHECK(streq(it.status, "ACTIVE")); /* the item out is untouched */
	outbox_complete(&ob, OUTBOX_SENT, 2);
	/* The newer state goes next, ahead of later ports. */
	CHECK(is_status(next_at(&ob, 2), "p1", "DOWN"));
	outbox_complete(&ob, OUTBOX_SENT, 3);
	CHECK(sent(&ob, 3, "p2", "ACTIVE"));
	CHECK(outbox_depth(&ob) == 0);
	/* Down and up again while a report is out: the one out settles it. */
	CHECK(outbox_report(&ob, "p3", "ACTIVE", "DOWN", 4));
	CHECK(is_status(next_at(&ob, 4), "p3", "ACTIVE"));
	CHECK(outbox_report(&ob, "p3", "DOWN", "DOWN", 5));
	CHECK(outbox_report(&ob, "p3", "ACTIVE", "DOWN", 6));
	outbox_complete(&ob, OUTBOX_SENT, 7);
	CHECK(outbox_depth(&ob) == 0);
	/* The same while it fails: the latest is retried. */
	CHECK(outbox_report(&ob, "p4", "ACTIVE", "DOWN", 8));
	CHECK(is_status(next_at(&ob, 8), "p4", "ACTIVE"));
	CHECK(outbox_report(&ob, "p4", "DOWN", "DOWN", 9));
	outbox_complete(&ob, OUTBOX_RETRY, 10);
	CHECK(sent(&ob, 10 + OUTBOX_BACKOFF_MIN_MS, "p4", "DOWN"));
	CHECK(outbox_depth(&ob) == 0);
	outbox_done(&ob);
}

TEST(outbox_trusts_an_ack_until_the_model_catches_up)
{
	struct outbox ob;

	registered(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(sent(&ob, 100, "p1", "ACTIVE"));
	/* Acknowledged; the feed has not brought ACTIVE yet: not again. */
	CHECK(!outbox_report(&ob, "p1", "ACTIVE", "DOWN", 200));
	CHECK(!outbox_report(&ob, "p1", "ACTIVE", "DOWN", 100 + OUTBOX_ACK_GRACE_MS - 1));
	/* The port goes down before the model caught up: the server has
	 * ACTIVE (the model's DOWN is stale), so DOWN is news... */
	CHECK(outbox_report(&ob, "p1", "DOWN", "DOWN", 300));
	/* ...until it comes back up before DOWN was sent. */
	CHECK(!outbox_report(&ob, "p1", "ACTIVE", "DOWN", 400));
	CHECK(outbox_ports_queued(&ob) == 0);
	/* Past the grace the model is believed again: sent once more. */
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 100 + OUTBOX_ACK_GRACE_MS));
	CHECK(sent(&ob, 100 + OUTBOX_ACK_GRACE_MS, "p1", "ACTIVE"));
	/* The model caught up: it is the reference again, so when the server
	 * changes the status behind the agent's back, it is told again. */
	CHECK(!outbox_report(&ob, "p1", "ACTIVE", "ACTIVE", 20001));
	CHECK(json_object_size(ob.acked) == 0);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 20002));
	outbox_done(&ob);
}

TEST(outbox_forgets_old_acks)
{
	struct outbox ob;

	registered(&ob);
	CHECK(outbox_report(&ob, "gone", "ACTIVE", "DOWN", 0));
	CHECK(sent(&ob, 0, "gone", "ACTIVE"));
	CHECK(json_object_size(ob.acked) == 1);
	/* The port is deleted before the model caught up; a later ack prunes
	 * it once its grace is over. */
	CHECK(outbox_report(&ob, "p2", "ACTIVE", "DOWN", OUTBOX_ACK_GRACE_MS));
	CHECK(sent(&ob, OUTBOX_ACK_GRACE_MS, "p2", "ACTIVE"));
	CHECK(json_object_size(ob.acked) == 1 && json_object_get(ob.acked, "p2"));
	outbox_done(&ob);
}

TEST(outbox_retries_with_backoff_and_loses_nothing)
{
	struct outbox ob;
	struct outbox_item it;
	uint64_t now = 1000, wait, want = OUTBOX_BACKOFF_MIN_MS;

	registered(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", now));
	/* The server is away: each failure doubles the wait, up to the cap,
	 * whatever the item (a heartbeat, queued after the first failure, goes
	 * first and stays queued while it fails). */
	for (unsigned i = 1; i <= 12; i++) {
		it = next_at(&ob, now);
		REQUIRE(i == 1 ? is_status(it, "p1", "ACTIVE") : it.kind == OUTBOX_HEARTBEAT);
		outbox_complete(&ob, OUTBOX_RETRY, now);
		CHECK(ob.failures == i);
		CHECK(!outbox_next(&ob, now, &it, &wait) && wait == want);
		CHECK(!outbox_next(&ob, now + want - 1, &it, &wait) && wait == 1);
		/* Reports meanwhile coalesce and wait too. */
		CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", now));
		outbox_heartbeat(&ob);
		CHECK(outbox_depth(&ob) == 2);
		now += want;
		want = want * 2 > OUTBOX_BACKOFF_MAX_MS ? OUTBOX_BACKOFF_MAX_MS : want * 2;
	}
	CHECK(want == OUTBOX_BACKOFF_MAX_MS && ob.down_since == 1000);
	/* The server answers: the streak ends and nothing waits any more. */
	CHECK(next_at(&ob, now).kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_SENT, now);
	CHECK(ob.failures == 0 && ob.retry_at == 0);
	CHECK(sent(&ob, now, "p1", "ACTIVE"));
	CHECK(outbox_depth(&ob) == 0);
	outbox_done(&ob);
}

TEST(outbox_drops_a_refused_status)
{
	struct outbox ob;

	registered(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(outbox_report(&ob, "p2", "ACTIVE", "DOWN", 0));
	CHECK(is_status(next_at(&ob, 0), "p1", "ACTIVE"));
	/* E.g. 409: the port is bound elsewhere now. Dropped, no backoff. */
	outbox_complete(&ob, OUTBOX_REFUSED, 0);
	CHECK(ob.failures == 0 && outbox_ports_queued(&ob) == 1);
	CHECK(sent(&ob, 0, "p2", "ACTIVE"));
	/* Not acknowledged, so a later report of it is sent. */
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 1));
	outbox_done(&ob);
}

TEST(outbox_retries_a_refused_registration)
{
	struct outbox ob;
	struct outbox_item it;
	uint64_t wait;

	outbox_init(&ob);
	outbox_register(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(next_at(&ob, 0).kind == OUTBOX_REGISTER);
	outbox_complete(&ob, OUTBOX_REFUSED, 0);
	/* Not registered: tried again, after a backoff, before anything else. */
	CHECK(!ob.registered && !outbox_next(&ob, 0, &it, &wait) && wait == OUTBOX_BACKOFF_MIN_MS);
	CHECK(next_at(&ob, OUTBOX_BACKOFF_MIN_MS).kind == OUTBOX_REGISTER);
	outbox_complete(&ob, OUTBOX_SENT, OUTBOX_BACKOFF_MIN_MS);
	CHECK(sent(&ob, OUTBOX_BACKOFF_MIN_MS, "p1", "ACTIVE"));
	outbox_done(&ob);
}

TEST(outbox_registers_again_when_the_server_forgot_it)
{
	struct outbox ob;

	registered(&ob);
	outbox_heartbeat(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(next_at(&ob, 0).kind == OUTBOX_HEARTBEAT);
	/* 404 on the heartbeat: a new store. Registration comes first again. */
	outbox_complete(&ob, OUTBOX_UNKNOWN_AGENT, 0);
	CHECK(!ob.registered && ob.failures == 0);
	CHECK(next_at(&ob, 0).kind == OUTBOX_REGISTER);
	outbox_complete(&ob, OUTBOX_SENT, 1);
	CHECK(sent(&ob, 1, "p1", "ACTIVE"));
	/* A heartbeat asked for while one is out is sent after it. */
	outbox_heartbeat(&ob);
	CHECK(next_at(&ob, 2).kind == OUTBOX_HEARTBEAT);
	outbox_heartbeat(&ob);
	CHECK(outbox_depth(&ob) == 2);
	outbox_complete(&ob, OUTBOX_SENT, 2);
	CHECK(next_at(&ob, 2).kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_SENT, 2);
	CHECK(outbox_depth(&ob) == 0);
	outbox_done(&ob);
}

TEST(outbox_dates_an_outage_from_the_first_failed_send)
{
	struct outbox ob;

	registered(&ob);
	outbox_heartbeat(&ob);
	/* Taken at 500, timed out at 10500: the server was away from 500. */
	CHECK(next_at(&ob, 500).kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_RETRY, 10500);
	CHECK(ob.down_since == 500 && ob.retry_at == 10500 + OUTBOX_BACKOFF_MIN_MS);
	CHECK(next_at(&ob, 10600).kind == OUTBOX_HEARTBEAT);
	outbox_complete(&ob, OUTBOX_RETRY, 20600);
	CHECK(ob.down_since == 500 && ob.failures == 2);
	outbox_done(&ob);
}

/* Requests for one more SNAT block: one per router however often asked
 * while queued or out, before port status, retried first in line when the
 * server is away, settled by an answer (a block, or 409). */
TEST(outbox_snat_block_requests)
{
	struct outbox ob;
	struct outbox_item it;

	registered(&ob);
	CHECK(outbox_report(&ob, "p1", "ACTIVE", "DOWN", 0));
	CHECK(outbox_snat_block(&ob, "r1"));
	CHECK(!outbox_snat_block(&ob, "r1"));
	CHECK(outbox_snat_block(&ob, "r2"));
	CHECK(outbox_depth(&ob) == 3);
	it = next_at(&ob, 0);
	CHECK(it.kind == OUTBOX_SNAT_BLOCK && streq_ptr(it.router_id, "r1"));
	CHECK(!outbox_snat_block(&ob, "r1")); /* out: stands for it */
	outbox_complete(&ob, OUTBOX_RETRY, 0);
	CHECK(next_at(&ob, 50).kind == (enum outbox_kind) - 1); /* backoff */
	it = next_at(&ob, 100);
	CHECK(it.kind == OUTBOX_SNAT_BLOCK && streq_ptr(it.router_id, "r1"));
	outbox_complete(&ob, OUTBOX_SENT, 100);
	it = next_at(&ob, 100);
	CHECK(it.kind == OUTBOX_SNAT_BLOCK && streq_ptr(it.router_id, "r2"));
	outbox_complete(&ob, OUTBOX_REFUSED, 100); /* 409: none left */
	CHECK(sent(&ob, 100, "p1", "ACTIVE"));
	CHECK(next_at(&ob, 100).kind == (enum outbox_kind) - 1 && outbox_depth(&ob) == 0);
	/* Asked again once answered: a new request. */
	CHECK(outbox_snat_block(&ob, "r1"));
	outbox_done(&ob);
}
