/* The part of the model one node needs.
 *
 * The rule, for node H at one revision of the model (it follows what the
 * agent reads: desired.c, routers.c, secgroups.c, sync.c):
 *
 *   A    agents whose host is H (its registration: mode, physical networks)
 *   LP   ports bound to H (binding:host_id == H), whatever their owner
 *   LN   networks of the VM ports of LP (device_owner not "network:*")
 *   RT   routers hosted by H (lepton:l3_host == H: legacy routers and the
 *        centralized SNAT of distributed ones), and distributed routers with
 *        an interface port (device_owner network:router_interface*) on a
 *        network of LN
 *   RP   ports of the routers of RT (device_id a router of RT, device_owner
 *        network:router_*): gateway, interfaces, centralized SNAT ports
 *   FIP  Floating IPs of the routers of RT: all of a legacy router's, those
 *        of a distributed router whose port is in LP
 *   NET  LN, the networks of RP, and on a network node (A's mode "network")
 *        every network with lepton:dhcp "centralized"
 *   OVL  the networks of NET the agent builds as overlays: VXLAN ones, and any
 *        other whose physical network H has not mapped
 *   SG   security groups of the ports of LP, and the remote groups of their
 *        rules (RG); the address groups their rules name (AG)
 *   SB   the SNAT blocks of the routers of RT, every node's (an owner
 *        forwards return traffic to the node of the block)
 *
 * H needs: A; NET; every port and subnet of the networks of OVL; LP and RP
 * and the subnets of their fixed IPs; RT; FIP; SB; SG; AG; the
 * members of RG (ports with a group of RG); the agents of the hosts that bind
 * a port of an OVL network, and every network-mode agent (centralized DHCP
 * floods to them); the firewall groups on an interface port of RP, their
 * policies and the policies' rules.
 *
 * The rule is a pure function of the model: the stream recomputes it after
 * each batch of changes and sends the difference, so that it stays right
 * whatever the order of the changes (a document enters or leaves the view
 * whenever a change anywhere makes it so). */
#include "server/nodeview.h"

#include <string.h>
#include "base/hash.h"
#include "base/util.h"
#include "base/xalloc.h"

/* The journal keeps what each change touched for so many changes. */
#define JOURNAL_MAX 20000

struct nodeview {
	json_t *idx;	 /* {"<index>\x1f<value>": {id: true}} */
	json_t *names;	 /* {"<index>\x1f<value>": that string}: one copy each,
			  * which the entries and the journal hold (a few
			  * thousand keys for hundreds of thousands of entries) */
	json_t *entries; /* {"<type>\x1f<id>": ["<index>\x1f<value>", ...]} */
	int64_t rev;	 /* the store revision the indexes reflect */
	bool built;
	/* [[revision, [key, ...]], ...], oldest first: for each change, the
	 * document ("D\x1f<type>\x1f<id>") and the index entries it left or
	 * joined. Changes at or below journal_floor are not in it. */
	json_t *journal;
	int64_t journal_floor;
};

/* One entry per line (clang-format off keeps it so for easy merges). */
/* clang-format off */
const char *const nodeview_types[] = {
	"agent",
	"network",
	"subnet",
	"security_group",
	"firewall_rule",
	"firewall_policy",
	"firewall_group",
	"router",
	"port",
	"floatingip",
	"snat_block",
	"address_group",
	NULL,
};
/* clang-format on */

/* The types with indexes. */
static const char *const indexed[] = {"port",	 "subnet", "floatingip",     "router",
				      "network", "agent",  "firewall_group", "snat_block"};

static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

/* What a view read: the 64-bit hashes of its keys (see the journal),
 * sorted and distinct. A stream keeps one for as long as it is open, so it
 * is 8 bytes a key, not a JSON object of strings (about 110 bytes a key: a
 * node's view reads a few hundred). Two keys with one hash only make a
 * change look relevant when it is not: the view is computed again, never
 * missed. */
struct nodeview_deps {
	size_t n;
	uint64_t h[];
};

