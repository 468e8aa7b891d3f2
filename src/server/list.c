/* List queries: filtering, sorting, pagination. */
#include "server/list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/strbuf.h"
#include "base/xalloc.h"

#define MAX_SORT_KEYS 8

static bool is_reserved(const char *key)
{
	static const char *const reserved[] = {
		"fields",	"sort_key", "sort_dir", "limit",    "marker",
		"page_reverse", "tags",	    "tags-any", "not-tags", "not-tags-any",
	};

	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (streq(key, reserved[i]))
			return true;
	return false;
}

static int parse_bool(const char *s, bool *ret)
{
	if (strcasecmp(s, "true") == 0 || streq(s, "1")) {
		*ret = true;
		return 0;
	}
	if (strcasecmp(s, "false") == 0 || streq(s, "0")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_int(const char *s, long long *ret)
{
	char *end;

	if (!*s)
		return -EINVAL;
	errno = 0;
	*ret = strtoll(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static bool scalar_matches(json_t *v, const char *query)
{
	if (json_is_string(v))
		return streq(json_string_value(v), query);
	if (json_is_null(v))
		return streq(query, "") || streq(query, "None") || streq(query, "null");
	if (json_is_integer(v)) {
		long long n;

		return parse_int(query, &n) == 0 && n == json_integer_value(v);
	}
	if (json_is_boolean(v)) {
		bool b;

		return parse_bool(query, &b) == 0 && b == json_is_true(v);
	}
	return false;
}

/* "key=value" against a dict element of a list (fixed_ips=ip_address=X,
 * or a part of the address: fixed_ips=ip_address_substr=X). */
static bool dict_matches(json_t *obj, const char *query)
{
	const char *eq = strchr(query, '=');
	char key[64];
	size_t klen;

	if (!eq)
		return false;
	klen = (size_t) (eq - query);
	if (klen >= sizeof(key))
		return false;
	memcpy(key, query, klen);
	key[klen] = '\0';
	/* ip-substring-filtering: fixed_ips=ip_address_substr=10.0.0 */
	if (streq(key, "ip_address_substr"))
		return strstr(json_string_value(json_object_get(obj, "ip_address")) ?: "", eq + 1);
	return scalar_matches(json_object_get(obj, key), eq + 1);
}

int list_value_matches(const struct attr_def *a, json_t *value, const char *query)
{
	json_t *e;
	size_t i;

	switch (a->kind) {
	case AK_BOOL: {
		bool b;

		if (parse_bool(query, &b) < 0)
			return -EINVAL;
		return json_is_boolean(value) && json_is_true(value) == b;
	}
	case AK_INT: {
		long long n;

		if (json_is_null(value))
			return streq(query, "") || streq(query, "None");
		if (parse_int(query, &n) < 0)
			return -EINVAL;
		return json_is_integer(value) && json_integer_value(value) == n;
	}
	case AK_LIST:
		json_array_foreach(value, i, e) {
			if (json_is_object(e) ? dict_matches(e, query) : scalar_matches(e, query))
				return 1;
		}
		return 0;
	case AK_OBJECT:
		return json_is_object(value) && dict_matches(value, query);
	default:
		return scalar_matches(value, query);
	}
}

static int kind_rank(json_t *v)
{
	if (json_is_null(v) || !v)
		return 0;
	if (json_is_false(v))
		return 1;
	if (json_is_true(v))
		return 2;
	if (json_is_number(v))
		return 3;
	if (json_is_string(v))
		return 4;
	return 5;
}

int list_compare_values(json_t *a, json_t *b)
{
	int ra = kind_rank(a), rb = kind_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 3) {
		double x = json_number_value(a), y = json_number_value(b);

		return x < y ? -1 : x > y;
	}
	if (ra == 4) {
		int c = strcmp(json_string_value(a), json_string_value(b));

		return c < 0 ? -1 : c > 0;
	}
	return 0;
}

char *list_urlencode(const char *s)
{
	struct strbuf sb = STRBUF_INIT;

	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == ':')
			strbuf_append_n(&sb, (const char *) &c, 1);
		else
			strbuf_appendf(&sb, "%%%02X", c);
	}
	return strbuf_steal(&sb);
}

struct sort_key {
	const char *name;
	bool desc;
};

static __thread const struct sort_key *cur_keys;
static __thread size_t cur_nkeys;

static int compare_docs(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *) pa, *b = *(json_t *const *) pb;

	for (size_t i = 0; i < cur_nkeys; i++) {
		int c = list_compare_values(json_object_get(a, cur_keys[i].name),
					    json_object_get(b, cur_keys[i].name));

		if (c)
			return cur_keys[i].desc ? -c : c;
	}
	return 0;
}

