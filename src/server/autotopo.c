/* Auto-allocated topology (Neutron's "get me a network"):
 * GET /v2.0/auto-allocated-topology/{project_id} gives the project a network
 * with one subnet from each default subnet pool, a router with its gateway on
 * the default external network (is_default) and an interface on each subnet,
 * made on the first call through the same handlers as the project's own
 * requests (so its quotas and checks apply) and answered by id after that.
 * ?fields=dry-run only checks that the deployment can make one. DELETE
 * removes it all. What was made is recorded as a document of type
 * auto_allocated_topology keyed by the project. A failure half way undoes
 * what was made. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "base/xalloc.h"
#include "server/resources.h"

#define TOPO "auto_allocated_topology"

/* One project's topology is made or removed at a time. */
static pthread_mutex_t topo_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *record_get(struct api_ctx *ctx, const char *project_id)
{
	json_t *doc;

	store_lock(ctx->store);
	doc = store_get(ctx->store, TOPO, project_id);
	store_unlock(ctx->store);
	return doc;
}

static int record_put(struct api_ctx *ctx, const char *project_id, json_t *doc)
{
	int r;

	store_lock(ctx->store);
	r = store_begin(ctx->store);
	if (r >= 0) {
		r = doc ? store_put(ctx->store, TOPO, project_id, doc, true)
			: store_delete(ctx->store, TOPO, project_id);
		if (r < 0)
			store_rollback(ctx->store);
		else
			r = store_commit(ctx->store);
	}
	store_unlock(ctx->store);
	return r < 0 ? api_fail(&ctx->err, 500, "InternalServerError", "store write failed") : 0;
}

/* The default external network (its id, new string), and the default
 * subnet pools the project may use (new array), or a 409 as Neutron. */
static int requirements(struct api_ctx *ctx, char **ret_ext, json_t **ret_pools)
{
	json_t *nets, *pools, *out = json_array(), *d;
	char *ext = NULL;
	size_t i;

	store_lock(ctx->store);
	nets = store_list(ctx->store, "network");
	pools = store_list(ctx->store, "subnetpool");
	store_unlock(ctx->store);
	json_array_foreach(nets, i, d)
		if (!ext && doc_bool(d, "router:external") && doc_bool(d, "is_default"))
			ext = xstrdup(doc_str(d, "id"));
	json_array_foreach(pools, i, d)
		if (doc_bool(d, "is_default") &&
		    (doc_bool(d, "shared") || resource_is_owner(ctx, d) || rbac_shares(ctx, d)))
			json_array_append(out, d);
	json_decref(nets);
	json_decref(pools);
	if (!ext || !json_array_size(out)) {
		free(ext);
		json_decref(out);
		return api_conflict(&ctx->err, "AutoAllocationFailure", "Deployment error: %s.",
				    ext ? "No default subnetpools defined"
					: "No default router:external network");
	}
	*ret_ext = ext;
	*ret_pools = out;
	return 0;
}

/* Creates one document through the API's handler, as the caller; gives
 * its id (new string). */
static int create(struct api_ctx *ctx, const struct resource_def *def, json_t *req, char **ret_id)
{
	json_t *body = NULL;
	int r = resource_create(ctx, def, req, &body);

	if (r >= 0)
		*ret_id = xstrdup(doc_str(json_object_get(body, def->type), "id"));
	json_decref(body);
	json_decref(req);
	return r;
}

/* Adds or removes the router's interface on a subnet, as the caller. */
static int interface(struct api_ctx *ctx, const char *router, json_t *subnet, const char *action)
{
	json_t *req = json_pack("{s:O}", "subnet_id", subnet), *body = NULL;
	int r = resource_member_action(ctx, &router_def, router, action, req, &body);

	json_decref(req);
	json_decref(body);
	return r;
}

/* Removes what `made` lists ({network_id, router_id, subnets: []}),
 * interfaces first; keeps the first error. */
static int teardown(struct api_ctx *ctx, json_t *made)
{
	const char *router = doc_str(made, "router_id"), *net = doc_str(made, "network_id");
	json_t *e;
	size_t i;
	int r = 0, q;

	json_array_foreach(json_object_get(made, "subnets"), i, e) {
		q = *router ? interface(ctx, router, e, "remove_router_interface") : 0;
		if (q < 0 && r >= 0)
			r = q;
	}
	if (*router && (q = resource_delete(ctx, &router_def, router)) < 0 && r >= 0)
		r = q;
	if (*net && (q = resource_delete(ctx, &network_def, net)) < 0 && r >= 0)
		r = q;
	return r;
}

