/* Generic resource handling: request bodies checked against attribute
 * tables, standard attributes, project scoping, tags. */
#include "server/resource.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/uuid.h"
#include "base/xalloc.h"
#include "server/quota.h"
#include "server/snat.h"

#define MAX_TAG_LEN 60
#define MAX_TAGS    50

/* Attributes every resource has (Neutron's standard attributes). */
static const struct attr_def standard_attrs[] = {
	{"id", AK_UUID, 0, NULL, 0},
	{"name", AK_STRING, AF_RW, "\"\"", 255},
	{"description", AK_STRING, AF_RW, "\"\"", 255},
	{"project_id", AK_STRING, AF_POST, NULL, 255},
	{"tenant_id", AK_STRING, AF_POST, NULL, 255},
	{"created_at", AK_STRING, 0, NULL, 0},
	{"updated_at", AK_STRING, 0, NULL, 0},
	{"revision_number", AK_INT, 0, NULL, 0},
	{"tags", AK_LIST, AF_POST, "[]", 0},
	{NULL, 0, 0, NULL, 0},
};

const struct attr_def *resource_attr(const struct resource_def *def, const char *name)
{
	if (def->has_no_name && streq(name, "name"))
		return NULL;
	for (const struct attr_def *a = standard_attrs; a->name; a++)
		if (streq(a->name, name))
			return a;
	for (const struct attr_def *a = def->attrs; a->name; a++)
		if (streq(a->name, name))
			return a;
	return NULL;
}

const char *doc_str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

bool json_array_has(json_t *arr, json_t *v)
{
	json_t *e;
	size_t i;

	json_array_foreach(arr, i, e) {
		if (json_equal(e, v))
			return true;
	}
	return false;
}

bool fixed_ips_on_subnet(json_t *fixed_ips, const char *subnet_id)
{
	json_t *e;
	size_t i;

	json_array_foreach(fixed_ips, i, e) {
		if (streq(doc_str(e, "subnet_id"), subnet_id))
			return true;
	}
	return false;
}

bool doc_bool(json_t *doc, const char *key)
{
	return json_is_true(json_object_get(doc, key));
}

bool resource_is_owner(struct api_ctx *ctx, json_t *doc)
{
	return ctx->is_admin ||
	       (ctx->project_id && streq(doc_str(doc, "project_id"), ctx->project_id));
}

bool resource_is_visible(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	if (def->admin_only)
		return ctx->is_admin;
	if (resource_is_owner(ctx, doc))
		return true;
	return def->visible && def->visible(ctx, doc);
}

json_t *resource_get_visible(struct api_ctx *ctx, const struct resource_def *def, const char *id)
{
	json_t *doc = NULL;

	if (def->load_all && def->id_key && uuid_is_valid(id)) {
		json_t *all = def->load_all(ctx), *d;
		size_t i;

		json_array_foreach(all, i, d) {
			if (streq(doc_str(d, def->id_key), id))
				doc = json_incref(d);
		}
		json_decref(all);
	} else if (uuid_is_valid(id)) {
		doc = store_get(ctx->store, def->type, id);
	}
	if (doc && resource_is_visible(ctx, def, doc))
		return doc;
	json_decref(doc);
	api_fail(&ctx->err, 404, def->not_found, "%s %s could not be found.", def->title, id);
	return NULL;
}

static bool parse_bool_string(const char *s, bool *ret)
{
	if (strcasecmp(s, "true") == 0) {
		*ret = true;
		return true;
	}
	if (strcasecmp(s, "false") == 0) {
		*ret = false;
		return true;
	}
	return false;
}

