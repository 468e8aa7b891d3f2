/* Flavors (flavors): the catalog of service flavors an admin offers for the
 * services this server runs (FLAVORS, L3_ROUTER_NAT, FIREWALL_V2), each
 * naming the service profiles (driver and metainfo) behind it. Everyone may
 * read them; only admins write. A profile a flavor names cannot go. */
#include <errno.h>
#include "base/uuid.h"
#include "server/resources.h"

static const struct attr_def flavor_attrs[] = {
	{"service_type", AK_STRING, AF_POST | AF_REQUIRED, NULL, 64},
	{"service_profiles", AK_LIST, AF_RW, "[]", 0},
	{"enabled", AK_BOOL, AF_RW, "true", 0},
	{NULL, 0, 0, NULL, 0},
};

static const struct attr_def profile_attrs[] = {
	{"driver", AK_STRING, AF_POST, "\"\"", 255},
	{"metainfo", AK_STRING, AF_RW, "\"\"", 4096},
	{"enabled", AK_BOOL, AF_RW, "true", 0},
	{NULL, 0, 0, NULL, 0},
};

static bool catalog_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx, (void) doc;
	return true;
}

static int admin_only(struct api_ctx *ctx, const char *type)
{
	if (ctx->is_admin)
		return 0;
	return api_forbidden(&ctx->err, "(rule:create_%s) is disallowed by policy", type);
}

static int check_profiles(struct api_ctx *ctx, json_t *doc)
{
	json_t *list = json_object_get(doc, "service_profiles"), *e;
	size_t i;

	json_array_foreach(list, i, e) {
		json_t *p = uuid_is_valid(json_string_value(e))
				    ? store_get(ctx->store, "service_profile", json_string_value(e))
				    : NULL;

		json_decref(p);
		if (!p)
			return api_fail(&ctx->err, 404, "ServiceProfileNotFound",
					"Service Profile %s could not be found.",
					json_is_string(e) ? json_string_value(e)
							  : "(not a string)");
	}
	return 0;
}

static int flavor_create(struct api_ctx *ctx, json_t *doc)
{
	static const char *const types[] = {"FLAVORS", "L3_ROUTER_NAT", "FIREWALL_V2"};
	const char *t = doc_str(doc, "service_type");
	bool known = false;
	int r = admin_only(ctx, "flavor");

	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		known = known || streq(t, types[i]);
	if (!known)
		return api_fail(&ctx->err, 400, "InvalidFlavorServiceType",
				"Invalid service type %s: this server offers FLAVORS, "
				"L3_ROUTER_NAT and FIREWALL_V2.",
				t);
	return check_profiles(ctx, doc);
}

static int flavor_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	(void) old;
	return json_object_get(changes, "service_profiles") ? check_profiles(ctx, doc) : 0;
}

static int profile_create(struct api_ctx *ctx, json_t *doc)
{
	const char *driver = doc_str(doc, "driver");
	int r = admin_only(ctx, "service_profile");

	if (r < 0)
		return r;
	/* Drivers are the service providers' names (or none). */
	if (*driver && !streq(driver, "lepton"))
		return api_fail(&ctx->err, 404, "ServiceProfileDriverNotFound",
				"Service Profile driver %s could not be found.", driver);
	return 0;
}

static int profile_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *flavors = store_list_shared(ctx->store, "flavor"), *f, *e;
	size_t i, j;
	int r = 0;

	json_array_foreach(flavors, i, f) {
		json_array_foreach(json_object_get(f, "service_profiles"), j, e) {
			if (r == 0 && streq(json_string_value(e), doc_str(doc, "id")))
				r = api_conflict(&ctx->err, "ServiceProfileInUse",
						 "Service Profile %s is used by some service "
						 "instance.",
						 doc_str(doc, "id"));
		}
	}
	json_decref(flavors);
	return r;
}

const struct resource_def flavor_def = {
	.type = "flavor",
	.collection = "flavors",
	.title = "Flavor",
	.not_found = "FlavorNotFound",
	.attrs = flavor_attrs,
	.create = flavor_create,
	.update = flavor_update,
	.visible = catalog_visible,
};

const struct resource_def service_profile_def = {
	.type = "service_profile",
	.collection = "service_profiles",
	.title = "Service Profile",
	.not_found = "ServiceProfileNotFound",
	.has_no_name = true,
	.attrs = profile_attrs,
	.create = profile_create,
	.remove = profile_remove,
	.visible = catalog_visible,
};
