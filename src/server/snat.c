/* Distributed SNAT port blocks, the SNAT owner and the sweeper (see snat.h). */
#include "server/snat.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/ip4.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/uuid.h"
#include "base/xalloc.h"
#include "server/ipam.h"
#include "server/list.h"
#include "server/resources.h"
#include "server/snatindex.h"

#define OWNER_KEY	"lepton:snat_owner"
#define OWNERS_KEY	"lepton:snat_owners"
#define SWEEP_EVERY_MS	250
#define SWEEP_FULL_MS	10000
#define MAX_SHOW_FIELDS 64

/* ---- Block arithmetic (pure). */

unsigned snat_block_count(unsigned size)
{
	unsigned span = SNAT_PORT_LAST - SNAT_PORT_FIRST + 1;

	return (span + size - 1) / size;
}

int snat_block_range(unsigned size, unsigned index, struct snat_range *ret)
{
	unsigned min;

	if (size == 0 || index >= snat_block_count(size))
		return -ERANGE;
	min = SNAT_PORT_FIRST + index * size;
	ret->min = min;
	ret->max = size - 1 > SNAT_PORT_LAST - min ? SNAT_PORT_LAST : min + size - 1;
	return 0;
}

int snat_block_pick(unsigned size, const struct snat_range *used, size_t used_len,
		    struct snat_range *ret)
{
	struct snat_range b;

	for (unsigned i = 0; snat_block_range(size, i, &b) == 0; i++) {
		bool overlaps = false;

		for (size_t j = 0; j < used_len && !overlaps; j++)
			overlaps = used[j].min <= b.max && b.min <= used[j].max;
		if (!overlaps) {
			*ret = b;
			return 0;
		}
	}
	return -ENOSPC;
}

/* ---- The resource. */

