/* Quotas: limits, usage and the /v2.0/quotas API. */
#include "server/quota.h"

#include <errno.h>
#include <string.h>
#include "base/xalloc.h"

/* Each quota counts the documents of the type of its name. */

static int quota_index(const char *resource)
{
	for (int i = 0; i < QUOTA_MAX; i++)
		if (streq(quota_names[i], resource))
			return i;
	return -1;
}

static int64_t quota_limit(struct api_ctx *ctx, int idx, const char *project_id)
{
	json_t *doc = store_get(ctx->store, "quota", project_id);
	json_t *v = json_object_get(doc, quota_names[idx]);
	int64_t limit = json_is_integer(v) ? json_integer_value(v) : ctx->cfg->quota_default[idx];

	json_decref(doc);
	return limit;
}

int quota_check(struct api_ctx *ctx, const char *resource, const char *type, const char *project_id,
		int adding)
{
	int idx = quota_index(resource);
	int64_t limit, used;

	if (idx < 0 || !project_id || !*project_id)
		return 0;
	limit = quota_limit(ctx, idx, project_id);
	if (limit < 0)
		return 0;
	used = store_count_project(ctx->store, type, project_id);
	if (used + adding > limit)
		return api_conflict(&ctx->err, "OverQuota", "Quota exceeded for resources: ['%s'].",
				    resource);
	return 0;
}

static json_t *quota_doc(struct api_ctx *ctx, const char *project_id, bool defaults, bool details)
{
	json_t *out = json_object();

	for (int i = 0; i < QUOTA_MAX; i++) {
		int64_t limit =
			defaults ? ctx->cfg->quota_default[i] : quota_limit(ctx, i, project_id);

		if (details)
			json_object_set_new(
				out, quota_names[i],
				json_pack("{s:I, s:I, s:i}", "limit", (json_int_t) limit, "used",
					  (json_int_t) store_count_project(
						  ctx->store, quota_names[i], project_id),
					  "reserved", 0));
		else
			json_object_set_new(out, quota_names[i], json_integer(limit));
	}
	return out;
}

static int quota_update(struct api_ctx *ctx, const char *project_id, json_t *body,
			json_t **ret_body)
{
	json_t *q = json_object_get(body, "quota"), *v, *doc;
	const char *key;
	int r;

	if (!json_is_object(q) || json_object_size(body) != 1)
		return api_bad_request(&ctx->err, "Body must be {\"quota\": {RESOURCE: LIMIT}}.");
	json_object_foreach(q, key, v) {
		json_int_t n;

		if (quota_index(key) < 0)
			return api_bad_request(&ctx->err, "Unrecognized attribute(s) '%s'", key);
		if (json_is_string(v)) {
			char *end;

			n = strtoll(json_string_value(v), &end, 10);
			if (!*json_string_value(v) || *end)
				return api_bad_request(&ctx->err,
						       "Invalid input for %s. Reason: '%s' is not "
						       "an integer.",
						       key, json_string_value(v));
		} else if (json_is_integer(v)) {
			n = json_integer_value(v);
		} else {
			return api_bad_request(
				&ctx->err, "Invalid input for %s. Reason: not an integer.", key);
		}
		if (n < -1 || n > INT32_MAX)
			return api_bad_request(&ctx->err,
					       "Invalid input for %s. Reason: %lld is not in "
					       "[-1, %d].",
					       key, (long long) n, INT32_MAX);
	}
	if (store_begin(ctx->store) < 0)
		return api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
	doc = store_get(ctx->store, "quota", project_id);
	bool is_new = !doc;
	if (!doc)
		doc = json_pack("{s:s, s:s}", "project_id", project_id, "id", project_id);
	json_object_foreach(q, key, v) {
		json_int_t n = json_is_integer(v) ? json_integer_value(v)
						  : strtoll(json_string_value(v), NULL, 10);

		json_object_set_new(doc, key, json_integer(n));
	}
	r = store_put(ctx->store, "quota", project_id, doc, is_new);
	json_decref(doc);
	if (r < 0 || store_commit(ctx->store) < 0) {
		store_rollback(ctx->store);
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	}
	*ret_body = json_pack("{s:o}", "quota", quota_doc(ctx, project_id, false, false));
	return 200;
}

static int quota_reset(struct api_ctx *ctx, const char *project_id)
{
	int r;

	if (store_begin(ctx->store) < 0)
		return api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
	r = store_delete(ctx->store, "quota", project_id);
	if ((r < 0 && r != -ENOENT) || store_commit(ctx->store) < 0) {
		store_rollback(ctx->store);
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	}
	return 204;
}

static int quota_route(struct api_ctx *ctx, const char *method, char **parts, size_t n,
		       json_t *body, json_t **ret_body)
{
	const char *project;

	if (n == 0) {
		json_t *all, *doc, *list;
		size_t i;

		if (!streq(method, "GET"))
			return api_fail(&ctx->err, 405, "HTTPMethodNotAllowed",
					"Method not allowed.");
		if (!ctx->is_admin)
			return api_forbidden(&ctx->err, "(rule:get_quota) is disallowed by policy");
		all = store_list(ctx->store, "quota");
		list = json_array();
		json_array_foreach(all, i, doc) {
			json_t *q = quota_doc(ctx, doc_str(doc, "project_id"), false, false);

			json_object_set_new(q, "project_id",
					    json_string(doc_str(doc, "project_id")));
			json_object_set_new(q, "tenant_id",
					    json_string(doc_str(doc, "project_id")));
			json_array_append_new(list, q);
		}
		json_decref(all);
		*ret_body = json_pack("{s:o}", "quotas", list);
		return 200;
	}
	project = parts[0];
	if (strlen(project) > 255)
		return api_bad_request(&ctx->err, "Project id too long.");
	if (!ctx->is_admin && !streq_ptr(project, ctx->project_id))
		return api_forbidden(&ctx->err, "(rule:get_quota) is disallowed by policy");
	if (n == 2 && streq(method, "GET") &&
	    (streq(parts[1], "default") || streq(parts[1], "details"))) {
		bool defaults = streq(parts[1], "default");

		*ret_body =
			json_pack("{s:o}", "quota", quota_doc(ctx, project, defaults, !defaults));
		return 200;
	}
	if (n != 1)
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	if (streq(method, "GET")) {
		*ret_body = json_pack("{s:o}", "quota", quota_doc(ctx, project, false, false));
		return 200;
	}
	if (!ctx->is_admin)
		return api_forbidden(&ctx->err, "(rule:update_quota) is disallowed by policy");
	if (streq(method, "PUT"))
		return quota_update(ctx, project, body, ret_body);
	if (streq(method, "DELETE"))
		return quota_reset(ctx, project);
	return api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method not allowed.");
}

int quota_handle(struct api_ctx *ctx, const char *method, char **parts, size_t n, json_t *body,
		 json_t **ret_body)
{
	int r;

	store_lock(ctx->store);
	r = quota_route(ctx, method, parts, n, body, ret_body);
	store_unlock(ctx->store);
	return r;
}
