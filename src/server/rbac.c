/* RBAC policies (rbac-policies, rbac-security-groups, rbac-subnetpool,
 * rbac-address-scope, rbac-address-group): a network, security group, subnet
 * pool, address scope or address group shared with chosen projects
 * (access_as_shared), or a network usable by them as an external network
 * (access_as_external); '*' means every project. A network's `shared` is its
 * wildcard access_as_shared policy, its `router:external` whether it has any
 * access_as_external policy; setting either on the network makes or drops the
 * wildcard policy. A policy is seen and changed by its owner (the targets do
 * not see it) and cannot go while a project it admits still uses the object
 * (ports on the network or with the group, subnets from the pool, pools in
 * the address scope; routers and floating IPs on an external network). */
#include <errno.h>
#include <string.h>
#include "base/uuid.h"
#include "server/resources.h"

#define SHARED	 "access_as_shared"
#define EXTERNAL "access_as_external"

static const struct attr_def rbac_attrs[] = {
	{"object_type", AK_STRING, AF_POST | AF_REQUIRED, NULL, 64},
	{"object_id", AK_STRING, AF_POST | AF_REQUIRED, NULL, 64},
	{"action", AK_STRING, AF_POST | AF_REQUIRED, NULL, 64},
	{"target_tenant", AK_STRING, AF_RW, NULL, 255},
	{NULL, 0, 0, NULL, 0},
};

/* Whether a policy of the object with the action targets the project ('*'
 * for the wildcard); skip_id: a policy to leave out. */
static bool has_policy(struct api_ctx *ctx, const char *object_id, const char *action,
		       const char *target, const char *skip_id)
{
	json_t *all = store_list_shared(ctx->store, "rbac_policy"), *p;
	bool found = false;
	size_t i;

	json_array_foreach(all, i, p) {
		if (streq(doc_str(p, "object_id"), object_id) &&
		    streq(doc_str(p, "action"), action) &&
		    (!target || streq(doc_str(p, "target_tenant"), target)) &&
		    !(skip_id && streq(doc_str(p, "id"), skip_id)))
			found = true;
	}
	json_decref(all);
	return found;
}

bool rbac_shares_with(struct api_ctx *ctx, json_t *obj, const char *project_id)
{
	return has_policy(ctx, doc_str(obj, "id"), SHARED, "*", NULL) ||
	       has_policy(ctx, doc_str(obj, "id"), SHARED, project_id, NULL);
}

bool rbac_shares(struct api_ctx *ctx, json_t *obj)
{
	return ctx->project_id && rbac_shares_with(ctx, obj, ctx->project_id);
}

bool rbac_network_allows(struct api_ctx *ctx, json_t *net, bool external)
{
	const char *id = doc_str(net, "id");

	if (!external)
		return doc_bool(net, "shared") ||
		       (ctx->project_id && has_policy(ctx, id, SHARED, ctx->project_id, NULL));
	if (!doc_bool(net, "router:external"))
		return false;
	/* An external network without any policy predates them: everyone's. */
	return has_policy(ctx, id, EXTERNAL, "*", NULL) ||
	       !has_policy(ctx, id, EXTERNAL, NULL, NULL) ||
	       (ctx->project_id && has_policy(ctx, id, EXTERNAL, ctx->project_id, NULL));
}

/* A wildcard policy of the network's owner, made by the server. */
int rbac_network_wildcard(struct api_ctx *ctx, json_t *net, bool external, bool add)
{
	const char *action = external ? EXTERNAL : SHARED, *id = doc_str(net, "id");
	json_t *all, *p, *doc;
	size_t i;
	int r = 0;

	if (!add) {
		all = store_list(ctx->store, "rbac_policy");
		json_array_foreach(all, i, p) {
			if (r >= 0 && streq(doc_str(p, "object_id"), id) &&
			    streq(doc_str(p, "action"), action) &&
			    (external || streq(doc_str(p, "target_tenant"), "*")) &&
			    store_delete(ctx->store, "rbac_policy", doc_str(p, "id")) < 0)
				r = api_fail(&ctx->err, 500, "InternalServerError",
					     "store write failed");
		}
		json_decref(all);
		return r;
	}
	if (has_policy(ctx, id, action, "*", NULL))
		return 0;
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "object_type", "network", "object_id", id,
			"action", action, "target_tenant", "*", "project_id",
			doc_str(net, "project_id"), "tenant_id", doc_str(net, "project_id"));
	r = resource_prepare(ctx, &rbac_policy_def, doc);
	if (r >= 0)
		r = resource_store_new(ctx, &rbac_policy_def, doc);
	json_decref(doc);
	return r;
}