static const struct attr_def snat_block_attrs[] = {
	{"router_id", AK_UUID, 0, NULL, 0},
	{"host", AK_STRING, 0, NULL, 255},
	{"ip_address", AK_STRING, 0, NULL, 64},
	{"port_min", AK_INT, 0, NULL, 0},
	{"port_max", AK_INT, 0, NULL, 0},
	{"status", AK_STRING, 0, NULL, 16},
	{"expires_at", AK_STRING, AF_NULLABLE, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

const struct resource_def snat_block_def = {
	.type = "snat_block",
	.collection = "snat_blocks",
	.path_prefix = "lepton",
	.title = "SNAT block",
	.not_found = "SnatBlockNotFound",
	.has_no_name = true,
	.attrs = snat_block_attrs,
};

/* ---- Liveness. */

/* When the sweeper started (monotonic ms; 0: never). For agent_down_time
 * after a (re)start the server has heard no heartbeat yet: a node with a
 * registered agent is taken for alive until it could have sent one, so
 * that a server restart does not put every block in GRACE. */
static uint64_t started_ms;

static bool host_alive(struct api_ctx *ctx, const char *host)
{
	json_t *agents, *a;
	bool known = false;
	size_t i;

	if (agent_alive(ctx, host))
		return true;
	if (!started_ms || time_mono_ms() - started_ms >= ctx->cfg->agent_down_time * 1000ull)
		return false;
	agents = store_list_shared(ctx->store, "agent");
	json_array_foreach(agents, i, a)
		known = known || streq(doc_str(a, "host"), host);
	json_decref(agents);
	return known;
}

/* ---- Routers. */

static bool router_has_snat(json_t *router)
{
	json_t *info = json_object_get(router, "external_gateway_info");
	json_t *snat = json_object_get(info, "enable_snat");

	return doc_bool(router, "distributed") &&
	       streq(doc_str(router, "snat_mode"), "distributed") && json_is_object(info) &&
	       (!snat || json_is_true(snat));
}

/* Whether the address is one of the router's IPv4 gateway addresses. */
static bool router_has_address(json_t *router, const char *ip)
{
	json_t *info = json_object_get(router, "external_gateway_info"), *e;
	size_t i;

	json_array_foreach(json_object_get(info, "external_fixed_ips"), i, e) {
		if (streq(doc_str(e, "ip_address"), ip))
			return true;
	}
	return false;
}

/* ---- Segments (seed case 2: one external network over several physical
 * ones). A gateway address belongs to its subnet's segment; a node reaches
 * the segments whose physical network its agent maps. Every address of a
 * segment has one owner among the live nodes that reach it, and a node's
 * blocks are on addresses of a segment it reaches: its replies come back
 * where it is (the owner forwards other blocks over L2, on its segment). */

/* {host: {physnet: dev}} of the registered agents. New reference. */
static json_t *host_physnets(struct api_ctx *ctx)
{
	json_t *agents = store_list_shared(ctx->store, "agent"), *out = json_object(), *a;
	size_t i;

	json_array_foreach(agents, i, a) {
		json_t *maps =
			json_object_get(json_object_get(a, "configurations"), "physical_networks");

		if (json_is_object(maps))
			json_object_set(out, doc_str(a, "host"), maps);
	}
	json_decref(agents);
	return out;
}

/* The physical network of a subnet's segment, "" when it has none. */
static const char *subnet_physnet(struct api_ctx *ctx, json_t *subnet)
{
	json_t *seg_id = json_object_get(subnet, "segment_id");
	json_t *seg = json_is_string(seg_id)
			      ? store_get_shared(ctx->store, "segment", json_string_value(seg_id))
			      : NULL;

	return seg ? doc_str(seg, "physical_network") : "";
}

/* The physical network of the segment of one of the router's addresses. */
static const char *address_physnet(struct api_ctx *ctx, json_t *router, const char *ip)
{
	json_t *info = json_object_get(router, "external_gateway_info"), *e;
	size_t i;

	json_array_foreach(json_object_get(info, "external_fixed_ips"), i, e) {
		if (streq(doc_str(e, "ip_address"), ip))
			return subnet_physnet(ctx, store_get_shared(ctx->store, "subnet",
								    doc_str(e, "subnet_id")));
	}
	return "";
}

/* Whether the host reaches the physical network: "" (no segment), an agent
 * that registered no mappings (it cannot tell), or one that maps it. */
static bool host_reaches(json_t *physnets, const char *host, const char *physnet)
{
	json_t *maps = json_object_get(physnets, host);

	return !*physnet || json_object_size(maps) == 0 || json_object_get(maps, physnet);
}

/* The nodes of each router of `routers` ({id: true}): {router: {host: true}}
 * for the hosts of VM ports (compute:*) on the subnets of its interfaces.
 * New reference. */
static json_t *router_nodes(json_t *routers)
{
	json_t *out = json_object(), *x, *y, *z;
	const char *rid, *sid, *host;

	json_object_foreach(routers, rid, x) {
		json_t *hosts = json_object();

		json_object_foreach(snatindex_router_subnets(rid), sid, y)
			json_object_foreach(snatindex_subnet_hosts(sid), host, z)
				json_object_set_new(hosts, host, json_true());
		json_object_set_new(out, rid, hosts);
	}
	return out;
}

/* The documents of a router's blocks (new reference to an array). */
static json_t *router_blocks(struct store *s, const char *router_id)
{
	json_t *out = json_array(), *x;
	const char *id;

	json_object_foreach(snatindex_router_blocks(router_id), id, x) {
		json_t *b = store_get_shared(s, "snat_block", id);

		if (b)
			json_array_append(out, b);
	}
	return out;
}

/* The live node owning the fewest routers (then the first by name), or "". */
static const char *choose_owner(struct api_ctx *ctx, json_t *candidates)
{
	json_t *routers = store_list_shared(ctx->store, "router"), *r, *x;
	const char *best = "", *host;
	size_t best_n = 0, i;

	json_object_foreach(candidates, host, x) {
		size_t n = 0;

		json_array_foreach(routers, i, r)
			n += streq(doc_str(r, OWNER_KEY), host);
		if (!*best || n < best_n || (n == best_n && strcmp(host, best) < 0)) {
			best = host;
			best_n = n;
		}
	}
	json_decref(routers);
	return best;
}

/* ---- Blocks. */

static void block_kind(const char *router_id, const char *ip, char buf[static 64])
{
	snprintf(buf, 64, "snat:%.36s:%.15s", router_id, ip);
}

static int store_failed(struct api_ctx *ctx)
{
	return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
}

static int block_free(struct api_ctx *ctx, json_t *block)
{
	char kind[64];

	block_kind(doc_str(block, "router_id"), doc_str(block, "ip_address"), kind);
	if (store_alloc_release(ctx->store, kind,
				json_integer_value(json_object_get(block, "port_min"))) < 0 ||
	    store_delete(ctx->store, "snat_block", doc_str(block, "id")) < 0)
		return store_failed(ctx);
	snatindex_update(ctx->store, "snat_block", doc_str(block, "id"));
	return 0;
}

static int block_set_status(struct api_ctx *ctx, json_t *block, const char *status, int64_t expires)
{
	json_t *doc = json_deep_copy(block);
	char when[TIME_ISO_STRLEN];
	int r;

	json_object_set_new(doc, "status", json_string(status));
	if (expires) {
		time_iso_from_unix(expires, when);
		json_object_set_new(doc, "expires_at", json_string(when));
	} else {
		json_object_set_new(doc, "expires_at", json_null());
	}
	r = resource_save(ctx, &snat_block_def, doc);
	snatindex_update(ctx->store, "snat_block", doc_str(doc, "id"));
	json_decref(doc);
	return r;
}

/* Takes the first free block of the address for (router, host); -ENOSPC
 * when it has none. *ret (may be NULL) gets the new block (new reference). */
static int block_take(struct api_ctx *ctx, json_t *router, const char *host, const char *ip,
		      json_t **ret)
{
	const char *router_id = doc_str(router, "id");
	json_t *blocks = router_blocks(ctx->store, router_id), *b, *doc;
	struct snat_range *used = xcalloc(json_array_size(blocks) + 1, sizeof(*used)), pick;
	char kind[64], id[UUID_STRLEN], now[TIME_ISO_STRLEN];
	size_t n = 0, i;
	int r;

	json_array_foreach(blocks, i, b) {
		if (streq(doc_str(b, "ip_address"), ip))
			used[n++] = (struct snat_range){
				(unsigned) json_integer_value(json_object_get(b, "port_min")),
				(unsigned) json_integer_value(json_object_get(b, "port_max"))};
	}
	json_decref(blocks);
	r = snat_block_pick(ctx->cfg->snat_block_size, used, n, &pick);
	free(used);
	if (r < 0)
		return r;
	uuid_generate(id);
	time_now_iso(now);
	block_kind(router_id, ip, kind);
	/* The allocation table makes the block's first port unique on the
	 * address even if two writers got here (it is the database's key). */
	if (store_alloc_take(ctx->store, kind, pick.min, id) < 0)
		return store_failed(ctx);
	doc = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:n, s:s, s:s, s:s, s:s, s:i}", "id",
			id, "router_id", router_id, "host", host, "ip_address", ip, "port_min",
			(int) pick.min, "port_max", (int) pick.max, "status", "ACTIVE",
			"expires_at", "project_id", doc_str(router, "project_id"), "tenant_id",
			doc_str(router, "project_id"), "created_at", now, "updated_at", now,
			"revision_number", 0);
	if (store_put(ctx->store, "snat_block", id, doc, true) < 0) {
		json_decref(doc);
		return store_failed(ctx);
	}
	snatindex_update(ctx->store, "snat_block", id);
	if (ret)
		*ret = doc;
	else
		json_decref(doc);
	return 0;
}