static uint64_t key_hash(const char *k)
{
	return fnv_str(FNV_OFFSET, k);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static bool deps_has(const struct nodeview_deps *d, const char *key)
{
	uint64_t h = key_hash(key);

	return d && bsearch(&h, d->h, d->n, sizeof(h), cmp_u64) != NULL;
}

void nodeview_deps_free(struct nodeview_deps *d)
{
	free(d);
}

size_t nodeview_deps_count(const struct nodeview_deps *d)
{
	return d ? d->n : 0;
}

struct nodeview *nodeview_new(void)
{
	struct nodeview *v = xcalloc(1, sizeof(*v));

	v->idx = json_object();
	v->names = json_object();
	v->entries = json_object();
	v->journal = json_array();
	return v;
}

void nodeview_free(struct nodeview *v)
{
	if (!v)
		return;
	json_decref(v->idx);
	json_decref(v->names);
	json_decref(v->entries);
	json_decref(v->journal);
	free(v);
}

static void key2(char *buf, size_t size, const char *a, const char *b)
{
	snprintf(buf, size, "%s\x1f%s", a, b);
}

static void entry(struct nodeview *v, json_t *list, const char *index, const char *value,
		  const char *id)
{
	char k[512];
	json_t *set, *name;

	if (!*value)
		return;
	key2(k, sizeof(k), index, value);
	set = json_object_get(v->idx, k);
	if (!set) {
		set = json_object();
		json_object_set_new(v->idx, k, set);
		json_object_set_new(v->names, k, json_string(k));
	}
	json_object_set_new(set, id, json_true());
	name = json_object_get(v->names, k);
	if (name)
		json_array_append(list, name);
}

/* Drops the document's index entries, adding them to `moved`. */
static void unindex(struct nodeview *v, const char *key, const char *id, json_t *moved)
{
	json_t *list = json_object_get(v->entries, key), *e;
	size_t i;

	json_array_foreach(list, i, e) {
		json_array_append(moved, e);
		json_t *set = json_object_get(v->idx, json_string_value(e));

		json_object_del(set, id);
		if (set && !json_object_size(set)) {
			json_object_del(v->idx, json_string_value(e));
			json_object_del(v->names, json_string_value(e));
		}
	}
	json_object_del(v->entries, key);
}

/* Indexes the document; returns its entries (borrowed). */
static json_t *index_doc(struct nodeview *v, const char *type, const char *id, json_t *doc)
{
	json_t *list = json_array(), *e;
	char key[512];
	size_t i;

	if (streq(type, "port")) {
		entry(v, list, "ph", str(doc, "binding:host_id"), id);
		entry(v, list, "pn", str(doc, "network_id"), id);
		if (startswith(str(doc, "device_owner"), "network:router_"))
			entry(v, list, "pd", str(doc, "device_id"), id);
		json_array_foreach(json_object_get(doc, "security_groups"), i, e)
			if (json_is_string(e))
				entry(v, list, "ps", json_string_value(e), id);
	} else if (streq(type, "subnet")) {
		entry(v, list, "sn", str(doc, "network_id"), id);
	} else if (streq(type, "floatingip")) {
		entry(v, list, "fr", str(doc, "router_id"), id);
	} else if (streq(type, "router")) {
		entry(v, list, "rl", str(doc, "lepton:l3_host"), id);
	} else if (streq(type, "network")) {
		if (streq(str(doc, "lepton:dhcp"), "centralized"))
			entry(v, list, "nc", "centralized", id);
	} else if (streq(type, "agent")) {
		entry(v, list, "ah", str(doc, "host"), id);
		if (streq(str(json_object_get(doc, "configurations"), "mode"), "network"))
			entry(v, list, "am", "network", id);
	} else if (streq(type, "firewall_group")) {
		json_array_foreach(json_object_get(doc, "ports"), i, e)
			if (json_is_string(e))
				entry(v, list, "gp", json_string_value(e), id);
	} else if (streq(type, "snat_block")) {
		entry(v, list, "br", str(doc, "router_id"), id);
	}
	key2(key, sizeof(key), type, id);
	json_object_set_new(v->entries, key, list);
	return list;
}

static bool is_indexed(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(indexed); i++)
		if (streq(indexed[i], type))
			return true;
	return false;
}

