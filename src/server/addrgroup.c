/* Address groups (address-group, rbac-address-group): named sets of IPv4
 * and IPv6 prefixes, edited whole or through add_addresses and
 * remove_addresses, shared through RBAC. Security-group rules may name one
 * as their remote (security-groups-remote-address-group): the agents match
 * its prefixes through an nftables set; a group in use cannot be deleted. */
#include <errno.h>
#include "base/ipaddr.h"
#include "server/resources.h"

#define MAX_ADDRESSES 1000

static const struct attr_def group_attrs[] = {
	{"addresses", AK_LIST, AF_POST, "[]", 0},
	{NULL, 0, 0, NULL, 0},
};

/* Appends the canonical prefixes of `list` to `out` (repeats dropped).
 * allow_host: a bare address is its host prefix. */
static int parse_addresses(struct api_ctx *ctx, json_t *list, bool allow_host, json_t *out)
{
	json_t *e;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) + json_array_size(out) > MAX_ADDRESSES)
		return api_bad_request(&ctx->err,
				       "Invalid input for addresses. Reason: a list of at most "
				       "%d CIDRs is required.",
				       MAX_ADDRESSES);
	json_array_foreach(list, i, e) {
		struct ipnet n;
		char buf[IPNET_STRLEN];
		json_t *s;

		if (ipnet_parse(json_string_value(e), allow_host, &n) < 0)
			return api_bad_request(&ctx->err,
					       "Invalid input for addresses. Reason: '%s' is not a "
					       "valid IP subnet.",
					       json_is_string(e) ? json_string_value(e) : "value");
		ipnet_format(&n, buf);
		s = json_string(buf);
		if (!json_array_has(out, s))
			json_array_append(out, s);
		json_decref(s);
	}
	return 0;
}

static int group_create(struct api_ctx *ctx, json_t *doc)
{
	json_t *out = json_array();
	int r = parse_addresses(ctx, json_object_get(doc, "addresses"), false, out);

	if (r >= 0)
		json_object_set(doc, "addresses", out);
	json_decref(out);
	return r;
}

static int group_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *rules = store_list(ctx->store, "security_group_rule"), *rule;
	const char *id = doc_str(doc, "id");
	size_t i;
	int r = 0;

	json_array_foreach(rules, i, rule) {
		if (streq(doc_str(rule, "remote_address_group_id"), id)) {
			r = api_conflict(&ctx->err, "AddressGroupInUse",
					 "Address group %s is in use on one or more security "
					 "group rules.",
					 id);
			break;
		}
	}
	json_decref(rules);
	return r < 0 ? r : rbac_object_deleted(ctx, id);
}

static bool group_visible(struct api_ctx *ctx, json_t *doc)
{
	return rbac_shares(ctx, doc);
}

/* PUT add_addresses / remove_addresses {"addresses": [...]}: answers the
 * group. Removing an address the group does not hold is a 404. */
static int group_action(struct api_ctx *ctx, json_t *doc, const char *action, json_t *body,
			json_t **ret_body)
{
	bool add = streq(action, "add_addresses");
	json_t *given = json_array(), *now, *e;
	size_t i;
	int r;

	if (!add && !streq(action, "remove_addresses")) {
		json_decref(given);
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	}
	if (!json_is_object(body) || json_object_size(body) != 1) {
		json_decref(given);
		return api_bad_request(&ctx->err, "A body {\"addresses\": [...]} is required.");
	}
	r = parse_addresses(ctx, json_object_get(body, "addresses"), !add, given);
	now = json_deep_copy(json_object_get(doc, "addresses"));
	json_array_foreach(given, i, e) {
		if (r < 0)
			break;
		if (add) {
			if (!json_array_has(now, e))
				json_array_append(now, e);
			continue;
		}
		if (!json_array_has(now, e)) {
			r = api_fail(&ctx->err, 404, "AddressesNotFound",
				     "Addresses %s not found in the address group %s.",
				     json_string_value(e), doc_str(doc, "id"));
			break;
		}
		for (size_t j = 0; j < json_array_size(now); j++)
			if (json_equal(json_array_get(now, j), e))
				json_array_remove(now, j--);
	}
	if (r >= 0 && json_array_size(now) > MAX_ADDRESSES)
		r = api_bad_request(&ctx->err, "An address group holds at most %d addresses.",
				    MAX_ADDRESSES);
	if (r >= 0) {
		json_object_set(doc, "addresses", now);
		r = resource_save(ctx, &address_group_def, doc);
	}
	if (r >= 0)
		*ret_body = json_pack("{s:o}", "address_group",
				      resource_view(ctx, &address_group_def, doc, NULL, 0));
	json_decref(now);
	json_decref(given);
	return r;
}

const struct resource_def address_group_def = {
	.type = "address_group",
	.collection = "address-groups",
	.json_key = "address_groups",
	.title = "Address group",
	.not_found = "AddressGroupNotFound",
	.hides_from_non_owners = true,
	.attrs = group_attrs,
	.create = group_create,
	.remove = group_remove,
	.visible = group_visible,
	.action = group_action,
};