int rbac_object_deleted(struct api_ctx *ctx, const char *object_id)
{
	json_t *all = store_list(ctx->store, "rbac_policy"), *p;
	size_t i;
	int r = 0;

	json_array_foreach(all, i, p) {
		if (r >= 0 && streq(doc_str(p, "object_id"), object_id) &&
		    store_delete(ctx->store, "rbac_policy", doc_str(p, "id")) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	}
	json_decref(all);
	return r;
}

/* Documents that use a shared object by naming it. */
static const struct {
	const char *type, *store_type, *key;
} referrers[] = {
	{"subnetpool", "subnet", "subnetpool_id"},
	{"address_scope", "subnetpool", "address_scope_id"},
	{"address_group", "security_group_rule", "remote_address_group_id"},
};

/* The projects using an object through the action: ports on a network or
 * with a security group, the referrers above; routers with their gateway on
 * an external network and floating IPs from it. Whether one of them (other
 * than the owner) would lose its access if the policy `gone` went (`kept`: a
 * project it still targets, or NULL). */
static bool in_use_without(struct api_ctx *ctx, json_t *obj, json_t *gone, const char *kept)
{
	const char *id = doc_str(obj, "id"), *owner = doc_str(obj, "project_id");
	const char *type = doc_str(gone, "object_type");
	const char *action = doc_str(gone, "action"), *pid = doc_str(gone, "id");
	bool external = streq(action, EXTERNAL), wild = streq(doc_str(gone, "target_tenant"), "*");
	json_t *users = json_array(), *all, *o, *u;
	bool used = false;
	size_t i;

	if (external) {
		all = store_list_shared(ctx->store, "router");
		json_array_foreach(all, i, o) {
			if (streq(doc_str(json_object_get(o, "external_gateway_info"),
					  "network_id"),
				  id))
				json_array_append_new(users, json_string(doc_str(o, "project_id")));
		}
		json_decref(all);
		all = store_list_shared(ctx->store, "floatingip");
		json_array_foreach(all, i, o) {
			if (streq(doc_str(o, "floating_network_id"), id))
				json_array_append_new(users, json_string(doc_str(o, "project_id")));
		}
		json_decref(all);
	} else if (streq(type, "network")) {
		all = ports_on_network(ctx, id);
		json_array_foreach(all, i, o)
			json_array_append_new(users, json_string(doc_str(o, "project_id")));
		json_decref(all);
	} else if (streq(type, "security_group")) {
		all = store_list_shared(ctx->store, "port");
		json_array_foreach(all, i, o) {
			json_t *e;
			size_t j;

			json_array_foreach(json_object_get(o, "security_groups"), j, e) {
				if (streq(json_string_value(e), id))
					json_array_append_new(
						users, json_string(doc_str(o, "project_id")));
			}
		}
		json_decref(all);
	} else {
		for (size_t k = 0; k < ARRAY_SIZE(referrers); k++) {
			if (!streq(referrers[k].type, type))
				continue;
			all = store_list_shared(ctx->store, referrers[k].store_type);
			json_array_foreach(all, i, o) {
				if (streq(doc_str(o, referrers[k].key), id))
					json_array_append_new(
						users, json_string(doc_str(o, "project_id")));
			}
			json_decref(all);
		}
	}
	json_array_foreach(users, i, u) {
		const char *p = json_string_value(u);

		if (!*p || streq(p, owner) ||
		    (!wild && !streq(p, doc_str(gone, "target_tenant"))) ||
		    (kept && (streq(kept, "*") || streq(kept, p))))
			continue;
		if (!has_policy(ctx, id, action, "*", pid) && !has_policy(ctx, id, action, p, pid))
			used = true;
	}
	json_decref(users);
	return used;
}

/* The network's `shared` and `router:external` after the policies changed
 * (`extra`: one not stored yet; `skip_id`: one going). */
static int sync_network(struct api_ctx *ctx, const char *net_id, json_t *extra, const char *skip_id)
{
	json_t *net = store_get(ctx->store, "network", net_id);
	bool shared, external;
	int r = 0;

	if (!net)
		return 0;
	shared = has_policy(ctx, net_id, SHARED, "*", skip_id);
	external = has_policy(ctx, net_id, EXTERNAL, NULL, skip_id);
	if (extra) {
		shared = shared || (streq(doc_str(extra, "action"), SHARED) &&
				    streq(doc_str(extra, "target_tenant"), "*"));
		external = external || streq(doc_str(extra, "action"), EXTERNAL);
	}
	if (shared != doc_bool(net, "shared") || external != doc_bool(net, "router:external")) {
		json_object_set_new(net, "shared", json_boolean(shared));
		json_object_set_new(net, "router:external", json_boolean(external));
		r = resource_save(ctx, &network_def, net);
	}
	json_decref(net);
	return r;
}

static int check_target(struct api_ctx *ctx, json_t *doc)
{
	json_t *t = json_object_get(doc, "target_tenant");

	if (!json_is_string(t) || json_string_length(t) == 0)
		return api_bad_request(&ctx->err, "Invalid input for target_tenant. Reason: a "
						  "project id or '*' is required.");
	if (streq(json_string_value(t), "*") && !ctx->is_admin)
		return api_forbidden(&ctx->err, "(rule:create_rbac_policy and "
						"rule:create_rbac_policy:target_tenant) is "
						"disallowed by policy");
	if (has_policy(ctx, doc_str(doc, "object_id"), doc_str(doc, "action"), json_string_value(t),
		       doc_str(doc, "id")))
		return api_conflict(&ctx->err, "DuplicateRbacPolicy",
				    "An RBAC policy already exists with those values.");
	return 0;
}

/* The policy's object (new reference), or NULL. */
static json_t *object_of(struct api_ctx *ctx, json_t *doc)
{
	const char *id = doc_str(doc, "object_id");

	return uuid_is_valid(id) ? store_get(ctx->store, doc_str(doc, "object_type"), id) : NULL;
}

/* A subnet pool in an address scope is shared only with projects that may
 * use the scope. */
static int check_pool_scope(struct api_ctx *ctx, json_t *obj, json_t *doc)
{
	json_t *scope;
	const char *target = doc_str(doc, "target_tenant");
	bool ok;

	if (!streq(doc_str(doc, "object_type"), "subnetpool") ||
	    !json_is_string(json_object_get(obj, "address_scope_id")))
		return 0;
	scope = store_get(ctx->store, "address_scope", doc_str(obj, "address_scope_id"));
	ok = !scope || (streq(target, "*") ? doc_bool(scope, "shared")
					   : address_scope_usable_by(ctx, scope, target));
	json_decref(scope);
	if (!ok)
		return api_bad_request(&ctx->err,
				       "Bad rbac_policy request: the subnet pool's address scope "
				       "is not shared with %s.",
				       target);
	return 0;
}

static int rbac_create(struct api_ctx *ctx, json_t *doc)
{
	const char *type = doc_str(doc, "object_type"), *action = doc_str(doc, "action");
	json_t *net;
	int r;

	if (!streq(type, "network") && !streq(type, "security_group") &&
	    !streq(type, "subnetpool") && !streq(type, "address_scope") &&
	    !streq(type, "address_group"))
		return api_bad_request(&ctx->err,
				       "Invalid input for object_type. Reason: '%s' is not in "
				       "['address_group', 'address_scope', 'network', "
				       "'security_group', 'subnetpool'].",
				       type);
	if (!streq(action, SHARED) && !(streq(action, EXTERNAL) && streq(type, "network")))
		return api_bad_request(&ctx->err,
				       "Invalid input for action. Reason: '%s' is not valid for "
				       "object type %s.",
				       action, type);
	net = object_of(ctx, doc);
	if (!net || !resource_is_owner(ctx, net)) {
		json_decref(net);
		return api_bad_request(&ctx->err,
				       "Bad rbac_policy request: %s %s does not exist or is not "
				       "yours to share.",
				       type, doc_str(doc, "object_id"));
	}
	r = check_target(ctx, doc);
	if (r >= 0)
		r = check_pool_scope(ctx, net, doc);
	json_decref(net);
	if (r < 0 || !streq(type, "network"))
		return r;
	return sync_network(ctx, doc_str(doc, "object_id"), doc, NULL);
}

static int rbac_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	json_t *net;
	int r;

	(void) changes;
	r = check_target(ctx, doc);
	if (r < 0)
		return r;
	net = object_of(ctx, doc);
	if (net && in_use_without(ctx, net, old, doc_str(doc, "target_tenant")))
		r = api_conflict(&ctx->err, "RbacPolicyInUse",
				 "RBAC policy on object %s cannot be changed because other "
				 "objects depend on it.",
				 doc_str(doc, "object_id"));
	json_decref(net);
	if (r < 0 || !streq(doc_str(doc, "object_type"), "network"))
		return r;
	return sync_network(ctx, doc_str(doc, "object_id"), doc, doc_str(doc, "id"));
}