static bool tags_match(json_t *doc, const char *mode, const char *value)
{
	json_t *tags = json_object_get(doc, "tags");
	_cleanup_free_ char *copy = xstrdup(value);
	bool any = false, all = true;

	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		bool has = false;
		json_t *e;
		size_t i;

		json_array_foreach(tags, i, e)
			has = has || streq(json_string_value(e), t);
		any = any || has;
		all = all && has;
	}
	if (streq(mode, "tags"))
		return all;
	if (streq(mode, "tags-any"))
		return any;
	if (streq(mode, "not-tags"))
		return !all;
	return !any; /* not-tags-any */
}

static void append_link(json_t *links, struct api_ctx *ctx, const struct resource_def *def,
			const struct http_param *q, size_t qn, const char *rel, const char *marker,
			bool reverse)
{
	struct strbuf sb = STRBUF_INIT;
	bool first = true;

	strbuf_appendf(&sb, "%s/v2.0/%s%s%s", ctx->base_url,
		       def->path_prefix ? def->path_prefix : "", def->path_prefix ? "/" : "",
		       def->collection);
	for (size_t i = 0; i < qn; i++) {
		_cleanup_free_ char *k = NULL, *v = NULL;

		if (streq(q[i].key, "marker") || streq(q[i].key, "page_reverse"))
			continue;
		k = list_urlencode(q[i].key);
		v = list_urlencode(q[i].value);
		strbuf_appendf(&sb, "%c%s=%s", first ? '?' : '&', k, v);
		first = false;
	}
	if (marker)
		strbuf_appendf(&sb, "%cmarker=%s", first ? '?' : '&', marker);
	if (reverse)
		strbuf_appendf(&sb, "%cpage_reverse=True", first && !marker ? '?' : '&');
	json_array_append_new(links, json_pack("{s:s, s:s}", "href", strbuf_str(&sb), "rel", rel));
	strbuf_done(&sb);
}