json_t *resource_check_value(struct api_ctx *ctx, const struct attr_def *a, json_t *v)
{
	bool b;

	if (json_is_null(v)) {
		if (a->flags & AF_NULLABLE)
			return json_null();
		if (a->flags & AF_NULL_EMPTY)
			return json_array();
		api_bad_request(&ctx->err, "Invalid input for %s. Reason: 'None' is not allowed.",
				a->name);
		return NULL;
	}
	switch (a->kind) {
	case AK_STRING: {
		size_t max = a->max_len ? a->max_len : 255;

		if (!json_is_string(v)) {
			api_bad_request(&ctx->err,
					"Invalid input for %s. Reason: '%s' is not a valid string.",
					a->name,
					json_is_object(v)  ? "{...}"
					: json_is_array(v) ? "[...]"
							   : "value");
			return NULL;
		}
		if (json_string_length(v) > max) {
			api_bad_request(&ctx->err,
					"Invalid input for %s. Reason: '%.40s...' exceeds maximum "
					"length of %zu.",
					a->name, json_string_value(v), max);
			return NULL;
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			api_bad_request(&ctx->err, "Invalid input for %s. Reason: embedded NUL.",
					a->name);
			return NULL;
		}
		return json_incref(v);
	}
	case AK_BOOL:
		if (json_is_boolean(v))
			return json_incref(v);
		if (json_is_string(v) && parse_bool_string(json_string_value(v), &b))
			return json_boolean(b);
		api_bad_request(
			&ctx->err,
			"Invalid input for %s. Reason: '%s' cannot be converted to boolean.",
			a->name, json_is_string(v) ? json_string_value(v) : "value");
		return NULL;
	case AK_INT:
		if (json_is_integer(v))
			return json_incref(v);
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			char *end;
			long long n;

			errno = 0;
			n = strtoll(s, &end, 10);
			if (*s && !*end && !errno && !isspace((unsigned char) *s))
				return json_integer(n);
		}
		api_bad_request(&ctx->err, "Invalid input for %s. Reason: '%s' is not an integer.",
				a->name, json_is_string(v) ? json_string_value(v) : "value");
		return NULL;
	case AK_UUID:
		if (json_is_string(v) && uuid_is_valid(json_string_value(v))) {
			/* UUIDs are stored in lower case. */
			char *s = xstrdup(json_string_value(v));
			json_t *r;

			for (char *p = s; *p; p++)
				*p = (char) tolower((unsigned char) *p);
			r = json_string(s);
			free(s);
			return r;
		}
		api_bad_request(&ctx->err,
				"Invalid input for %s. Reason: '%s' is not a valid UUID.", a->name,
				json_is_string(v) ? json_string_value(v) : "value");
		return NULL;
	case AK_LIST:
		if (json_is_array(v))
			return json_incref(v);
		api_bad_request(&ctx->err, "Invalid input for %s. Reason: not a list.", a->name);
		return NULL;
	case AK_OBJECT:
		if (json_is_object(v))
			return json_incref(v);
		api_bad_request(&ctx->err, "Invalid input for %s. Reason: not a dictionary.",
				a->name);
		return NULL;
	case AK_ANY:
		return json_incref(v);
	}
	return NULL;
}

static int check_tag(struct api_ctx *ctx, json_t *t)
{
	const char *s = json_string_value(t);

	if (!s || !*s || json_string_length(t) > MAX_TAG_LEN || strchr(s, ',') || strchr(s, '/') ||
	    strlen(s) != json_string_length(t))
		return api_bad_request(&ctx->err,
				       "Invalid input for tags. Reason: a tag is a string of 1 to "
				       "%d characters without ',' or '/'.",
				       MAX_TAG_LEN);
	return 0;
}

/* Checks a list of tags and returns it de-duplicated (new reference). */
static json_t *check_tags(struct api_ctx *ctx, json_t *tags)
{
	json_t *out, *t;
	size_t i;

	if (!json_is_array(tags)) {
		api_bad_request(&ctx->err, "Invalid input for tags. Reason: not a list.");
		return NULL;
	}
	out = json_array();
	json_array_foreach(tags, i, t) {
		bool dup = false;
		json_t *u;
		size_t j;

		if (check_tag(ctx, t) < 0) {
			json_decref(out);
			return NULL;
		}
		json_array_foreach(out, j, u)
			dup = dup || json_equal(t, u);
		if (!dup)
			json_array_append(out, t);
	}
	if (json_array_size(out) > MAX_TAGS) {
		json_decref(out);
		api_bad_request(&ctx->err, "Invalid input for tags. Reason: more than %d tags.",
				MAX_TAGS);
		return NULL;
	}
	return out;
}

static const char *action_name(bool is_create)
{
	return is_create ? "create" : "update";
}

/* Checks the attributes of a request body object against the table and
 * returns them converted (new reference), or NULL with ctx->err set. */
