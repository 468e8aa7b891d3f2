/* The agent's passes. */
#include "agent/sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include "agent/dhcpd.h"
#include "agent/kernel.h"
#include "agent/node.h"
#include "agent/reconcile.h"
#include "agent/routers.h"
#include "agent/stats.h"
#include "base/ip4.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "nft/nfnl.h"
#include "nl/rtnl.h"

/* The register call's body. */
static json_t *registration(struct agent *a)
{
	char tun[IP4_STRLEN];

	json_t *body;

	ip4_format(a->cfg.tunnel_ip, tun);
	body = json_pack("{s:{s:s, s:s, s:s, s:O, s:s}}", "agent", "host", a->cfg.host, "mode",
			 a->cfg.mode, "tunnel_address", tun, "physical_networks", a->cfg.physnets,
			 "availability_zone", a->cfg.availability_zone);
	if (a->cfg.announce.table) {
		char nh[IP4_STRLEN];

		ip4_format(a->cfg.announce.nexthop, nh);
		json_t *bgp =
			json_pack("{s:s, s:s, s:I}", "nexthop", nh, "dev", a->cfg.announce.dev,
				  "table", (json_int_t) a->cfg.announce.table);
		const char *p;
		json_t *v;

		if (a->cfg.bgp_physnets) {
			json_t *list = json_array();

			json_object_foreach(a->cfg.bgp_physnets, p, v)
				json_array_append_new(list, json_string(p));
			json_object_set_new(bgp, "physnets", list);
		}
		if (memcmp(a->cfg.announce.nexthop6, (uint8_t[16]){0}, 16)) {
			char nh6[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, a->cfg.announce.nexthop6, nh6, sizeof(nh6));
			json_object_set_new(bgp, "nexthop6", json_string(nh6));
		}
		json_object_set_new(json_object_get(body, "agent"), "bgp", bgp);
	}
	return body;
}

int agent_init(struct agent *a)
{
	int r;

	replica_init(&a->replica);
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
	a->nft_netdev = !streq(a->cfg.port_hooks, "bridge") && nft_netdev_hooks_by_name(a->nft);
	if (streq(a->cfg.port_hooks, "netdev") && !a->nft_netdev) {
		log_event(LOG_LVL_ERROR, "agent.port_hooks",
			  "want=netdev err=kernel_cannot_hook_by_device_name");
		return -EOPNOTSUPP;
	}
	log_event(LOG_LVL_INFO, "agent.port_hooks", "mode=%s", a->nft_netdev ? "netdev" : "bridge");
	r = client_reports_start(a->client, a->cfg.host, registration(a));
	if (r < 0)
		return r;
	return client_watch_start(a->client, a->cfg.host, 0);
}

void agent_done(struct agent *a)
{
	client_free(a->client);
	dhcpd_free(a->dhcpd);
	kernel_free(a->kernel);
	nft_handle_free(a->nft);
	nft_state_done(&a->nft_last);
	secgroups_input_done(&a->nft_ports_in);
	node_done(&a->desired);
	port_index_done(&a->ports);
	replica_done(&a->replica);
	ns_marks_done(&a->ns_synced);
	json_decref(a->cfg.physnets);
	json_decref(a->cfg.bgp_physnets);
}

void agent_heartbeat(struct agent *a)
{
	client_heartbeat(a->client);
}