static void rebuild(struct nodeview *v, struct store *s)
{
	json_object_clear(v->idx);
	json_object_clear(v->names);
	json_object_clear(v->entries);
	for (size_t t = 0; t < ARRAY_SIZE(indexed); t++) {
		json_t *docs = store_list_shared(s, indexed[t]), *doc;
		size_t i;

		json_array_foreach(docs, i, doc)
			index_doc(v, indexed[t], str(doc, "id"), doc);
		json_decref(docs);
	}
	v->built = true;
	/* Views computed before cannot be checked against the journal. */
	json_array_clear(v->journal);
	v->journal_floor = store_revision(s);
}

/* Brings the indexes to the committed revision: re-indexes each document
 * changed since (its state now), or everything when the feed no longer
 * holds those changes. */
static void sync_indexes(struct nodeview *v, struct store *s)
{
	int64_t head = store_revision(s);
	json_t *touched, *t;
	size_t i;

	if (v->built && v->rev == head)
		return;
	if (!v->built || v->rev < store_feed_floor(s) || v->rev > head) {
		rebuild(v, s);
		v->rev = head;
		return;
	}
	touched = store_feed_touched(s, v->rev);
	json_array_foreach(touched, i, t) {
		json_int_t rev = json_integer_value(json_array_get(t, 0));
		const char *type = json_string_value(json_array_get(t, 1));
		const char *id = json_string_value(json_array_get(t, 2));
		char key[512];
		json_t *doc, *keys;

		if (!type || !id)
			continue;
		keys = json_array();
		snprintf(key, sizeof(key), "D\x1f%s\x1f%s", type, id);
		json_array_append_new(keys, json_string(key));
		if (is_indexed(type)) {
			key2(key, sizeof(key), type, id);
			unindex(v, key, id, keys);
			doc = store_get_shared(s, type, id);
			if (doc)
				json_array_extend(keys, index_doc(v, type, id, doc));
		}
		json_array_append_new(v->journal, json_pack("[I, o]", rev, keys));
	}
	json_decref(touched);
	v->rev = head;
	if (json_array_size(v->journal) > JOURNAL_MAX) {
		size_t drop = json_array_size(v->journal) / 2;
		json_t *kept = json_array();

		v->journal_floor =
			json_integer_value(json_array_get(json_array_get(v->journal, drop - 1), 0));
		for (i = drop; i < json_array_size(v->journal); i++)
			json_array_append(kept, json_array_get(v->journal, i));
		json_decref(v->journal);
		v->journal = kept;
	}
}

bool nodeview_may_differ(struct nodeview *v, struct store *s, int64_t rev,
			 const struct nodeview_deps *deps)
{
	if (!deps)
		return true; /* nothing computed yet */
	sync_indexes(v, s);
	if (rev < v->journal_floor)
		return true;
	for (size_t i = json_array_size(v->journal); i-- > 0;) {
		json_t *j = json_array_get(v->journal, i), *k;
		size_t n;

		if (json_integer_value(json_array_get(j, 0)) <= rev)
			break;
		json_array_foreach(json_array_get(j, 1), n, k)
			if (deps_has(deps, json_string_value(k)))
				return true;
	}
	return false;
}

struct view {
	struct nodeview *v;
	struct store *s;
	json_t *out;   /* {type: {id: doc}} */
	uint64_t *dep; /* hashes of the keys read, in reading order */
	size_t n_dep, cap_dep;
};

static void note(struct view *w, const char *key)
{
	if (w->n_dep == w->cap_dep) {
		w->cap_dep = w->cap_dep ? w->cap_dep * 2 : 256;
		w->dep = xrealloc(w->dep, w->cap_dep * sizeof(*w->dep));
	}
	w->dep[w->n_dep++] = key_hash(key);
}

