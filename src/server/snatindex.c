/* The indexes of distributed SNAT (see snatindex.h). */
#include "server/snatindex.h"

#include <stdio.h>
#include <string.h>
#include "base/util.h"

enum map {
	SUBNET_ROUTERS,
	ROUTER_SUBNETS,
	SUBNET_HOSTS,
	ROUTER_BLOCKS,
	MAP_MAX,
};

static struct {
	struct store *store; /* the store indexed; another one: rebuild */
	bool built;
	int64_t rev;	       /* committed changes up to here are indexed */
	json_t *maps[MAP_MAX]; /* {key: {value: count}} */
	json_t *entries;       /* {"type\x1fid": [[map, key, value], ...]} */
	json_t *dirty;	       /* {"type\x1fid": true}: indexed from uncommitted state */
} idx;

static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

static void bump(enum map m, const char *key, const char *value, json_int_t delta)
{
	json_t *set = json_object_get(idx.maps[m], key);
	json_int_t n;

	if (!set) {
		if (delta < 0)
			return;
		set = json_object();
		json_object_set_new(idx.maps[m], key, set);
	}
	n = json_integer_value(json_object_get(set, value)) + delta;
	if (n > 0)
		json_object_set_new(set, value, json_integer(n));
	else
		json_object_del(set, value);
	if (!json_object_size(set))
		json_object_del(idx.maps[m], key);
}

static void add(json_t *list, enum map m, const char *key, const char *value)
{
	if (!*key || !*value)
		return;
	bump(m, key, value, 1);
	json_array_append_new(list, json_pack("[i, s, s]", (int) m, key, value));
}

/* Replaces what (type, id) contributes with what `doc` (NULL: none) does. */
static void index_doc(const char *type, const char *id, json_t *doc)
{
	char key[512];
	json_t *old, *e, *list, *ip;
	size_t i;

	snprintf(key, sizeof(key), "%s\x1f%s", type, id);
	old = json_object_get(idx.entries, key);
	json_array_foreach(old, i, e)
		bump((enum map) json_integer_value(json_array_get(e, 0)),
		     json_string_value(json_array_get(e, 1)),
		     json_string_value(json_array_get(e, 2)), -1);
	list = json_array();
	if (doc && streq(type, "port")) {
		const char *owner = str(doc, "device_owner");

		json_array_foreach(json_object_get(doc, "fixed_ips"), i, ip) {
			const char *sid = str(ip, "subnet_id");

			if (startswith(owner, "network:router_interface")) {
				add(list, SUBNET_ROUTERS, sid, str(doc, "device_id"));
				add(list, ROUTER_SUBNETS, str(doc, "device_id"), sid);
			} else if (startswith(owner, "compute:")) {
				add(list, SUBNET_HOSTS, sid, str(doc, "binding:host_id"));
			}
		}
	} else if (doc && streq(type, "snat_block")) {
		add(list, ROUTER_BLOCKS, str(doc, "router_id"), id);
	}
	if (json_array_size(list))
		json_object_set_new(idx.entries, key, list);
	else {
		json_decref(list);
		json_object_del(idx.entries, key);
	}
}

static bool is_indexed(const char *type)
{
	return streq(type, "port") || streq(type, "snat_block");
}

static void rebuild(struct store *s)
{
	static const char *const types[] = {"port", "snat_block"};

	for (int m = 0; m < MAP_MAX; m++) {
		json_decref(idx.maps[m]);
		idx.maps[m] = json_object();
	}
	json_decref(idx.entries);
	idx.entries = json_object();
	json_decref(idx.dirty);
	idx.dirty = json_object();
	for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
		json_t *docs = store_list_shared(s, types[t]), *doc;
		size_t i;

		json_array_foreach(docs, i, doc)
			index_doc(types[t], str(doc, "id"), doc);
		json_decref(docs);
	}
	idx.store = s;
	idx.built = true;
}

static void reindex(struct store *s, const char *type, const char *id)
{
	if (is_indexed(type))
		index_doc(type, id, store_get_shared(s, type, id));
}

void snatindex_update(struct store *s, const char *type, const char *id)
{
	char key[512];

	if (!is_indexed(type))
		return;
	reindex(s, type, id);
	snprintf(key, sizeof(key), "%s\x1f%s", type, id);
	json_object_set_new(idx.dirty, key, json_true());
}

void snatindex_refresh(struct store *s)
{
	json_t *touched, *t, *dirty, *x;
	const char *key;
	size_t i;

	if (!idx.built || idx.store != s || idx.rev < store_feed_floor(s) ||
	    idx.rev > store_revision(s)) {
		rebuild(s);
	} else if (idx.rev < store_revision(s)) {
		touched = store_feed_touched(s, idx.rev);
		json_array_foreach(touched, i, t)
			reindex(s, json_string_value(json_array_get(t, 1)),
				json_string_value(json_array_get(t, 2)));
		json_decref(touched);
	}
	idx.rev = store_revision(s);
	/* What earlier transactions left (committed or rolled back). */
	dirty = idx.dirty;
	idx.dirty = json_object();
	json_object_foreach(dirty, key, x) {
		const char *sep = strchr(key, '\x1f');
		char type[32];

		if (!sep || (size_t) (sep - key) >= sizeof(type))
			continue;
		memcpy(type, key, (size_t) (sep - key));
		type[sep - key] = '\0';
		reindex(s, type, sep + 1);
	}
	json_decref(dirty);
	/* This transaction's writes so far. */
	touched = store_txn_touched(s);
	json_array_foreach(touched, i, t)
		snatindex_update(s, json_string_value(json_array_get(t, 0)),
				 json_string_value(json_array_get(t, 1)));
	json_decref(touched);
}

static json_t *lookup(enum map m, const char *key)
{
	return json_object_get(idx.maps[m], key);
}

json_t *snatindex_subnet_routers(const char *subnet_id)
{
	return lookup(SUBNET_ROUTERS, subnet_id);
}

json_t *snatindex_router_subnets(const char *router_id)
{
	return lookup(ROUTER_SUBNETS, router_id);
}

json_t *snatindex_subnet_hosts(const char *subnet_id)
{
	return lookup(SUBNET_HOSTS, subnet_id);
}

json_t *snatindex_router_blocks(const char *router_id)
{
	return lookup(ROUTER_BLOCKS, router_id);
}

json_t *snatindex_blocks_by_router(void)
{
	return idx.maps[ROUTER_BLOCKS];
}