int list_run(struct api_ctx *ctx, const struct resource_def *def, const struct http_param *q,
	     size_t qn, json_t **ret_body)
{
	const char *fields[64];
	size_t nfields = 0, nkeys = 0, ndirs = 0, n = 0, start, end;
	struct sort_key keys[MAX_SORT_KEYS + 1];
	const char *marker = NULL;
	long long limit = 0;
	bool reverse = false;
	json_t *all, *doc, **items = NULL, *out = NULL, *links;
	size_t i;
	int r = -EINVAL;

	/* Parse and check the query before reading anything. */
	for (i = 0; i < qn; i++) {
		const char *k = q[i].key, *v = q[i].value;

		if (streq(k, "fields")) {
			/* "fields=a,b" and repeated "fields=a&fields=b" */
			if (nfields < ARRAY_SIZE(fields) && *v)
				fields[nfields++] = v;
		} else if (streq(k, "sort_key")) {
			const struct attr_def *a = resource_attr(def, v);

			if (!a || (a->flags & AF_ADMIN_VIEW && !ctx->is_admin) ||
			    a->kind == AK_LIST || a->kind == AK_OBJECT || a->kind == AK_ANY)
				return api_bad_request(
					&ctx->err, "[%s] is invalid attribute for sort_keys", v);
			if (nkeys == MAX_SORT_KEYS)
				return api_bad_request(&ctx->err, "Too many sort keys.");
			keys[nkeys++] = (struct sort_key){v, false};
		} else if (streq(k, "sort_dir")) {
			if (!streq(v, "asc") && !streq(v, "desc"))
				return api_bad_request(&ctx->err,
						       "%s is invalid value for sort_dir, valid "
						       "values are 'asc' and 'desc'",
						       v);
			ndirs++;
		} else if (streq(k, "limit")) {
			if (parse_int(v, &limit) < 0 || limit < 0)
				return api_bad_request(&ctx->err,
						       "Limit must be an integer 0 or greater and "
						       "not '%s'",
						       v);
		} else if (streq(k, "marker")) {
			marker = v;
		} else if (streq(k, "page_reverse")) {
			if (parse_bool(v, &reverse) < 0)
				return api_bad_request(&ctx->err, "Invalid value for page_reverse");
		} else if (!is_reserved(k)) {
			const struct attr_def *a = resource_attr(def, k);
			json_t *probe;

			if (!a || (a->flags & AF_ADMIN_VIEW && !ctx->is_admin))
				return api_bad_request(
					&ctx->err, "[%s] is invalid attribute for filtering", k);
			probe = a->kind == AK_LIST ? json_array() : json_null();
			r = list_value_matches(a, probe, v);
			json_decref(probe);
			if (r < 0)
				return api_bad_request(
					&ctx->err,
					"Invalid input for %s. Reason: '%s' does not "
					"fit its type.",
					k, v);
		}
	}
	if (ndirs && ndirs != nkeys)
		return api_bad_request(&ctx->err,
				       "The number of sort_keys and sort_dirs must be same");
	for (i = 0, ndirs = 0; i < qn; i++) {
		if (streq(q[i].key, "sort_dir"))
			keys[ndirs++].desc = streq(q[i].value, "desc");
	}
	/* id last, so that the order is total and markers are stable. */
	keys[nkeys++] = (struct sort_key){"id", false};

	/* Split "fields=a,b" into separate names. */
	_cleanup_free_ char *fieldbuf = NULL;
	{
		struct strbuf sb = STRBUF_INIT;
		size_t nf = nfields;

		for (i = 0; i < nf; i++)
			strbuf_appendf(&sb, "%s%s", i ? "," : "", fields[i]);
		fieldbuf = strbuf_steal(&sb);
		nfields = 0;
		for (char *save = NULL, *t = nf ? strtok_r(fieldbuf, ",", &save) : NULL;
		     t && nfields < ARRAY_SIZE(fields); t = strtok_r(NULL, ",", &save))
			fields[nfields++] = t;
	}

	/* The documents are the store's own: hold the lock until the views
	 * are built. */
	store_lock(ctx->store);
	if (def->before_list) {
		r = store_begin(ctx->store) < 0
			    ? api_fail(&ctx->err, 503, "ServiceUnavailable", "store busy")
			    : def->before_list(ctx);
		if (r >= 0 && store_commit(ctx->store) < 0)
			r = api_fail(&ctx->err, 500, "InternalServerError", "store commit failed");
		else if (r < 0)
			store_rollback(ctx->store);
		if (r < 0) {
			store_unlock(ctx->store);
			return r;
		}
	}
	all = def->load_all ? def->load_all(ctx) : store_list_shared(ctx->store, def->type);
	items = xcalloc(json_array_size(all) + 1, sizeof(*items));
	json_array_foreach(all, i, doc) {
		bool ok;

		ok = resource_is_visible(ctx, def, doc);
		if (!ok)
			continue;
		/* Repeated keys OR together; different keys AND. */
		for (size_t j = 0; j < qn && ok; j++) {
			const char *k = q[j].key;
			bool any = false;

			if (streq(k, "tags") || streq(k, "tags-any") || streq(k, "not-tags") ||
			    streq(k, "not-tags-any")) {
				ok = tags_match(doc, k, q[j].value);
				continue;
			}
			if (is_reserved(k))
				continue;
			/* Evaluate each distinct key once, at its first occurrence. */
			bool seen = false;
			for (size_t m = 0; m < j && !seen; m++)
				seen = streq(q[m].key, k);
			if (seen)
				continue;
			const struct attr_def *a = resource_attr(def, k);
			json_t *computed = (a->flags & AF_FILTER) && def->filter_value
						   ? def->filter_value(ctx, doc, k)
						   : NULL;
			json_t *val = computed ? computed : json_object_get(doc, k);

			for (size_t m = j; m < qn && !any; m++) {
				if (streq(q[m].key, k))
					any = list_value_matches(a, val, q[m].value) > 0;
			}
			json_decref(computed);
			ok = any;
		}
		if (ok)
			items[n++] = doc;
	}

	cur_keys = keys;
	cur_nkeys = nkeys;
	qsort(items, n, sizeof(*items), compare_docs);

	/* The page: after the marker (or before it, reversed), at most limit. */
	start = 0;
	end = n;
	if (marker) {
		size_t pos = n;

		for (i = 0; i < n; i++) {
			if (streq(json_string_value(json_object_get(items[i], "id")), marker)) {
				pos = i;
				break;
			}
		}
		if (pos == n) {
			r = api_fail(&ctx->err, 404, "MarkerNotFound",
				     "Marker %s could not be found.", marker);
			goto out;
		}
		if (reverse)
			end = pos;
		else
			start = pos + 1;
	}
	if (limit > 0 && end - start > (size_t) limit) {
		if (reverse)
			start = end - (size_t) limit;
		else
			end = start + (size_t) limit;
	}

	json_t *list = json_array();
	for (i = start; i < end; i++)
		json_array_append_new(list, resource_view(ctx, def, items[i], fields, nfields));
	out = json_object();
	json_object_set_new(out, def->json_key ? def->json_key : def->collection, list);
	links = json_array();
	if (limit > 0) {
		/* Neutron's links: onwards from every full page, back from every
		 * page reached through a marker (from an empty one: the far end,
		 * no marker). */
		const char *first =
			end > start ? json_string_value(json_object_get(items[start], "id")) : NULL;
		const char *last =
			end > start ? json_string_value(json_object_get(items[end - 1], "id"))
				    : NULL;
		bool full = end - start == (size_t) limit;

		if (!reverse) {
			if (full)
				append_link(links, ctx, def, q, qn, "next", last, false);
			if (marker)
				append_link(links, ctx, def, q, qn, "previous", first, true);
		} else {
			if (marker)
				append_link(links, ctx, def, q, qn, "next", last, false);
			if (full)
				append_link(links, ctx, def, q, qn, "previous", first, true);
		}
	}
	if (json_array_size(links)) {
		char key[96];

		snprintf(key, sizeof(key), "%s_links",
			 def->json_key ? def->json_key : def->collection);
		json_object_set_new(out, key, links);
	} else {
		json_decref(links);
	}
	*ret_body = out;
	r = 200;
out:
	free(items);
	json_decref(all);
	store_unlock(ctx->store);
	return r;
}
