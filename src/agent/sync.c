/* The agent's passes. */
#include "agent/sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "agent/dhcpd.h"
#include "agent/kernel.h"
#include "agent/reconcile.h"
#include "agent/routers.h"
#include "base/ip4.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"

int agent_init(struct agent *a)
{
	int r;

	replica_init(&a->replica);
	a->reported = json_object();
	a->ns_synced = json_object();
	r = client_new(a->cfg.server, a->cfg.token, &a->client);
	if (r < 0)
		return r;
	r = kernel_new(a->cfg.tunnel_dev, a->cfg.tunnel_ip,
		       a->cfg.netns_prefix ? a->cfg.netns_prefix : "", &a->kernel);
	if (r < 0)
		return r;
	r = dhcpd_new(a->cfg.lease_secs, &a->dhcpd);
	if (r < 0)
		return r;
	r = nft_handle_new(&a->nft);
	if (r < 0)
		return r;
	agent_heartbeat(a);
	return client_watch_start(a->client, a->cfg.host, 0);
}

void agent_done(struct agent *a)
{
	client_free(a->client);
	dhcpd_free(a->dhcpd);
	kernel_free(a->kernel);
	nft_handle_free(a->nft);
	nft_state_done(&a->nft_last);
	desired_done(&a->desired);
	port_index_done(&a->ports);
	replica_done(&a->replica);
	json_decref(a->reported);
	json_decref(a->ns_synced);
	json_decref(a->cfg.physnets);
}

static void do_register(struct agent *a)
{
	char tun[IP4_STRLEN];
	json_t *body, *answer = NULL;
	long status = 0;

	ip4_format(a->cfg.tunnel_ip, tun);
	body = json_pack("{s:{s:s, s:s, s:s, s:O}}", "agent", "host", a->cfg.host, "mode",
			 a->cfg.mode, "tunnel_address", tun, "physical_networks", a->cfg.physnets);
	if (client_call(a->client, "POST", "/v2.0/lepton/agents/register", body, &status, &answer) <
	    0) {
		log_warn("server %s unreachable; will retry", a->cfg.server);
	} else if (status == 200 || status == 201) {
		if (!a->registered)
			log_info("registered as %s", a->cfg.host);
		a->registered = true;
	} else {
		log_error("registration refused: HTTP %ld", status);
	}
	json_decref(body);
	json_decref(answer);
}

void agent_heartbeat(struct agent *a)
{
	json_t *body, *answer = NULL;
	long status = 0;

	if (!a->registered) {
		do_register(a);
		return;
	}
	body = json_pack("{s:s}", "host", a->cfg.host);
	if (client_call(a->client, "POST", "/v2.0/lepton/agents/heartbeat", body, &status,
			&answer) == 0 &&
	    status == 404) {
		/* The server forgot us (a new store): register again. */
		a->registered = false;
		do_register(a);
	}
	json_decref(body);
	json_decref(answer);
}

void agent_feed(struct agent *a)
{
	json_t *lines = client_watch_take(a->client), *line;
	size_t i;

	json_array_foreach(lines, i, line) {
		int r = replica_apply(&a->replica, line);

		if (r > 0)
			a->dirty = true;
		else if (r < 0)
			log_warn("malformed feed line ignored");
	}
	json_decref(lines);
}

static int lookup_ifindex(void *userdata, const char *name)
{
	return kernel_ifindex(userdata, name);
}

/* Reading our tables back (to notice hand edits) lists every chain: with
 * thousands of ports that costs more than the pass itself, so it is done on
 * full passes only (start, periodic, link events), and a hash left stale by
 * a feed-driven change is refreshed, not compared, by the next full pass
 * (hand edits are then noticed one period later). */