void agent_feed(struct agent *a)
{
	json_t *lines = client_watch_take(a->client), *line;
	size_t i;

	json_array_foreach(lines, i, line) {
		int r = replica_apply(&a->replica, line);

		if (r > 0)
			a->dirty = true;
		else if (r == -EINVAL)
			log_event(LOG_LVL_WARN, "agent.feed_line_refused",
				  "type=%s id=%s err=invalid_id",
				  json_string_value(json_object_get(line, "type")),
				  json_string_value(json_object_get(line, "id")));
		else if (r < 0)
			log_event(LOG_LVL_WARN, "agent.feed_line_malformed", "action=ignored");
	}
	stats_feed(lines, a->replica.revision);
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
 * (hand edits are then noticed one period later).
 *
 * An agent that restarts must not rewrite tables that are already right
 * (a full replace of 2,000 ports' chains takes seconds). nf_tables cannot
 * update a table's comment, so the stamp lives beside the kernel: after
 * every apply, NFT_STATE_DIR/nft-<netns inode> holds the hash of the full
 * script that describes the tables now, and the listing hash when it is
 * fresh. A restarted agent whose desired script hashes the same, in the same
 * network namespace, with both tables there, adopts them with no op; a hand
 * edit made while it was down is found by the next full pass's listing
 * check. The file is a cache: without it, the tables are replaced. */
#define NFT_STATE_DIR "/run/lepton-agent"

static void stamp_path(char buf[static 128])
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0)
		st.st_ino = 0;
	snprintf(buf, 128, NFT_STATE_DIR "/nft-%llu", (unsigned long long) st.st_ino);
}

static bool stamp_read(uint64_t *ret_script, uint64_t *ret_listing)
{
	char path[128];
	unsigned long long a, b;
	FILE *f;
	int n;

	stamp_path(path);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fscanf(f, "%llx %llx", &a, &b);
	fclose(f);
	if (n != 2)
		return false;
	*ret_script = a;
	*ret_listing = b;
	return true;
}

