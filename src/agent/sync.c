/* The agent's passes. */
#include "agent/sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "agent/dhcpd.h"
#include "agent/kernel.h"
#include "agent/reconcile.h"
#include "agent/rns.h"
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
	r = client_new(a->cfg.server, a->cfg.token, &a->client);
	if (r < 0)
		return r;
	r = kernel_new(a->cfg.tunnel_dev, a->cfg.tunnel_ip, &a->kernel);
	if (r < 0)
		return r;
	a->rns = rns_set_new(kernel_rtnl(a->kernel));
	r = dhcpd_new(a->cfg.lease_secs, &a->dhcpd);
	if (r < 0)
		return r;
	r = nft_handle_new(&a->nft);
	if (r < 0)
		return r;
	agent_heartbeat(a);
	return client_watch_start(a->client, 0);
}

void agent_done(struct agent *a)
{
	client_free(a->client);
	dhcpd_free(a->dhcpd);
	rns_set_free(a->rns);
	kernel_free(a->kernel);
	nft_handle_free(a->nft);
	nft_state_done(&a->nft_last);
	desired_done(&a->desired);
	port_index_done(&a->ports);
	replica_done(&a->replica);
	json_decref(a->reported);
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

void agent_sync(struct agent *a)
{
	struct kernel_ops ops = kernel_ops(a->kernel);
	struct observed o = {0};
	struct plan plan;
	uint64_t t0 = time_mono_ms();
	size_t n_ops;
	int r;

	bool full_pass = !a->synced_once || a->full_pass;
	struct d_node node = {a->cfg.host, a->cfg.tunnel_ip, streq(a->cfg.mode, "network"),
			      a->cfg.netns_prefix ? a->cfg.netns_prefix : "", a->cfg.physnets};
	size_t r_ops = 0;

	uint64_t t_model, t_links, t_routers, t_nft, t_rest;

	desired_done(&a->desired);
	desired_compute_node(&a->replica, &node, &a->desired);
	t_model = time_mono_ms();
	r = ops.dump(ops.userdata, &o);
	if (r < 0) {
		log_error("kernel dump failed: %s", strerror(-r));
		a->dirty = true;
		return;
	}
	reconcile_plan(&a->desired, &o, a->cfg.tunnel_ip, &plan);
	if (plan.n_ops) {
		char *text = plan_format(&plan);

		log_debug("plan:\n%s", text);
		free(text);
		r = plan_apply(&plan, &ops);
		if (r < 0)
			log_error("applying the plan: %s", strerror(-r));
		observed_done(&o);
		ops.dump(ops.userdata, &o);
	}
	t_links = time_mono_ms();
	/* Router namespaces, once the bridges their legs join exist. */
	r = rns_sync(a->rns, node.ns_prefix, a->desired.routers, full_pass, &r_ops);
	a->full_pass = false;
	if (r < 0) {
		log_error("router namespaces: %s", strerror(-r));
		a->dirty = true;
	}
	n_ops = plan.n_ops + r_ops;
	plan_done(&plan);
	t_routers = time_mono_ms();
	sync_nft(a, full_pass);
	t_nft = time_mono_ms();
	dhcpd_sync(a->dhcpd, &a->desired, lookup_ifindex, a->kernel, a->epfd);
	report_status(a, &o);
	observed_done(&o);
	t_rest = time_mono_ms();
	/* The first pass after a start is the full resync; say how long it took. */
	if (!a->synced_once || n_ops)
		log_info("%s pass: %zu ports, %zu networks, %zu routers, %zu kernel ops, %llu ms "
			 "at revision %lld (model %llu, links %llu, routers %llu, nftables %llu, "
			 "dhcp+status %llu ms)",
			 a->synced_once ? "sync" : "full resync", a->desired.n_ports,
			 a->desired.n_nets, a->desired.routers->n, n_ops,
			 (unsigned long long) (t_rest - t0), (long long) a->replica.revision,
			 (unsigned long long) (t_model - t0),
			 (unsigned long long) (t_links - t_model),
			 (unsigned long long) (t_routers - t_links),
			 (unsigned long long) (t_nft - t_routers),
			 (unsigned long long) (t_rest - t_nft));
	a->synced_once = true;
}