static void sync_nft(struct agent *a, bool check)
{
	struct nft_input in;
	struct nft_state st;
	char *script, *err = NULL;
	bool full = !a->nft_applied;

	if (a->nft_applied && check && !a->nft_hash_stale)
		full = nft_tables_hash(a->nft) != a->nft_hash;
	port_index_sync(&a->ports, &a->desired);
	secgroups_input(&a->replica, &a->desired, &a->ports, &in);
	nft_build(&in, &st);
	secgroups_input_done(&in);
	/* The first pass, or our tables were changed behind our back: replace
	 * them whole, atomically. Otherwise only what changed. */
	script = full ? nft_script_full(&st) : nft_script_diff(&a->nft_last, &st);
	if (*script && nft_apply(a->nft, script, &err) < 0) {
		log_error("nftables: %s", err);
		free(err);
		free(script);
		nft_state_done(&st);
		a->nft_applied = false; /* try a full replace next pass */
		return;
	}
	if (full && a->nft_applied)
		log_warn("nftables tables were changed by hand: restored");
	nft_state_done(&a->nft_last);
	a->nft_last = st;
	a->nft_applied = true;
	if (check || full) {
		a->nft_hash = nft_tables_hash(a->nft);
		a->nft_hash_stale = false;
	} else if (*script) {
		a->nft_hash_stale = true;
	}
	free(script);
}

static void report(struct agent *a, const char *port_id, const char *want)
{
	json_t *doc = replica_get(&a->replica, "port", port_id);
	const char *model = json_string_value(json_object_get(doc, "status"));
	const char *last = json_string_value(json_object_get(a->reported, port_id));
	char path[128];
	json_t *body;
	long status = 0;

	if (!doc || streq_ptr(model, want) || streq_ptr(last, want))
		return;
	snprintf(path, sizeof(path), "/v2.0/lepton/ports/%s/status", port_id);
	body = json_pack("{s:s, s:s}", "status", want, "host", a->cfg.host);
	if (client_call(a->client, "PUT", path, body, &status, NULL) == 0 && status / 100 == 2) {
		json_object_set_new(a->reported, port_id, json_string(want));
		log_info("port %s %s", port_id, want);
	}
	json_decref(body);
}

static bool in_bridge(const struct observed *o, const char *dev, const char *bridge)
{
	const struct k_link *t = observed_link(o, dev);
	const struct k_link *br = observed_link(o, bridge);

	return t && br && t->master == br->ifindex && t->up;
}

static void report_status(struct agent *a, const struct observed *o)
{
	for (size_t i = 0; i < a->desired.n_ports; i++) {
		const struct d_port *p = &a->desired.ports[i];

		report(a, p->id, in_bridge(o, p->tap, p->bridge) ? "ACTIVE" : "DOWN");
	}
	/* Router ports bound to this node (legacy legs, SNAT legs): ACTIVE
	 * once their leg is in its bridge. */
	for (size_t i = 0; a->desired.routers && i < a->desired.routers->n; i++) {
		const struct d_router *r = &a->desired.routers->r[i];

		for (size_t j = 0; j < r->n_legs; j++) {
			const struct r_leg *l = &r->legs[j];
			json_t *doc = replica_get(&a->replica, "port", l->port_id);

			if (!doc ||
			    !streq_ptr(json_string_value(json_object_get(doc, "binding:host_id")),
				       a->cfg.host))
				continue;
			report(a, l->port_id, in_bridge(o, l->peer, l->bridge) ? "ACTIVE" : "DOWN");
		}
	}
}

/* Which router namespaces to read this pass: every one on a full pass;
 * otherwise those whose desired state changed since they were last right
 * (feed-driven passes then cost what changed, not what exists; the
 * periodic full pass repairs drift). */
static bool want_ns(void *data, const char *name)
{
	struct agent *a = data;
	const struct d_router *d = routers_find(a->desired.routers, name);
	char h[24];

	if (!d)
		return false; /* not wanted: deleted, whatever it holds */
	if (a->full_pass || !a->synced_once)
		return true;
	snprintf(h, sizeof(h), "%016llx", (unsigned long long) routers_hash(d));
	return !streq_ptr(json_string_value(json_object_get(a->ns_synced, name)), h);
}

/* After a plan: the namespaces it brought to their desired state. */
static void note_synced(struct agent *a, const struct observed *o, const struct plan *p,
			const bool *failed)
{
	const struct d_routers *rs = a->desired.routers;
	json_t *next = json_object();

	for (size_t i = 0; i < rs->n; i++) {
		const struct ns_observed *h = observed_ns(o, rs->r[i].ns);
		json_t *old = json_object_get(a->ns_synced, rs->r[i].ns);
		bool ok = true;
		char v[24];

		for (size_t j = 0; j < p->n_ops && ok; j++)
			ok = !(failed[j] && streq(p->ops[j].ns, rs->r[i].ns));
		if (!ok || (h && !h->ours))
			continue;
		if (h && !h->dumped) {
			if (old)
				json_object_set(next, rs->r[i].ns, old);
			continue;
		}
		snprintf(v, sizeof(v), "%016llx", (unsigned long long) routers_hash(&rs->r[i]));
		json_object_set_new(next, rs->r[i].ns, json_string(v));
	}
	json_decref(a->ns_synced);
	a->ns_synced = next;
}