static void stamp_write(uint64_t script, uint64_t listing)
{
	char path[128], tmp[140];
	FILE *f;

	stamp_path(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (mkdir(NFT_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return;
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%016llx %016llx\n", (unsigned long long) script, (unsigned long long) listing);
	if (fclose(f) == 0)
		(void) rename(tmp, path);
	else
		(void) unlink(tmp);
}

static bool tables_exist(bool netdev)
{
	char c[64];

	return nfnl_table_comment(netdev ? NFPROTO_NETDEV : NFPROTO_BRIDGE, "lepton", c,
				  sizeof(c)) == 0 &&
	       nfnl_table_comment(NFPROTO_INET, "lepton", c, sizeof(c)) == 0;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Commands per transaction when our tables are loaded where there are none:
 * the kernel binds each anonymous set of a rule by walking its transaction,
 * so one transaction of 37,000 commands (2,000 ports) took 5.9 s, its parts
 * a fraction. (With tables in place a full replace stays one transaction.) */
#define NFT_STEP_LINES 2000

/* The script in steps: the skeleton, sets and chains declared in the first,
 * then rules and elements (the dispatch maps' elements come last, so a
 * port is filtered by its whole chain or not yet at all, as before the
 * load). Returns what nft_apply returns for the first step that fails. */
static int apply_step(struct nft_handle *nft, const char *from, const char *to, char **err)
{
	char *step = xstrndup(from, (size_t) (to - from));
	int r = nft_apply(nft, step, err);

	free(step);
	return r;
}

static int apply_in_steps(struct nft_handle *nft, const char *script, char **err)
{
	const char *rules = strstr(script, "\nadd rule ");
	const char *end = rules ? rules + 1 : script + strlen(script);
	int r = apply_step(nft, script, end, err);

	for (script = end; r >= 0 && *script; script = end) {
		end = script;
		for (size_t n = 0; *end && n < NFT_STEP_LINES; n++) {
			const char *nl = strchr(end, '\n');

			end = nl ? nl + 1 : end + strlen(end);
		}
		r = apply_step(nft, script, end, err);
	}
	return r;
}

/* Returns the number of nftables commands written (script lines). */
static size_t sync_nft(struct agent *a, bool check)
{
	struct nft_input in;
	struct nft_state st;
	char *script, *err = NULL;
	bool full = !a->nft_applied, first = !a->nft_applied;
	uint64_t want, had_script, had_listing;
	size_t n;
	uint64_t inputs = secgroups_stamp(a->replica.live, &a->desired);

	/* Nothing they are made from changed: nothing to compute. */
	if (a->nft_applied && !check && inputs == a->nft_inputs)
		return 0;
	port_index_sync(&a->ports, &a->desired);
	/* The ports half is made anew only when the desired L2 (ports,
	 * networks, the ports' documents) is another one. */
	if (a->nft_ports_stamp != a->desired.l2_stamp || !a->nft_ports_stamp) {
		secgroups_input_done(&a->nft_ports_in);
		secgroups_input_ports(&a->replica, &a->desired, &a->ports, &a->nft_ports_in);
		a->nft_ports_stamp = a->desired.l2_stamp;
	}
	in = a->nft_ports_in; /* its ports and zones borrowed */
	in.ports_stamp = a->nft_ports_stamp;
	in.netdev = a->nft_netdev;
	secgroups_input_groups(&a->replica, &in);
	if (a->cfg.vxlan_notrack) {
		in.tunnel_ip = a->cfg.tunnel_ip;
		in.tunnel_port = RTNL_VXLAN_PORT;
		snprintf(in.tunnel_dev, sizeof(in.tunnel_dev), "%s", a->cfg.tunnel_dev);
	}
	nft_build(&in, &a->nft_last, &st);
	secgroups_input_groups_done(&in);
	want = nft_state_hash(&st);
	if (!a->nft_applied && stamp_read(&had_script, &had_listing) && had_script == want &&
	    tables_exist(a->nft_netdev)) {
		/* A restart with everything in place: nothing to write. */
		nft_state_done(&a->nft_last);
		a->nft_last = st;
		a->nft_applied = true;
		a->nft_hash = had_listing;
		a->nft_hash_stale = had_listing == 0;
		a->nft_script_hash = want;
		a->nft_inputs = inputs;
		log_event(LOG_LVL_INFO, "agent.nft_adopted", NULL);
		return 0;
	}
	if (a->nft_applied && check && !a->nft_hash_stale)
		full = nft_tables_hash(a->nft) != a->nft_hash;
	/* The first pass, or our tables were changed behind our back: replace
	 * them whole, atomically. Otherwise only what changed. */
	script = full ? nft_script_full(&st) : nft_script_diff(&a->nft_last, &st);
	if (*script &&
	    (full && !tables_exist(a->nft_netdev) ? apply_in_steps(a->nft, script, &err)
						  : nft_apply(a->nft, script, &err)) < 0) {
		log_event(LOG_LVL_ERROR, "agent.nft_failed", "err=%s", err);
		free(err);
		free(script);
		nft_state_done(&st);
		a->nft_applied = false; /* try a full replace next pass */
		return 0;
	}
	if (full && a->nft_applied)
		log_event(LOG_LVL_WARN, "agent.nft_restored", "reason=changed_by_hand");
	nft_state_done(&a->nft_last);
	a->nft_last = st;
	a->nft_applied = true;
	/* The listing that later passes compare with, read back now, except
	 * after the first write (the agent's start: the next periodic or
	 * link-driven pass reads it, and a start does not pay for reading
	 * back what it just wrote). */
	if ((check || full) && !first) {
		a->nft_hash = nft_tables_hash(a->nft);
		a->nft_hash_stale = false;
	} else if (*script) {
		a->nft_hash_stale = true;
	}
	if (*script || check || a->nft_script_hash != want)
		stamp_write(want, a->nft_hash_stale ? 0 : a->nft_hash);
	a->nft_script_hash = want;
	a->nft_inputs = inputs;
	n = count_lines(script);
	free(script);
	return n;
}

static void report(struct agent *a, const char *port_id, const char *want)
{
	const struct m_port *doc = model_port(a->replica.live, port_id);

	if (doc)
		client_report_port(a->client, port_id, want, doc->status);
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
			const struct m_port *doc = model_port(a->replica.live, l->port_id);

			if (!doc || !streq(doc->host, a->cfg.host))
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

	if (!d)
		return false; /* not wanted: deleted, whatever it holds */
	return a->full_pass || !a->synced_once || !ns_marks_match(&a->ns_synced, d);
}

/* After a plan: the namespaces it brought to their desired state. */
static void note_synced(struct agent *a, const struct observed *o, const struct plan *p,
			const bool *failed)
{
	const struct d_routers *rs = a->desired.routers;
	struct ns_marks next = {HMAP_INIT};

	for (size_t i = 0; i < rs->n; i++) {
		const struct ns_observed *h = observed_ns(o, rs->r[i].ns);
		bool ok = true;

		for (size_t j = 0; j < p->n_ops && ok; j++)
			ok = !(failed[j] && streq(p->ops[j].ns, rs->r[i].ns));
		if (!ok || (h && !h->ours))
			continue;
		if (h && !h->dumped)
			ns_marks_copy(&next, &a->ns_synced, rs->r[i].ns);
		else
			ns_marks_set(&next, rs->r[i].ns, rs->r[i].hash);
	}
	ns_marks_done(&a->ns_synced);
	a->ns_synced = next;
}

/* BGP mode: the node's table of announced /32s follows the router
 * namespaces just brought in place (announce.h). */
static void sync_announce(struct agent *a)
{
	int r;

	if (!a->cfg.announce.table)
		return;
	r = announce_sync(kernel_rtnl(a->kernel), &a->cfg.announce, a->desired.routers);
	if (r < 0) {
		log_event(LOG_LVL_ERROR, "agent.announce_failed", "table=%u dev=%s err=%s",
			  a->cfg.announce.table, a->cfg.announce.dev, strerror(-r));
		a->dirty = true;
	} else if (r > 0) {
		log_event(LOG_LVL_INFO, "agent.announced", "changes=%d", r);
	}
}

/* The last pass went through, and since it only documents that nothing but
 * the nftables tables are made of changed: nothing but the tables is
 * looked at. */
static bool tables_only(const struct agent *a)
{
	return a->synced_once && !a->full_pass && a->node_stamp &&
	       node_tables_only(a->replica.live, a->pass_serial, a->pass_gen);
}

static void note_pass(struct agent *a, const char *kind, uint64_t t0, size_t n_ops, size_t n_nft,
		      size_t n_ns_ops, const uint64_t t[5])
{
	if (!a->synced_once || n_ops || n_nft)
		log_event(LOG_LVL_INFO, "agent.pass",
			  "kind=%s ports=%zu networks=%zu routers=%zu kernel_ops=%zu ms=%llu "
			  "revision=%lld nft_commands=%zu ns_ops=%zu model_ms=%llu dump_ms=%llu "
			  "apply_ms=%llu nft_ms=%llu status_ms=%llu",
			  kind, a->desired.n_ports, a->desired.n_nets, a->desired.routers->n, n_ops,
			  (unsigned long long) (t[4] - t0), (long long) a->replica.revision, n_nft,
			  n_ns_ops, (unsigned long long) (t[0] - t0),
			  (unsigned long long) (t[1] - t[0]), (unsigned long long) (t[2] - t[1]),
			  (unsigned long long) (t[3] - t[2]), (unsigned long long) (t[4] - t[3]));
	stats_pass(&(struct stats_pass){kind, t0, t[0], t[1], t[2], t[3], t[4], n_nft,
					a->replica.revision});
	a->synced_once = true;
	a->pass_serial = a->replica.live->serial;
	a->pass_gen = a->replica.live->generation;
}

void agent_sync(struct agent *a)
{
	struct kernel_ops ops = kernel_ops(a->kernel);
	struct observed o = {0};
	struct plan plan;
	uint64_t t0 = time_mono_ms();
	size_t n_ops, n_ns_ops = 0, n_nft;
	bool *failed, routers_only;
	const char *kind;
	uint64_t node_stamp;
	int r;

	bool full_pass = !a->synced_once || a->full_pass;
	struct d_node node = {a->cfg.host,
			      a->cfg.tunnel_ip,
			      streq(a->cfg.mode, "network"),
			      a->cfg.netns_prefix ? a->cfg.netns_prefix : "",
			      a->cfg.physnets,
			      a->cfg.announce.table ? a->cfg.announce.nexthop : 0,
			      a->cfg.bgp_physnets,
			      a->cfg.announce.table &&
					      memcmp(a->cfg.announce.nexthop6, (uint8_t[16]){0}, 16)
				      ? a->cfg.announce.nexthop6
				      : NULL};

	uint64_t t_model, t_dump, t_apply, t_nft, t_rest;
	struct desired prev = a->desired;

	if (tables_only(a)) {
		uint64_t t[5] = {t0, t0, t0};

		n_nft = sync_nft(a, false);
		t[3] = t[4] = time_mono_ms();
		note_pass(a, "tables", t0, 0, n_nft, 0, t);
		return;
	}

	/* From the previous state: routers whose inputs did not change are
	 * taken over, not computed again. */
	a->desired = (struct desired){0};
	node_compute(&a->replica, &node, &prev, &a->desired);
	node_done(&prev);
	node_stamp = node_level_stamp(a->replica.live, &a->desired);
	/* Nothing the node level is made of changed since a pass made it right
	 * (and no link event came): only router namespaces are looked at. */
	routers_only = !full_pass && node_stamp == a->node_stamp;
	log_event(LOG_LVL_DEBUG, "agent.pass_start", "node_level=%s",
		  routers_only	       ? "unchanged"
		  : full_pass	       ? "full_pass"
		  : a->node_stamp == 0 ? "last_pass_failed"
				       : "inputs_changed");
	t_model = time_mono_ms();
	r = routers_only ? observed_dump_namespaces(&ops, want_ns, a, &o)
			 : observed_dump(&ops, want_ns, a, &o);
	if (r < 0) {
		log_event(LOG_LVL_ERROR, "agent.dump_failed", "err=%s", strerror(-r));
		a->dirty = true;
		return;
	}
	t_dump = time_mono_ms();
	if (routers_only) {
		plan = (struct plan){0};
		reconcile_routers(&a->desired, &o, &plan);
	} else {
		reconcile_plan(&a->desired, &o, a->cfg.tunnel_ip, &plan);
	}
	a->node_stamp = 0;
	failed = xcalloc(plan.n_ops + 1, sizeof(*failed));
	if (plan.n_ops) {
		if (log_enabled(LOG_LVL_DEBUG)) {
			char *text = plan_format(&plan);

			log_event(LOG_LVL_DEBUG, "agent.plan", "ops=%zu plan=%s", plan.n_ops, text);
			free(text);
		}
		r = plan_apply(&plan, &ops, failed);
		if (r < 0) {
			for (size_t i = 0; i < plan.n_ops; i++) {
				struct plan one = {&plan.ops[i], 1, 1};
				char *line;

				if (!failed[i])
					continue;
				line = plan_format(&one);
				log_event(LOG_LVL_WARN, "agent.op_failed", "op=%s",
					  strtok(line, "\n"));
				free(line);
			}
			log_event(LOG_LVL_ERROR, "agent.plan_failed", "err=%s", strerror(-r));
			a->dirty = true;
		}
	}
	for (size_t i = 0; i < plan.n_ops; i++)
		n_ns_ops += plan.ops[i].ns[0] != '\0';
	sync_announce(a);
	note_synced(a, &o, &plan, failed);
	free(failed);
	a->full_pass = false;
	if (!a->dirty) /* every op went through */
		a->node_stamp = node_stamp;
	n_ops = plan.n_ops;
	if (plan.n_ops > n_ns_ops) {
		/* What the node holds now, for the status reports (ops in router
		 * namespaces change nothing they read). */
		struct observed after = {0};

		if (ops.dump(ops.userdata, false, &after) >= 0) {
			observed_index(&after);
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
	n_nft = sync_nft(a, full_pass);
	t_nft = time_mono_ms();
	/* A pass that only looked at router namespaces changed no port, no
	 * network and no link (a link event makes a full pass): the DHCP
	 * sockets and the statuses are as they were. */
	if (!routers_only) {
		dhcpd_sync(a->dhcpd, &a->desired, lookup_ifindex, a->kernel, a->epfd);
		report_status(a, &o);
	}
	observed_done(&o);
	t_rest = time_mono_ms();
	/* The first pass after a start is the full resync; say how long it took. */
	kind = !a->synced_once ? "full_resync" : routers_only ? "routers" : "sync";
	note_pass(a, kind, t0, n_ops, n_nft, n_ns_ops,
		  (uint64_t[5]){t_model, t_dump, t_apply, t_nft, t_rest});
}