/* The view's keys as a nodeview_deps (takes w->dep). */
static struct nodeview_deps *deps_seal(struct view *w)
{
	struct nodeview_deps *d;
	size_t n = 0;

	if (w->n_dep)
		qsort(w->dep, w->n_dep, sizeof(*w->dep), cmp_u64);
	for (size_t i = 0; i < w->n_dep; i++)
		if (!n || w->dep[i] != w->dep[n - 1])
			w->dep[n++] = w->dep[i];
	d = xmalloc(sizeof(*d) + n * sizeof(d->h[0]));
	d->n = n;
	if (n)
		memcpy(d->h, w->dep, n * sizeof(d->h[0]));
	free(w->dep);
	w->dep = NULL;
	return d;
}

/* A document, borrowed, noting that the view read it. */
static json_t *get(struct view *w, const char *type, const char *id)
{
	char key[512];

	snprintf(key, sizeof(key), "D\x1f%s\x1f%s", type, id);
	note(w, key);
	return store_get_shared(w->s, type, id);
}

/* The ids under one index value, noting that the view read them. */
static json_t *find(struct view *w, const char *index, const char *value)
{
	char k[512];

	key2(k, sizeof(k), index, value);
	note(w, k);
	return json_object_get(w->v->idx, k);
}

/* Adds the document to the view; returns it (borrowed), or NULL when the
 * store has no such document. */
static json_t *add(struct view *w, const char *type, const char *id)
{
	json_t *doc, *t;

	if (!id || !*id)
		return NULL;
	t = json_object_get(w->out, type);
	doc = json_object_get(t, id);
	if (doc)
		return doc;
	doc = get(w, type, id);
	if (!doc)
		return NULL;
	if (!t) {
		t = json_object();
		json_object_set_new(w->out, type, t);
	}
	json_object_set(t, id, doc);
	return doc;
}

static void add_all(struct view *w, const char *type, json_t *ids)
{
	const char *id;
	json_t *x;

	json_object_foreach(ids, id, x)
		add(w, type, id);
}

static void add_subnets_of(struct view *w, json_t *port)
{
	json_t *ip;
	size_t i;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip)
		add(w, "subnet", str(ip, "subnet_id"));
}

/* The firewall groups on a router interface port, their policies and the
 * policies' rules. */
static void add_firewall(struct view *w, const char *port_id)
{
	json_t *g, *pol, *e, *x;
	const char *gid;
	size_t i;

	json_object_foreach(find(w, "gp", port_id), gid, x) {
		g = add(w, "firewall_group", gid);
		for (int dir = 0; dir < 2 && g; dir++) {
			pol = add(w, "firewall_policy",
				  str(g, dir ? "egress_firewall_policy_id"
					     : "ingress_firewall_policy_id"));
			json_array_foreach(json_object_get(pol, "firewall_rules"), i, e)
				add(w, "firewall_rule", json_string_value(e));
		}
	}
}

static bool is_vm_port(json_t *port)
{
	return !startswith(str(port, "device_owner"), "network:");
}

json_t *nodeview_compute(struct nodeview *v, struct store *s, const char *host,
			 struct nodeview_deps **ret_deps)
{
	struct view w = {v, s, json_object(), NULL, 0, 0};
	json_t *lp = json_object(), *ln = json_object(), *rt = json_object();
	json_t *net_set = json_object(), *hosts = json_object(), *rg = json_object();
	json_t *phys = NULL, *doc, *x, *e;
	bool network_node = false;
	const char *id, *nid;
	size_t i;