static int rbac_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *net = object_of(ctx, doc);
	int r = 0;

	if (net && (in_use_without(ctx, net, doc, NULL) ||
		    (doc_bool(net, "is_default") && streq(doc_str(doc, "action"), EXTERNAL) &&
		     streq(doc_str(doc, "target_tenant"), "*"))))
		r = api_conflict(&ctx->err, "RbacPolicyInUse",
				 "RBAC policy on object %s cannot be removed because other "
				 "objects depend on it.",
				 doc_str(doc, "object_id"));
	json_decref(net);
	if (r < 0 || !streq(doc_str(doc, "object_type"), "network"))
		return r;
	return sync_network(ctx, doc_str(doc, "object_id"), NULL, doc_str(doc, "id"));
}

static bool rbac_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx;
	(void) doc;
	return false; /* the owner's (and admins') only */
}

/* Neutron's RBAC policies carry none of the standard attributes. */
static void rbac_decorate(struct api_ctx *ctx, json_t *view)
{
	static const char *const drop[] = {"name",	 "description",	    "created_at",
					   "updated_at", "revision_number", "tags"};

	(void) ctx;
	for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
		json_object_del(view, drop[i]);
}

const struct resource_def rbac_policy_def = {
	.type = "rbac_policy",
	.collection = "rbac-policies",
	.json_key = "rbac_policies",
	.title = "RBAC policy",
	.not_found = "RbacPolicyNotFound",
	.quota = "rbac_policy",
	.attrs = rbac_attrs,
	.create = rbac_create,
	.update = rbac_update,
	.remove = rbac_remove,
	.visible = rbac_visible,
	.decorate = rbac_decorate,
};