void agent_sync(struct agent *a)
{
	struct kernel_ops ops = kernel_ops(a->kernel);
	struct observed o = {0};
	struct plan plan;
	uint64_t t0 = time_mono_ms();
	size_t n_ops, n_ns_ops = 0;
	bool *failed;
	int r;

	bool full_pass = !a->synced_once || a->full_pass;
	struct d_node node = {a->cfg.host, a->cfg.tunnel_ip, streq(a->cfg.mode, "network"),
			      a->cfg.netns_prefix ? a->cfg.netns_prefix : "", a->cfg.physnets};

	uint64_t t_model, t_dump, t_apply, t_nft, t_rest;

	desired_done(&a->desired);
	desired_compute_node(&a->replica, &node, &a->desired);
	t_model = time_mono_ms();
	r = observed_dump(&ops, want_ns, a, &o);
	if (r < 0) {
		log_error("kernel dump failed: %s", strerror(-r));
		a->dirty = true;
		return;
	}
	t_dump = time_mono_ms();
	reconcile_plan(&a->desired, &o, a->cfg.tunnel_ip, &plan);
	failed = xcalloc(plan.n_ops + 1, sizeof(*failed));
	if (plan.n_ops) {
		char *text = plan_format(&plan);

		log_debug("plan:\n%s", text);
		free(text);
		r = plan_apply(&plan, &ops, failed);
		if (r < 0) {
			for (size_t i = 0; i < plan.n_ops; i++) {
				struct plan one = {&plan.ops[i], 1, 1};
				char *line;

				if (!failed[i])
					continue;
				line = plan_format(&one);
				log_warn("op failed: %s", strtok(line, "\n"));
				free(line);
			}
			log_error("applying the plan: %s", strerror(-r));
			a->dirty = true;
		}
	}
	for (size_t i = 0; i < plan.n_ops; i++)
		n_ns_ops += plan.ops[i].ns[0] != '\0';
	note_synced(a, &o, &plan, failed);
	free(failed);
	a->full_pass = false;
	n_ops = plan.n_ops;
	if (plan.n_ops) {
		/* What the node holds now, for the status reports. */
		struct observed after = {0};

		if (ops.dump(ops.userdata, &after) >= 0) {
			observed_done(&o);
			o = after;
		} else {
			observed_done(&o);
			plan_done(&plan);
			a->dirty = true;
			return; /* no status from a view we could not read */
		}
	}
	plan_done(&plan);
	t_apply = time_mono_ms();
	sync_nft(a, full_pass);
	t_nft = time_mono_ms();
	dhcpd_sync(a->dhcpd, &a->desired, lookup_ifindex, a->kernel, a->epfd);
	report_status(a, &o);
	observed_done(&o);
	t_rest = time_mono_ms();
	/* The first pass after a start is the full resync; say how long it took. */
	if (!a->synced_once || n_ops)
		log_info("%s pass: %zu ports, %zu networks, %zu routers, %zu kernel ops, %llu ms "
			 "at revision %lld (%zu ops in router namespaces; model %llu, dump %llu, "
			 "plan+apply %llu, nftables %llu, dhcp+status %llu ms)",
			 a->synced_once ? "sync" : "full resync", a->desired.n_ports,
			 a->desired.n_nets, a->desired.routers->n, n_ops,
			 (unsigned long long) (t_rest - t0), (long long) a->replica.revision,
			 n_ns_ops, (unsigned long long) (t_model - t0),
			 (unsigned long long) (t_dump - t_model),
			 (unsigned long long) (t_apply - t_dump),
			 (unsigned long long) (t_nft - t_apply),
			 (unsigned long long) (t_rest - t_nft));
	a->synced_once = true;
}