	sync_indexes(v, s);
	/* A: the node's own registration. */
	json_object_foreach(find(&w, "ah", host), id, x) {
		json_t *conf = json_object_get(add(&w, "agent", id), "configurations");

		network_node = network_node || streq(str(conf, "mode"), "network");
		if (!phys)
			phys = json_object_get(conf, "physical_networks");
	}
	/* LP, LN. */
	json_object_foreach(find(&w, "ph", host), id, x) {
		doc = add(&w, "port", id);
		if (!doc)
			continue;
		json_object_set_new(lp, id, json_true());
		add_subnets_of(&w, doc);
		if (is_vm_port(doc) && *str(doc, "network_id"))
			json_object_set_new(ln, str(doc, "network_id"), json_true());
	}
	/* RT: routers hosted here, distributed routers on a local network. */
	json_object_foreach(find(&w, "rl", host), id, x)
		json_object_set_new(rt, id, json_true());
	json_object_foreach(ln, nid, x) {
		const char *pid;
		json_t *y;

		json_object_set_new(net_set, nid, json_true());
		json_object_foreach(find(&w, "pn", nid), pid, y) {
			json_t *p = get(&w, "port", pid), *router;

			if (!startswith(str(p, "device_owner"), "network:router_interface"))
				continue;
			router = get(&w, "router", str(p, "device_id"));
			if (json_is_true(json_object_get(router, "distributed")))
				json_object_set_new(rt, str(p, "device_id"), json_true());
		}
	}
	/* RP, FIP. */
	json_object_foreach(rt, id, x) {
		json_t *router = add(&w, "router", id), *y;
		bool dvr = json_is_true(json_object_get(router, "distributed"));
		const char *k;

		if (!router)
			continue;
		json_object_foreach(find(&w, "pd", id), k, y) {
			json_t *p = add(&w, "port", k);

			if (!p)
				continue;
			add_subnets_of(&w, p);
			if (*str(p, "network_id"))
				json_object_set_new(net_set, str(p, "network_id"), json_true());
			if (startswith(str(p, "device_owner"), "network:router_interface"))
				add_firewall(&w, k);
		}
		json_object_foreach(find(&w, "fr", id), k, y) {
			json_t *f = get(&w, "floatingip", k);

			if (!dvr || json_object_get(lp, str(f, "port_id")))
				add(&w, "floatingip", k);
		}
		/* SB */
		add_all(&w, "snat_block", find(&w, "br", id));
	}
	/* NET: a network node serves centralized DHCP everywhere. */
	if (network_node)
		json_object_foreach(find(&w, "nc", "centralized"), id, x)
			json_object_set_new(net_set, id, json_true());
	/* OVL: every port and subnet, and the agents of their hosts. */
	json_object_foreach(net_set, nid, x) {
		json_t *net = add(&w, "network", nid), *y;
		const char *k;

		if (!net)
			continue;
		if (!streq(str(net, "provider:network_type"), "vxlan") &&
		    json_object_get(phys, str(net, "provider:physical_network")))
			continue; /* a provider network mapped here: no overlay */
		add_all(&w, "subnet", find(&w, "sn", nid));
		json_object_foreach(find(&w, "pn", nid), k, y) {
			json_t *p = add(&w, "port", k);

			if (*str(p, "binding:host_id"))
				json_object_set_new(hosts, str(p, "binding:host_id"), json_true());
		}
	}
	/* SG, RG and the members of RG. */
	json_object_foreach(lp, id, x) {
		json_array_foreach(json_object_get(get(&w, "port", id), "security_groups"), i, e) {
			json_t *sg = add(&w, "security_group", json_string_value(e)), *rule;
			size_t j;

			json_array_foreach(json_object_get(sg, "security_group_rules"), j, rule) {
				if (*str(rule, "remote_group_id"))
					json_object_set_new(rg, str(rule, "remote_group_id"),
							    json_true());
				add(&w, "address_group", str(rule, "remote_address_group_id"));
			}
		}
	}
	json_object_foreach(rg, id, x) {
		add(&w, "security_group", id);
		add_all(&w, "port", find(&w, "ps", id));
	}
	/* Agents: of the hosts above, and every network node. */
	json_object_foreach(hosts, id, x)
		add_all(&w, "agent", find(&w, "ah", id));
	add_all(&w, "agent", find(&w, "am", "network"));
	json_decref(lp);
	json_decref(ln);
	json_decref(rt);
	json_decref(net_set);
	json_decref(hosts);
	json_decref(rg);
	*ret_deps = deps_seal(&w);
	return w.out;
}