static int build(struct api_ctx *ctx, const char *project_id, const char *ext, json_t *pools,
		 json_t *made)
{
	json_t *req, *pool;
	char *id = NULL;
	size_t i;
	int r;

	req = json_pack("{s:{s:s, s:b, s:s}}", "network", "name", "auto_allocated_network",
			"admin_state_up", 1, "project_id", project_id);
	r = create(ctx, &network_def, req, &id);
	if (r < 0)
		return r;
	json_object_set_new(made, "network_id", json_string(id));
	free(id);
	json_array_foreach(pools, i, pool) {
		json_int_t version = json_integer_value(json_object_get(pool, "ip_version"));
		char name[32];

		snprintf(name, sizeof(name), "auto_allocated_subnet_v%d", (int) version);
		req = json_pack("{s:{s:s, s:s, s:s, s:I, s:s}}", "subnet", "name", name,
				"network_id", doc_str(made, "network_id"), "subnetpool_id",
				doc_str(pool, "id"), "ip_version", version, "project_id",
				project_id);
		if (version == 6) {
			json_object_set_new(json_object_get(req, "subnet"), "ipv6_ra_mode",
					    json_string("slaac"));
			json_object_set_new(json_object_get(req, "subnet"), "ipv6_address_mode",
					    json_string("slaac"));
		}
		r = create(ctx, &subnet_def, req, &id);
		if (r < 0)
			return r;
		json_array_append_new(json_object_get(made, "subnets"), json_string(id));
		free(id);
	}
	req = json_pack("{s:{s:s, s:s, s:{s:s}}}", "router", "name", "auto_allocated_router",
			"project_id", project_id, "external_gateway_info", "network_id", ext);
	r = create(ctx, &router_def, req, &id);
	if (r < 0)
		return r;
	json_object_set_new(made, "router_id", json_string(id));
	free(id);
	json_array_foreach(json_object_get(made, "subnets"), i, pool) {
		r = interface(ctx, doc_str(made, "router_id"), pool, "add_router_interface");
		if (r < 0)
			return r;
	}
	return 0;
}

static json_t *answer(const char *id, const char *project_id)
{
	return json_pack("{s:{s:s, s:s, s:s}}", TOPO, "id", id, "tenant_id", project_id,
			 "project_id", project_id);
}

int auto_topology_handle(struct api_ctx *ctx, const char *method, const char *project_id,
			 bool dry_run, json_t **ret_body)
{
	json_t *rec, *pools = NULL, *made;
	char *ext = NULL;
	int r;

	/* "None": a client that named no project means the caller's (as
	 * Neutron reads it). */
	if (streq(project_id, "None") && ctx->project_id)
		project_id = ctx->project_id;
	if (!ctx->is_admin && (!ctx->project_id || !streq(ctx->project_id, project_id)))
		return api_forbidden(&ctx->err,
				     "(rule:%s_auto_allocated_topology) is disallowed by policy",
				     streq(method, "DELETE") ? "delete" : "get");
	if (!streq(method, "GET") && !streq(method, "DELETE"))
		return api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method not allowed.");
	pthread_mutex_lock(&topo_lock);
	rec = record_get(ctx, project_id);
	if (streq(method, "DELETE")) {
		r = rec ? teardown(ctx, rec) : 0;
		if (rec && r >= 0)
			r = record_put(ctx, project_id, NULL);
		pthread_mutex_unlock(&topo_lock);
		json_decref(rec);
		return r < 0 ? r : 204;
	}
	if (rec && !dry_run) {
		*ret_body = answer(doc_str(rec, "network_id"), project_id);
		pthread_mutex_unlock(&topo_lock);
		json_decref(rec);
		return 200;
	}
	json_decref(rec);
	r = requirements(ctx, &ext, &pools);
	if (r >= 0 && dry_run) {
		*ret_body = answer("dry-run=pass", project_id);
		goto out;
	}
	made = json_pack("{s:s, s:s, s:[]}", "network_id", "", "router_id", "", "subnets");
	if (r >= 0)
		r = build(ctx, project_id, ext, pools, made);
	if (r >= 0)
		r = record_put(ctx, project_id, made);
	if (r < 0)
		(void) teardown(ctx, made); /* the failure's error stays (the first wins) */
	else
		*ret_body = answer(doc_str(made, "network_id"), project_id);
	json_decref(made);
out:
	pthread_mutex_unlock(&topo_lock);
	free(ext);
	json_decref(pools);
	return r < 0 ? r : 200;
}