static bool subnet_serves_gateways(json_t *subnet)
{
	json_t *types = json_object_get(subnet, "service_types"), *t;
	size_t i;
	bool found = json_array_size(types) == 0;

	json_array_foreach(types, i, t)
		found = found || streq(json_string_value(t), "network:router_gateway");
	return found && json_integer_value(json_object_get(subnet, "ip_version")) != 6;
}

/* Gives the router's gateway port one more address, on a segment the host
 * reaches: from the subnet of its first address, else from another gateway
 * subnet of the same network (its segment first); saves the port and the
 * router (external_fixed_ips). -ENOSPC when none has room; *ret_none (when
 * the host reaches no gateway subnet of the network at all) then true. */
static int add_gateway_address(struct api_ctx *ctx, json_t *router, const char *host,
			       json_t *physnets, char ip_out[IP4_STRLEN], bool *ret_none)
{
	json_t *gws = ports_of_device(ctx, doc_str(router, "id"), "network:router_gateway");
	json_t *gw = json_array_get(gws, 0), *first, *subnets, *s;
	json_t *order = json_array(), *info = json_object_get(router, "external_gateway_info");
	struct ipaddr ip = {0};
	size_t i;
	int r = -ENOSPC;

	first = gw ? store_get_shared(ctx->store, "subnet",
				      doc_str(json_array_get(json_object_get(gw, "fixed_ips"), 0),
					      "subnet_id"))
		   : NULL;
	if (first && subnet_serves_gateways(first))
		json_array_append(order, first);
	subnets = store_list_shared(ctx->store, "subnet");
	for (int pass = 0; first && pass < 2; pass++)
		json_array_foreach(subnets, i, s) {
			bool same = streq(doc_str(s, "segment_id"), doc_str(first, "segment_id"));

			if (s != first && same == (pass == 0) &&
			    streq(doc_str(s, "network_id"), doc_str(first, "network_id")) &&
			    subnet_serves_gateways(s))
				json_array_append(order, s);
		}
	json_decref(subnets);
	*ret_none = true;
	json_array_foreach(order, i, s) {
		if (!host_reaches(physnets, host, subnet_physnet(ctx, s)))
			continue;
		*ret_none = false;
		r = ipam_allocate_any(ctx, s, doc_str(gw, "id"), &ip);
		if (r != -ENOSPC)
			break;
	}
	if (r == 0) {
		json_t *fixed = json_object_get(gw, "fixed_ips");

		/* subnet_serves_gateways() took IPv4 subnets only */
		ip4_format((uint32_t) ip.v, ip_out);
		json_array_append_new(fixed, json_pack("{s:s, s:s}", "subnet_id", doc_str(s, "id"),
						       "ip_address", ip_out));
		r = resource_save(ctx, &port_def, gw);
		if (r >= 0) {
			json_object_set_new(info, "external_fixed_ips", json_deep_copy(fixed));
			r = resource_save(ctx, &router_def, router);
		}
		if (r >= 0)
			log_event(LOG_LVL_INFO, "server.snat_address_added",
				  "router=%s address=%s host=%s", doc_str(router, "id"), ip_out,
				  host);
	} else if (r != -ENOSPC) {
		r = api_fail(&ctx->err, 500, "InternalServerError", "IPAM failed");
	}
	json_decref(order);
	json_decref(gws);
	return r;
}

