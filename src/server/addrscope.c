/* Address scopes (address-scope, rbac-address-scope): sets of subnet pools of
 * one IP version whose prefixes never overlap, so that addresses within a
 * scope are unique. A scope is its project's, shared with every project by
 * an admin (never unshared) or with chosen ones through RBAC; a pool joins a
 * scope its project may use, and a scope cannot go while pools are in it. */
#include <errno.h>
#include "base/ipaddr.h"
#include "base/uuid.h"
#include "server/resources.h"

static const struct attr_def scope_attrs[] = {
	{"ip_version", AK_INT, AF_POST | AF_REQUIRED, NULL, 0},
	{"shared", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{NULL, 0, 0, NULL, 0},
};

static bool scope_visible(struct api_ctx *ctx, json_t *doc)
{
	return doc_bool(doc, "shared") || rbac_shares(ctx, doc);
}

bool address_scope_usable_by(struct api_ctx *ctx, json_t *scope, const char *project_id)
{
	return doc_bool(scope, "shared") || streq(doc_str(scope, "project_id"), project_id) ||
	       rbac_shares_with(ctx, scope, project_id);
}

static int scope_create(struct api_ctx *ctx, json_t *doc)
{
	json_int_t v = json_integer_value(json_object_get(doc, "ip_version"));

	if (v != 4 && v != 6)
		return api_bad_request(&ctx->err,
				       "Invalid input for ip_version. Reason: %lld is not in "
				       "[4, 6].",
				       (long long) v);
	return 0;
}

static int scope_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	(void) changes;
	if (doc_bool(old, "shared") && !doc_bool(doc, "shared"))
		return api_bad_request(&ctx->err, "Unsharing an address scope is not supported.");
	return 0;
}

/* Subnet pools in the scope (new reference). */
static json_t *pools_in(struct api_ctx *ctx, const char *scope_id, const char *skip_pool)
{
	json_t *all = store_list(ctx->store, "subnetpool"), *out = json_array(), *p;
	size_t i;

	json_array_foreach(all, i, p) {
		if (streq(doc_str(p, "address_scope_id"), scope_id) &&
		    !streq(doc_str(p, "id"), skip_pool))
			json_array_append(out, p);
	}
	json_decref(all);
	return out;
}

static int scope_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *pools = pools_in(ctx, doc_str(doc, "id"), "");
	size_t n = json_array_size(pools);

	json_decref(pools);
	if (n)
		return api_conflict(&ctx->err, "AddressScopeInUse",
				    "Unable to complete operation on address scope %s. There are "
				    "one or more subnet pools in use on the address scope.",
				    doc_str(doc, "id"));
	return rbac_object_deleted(ctx, doc_str(doc, "id"));
}

int address_scope_check_pool(struct api_ctx *ctx, json_t *pool, bool prefixes_changed)
{
	json_t *id = json_object_get(pool, "address_scope_id"), *scope, *others, *o, *e, *f;
	size_t i, j, k;
	int r = 0;

	if (!id || json_is_null(id))
		return 0;
	scope = resource_get_visible(ctx, &address_scope_def, json_string_value(id));
	if (!scope)
		return -ENOENT;
	if (!address_scope_usable_by(ctx, scope, doc_str(pool, "project_id"))) {
		json_decref(scope);
		return api_fail(&ctx->err, 404, "AddressScopeNotFound",
				"Address scope %s could not be found.", json_string_value(id));
	}
	if (json_integer_value(json_object_get(scope, "ip_version")) !=
	    json_integer_value(json_object_get(pool, "ip_version"))) {
		json_decref(scope);
		return api_bad_request(
			&ctx->err,
			"Illegal subnetpool association: subnetpool %s cannot be "
			"associated with address scope %s because subnetpool "
			"ip_version is not %lld.",
			doc_str(pool, "id"), json_string_value(id),
			(long long) json_integer_value(json_object_get(scope, "ip_version")));
	}
	/* Only the scope's owner (or an admin) changes the prefixes it holds. */
	if (prefixes_changed && !resource_is_owner(ctx, scope)) {
		json_decref(scope);
		return api_bad_request(&ctx->err,
				       "Illegal update to prefixes: the subnet pool is in address "
				       "scope %s of another project.",
				       json_string_value(id));
	}
	json_decref(scope);
	/* Prefixes are unique within a scope. */
	others = pools_in(ctx, json_string_value(id), doc_str(pool, "id"));
	json_array_foreach(others, i, o) {
		json_array_foreach(json_object_get(o, "prefixes"), j, e) {
			json_array_foreach(json_object_get(pool, "prefixes"), k, f) {
				struct ipnet a, b;

				if (r == 0 && ipnet_parse(json_string_value(e), false, &a) == 0 &&
				    ipnet_parse(json_string_value(f), false, &b) == 0 &&
				    ipnet_overlaps(&a, &b))
					r = api_conflict(&ctx->err, "AddressScopePrefixConflict",
							 "Failed to associate address scope: "
							 "subnetpools within an address scope must "
							 "have unique prefixes.");
			}
		}
	}
	json_decref(others);
	return r;
}

const struct resource_def address_scope_def = {
	.type = "address_scope",
	.collection = "address-scopes",
	.json_key = "address_scopes",
	.title = "Address scope",
	.not_found = "AddressScopeNotFound",
	.attrs = scope_attrs,
	.create = scope_create,
	.update = scope_update,
	.remove = scope_remove,
	.visible = scope_visible,
};