static json_t *check_body(struct api_ctx *ctx, const struct resource_def *def, json_t *body,
			  bool is_create)
{
	json_t *obj = json_is_object(body) ? json_object_get(body, def->type) : NULL;
	json_t *out, *v;
	const char *key;
	struct strbuf unknown = STRBUF_INIT;

	if (!obj || json_object_size(body) != 1) {
		api_bad_request(&ctx->err,
				"Resource body required: a JSON object with one key '%s'.",
				def->type);
		return NULL;
	}
	if (!json_is_object(obj)) {
		api_bad_request(&ctx->err, "Resource '%s' must be a JSON object.", def->type);
		return NULL;
	}
	json_object_foreach(obj, key, v) {
		if (!resource_attr(def, key))
			strbuf_appendf(&unknown, "%s'%s'", unknown.len ? ", " : "", key);
	}
	if (unknown.len) {
		api_bad_request(&ctx->err, "Unrecognized attribute(s) %s", strbuf_str(&unknown));
		strbuf_done(&unknown);
		return NULL;
	}
	out = json_object();
	json_object_foreach(obj, key, v) {
		const struct attr_def *a = resource_attr(def, key);
		json_t *c;

		if (!(a->flags & (is_create ? AF_POST : AF_PUT))) {
			if (is_create)
				api_bad_request(&ctx->err, "Attribute '%s' not allowed in POST",
						key);
			else
				api_bad_request(&ctx->err, "Cannot update read-only attribute %s",
						key);
			goto fail;
		}
		if ((a->flags & AF_ADMIN_SET) && !ctx->is_admin) {
			api_forbidden(&ctx->err,
				      "(rule:%s_%s and rule:%s_%s:%s) is disallowed by policy",
				      action_name(is_create), def->type, action_name(is_create),
				      def->type, key);
			goto fail;
		}
		c = streq(key, "tags") ? check_tags(ctx, v) : resource_check_value(ctx, a, v);
		if (!c)
			goto fail;
		json_object_set_new(out, key, c);
	}
	for (const struct attr_def *a = def->attrs; is_create && a->name; a++) {
		if ((a->flags & AF_REQUIRED) && !json_object_get(out, a->name)) {
			api_bad_request(&ctx->err,
					"Failed to parse request. Required attribute '%s' not "
					"specified",
					a->name);
			goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static void fill_defaults(const struct attr_def *attrs, json_t *doc)
{
	for (const struct attr_def *a = attrs; a->name; a++) {
		if (!a->default_json || json_object_get(doc, a->name))
			continue;
		json_object_set_new(doc, a->name,
				    json_loads(a->default_json, JSON_DECODE_ANY, NULL));
	}
}

/* project_id / tenant_id: the same value in both; only admin may name
 * another project (Neutron answers 400 for that). */
static int fill_project(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	json_t *p = json_object_get(doc, "project_id"), *t = json_object_get(doc, "tenant_id");
	const char *project;

	if (p && t && !json_equal(p, t))
		return api_bad_request(&ctx->err, "'project_id' and 'tenant_id' do not match");
	project = json_string_value(p ? p : t);
	if (project && !*project && !(def->admin_only && ctx->is_admin))
		return api_bad_request(&ctx->err, "Invalid input for project_id: empty.");
	if (project && !ctx->is_admin && !streq_ptr(project, ctx->project_id))
		return api_bad_request(
			&ctx->err, "Specifying 'project_id' or 'tenant_id' other than the "
				   "authenticated project in request requires admin privileges");
	if (!project)
		project = ctx->project_id;
	if (!project)
		return api_bad_request(&ctx->err, "Missing project: give 'project_id' or "
						  "authenticate with a project.");
	json_object_set_new(doc, "project_id", json_string(project));
	json_object_set_new(doc, "tenant_id", json_string(project));
	return 0;
}

int resource_prepare(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	char id[UUID_STRLEN], now[TIME_ISO_STRLEN];

	(void) ctx;
	fill_defaults(standard_attrs, doc);
	if (def->has_no_name)
		json_object_del(doc, "name");
	fill_defaults(def->attrs, doc);
	if (!json_object_get(doc, "id")) {
		uuid_generate(id);
		json_object_set_new(doc, "id", json_string(id));
	}
	time_now_iso(now);
	json_object_set_new(doc, "created_at", json_string(now));
	json_object_set_new(doc, "updated_at", json_string(now));
	json_object_set_new(doc, "revision_number", json_integer(0));
	return 0;
}

int resource_store_new(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	if (store_put(ctx->store, def->type, doc_str(doc, "id"), doc, true) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return 0;
}

int resource_insert(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	int r = resource_prepare(ctx, def, doc);

	if (r >= 0 && def->create)
		r = def->create(ctx, doc);
	if (r >= 0)
		r = resource_store_new(ctx, def, doc);
	return r;
}

int resource_save(struct api_ctx *ctx, const struct resource_def *def, json_t *doc)
{
	char now[TIME_ISO_STRLEN];
	int r;

	time_now_iso(now);
	json_object_set_new(doc, "updated_at", json_string(now));
	json_object_set_new(
		doc, "revision_number",
		json_integer(json_integer_value(json_object_get(doc, "revision_number")) + 1));
	r = store_put(ctx->store, def->type, doc_str(doc, "id"), doc, false);
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return 0;
}

json_t *resource_view(struct api_ctx *ctx, const struct resource_def *def, json_t *doc,
		      const char *const *fields, size_t fields_len)
{
	json_t *out = json_object(), *v;
	const char *key;

	json_object_foreach(doc, key, v) {
		const struct attr_def *a = resource_attr(def, key);
		bool wanted = fields_len == 0;

		if (a && (a->flags & AF_ADMIN_VIEW) && !ctx->is_admin)
			continue;
		if (!a && def->has_no_name && streq(key, "name"))
			continue; /* stored by an older version */
		for (size_t i = 0; i < fields_len && !wanted; i++)
			wanted = streq(fields[i], key);
		if (wanted)
			json_object_set(out, key, v);
	}
	if (def->decorate) {
		def->decorate(ctx, out);
		/* Computed attributes obey fields= too. */
		if (fields_len) {
			const char *k;
			json_t *val;
			void *tmp;

			json_object_foreach_safe(out, tmp, k, val) {
				bool wanted = false;

				for (size_t i = 0; i < fields_len && !wanted; i++)
					wanted = streq(fields[i], k);
				if (!wanted)
					json_object_del(out, k);
			}
		}
	}
	return out;
}

static json_t *wrap(const char *key, json_t *v)
{
	json_t *o = json_object();

	json_object_set_new(o, key, v);
	return o;
}

static int finish(struct api_ctx *ctx, int r)
{
	/* Distributed SNAT follows what the request changed (snat.h). */
	if (r >= 0)
		r = snat_before_commit(ctx);
	if (r < 0) {
		store_rollback(ctx->store);
		return r;
	}
	r = store_commit(ctx->store);
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
	return 0;
}

static int begin(struct api_ctx *ctx)
{
	if (store_begin(ctx->store) < 0)
		return api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy");
	return 0;
}

/* Stores checked documents (with their project) in one transaction, each
 * counted against its quota: all of them or none. Called with the store
 * unlocked; leaves it locked (the caller renders, then unlocks). */
static int insert_all(struct api_ctx *ctx, const struct resource_def *def, json_t *docs)
{
	json_t *doc;
	size_t i;
	int r;

	store_lock(ctx->store);
	r = begin(ctx);
	if (r < 0)
		return r;
	json_array_foreach(docs, i, doc) {
		if (def->quota)
			r = quota_check(ctx, def->quota, def->type, doc_str(doc, "project_id"), 1);
		if (r >= 0)
			r = resource_insert(ctx, def, doc);
		if (r < 0)
			break;
	}
	return finish(ctx, r);
}

/* POST {"<resource>": {...}} or, in bulk, {"<collection>": [{...}, ...]}:
 * every item is checked first, then all are created in one transaction, all
 * or nothing (Neutron's bulk create). */
int resource_create(struct api_ctx *ctx, const struct resource_def *def, json_t *body,
		    json_t **ret_body)
{
	const char *list_key = def->json_key ? def->json_key : def->collection;
	json_t *items = json_object_get(body, list_key), *docs = json_array(), *item;
	bool is_bulk = json_is_array(items) && json_object_size(body) == 1;
	size_t i;
	int r = 0;

	if (!is_bulk) {
		items = json_pack("[O]", body);
	} else if (json_array_size(items) == 0) {
		r = api_bad_request(&ctx->err, "Resources required: a non-empty list '%s'.",
				    list_key);
		goto out;
	} else {
		json_incref(items);
	}
	json_array_foreach(items, i, item) {
		/* Bulk items come bare or wrapped in their resource's key. */
		bool wrapped = json_is_object(item) && json_object_size(item) == 1 &&
			       json_is_object(json_object_get(item, def->type));
		json_t *one = !is_bulk || wrapped ? json_incref(is_bulk ? item : body)
						  : json_pack("{s:O}", def->type, item);
		json_t *doc = check_body(ctx, def, one, true);

		json_decref(one);
		if (!doc) {
			r = -EINVAL;
			goto out;
		}
		json_array_append_new(docs, doc);
		r = fill_project(ctx, def, doc);
		if (r < 0)
			goto out;
	}
	r = insert_all(ctx, def, docs);
	if (r >= 0) {
		json_t *views = json_array(), *doc;

		json_array_foreach(docs, i, doc)
			json_array_append_new(views, resource_view(ctx, def, doc, NULL, 0));
		*ret_body = is_bulk ? wrap(list_key, views)
				    : wrap(def->type, json_incref(json_array_get(views, 0)));
		if (!is_bulk)
			json_decref(views);
	}
	store_unlock(ctx->store);
out:
	json_decref(items);
	json_decref(docs);
	return r < 0 ? r : 201;
}

/* If-Match: revision_number=N (a list of them, any may match): 412 when the
 * document's revision is none of them; other If-Match forms are ignored. */
static int check_if_match(struct api_ctx *ctx, json_t *doc)
{
	json_int_t rev = json_integer_value(json_object_get(doc, "revision_number"));
	const char *p = ctx->if_match;
	bool constrained = false;

	while (p && (p = strstr(p, "revision_number=")) != NULL) {
		char *end;
		long long want;

		p += strlen("revision_number=");
		want = strtoll(p, &end, 10);
		if (end == p)
			return api_bad_request(&ctx->err, "Invalid If-Match header: %s",
					       ctx->if_match);
		if (want == rev)
			return 0;
		constrained = true;
		p = end;
	}
	if (constrained)
		return api_fail(&ctx->err, 412, "RevisionNumberConstraintFailed",
				"Constrained to %s, but current revision is %lld", ctx->if_match,
				(long long) rev);
	return 0;
}

/* The answer to a caller who may see but not change a document. */
static int not_owner(struct api_ctx *ctx, const struct resource_def *def, const char *verb)
{
	if (def->hides_from_non_owners)
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	return api_forbidden(&ctx->err, "(rule:%s_%s) is disallowed by policy", verb, def->type);
}

int resource_update(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		    json_t *body, json_t **ret_body)
{
	json_t *changes = check_body(ctx, def, body, false), *old = NULL, *doc = NULL;
	int r = -EINVAL;

	if (!changes)
		return -EINVAL;
	store_lock(ctx->store);
	old = resource_get_visible(ctx, def, id);
	if (!old)
		goto out;
	if (!resource_is_owner(ctx, old)) {
		r = not_owner(ctx, def, "update");
		goto out;
	}
	r = check_if_match(ctx, old);
	if (r < 0)
		goto out;
	doc = json_deep_copy(old);
	json_object_update(doc, changes);
	r = begin(ctx);
	if (r < 0)
		goto out;
	if (def->update)
		r = def->update(ctx, old, doc, changes);
	if (r >= 0)
		r = resource_save(ctx, def, doc);
	r = finish(ctx, r);
	if (r >= 0)
		*ret_body = wrap(def->type, resource_view(ctx, def, doc, NULL, 0));
out:
	store_unlock(ctx->store);
	json_decref(changes);
	json_decref(old);
	json_decref(doc);
	return r < 0 ? r : 200;
}

int resource_delete(struct api_ctx *ctx, const struct resource_def *def, const char *id)
{
	json_t *doc;
	int r = -EINVAL;

	store_lock(ctx->store);
	doc = resource_get_visible(ctx, def, id);
	if (!doc)
		goto out;
	if (!resource_is_owner(ctx, doc) && !(def->may_delete && def->may_delete(ctx, doc))) {
		r = not_owner(ctx, def, "delete");
		goto out;
	}
	r = check_if_match(ctx, doc);
	if (r < 0)
		goto out;
	r = begin(ctx);
	if (r < 0)
		goto out;
	if (def->remove)
		r = def->remove(ctx, doc);
	if (r >= 0 && store_delete(ctx->store, def->type, id) < 0)
		r = api_fail(&ctx->err, 500, "InternalServerError", "store delete failed");
	r = finish(ctx, r);
out:
	store_unlock(ctx->store);
	json_decref(doc);
	return r < 0 ? r : 204;
}

int resource_show(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		  const char *const *fields, size_t fields_len, json_t **ret_body)
{
	json_t *doc;

	store_lock(ctx->store);
	doc = resource_get_visible(ctx, def, id);
	/* Rendered under the lock: decorate hooks may read the store. */
	if (doc)
		*ret_body = wrap(def->type, resource_view(ctx, def, doc, fields, fields_len));
	store_unlock(ctx->store);
	if (!doc)
		return -ENOENT;
	json_decref(doc);
	return 200;
}

int resource_member_action(struct api_ctx *ctx, const struct resource_def *def, const char *id,
			   const char *action, json_t *body, json_t **ret_body)
{
	json_t *doc;
	int r = -EINVAL;

	store_lock(ctx->store);
	doc = resource_get_visible(ctx, def, id);
	if (!doc)
		goto out;
	if (!resource_is_owner(ctx, doc)) {
		r = def->hides_from_non_owners
			    ? not_owner(ctx, def, action)
			    : api_forbidden(&ctx->err, "(rule:%s) is disallowed by policy", action);
		goto out;
	}
	r = begin(ctx);
	if (r >= 0)
		r = finish(ctx, def->action(ctx, doc, action, body, ret_body));
out:
	store_unlock(ctx->store);
	json_decref(doc);
	return r < 0 ? r : 200;
}

static bool has_tag(json_t *tags, const char *tag)
{
	json_t *t;
	size_t i;

	json_array_foreach(tags, i, t) {
		if (streq(json_string_value(t), tag))
			return true;
	}
	return false;
}

int resource_tags(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		  const char *method, const char *tag, json_t *body, json_t **ret_body)
{
	json_t *doc, *tags, *newtags = NULL;
	bool is_get = streq(method, "GET");
	int status = 200, r = -EINVAL;

	store_lock(ctx->store);
	doc = resource_get_visible(ctx, def, id);
	if (!doc)
		goto out;
	tags = json_object_get(doc, "tags");
	if (!json_is_array(tags)) {
		json_object_set_new(doc, "tags", json_array());
		tags = json_object_get(doc, "tags");
	}
	if (is_get) {
		if (!tag) {
			*ret_body = wrap("tags", json_incref(tags));
			r = 200;
		} else if (has_tag(tags, tag)) {
			r = 204;
		} else {
			r = api_fail(&ctx->err, 404, "TagNotFound",
				     "Tag %s could not be found for %s %s.", tag, def->type, id);
		}
		goto out;
	}
	if (!resource_is_owner(ctx, doc)) {
		r = api_forbidden(&ctx->err, "(rule:update_%s:tags) is disallowed by policy",
				  def->type);
		goto out;
	}
	if (streq(method, "PUT") && !tag) {
		json_t *list = json_is_object(body) ? json_object_get(body, "tags") : NULL;

		if (!list) {
			r = api_bad_request(&ctx->err,
					    "Invalid input: body must be {\"tags\": [...]}");
			goto out;
		}
		newtags = check_tags(ctx, list);
		if (!newtags)
			goto out;
	} else if (streq(method, "PUT")) {
		json_t *t = json_string(tag);

		r = check_tag(ctx, t);
		json_decref(t);
		if (r < 0)
			goto out;
		newtags = json_copy(tags);
		if (!has_tag(tags, tag))
			json_array_append_new(newtags, json_string(tag));
		if (json_array_size(newtags) > MAX_TAGS) {
			r = api_bad_request(&ctx->err, "Too many tags (at most %d).", MAX_TAGS);
			goto out;
		}
		status = 201;
	} else if (streq(method, "DELETE") && !tag) {
		newtags = json_array();
		status = 204;
	} else if (streq(method, "DELETE")) {
		size_t i;
		json_t *t;

		if (!has_tag(tags, tag)) {
			r = api_fail(&ctx->err, 404, "TagNotFound",
				     "Tag %s could not be found for %s %s.", tag, def->type, id);
			goto out;
		}
		newtags = json_array();
		json_array_foreach(tags, i, t) {
			if (!streq(json_string_value(t), tag))
				json_array_append(newtags, t);
		}
		status = 204;
	} else {
		r = api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method not allowed.");
		goto out;
	}
	json_object_set(doc, "tags", newtags);
	r = begin(ctx);
	if (r >= 0)
		r = finish(ctx, resource_save(ctx, def, doc));
	if (r >= 0) {
		if (status == 200)
			*ret_body = wrap("tags", json_incref(newtags));
		r = status;
	}
out:
	store_unlock(ctx->store);
	json_decref(doc);
	json_decref(newtags);
	return r;
}