/* One more block for (router, host): on the first gateway address with room
 * on a segment the host reaches, else on a new one there. A host that
 * reaches no gateway subnet of the network takes any address (it cannot
 * say where it is). `router` (a copy) is saved when it gains an address. */
static int block_allocate(struct api_ctx *ctx, json_t *router, const char *host, json_t *physnets,
			  json_t **ret)
{
	json_t *info = json_object_get(router, "external_gateway_info"), *e;
	char ip[IP4_STRLEN];
	bool none = false;
	size_t i;
	int r = -ENOSPC;

	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(json_object_get(info, "external_fixed_ips"), i, e) {
			const char *a = doc_str(e, "ip_address");
			uint32_t v4;

			if (ip4_parse(a, &v4) < 0)
				continue; /* IPv6: no SNAT */
			if (pass == 0 &&
			    !host_reaches(physnets, host, address_physnet(ctx, router, a)))
				continue;
			r = block_take(ctx, router, host, a, ret);
			if (r != -ENOSPC)
				return r;
		}
		if (pass == 0) {
			r = add_gateway_address(ctx, router, host, physnets, ip, &none);
			if (r >= 0)
				return block_take(ctx, router, host, ip, ret);
			if (r != -ENOSPC || !none)
				return r;
		}
	}
	return r;
}

/* ---- Reconciling a router. */

struct pass {
	struct api_ctx *ctx;
	int64_t now;	     /* wall clock, seconds */
	int64_t next_expiry; /* the earliest GRACE expiry seen; 0: none */
	json_t *written;     /* {router_id: true} the transaction wrote before */
	json_t *physnets;    /* host_physnets() */
};

static void note_expiry(struct pass *p, int64_t when)
{
	if (!p->next_expiry || when < p->next_expiry)
		p->next_expiry = when;
}

/* Says once that a node found no block (until it gets one): the sweeper
 * retries often. Used under the store's lock. */
static void warn_exhausted(const char *router_id, const char *host, bool exhausted)
{
	static json_t *warned; /* {"router\x1fhost": true} */
	char key[320];

	snprintf(key, sizeof(key), "%s\x1f%s", router_id, host);
	if (!warned)
		warned = json_object();
	if (!exhausted) {
		json_object_del(warned, key);
	} else if (!json_object_get(warned, key)) {
		log_event(LOG_LVL_WARN, "server.snat_exhausted",
			  "router=%s host=%s reason=gateway_addresses_and_subnet_full", router_id,
			  host);
		json_object_set_new(warned, key, json_true());
	}
}

/* The owners of the router's IPv4 gateway addresses: {ip: host} for those
 * with a live node that reaches their segment, all the addresses of a
 * segment with one owner (its current one while it stays live, else the
 * choice of choose_owner), and "" : the owner of the first address
 * (lepton:snat_owner, "" when none). New reference. */
static json_t *router_owners(struct pass *p, json_t *router, json_t *live)
{
	json_t *info = json_object_get(router, "external_gateway_info"), *e, *x;
	json_t *old = json_object_get(router, OWNERS_KEY), *by_net = json_object();
	json_t *out = json_object();
	const char *first = NULL;
	size_t i;

	json_array_foreach(json_object_get(info, "external_fixed_ips"), i, e) {
		const char *ip = doc_str(e, "ip_address"), *physnet, *host, *was, *best;
		json_t *candidates;
		uint32_t v4;

		if (ip4_parse(ip, &v4) < 0)
			continue;
		physnet = address_physnet(p->ctx, router, ip);
		if (!first) {
			first = ip;
			/* The first address's owner was the router's. */
			was = doc_str(router, OWNER_KEY);
		} else {
			was = json_is_object(old) ? doc_str(old, ip) : "";
		}
		if (json_object_get(by_net, physnet)) {
			host = json_string_value(json_object_get(by_net, physnet));
		} else {
			candidates = json_object();
			json_object_foreach(live, host, x) {
				if (host_reaches(p->physnets, host, physnet))
					json_object_set_new(candidates, host, json_true());
			}
			best = json_object_get(candidates, was)
				       ? was
				       : (json_object_size(candidates)
						  ? choose_owner(p->ctx, candidates)
						  : "");
			json_object_set_new(by_net, physnet, json_string(best));
			json_decref(candidates);
			host = json_string_value(json_object_get(by_net, physnet));
		}
		if (*host)
			json_object_set_new(out, ip, json_string(host));
		if (first == ip)
			json_object_set_new(out, "", json_string(host));
	}
	json_decref(by_net);
	return out;
}

/* Brings one router's blocks and owner to what the model says. `nodes`:
 * {host: true}, the router's nodes. */
static int reconcile_router(struct pass *p, const char *router_id, json_t *nodes)
{
	struct api_ctx *ctx = p->ctx;
	/* Our reference keeps it readable when the store replaces it. */
	json_t *shared = json_incref(store_get_shared(ctx->store, "router", router_id));
	json_t *blocks = router_blocks(ctx->store, router_id), *router = NULL, *b, *x;
	json_t *live = json_object(), *served = json_object(), *owners = NULL, *first = NULL;
	json_t *cur;
	bool has_snat = shared && router_has_snat(shared);
	const char *host, *owner;
	size_t i;
	int r = 0;

	json_object_foreach(nodes, host, x) {
		if (has_snat && host_alive(ctx, host))
			json_object_set_new(live, host, json_true());
	}
	json_array_foreach(blocks, i, b) {
		const char *status = doc_str(b, "status");
		int64_t expires = 0;

		host = doc_str(b, "host");
		if (!shared || !router_has_address(shared, doc_str(b, "ip_address"))) {
			r = block_free(ctx, b);
		} else if (json_object_get(live, host)) {
			json_object_set_new(served, host, json_true());
			if (!streq(status, "ACTIVE"))
				r = block_set_status(ctx, b, "ACTIVE", 0);
		} else if (streq(status, "ACTIVE")) {
			note_expiry(p, p->now + ctx->cfg->snat_block_grace);
			r = block_set_status(ctx, b, "GRACE", p->now + ctx->cfg->snat_block_grace);
		} else if (time_iso_parse(doc_str(b, "expires_at"), &expires) < 0 ||
			   expires <= p->now) {
			r = block_free(ctx, b);
		} else {
			note_expiry(p, expires);
		}
		if (r < 0)
			goto out;
	}
	if (!shared)
		goto out;
	/* The router is written below (a new address, the owner) through a
	 * copy of our own, made when needed. */
	json_object_foreach(live, host, x) {
		if (json_object_get(served, host))
			continue;
		if (!router)
			router = json_deep_copy(shared);
		r = block_allocate(ctx, router, host, p->physnets, NULL);
		if (r == -ENOSPC) {
			warn_exhausted(router_id, host, true);
			r = 0;
		} else if (r >= 0) {
			warn_exhausted(router_id, host, false);
		}
		if (r < 0)
			goto out;
	}
	owners = router_owners(p, router ? router : shared, live);
	cur = router ? router : shared;
	first = json_incref(json_object_get(owners, ""));
	owner = first ? json_string_value(first) : "";
	json_object_del(owners, "");
	if (!streq(owner, doc_str(cur, OWNER_KEY)) ||
	    !json_equal(owners, json_object_get(cur, OWNERS_KEY))) {
		if (!streq(owner, doc_str(cur, OWNER_KEY)))
			log_event(LOG_LVL_INFO, "server.snat_owner", "router=%s from=%s to=%s",
				  router_id, doc_str(cur, OWNER_KEY), owner);
		if (!router)
			router = json_deep_copy(shared);
		json_object_set_new(router, OWNER_KEY, json_string(owner));
		json_object_set(router, OWNERS_KEY, owners);
		/* A router the request itself updated keeps the revision it
		 * answered with: the owner is the server's, as a status is. */
		if (json_object_get(p->written, router_id))
			r = store_put(ctx->store, "router", router_id, router, false) < 0
				    ? store_failed(ctx)
				    : 0;
		else
			r = resource_save(ctx, &router_def, router);
	}
out:
	json_decref(first);
	json_decref(owners);
	json_decref(router);
	json_decref(shared);
	json_decref(blocks);
	json_decref(live);
	json_decref(served);
	return r;
}

/* Reconciles each router of `routers` ({id: true}). */
static int reconcile_routers(struct pass *p, json_t *routers)
{
	json_t *nodes = router_nodes(routers), *x;
	const char *id;
	int r = 0;

	p->physnets = host_physnets(p->ctx);
	json_object_foreach(routers, id, x) {
		r = reconcile_router(p, id, json_object_get(nodes, id));
		if (r < 0)
			break;
	}
	json_decref(p->physnets);
	p->physnets = NULL;
	json_decref(nodes);
	return r;
}

static void mark_port(json_t *doc, json_t *routers, json_t *subnets)
{
	const char *owner = doc_str(doc, "device_owner");
	json_t *ip;
	size_t i;

	if (startswith(owner, "network:router_"))
		json_object_set_new(routers, doc_str(doc, "device_id"), json_true());
	else if (startswith(owner, "compute:") && *doc_str(doc, "binding:host_id"))
		json_array_foreach(json_object_get(doc, "fixed_ips"), i, ip)
			json_object_set_new(subnets, doc_str(ip, "subnet_id"), json_true());
}

int snat_before_commit(struct api_ctx *ctx)
{
	json_t *touched = store_txn_touched(ctx->store), *routers = json_object();
	json_t *subnets = json_object(), *t, *x, *y;
	struct pass p = {ctx, (int64_t) time(NULL), 0, json_object(), NULL};
	const char *sid, *rid;
	size_t i;
	int r = 0;

	json_array_foreach(touched, i, t) {
		const char *type = json_string_value(json_array_get(t, 0));
		const char *id = json_string_value(json_array_get(t, 1));

		if (streq(type, "router")) {
			json_object_set_new(routers, id, json_true());
			json_object_set_new(p.written, id, json_true());
		} else if (streq(type, "port")) {
			mark_port(json_array_get(t, 2), routers, subnets);
			mark_port(store_get_shared(ctx->store, "port", id), routers, subnets);
		}
	}
	if (json_object_size(routers) || json_object_size(subnets)) {
		snatindex_refresh(ctx->store);
		/* The routers with an interface on those subnets. */
		json_object_foreach(subnets, sid, x)
			json_object_foreach(snatindex_subnet_routers(sid), rid, y)
				json_object_set_new(routers, rid, json_true());
		r = reconcile_routers(&p, routers);
	}
	json_decref(touched);
	json_decref(routers);
	json_decref(subnets);
	json_decref(p.written);
	return r;
}

/* Every router with SNAT, an owner or blocks. */
static int sweep(struct api_ctx *ctx, int64_t *ret_next_expiry)
{
	json_t *routers = json_object(), *all, *d;
	struct pass p = {ctx, (int64_t) time(NULL), 0, NULL, NULL};
	const char *rid;
	size_t i;
	int r;

	all = store_list_shared(ctx->store, "router");
	json_array_foreach(all, i, d) {
		if (router_has_snat(d) || *doc_str(d, OWNER_KEY))
			json_object_set_new(routers, doc_str(d, "id"), json_true());
	}
	json_decref(all);
	snatindex_refresh(ctx->store);
	json_object_foreach(snatindex_blocks_by_router(), rid, d)
		json_object_set_new(routers, rid, json_true());
	r = json_object_size(routers) ? reconcile_routers(&p, routers) : 0;
	json_decref(routers);
	*ret_next_expiry = p.next_expiry;
	return r;
}

/* ---- The API. */

static int forbidden(struct api_ctx *ctx, const char *action)
{
	return api_forbidden(&ctx->err, "(rule:%s_snat_block) is disallowed by policy", action);
}

static int not_found(struct api_ctx *ctx, const char *id)
{
	return api_fail(&ctx->err, 404, "SnatBlockNotFound", "SNAT block %s could not be found.",
			id);
}

/* {"snat_block": {"router_id": R, "host": H}}: the router and host, checked
 * (router_id lower-cased), or NULL with ctx->err set. New reference. */
static json_t *check_post(struct api_ctx *ctx, json_t *body)
{
	json_t *b = json_object_get(body, "snat_block"), *v, *id;
	static const struct attr_def router_attr = {"router_id", AK_UUID, 0, NULL, 0};
	const char *key, *host;

	if (!json_is_object(body) || json_object_size(body) != 1 || !json_is_object(b)) {
		api_bad_request(&ctx->err, "Resource body required: {\"snat_block\": "
					   "{\"router_id\": ID, \"host\": HOST}}.");
		return NULL;
	}
	json_object_foreach(b, key, v) {
		if (!streq(key, "router_id") && !streq(key, "host")) {
			api_bad_request(&ctx->err, "Unrecognized attribute(s) '%s'", key);
			return NULL;
		}
	}
	host = json_string_value(json_object_get(b, "host"));
	if (!json_object_get(b, "router_id") || !json_object_get(b, "host")) {
		api_bad_request(&ctx->err,
				"Failed to parse request. Required attribute '%s' not "
				"specified",
				json_object_get(b, "router_id") ? "host" : "router_id");
		return NULL;
	}
	if (!agent_name_valid(host, 64)) {
		api_bad_request(&ctx->err, "Invalid input for host: 1 to 64 of [A-Za-z0-9._-].");
		return NULL;
	}
	id = resource_check_value(ctx, &router_attr, json_object_get(b, "router_id"));
	if (!id)
		return NULL;
	return json_pack("{s:o, s:s}", "router_id", id, "host", host);
}

/* POST: one more block for (router, host). */
static int post_block(struct api_ctx *ctx, json_t *body, json_t **ret_body)
{
	json_t *req = check_post(ctx, body), *router = NULL, *nodes = NULL, *one, *block = NULL;
	json_t *physnets;
	const char *router_id, *host;
	int r;

	if (!req)
		return -EINVAL;
	router_id = doc_str(req, "router_id");
	host = doc_str(req, "host");
	store_lock(ctx->store);
	if (store_begin(ctx->store) < 0) {
		r = api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
		goto out_unlock;
	}
	router = store_get(ctx->store, "router", router_id);
	if (!router) {
		r = api_fail(&ctx->err, 404, "RouterNotFound", "Router %s could not be found.",
			     router_id);
		goto out;
	}
	if (!router_has_snat(router)) {
		r = api_conflict(&ctx->err, "RouterSnatNotDistributed",
				 "Router %s has no distributed SNAT: it needs distributed, "
				 "snat_mode distributed, a gateway and enable_snat.",
				 router_id);
		goto out;
	}
	snatindex_refresh(ctx->store);
	one = json_pack("{s:b}", router_id, 1);
	nodes = router_nodes(one);
	json_decref(one);
	if (!json_object_get(json_object_get(nodes, router_id), host)) {
		r = api_conflict(&ctx->err, "SnatHostNotOnRouter",
				 "Host %s has no VM port on a subnet of router %s.", host,
				 router_id);
		goto out;
	}
	physnets = host_physnets(ctx);
	r = block_allocate(ctx, router, host, physnets, &block);
	json_decref(physnets);
	if (r == -ENOSPC)
		r = api_conflict(&ctx->err, "SnatPortBlocksExhausted",
				 "No free SNAT port block on router %s: its gateway addresses "
				 "and gateway subnet are full.",
				 router_id);
out:
	if (r >= 0 && store_commit(ctx->store) < 0)
		r = api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
	else if (r < 0)
		store_rollback(ctx->store);
	if (r >= 0)
		*ret_body = json_pack("{s:o}", "snat_block",
				      resource_view(ctx, &snat_block_def, block, NULL, 0));
out_unlock:
	store_unlock(ctx->store);
	json_decref(block);
	json_decref(nodes);
	json_decref(router);
	json_decref(req);
	return r < 0 ? r : 201;
}

static int delete_block(struct api_ctx *ctx, const char *id)
{
	json_t *doc;
	int r;

	store_lock(ctx->store);
	doc = uuid_is_valid(id) ? store_get(ctx->store, "snat_block", id) : NULL;
	if (!doc) {
		r = not_found(ctx, id);
	} else if (store_begin(ctx->store) < 0) {
		r = api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
	} else {
		r = block_free(ctx, doc);
		if (r >= 0 && store_commit(ctx->store) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
		else if (r < 0)
			store_rollback(ctx->store);
	}
	store_unlock(ctx->store);
	json_decref(doc);
	return r < 0 ? r : 204;
}

static int show_block(struct api_ctx *ctx, const char *id, const struct http_request *req,
		      json_t **ret_body)
{
	const char *fields[MAX_SHOW_FIELDS];
	struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *list = NULL;
	size_t n = 0;

	/* fields=a,b and fields=a&fields=b: one comma list, split in place. */
	for (size_t i = 0; i < req->query_len; i++)
		if (streq(req->query[i].key, "fields"))
			strbuf_appendf(&sb, "%s,", req->query[i].value);
	list = strbuf_steal(&sb);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < MAX_SHOW_FIELDS;
	     t = strtok_r(NULL, ",", &save))
		fields[n++] = t;
	return resource_show(ctx, &snat_block_def, id, fields, n, ret_body);
}

int snat_api(struct api_ctx *ctx, const char *method, char **parts, size_t n,
	     const struct http_request *req, json_t *body, json_t **ret_body)
{
	bool reads = streq(method, "GET");
	bool was_admin = ctx->is_admin;
	int r;

	if (n == 0 && streq(method, "POST"))
		return ctx->is_agent || ctx->is_admin ? post_block(ctx, body, ret_body)
						      : forbidden(ctx, "create");
	/* Admins; the agents' credential may read. Others learn nothing. */
	if (!ctx->is_admin && !(ctx->is_agent && reads))
		return n == 0 ? forbidden(ctx, reads ? "get" : "update") : not_found(ctx, parts[0]);
	if (n == 1 && streq(method, "DELETE"))
		return delete_block(ctx, parts[0]);
	if (!reads || n > 1)
		return api_fail(&ctx->err, n > 1 ? 404 : 405,
				n > 1 ? "HTTPNotFound" : "HTTPMethodNotAllowed",
				"Method %s not allowed here.", method);
	ctx->is_admin = true;
	if (n == 0)
		r = list_run(ctx, &snat_block_def, req->query, req->query_len, ret_body);
	else
		r = show_block(ctx, parts[0], req, ret_body);
	ctx->is_admin = was_admin;
	return r;
}

/* ---- The sweeper. */

struct snat_sweeper {
	struct store *store;
	const struct server_config *cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/* The hosts of registered agents taken for alive now: {host: true}. */
static json_t *alive_hosts(struct api_ctx *ctx)
{
	json_t *agents = store_list_shared(ctx->store, "agent"), *out = json_object(), *a;
	size_t i;

	json_array_foreach(agents, i, a) {
		if (host_alive(ctx, doc_str(a, "host")))
			json_object_set_new(out, doc_str(a, "host"), json_true());
	}
	json_decref(agents);
	return out;
}

/* Whether to wait another tick; false once stopping. */
static bool sweeper_wait(struct snat_sweeper *sw)
{
	struct timespec ts;
	bool go_on;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += SWEEP_EVERY_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&sw->lock);
	if (!sw->stopping)
		pthread_cond_timedwait(&sw->wake, &sw->lock, &ts);
	go_on = !sw->stopping;
	pthread_mutex_unlock(&sw->lock);
	return go_on;
}

/* Sweeps when something that time changes may matter: the model changed,
 * an agent came or went, a grace ran out; and every SWEEP_FULL_MS anyway. */
static void *sweeper_main(void *arg)
{
	struct snat_sweeper *sw = arg;
	json_t *last_alive = NULL;
	int64_t last_rev = -1, next_expiry = 0;
	uint64_t last_full = 0;

	while (sweeper_wait(sw)) {
		struct api_ctx ctx = {.store = sw->store, .cfg = sw->cfg, .is_admin = true};
		uint64_t mono = time_mono_ms();
		json_t *alive;
		int r;

		store_lock(sw->store);
		if (store_is_shutting_down(sw->store)) {
			store_unlock(sw->store);
			break;
		}
		alive = alive_hosts(&ctx);
		if (store_revision(sw->store) == last_rev && json_equal(alive, last_alive) &&
		    !(next_expiry && (int64_t) time(NULL) >= next_expiry) &&
		    mono - last_full < SWEEP_FULL_MS) {
			store_unlock(sw->store);
			json_decref(alive);
			continue;
		}
		r = store_begin(sw->store);
		if (r >= 0)
			r = sweep(&ctx, &next_expiry);
		if (r >= 0)
			r = store_commit(sw->store);
		else
			store_rollback(sw->store);
		if (r < 0)
			log_event(LOG_LVL_WARN, "server.snat_sweep_failed", "err=%s",
				  ctx.err.message ? ctx.err.message : strerror(-r));
		last_rev = store_revision(sw->store);
		last_full = mono;
		store_unlock(sw->store);
		json_decref(last_alive);
		last_alive = alive;
		api_error_done(&ctx.err);
	}
	json_decref(last_alive);
	return NULL;
}

struct snat_sweeper *snat_sweeper_start(struct store *store, const struct server_config *cfg)
{
	struct snat_sweeper *sw = xcalloc(1, sizeof(*sw));
	pthread_condattr_t ca;

	sw->store = store;
	sw->cfg = cfg;
	pthread_mutex_init(&sw->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sw->wake, &ca);
	pthread_condattr_destroy(&ca);
	started_ms = time_mono_ms();
	if (pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0) {
		pthread_cond_destroy(&sw->wake);
		pthread_mutex_destroy(&sw->lock);
		free(sw);
		return NULL;
	}
	return sw;
}

void snat_sweeper_stop(struct snat_sweeper *sw)
{
	if (!sw)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->stopping = true;
	pthread_cond_signal(&sw->wake);
	pthread_mutex_unlock(&sw->lock);
	pthread_join(sw->thread, NULL);
	pthread_cond_destroy(&sw->wake);
	pthread_mutex_destroy(&sw->lock);
	free(sw);
}
