/* The router firewall (Neutron's FWaaS v2, served under /v2.0/fwaas): rules
 * (a match on protocol, addresses and ports with an action), policies (an
 * ordered list of rules) and groups, which apply an ingress and an egress
 * policy to router ports. A rule may be in several policies; its read-only
 * firewall_policy_id lists them and is kept in step by every change to a
 * policy's rule list, so the feed carries both sides of the link. Agents turn
 * groups into nftables rules in the router namespaces. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "base/ip4.h"
#include "base/xalloc.h"
#include "server/resources.h"

#define MAX_POLICY_RULES 1000
#define MAX_GROUP_PORTS	 1000

static const struct attr_def rule_attrs[] = {
	{"protocol", AK_STRING, AF_RW | AF_NULLABLE, "null", 16},
	{"ip_version", AK_INT, AF_RW, "4", 0},
	{"source_ip_address", AK_STRING, AF_RW | AF_NULLABLE, "null", 64},
	{"destination_ip_address", AK_STRING, AF_RW | AF_NULLABLE, "null", 64},
	{"source_port", AK_ANY, AF_RW | AF_NULLABLE, "null", 0},
	{"destination_port", AK_ANY, AF_RW | AF_NULLABLE, "null", 0},
	{"action", AK_STRING, AF_RW, "\"deny\"", 16},
	{"enabled", AK_BOOL, AF_RW, "true", 0},
	{"shared", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{"firewall_policy_id", AK_LIST, 0, "[]", 0},
	{NULL, 0, 0, NULL, 0},
};

static const struct attr_def policy_attrs[] = {
	{"firewall_rules", AK_LIST, AF_RW | AF_NULLABLE, "[]", 0},
	{"audited", AK_BOOL, AF_RW, "false", 0},
	{"shared", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{NULL, 0, 0, NULL, 0},
};

static const struct attr_def group_attrs[] = {
	{"ingress_firewall_policy_id", AK_UUID, AF_RW | AF_NULLABLE, "null", 0},
	{"egress_firewall_policy_id", AK_UUID, AF_RW | AF_NULLABLE, "null", 0},
	{"ports", AK_LIST, AF_RW | AF_NULLABLE, "[]", 0},
	{"admin_state_up", AK_BOOL, AF_RW, "true", 0},
	{"shared", AK_BOOL, AF_RW | AF_ADMIN_SET, "false", 0},
	{"status", AK_STRING, 0, "\"INACTIVE\"", 0},
	{NULL, 0, 0, NULL, 0},
};

static bool id_list_has(json_t *list, const char *id)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e) {
		if (streq_ptr(json_string_value(e), id))
			return true;
	}
	return false;
}

static void id_list_remove(json_t *list, const char *id)
{
	for (size_t i = json_array_size(list); i-- > 0;)
		if (streq_ptr(json_string_value(json_array_get(list, i)), id))
			json_array_remove(list, i);
}

static bool is_shared(json_t *doc)
{
	return doc_bool(doc, "shared");
}

static bool same_project(json_t *a, json_t *b)
{
	return streq(doc_str(a, "project_id"), doc_str(b, "project_id"));
}

static bool shared_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx;
	return is_shared(doc);
}

/* Checks a list of ids: each a UUID (stored in lower case), no repeats, at
 * most `max`. Returns the list to store (new reference) or NULL with ctx->err
 * set. */
static json_t *check_id_list(struct api_ctx *ctx, const char *name, json_t *list, size_t max)
{
	const struct attr_def a = {name, AK_UUID, 0, NULL, 0};
	json_t *out = json_array(), *e;
	size_t i;

	if (json_array_size(list) > max) {
		api_bad_request(&ctx->err, "Invalid input for %s. Reason: more than %zu entries.",
				name, max);
		goto fail;
	}
	json_array_foreach(list, i, e) {
		json_t *c = resource_check_value(ctx, &a, e);

		if (!c)
			goto fail;
		if (id_list_has(out, json_string_value(c))) {
			api_bad_request(&ctx->err,
					"Invalid input for %s. Reason: duplicate entry '%s'.", name,
					json_string_value(c));
			json_decref(c);
			goto fail;
		}
		json_array_append_new(out, c);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* --- rules --- */

/* Lower-cases a string attribute in place (protocol, action). */
static void lower_attr(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));
	char *l;

	if (!s)
		return;
	l = xstrdup(s);
	for (char *p = l; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	json_object_set_new(doc, key, json_string(l));
	free(l);
}

static bool is_one_of(const char *s, const char *const *values, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (streq(s, values[i]))
			return true;
	return false;
}

/* "N" with 0..max, decimal digits only, no leading zeros. */
static int parse_small_uint(const char *s, size_t n, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char) s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* An IPv6 address or prefix: the address in inet_ntop's form, with "/len"
 * when a length was given; host bits must be zero. */
static int parse_ip6(const char *s, char *buf, size_t size)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t) (slash - s) : strlen(s);
	char addr[INET6_ADDRSTRLEN];
	unsigned char a[16];
	unsigned len = 128;

	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, a) != 1)
		return -EINVAL;
	if (slash && parse_small_uint(slash + 1, strlen(slash + 1), 128, &len) < 0)
		return -EINVAL;
	for (unsigned bit = len; bit < 128; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	if (!inet_ntop(AF_INET6, a, addr, sizeof(addr)))
		return -EINVAL;
	if (slash)
		snprintf(buf, size, "%s/%u", addr, len);
	else
		snprintf(buf, size, "%s", addr);
	return 0;
}

/* An address or CIDR of either family; *ret_version gets 4 or 6 and buf the
 * normalized text. CIDRs must have their host bits clear. */
static int parse_ip_or_cidr(const char *s, int *ret_version, char *buf, size_t size)
{
	struct ip4_cidr c;

	if (strchr(s, ':')) {
		if (parse_ip6(s, buf, size) < 0)
			return -EINVAL;
		*ret_version = 6;
		return 0;
	}
	if (ip4_cidr_parse(s, true, &c) < 0)
		return -EINVAL;
	if (strchr(s, '/')) {
		char tmp[IP4_CIDR_STRLEN];

		if (!ip4_cidr_is_canonical(&c))
			return -EINVAL;
		ip4_cidr_format(&c, tmp);
		snprintf(buf, size, "%s", tmp);
	} else {
		char tmp[IP4_STRLEN];

		ip4_format(c.addr, tmp);
		snprintf(buf, size, "%s", tmp);
	}
	*ret_version = 4;
	return 0;
}

static int rule_check_address(struct api_ctx *ctx, json_t *doc, const char *key, int ip_version)
{
	json_t *v = json_object_get(doc, key);
	char buf[INET6_ADDRSTRLEN + 8];
	int version;

	if (!v || json_is_null(v))
		return 0;
	if (parse_ip_or_cidr(json_string_value(v), &version, buf, sizeof(buf)) < 0)
		return api_bad_request(&ctx->err,
				       "Invalid input for %s. Reason: '%s' is neither a valid IP "
				       "address nor a valid CIDR (host bits must be zero).",
				       key, json_string_value(v));
	if (version != ip_version)
		return api_fail(&ctx->err, 400, "FirewallIpAddressConflict",
				"Invalid input - IP addresses do not agree with IP Version: %s is "
				"not an IPv%d address.",
				json_string_value(v), ip_version);
	json_object_set_new(doc, key, json_string(buf));
	return 0;
}

/* A port "N" or range "MIN:MAX" (1..65535, MIN <= MAX), or a JSON integer;
 * stored as text, a range of one port as "N". */
static int rule_check_port(struct api_ctx *ctx, json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);
	char text[32], buf[24];
	const char *colon;
	unsigned lo, hi;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		snprintf(text, sizeof(text), "%lld", (long long) json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) < sizeof(text) &&
		 strlen(json_string_value(v)) == json_string_length(v))
		snprintf(text, sizeof(text), "%s", json_string_value(v));
	else
		goto invalid;
	colon = strchr(text, ':');
	if (parse_small_uint(text, colon ? (size_t) (colon - text) : strlen(text), 65535, &lo) < 0)
		goto invalid;
	hi = lo;
	if (colon && parse_small_uint(colon + 1, strlen(colon + 1), 65535, &hi) < 0)
		goto invalid;
	if (lo == 0 || hi == 0 || lo > hi)
		goto invalid;
	if (lo == hi)
		snprintf(buf, sizeof(buf), "%u", lo);
	else
		snprintf(buf, sizeof(buf), "%u:%u", lo, hi);
	json_object_set_new(doc, key, json_string(buf));
	return 0;
invalid:
	return api_fail(&ctx->err, 400, "FirewallRuleInvalidPortValue",
			"Invalid value for %s: a port is 1..65535, a range MIN:MAX with MIN <= "
			"MAX.",
			key);
}

/* Checks and normalizes a whole rule document (after defaults on create,
 * after the merge of the changes on update). */
static int rule_validate(struct api_ctx *ctx, json_t *doc)
{
	static const char *const actions[] = {"allow", "deny", "reject"};
	static const char *const protocols[] = {"tcp", "udp", "icmp"};
	json_t *jv = json_object_get(doc, "ip_version");
	const char *proto;
	int version, r;

	lower_attr(doc, "action");
	if (!is_one_of(doc_str(doc, "action"), actions, ARRAY_SIZE(actions)))
		return api_bad_request(&ctx->err,
				       "Invalid input for action. Reason: '%s' is not in ['allow', "
				       "'deny', 'reject'].",
				       doc_str(doc, "action"));
	lower_attr(doc, "protocol");
	proto = json_string_value(json_object_get(doc, "protocol"));
	if (proto && !is_one_of(proto, protocols, ARRAY_SIZE(protocols)))
		return api_bad_request(&ctx->err,
				       "Invalid input for protocol. Reason: '%s' is not in ['tcp', "
				       "'udp', 'icmp', None].",
				       proto);
	if (!json_is_integer(jv) || (json_integer_value(jv) != 4 && json_integer_value(jv) != 6))
		return api_bad_request(&ctx->err,
				       "Invalid input for ip_version. Reason: it is 4 or 6.");
	version = (int) json_integer_value(jv);
	r = rule_check_address(ctx, doc, "source_ip_address", version);
	if (r >= 0)
		r = rule_check_address(ctx, doc, "destination_ip_address", version);
	if (r >= 0)
		r = rule_check_port(ctx, doc, "source_port");
	if (r >= 0)
		r = rule_check_port(ctx, doc, "destination_port");
	if (r < 0)
		return r;
	if (json_is_null(json_object_get(doc, "source_port")) &&
	    json_is_null(json_object_get(doc, "destination_port")))
		return 0;
	if (!proto)
		return api_fail(&ctx->err, 400, "FirewallRuleWithPortWithoutProtocolInvalid",
				"Source/destination port requires a protocol (tcp or udp).");
	if (!streq(proto, "tcp") && !streq(proto, "udp"))
		return api_fail(&ctx->err, 400, "FirewallRuleInvalidICMPParameter",
				"Source, destination port are not allowed when protocol is set to "
				"%s.",
				proto);
	return 0;
}

/* Every document of `type` whose `key` (a string, or a list when is_list)
 * names id. New reference. */
static json_t *docs_referring(struct api_ctx *ctx, const char *type, const char *key,
			      const char *id, bool is_list)
{
	json_t *all = store_list_shared(ctx->store, type), *out = json_array(), *d;
	size_t i;

	json_array_foreach(all, i, d) {
		json_t *v = json_object_get(d, key);

		if (is_list ? id_list_has(v, id) : streq_ptr(json_string_value(v), id))
			json_array_append_new(out, json_deep_copy(d));
	}
	json_decref(all);
	return out;
}

static json_t *policies_with_rule(struct api_ctx *ctx, const char *rule_id)
{
	return docs_referring(ctx, "firewall_policy", "firewall_rules", rule_id, true);
}

/* The groups using the policy on either side. New reference. */
static json_t *groups_with_policy(struct api_ctx *ctx, const char *policy_id)
{
	json_t *out = docs_referring(ctx, "firewall_group", "ingress_firewall_policy_id", policy_id,
				     false);
	json_t *eg = docs_referring(ctx, "firewall_group", "egress_firewall_policy_id", policy_id,
				    false);
	json_t *g;
	size_t i;

	json_array_foreach(eg, i, g) {
		if (!streq(doc_str(g, "ingress_firewall_policy_id"), policy_id))
			json_array_append(out, g);
	}
	json_decref(eg);
	return out;
}

static int rule_create(struct api_ctx *ctx, json_t *doc)
{
	json_object_set_new(doc, "firewall_policy_id", json_array());
	return rule_validate(ctx, doc);
}

/* A rule change invalidates the audit of every policy holding it; a rule
 * used outside its project (by shared policies or other projects' ones)
 * stays shared. */
static int rule_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	const char *id = doc_str(doc, "id");
	json_t *policies, *p;
	size_t i;
	int r;

	(void) changes;
	r = rule_validate(ctx, doc);
	if (r < 0)
		return r;
	policies = policies_with_rule(ctx, id);
	json_array_foreach(policies, i, p) {
		if (is_shared(old) && !is_shared(doc) && (is_shared(p) || !same_project(p, doc))) {
			r = api_conflict(&ctx->err, "FirewallRuleInUse",
					 "Firewall rule %s is being used by firewall policy %s, "
					 "which is shared or of another project: it must stay "
					 "shared.",
					 id, doc_str(p, "id"));
			break;
		}
	}
	json_array_foreach(policies, i, p) {
		if (r < 0 || !doc_bool(p, "audited"))
			continue;
		json_object_set_new(p, "audited", json_false());
		r = resource_save(ctx, &firewall_policy_def, p);
	}
	json_decref(policies);
	return r;
}

static int rule_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *policies = policies_with_rule(ctx, doc_str(doc, "id"));
	int r = 0;

	if (json_array_size(policies))
		r = api_conflict(&ctx->err, "FirewallRuleInUse",
				 "Firewall rule %s is being used by firewall policy %s.",
				 doc_str(doc, "id"), doc_str(json_array_get(policies, 0), "id"));
	json_decref(policies);
	return r;
}

/* --- policies --- */

/* Whether the rule may be in the policy: a shared policy holds shared rules
 * only, and an unshared rule stays in its own project. */
static int policy_check_rule(struct api_ctx *ctx, json_t *policy, json_t *rule)
{
	if (is_shared(policy) && !is_shared(rule))
		return api_conflict(&ctx->err, "FirewallPolicySharingConflict",
				    "Operation cannot be performed. Before sharing firewall policy "
				    "%s, share associated firewall rule %s.",
				    doc_str(policy, "id"), doc_str(rule, "id"));
	if (!is_shared(rule) && !same_project(rule, policy))
		return api_conflict(&ctx->err, "FirewallRuleConflict",
				    "Operation cannot be performed since firewall rule %s is not "
				    "shared and belongs to another project %s.",
				    doc_str(rule, "id"), doc_str(rule, "project_id"));
	return 0;
}

/* Checks the policy's rule list: rules new to it must exist and be visible
 * to the caller, every rule must fit the policy. */
static int policy_check_rules(struct api_ctx *ctx, json_t *policy, json_t *old_rules)
{
	json_t *rules = json_object_get(policy, "firewall_rules"), *e;
	size_t i;
	int r = 0;

	json_array_foreach(rules, i, e) {
		const char *rid = json_string_value(e);
		json_t *rule;

		/* Rules already in the policy need not be visible to the caller. */
		if (id_list_has(old_rules, rid))
			rule = store_get(ctx->store, "firewall_rule", rid);
		else
			rule = resource_get_visible(ctx, &firewall_rule_def, rid);
		if (!rule && !ctx->err.status)
			api_fail(&ctx->err, 404, "FirewallRuleNotFound",
				 "Firewall rule %s could not be found.", rid);
		if (!rule)
			return -ENOENT;
		r = policy_check_rule(ctx, policy, rule);
		json_decref(rule);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Keeps each rule's firewall_policy_id in step with the policy's rule list
 * going from old_rules to new_rules. */
static int link_rules(struct api_ctx *ctx, const char *policy_id, json_t *old_rules,
		      json_t *new_rules)
{
	json_t *e;
	size_t i;
	int r = 0;

	for (int pass = 0; pass < 2 && r >= 0; pass++) {
		json_t *from = pass ? new_rules : old_rules, *other = pass ? old_rules : new_rules;

		json_array_foreach(from, i, e) {
			const char *rid = json_string_value(e);
			json_t *rule, *list;

			if (id_list_has(other, rid))
				continue;
			rule = store_get(ctx->store, "firewall_rule", rid);
			if (!rule)
				continue;
			list = json_object_get(rule, "firewall_policy_id");
			if (!json_is_array(list)) {
				json_object_set_new(rule, "firewall_policy_id", json_array());
				list = json_object_get(rule, "firewall_policy_id");
			}
			id_list_remove(list, policy_id);
			if (pass)
				json_array_append_new(list, json_string(policy_id));
			r = resource_save(ctx, &firewall_rule_def, rule);
			json_decref(rule);
			if (r < 0)
				break;
		}
	}
	return r;
}

/* Replaces the given list (null: none) by the checked one. */
static int policy_normalize_rules(struct api_ctx *ctx, json_t *policy)
{
	json_t *given = json_object_get(policy, "firewall_rules"), *list;

	if (json_is_null(given)) {
		json_object_set_new(policy, "firewall_rules", json_array());
		return 0;
	}
	list = check_id_list(ctx, "firewall_rules", given, MAX_POLICY_RULES);
	if (!list)
		return -EINVAL;
	json_object_set_new(policy, "firewall_rules", list);
	return 0;
}

static int policy_create(struct api_ctx *ctx, json_t *doc)
{
	json_t *none = json_array();
	int r = policy_normalize_rules(ctx, doc);

	if (r >= 0)
		r = policy_check_rules(ctx, doc, none);
	if (r >= 0)
		r = link_rules(ctx, doc_str(doc, "id"), none,
			       json_object_get(doc, "firewall_rules"));
	json_decref(none);
	return r;
}

/* Any change not itself setting `audited` clears it (as Neutron does). */
static int policy_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	const char *id = doc_str(doc, "id");
	json_t *old_rules = json_object_get(old, "firewall_rules");
	int r = 0;

	if (json_object_get(changes, "firewall_rules"))
		r = policy_normalize_rules(ctx, doc);
	if (r >= 0 &&
	    (json_object_get(changes, "firewall_rules") || json_object_get(changes, "shared")))
		r = policy_check_rules(ctx, doc, old_rules);
	if (r >= 0 && is_shared(old) && !is_shared(doc)) {
		json_t *groups = groups_with_policy(ctx, id), *g;
		size_t i;

		json_array_foreach(groups, i, g) {
			if (!same_project(g, doc)) {
				r = api_conflict(
					&ctx->err, "FirewallPolicyInUse",
					"Firewall policy %s is being used by firewall "
					"group %s of another project: it must stay shared.",
					id, doc_str(g, "id"));
				break;
			}
		}
		json_decref(groups);
	}
	if (r >= 0)
		r = link_rules(ctx, id, old_rules, json_object_get(doc, "firewall_rules"));
	if (r >= 0 && !json_object_get(changes, "audited"))
		json_object_set_new(doc, "audited", json_false());
	return r;
}

static int policy_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *groups = groups_with_policy(ctx, doc_str(doc, "id")), *none;
	int r;

	if (json_array_size(groups)) {
		r = api_conflict(&ctx->err, "FirewallPolicyInUse",
				 "Firewall policy %s is being used by firewall group %s.",
				 doc_str(doc, "id"), doc_str(json_array_get(groups, 0), "id"));
		json_decref(groups);
		return r;
	}
	json_decref(groups);
	none = json_array();
	r = link_rules(ctx, doc_str(doc, "id"), json_object_get(doc, "firewall_rules"), none);
	json_decref(none);
	return r;
}

/* A rule reference in an insert_rule/remove_rule body: absent, null or ""
 * give NULL. */
static int body_rule_ref(struct api_ctx *ctx, json_t *body, const char *key, const char **ret)
{
	json_t *v = json_object_get(body, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return api_bad_request(&ctx->err, "Invalid input for %s. Reason: not a string.",
				       key);
	if (json_string_length(v))
		*ret = json_string_value(v);
	return 0;
}

static int rule_info_missing(struct api_ctx *ctx)
{
	return api_fail(&ctx->err, 400, "FirewallRuleInfoMissing",
			"Missing rule info argument for insert/remove rule operation: "
			"firewall_rule_id is required.");
}

static int body_rule_id(struct api_ctx *ctx, json_t *body, const char **ret)
{
	int r = body_rule_ref(ctx, body, "firewall_rule_id", ret);

	if (r >= 0 && !*ret)
		r = rule_info_missing(ctx);
	return r;
}

static int check_action_body(struct api_ctx *ctx, json_t *body, bool is_insert)
{
	const char *key;
	json_t *v;

	if (!json_is_object(body) || !json_object_get(body, "firewall_rule_id"))
		return rule_info_missing(ctx);
	json_object_foreach(body, key, v) {
		if (!streq(key, "firewall_rule_id") &&
		    !(is_insert && (streq(key, "insert_before") || streq(key, "insert_after"))))
			return api_bad_request(&ctx->err, "Unrecognized attribute '%s'.", key);
	}
	return 0;
}

/* The position in the policy's list of the rule named by insert_before
 * (which wins) or insert_after; the top without either. */
static int insert_position(struct api_ctx *ctx, json_t *policy, json_t *body, size_t *ret)
{
	json_t *rules = json_object_get(policy, "firewall_rules");
	const char *before, *after, *ref;
	size_t i;
	int r;

	r = body_rule_ref(ctx, body, "insert_before", &before);
	if (r >= 0)
		r = body_rule_ref(ctx, body, "insert_after", &after);
	if (r < 0)
		return r;
	ref = before ? before : after;
	if (!ref) {
		*ret = 0;
		return 0;
	}
	for (i = 0; i < json_array_size(rules); i++) {
		if (strcasecmp(json_string_value(json_array_get(rules, i)), ref) == 0) {
			*ret = before ? i : i + 1;
			return 0;
		}
	}
	return api_fail(&ctx->err, 400, "FirewallRuleNotAssociatedWithPolicy",
			"Firewall rule %s is not associated with firewall policy %s.", ref,
			doc_str(policy, "id"));
}

static int policy_insert_rule(struct api_ctx *ctx, json_t *policy, json_t *body)
{
	const char *rid;
	json_t *rule, *rules = json_object_get(policy, "firewall_rules"), *old;
	size_t pos = 0;
	int r;

	r = body_rule_id(ctx, body, &rid);
	if (r < 0)
		return r;
	rule = resource_get_visible(ctx, &firewall_rule_def, rid);
	if (!rule)
		return -ENOENT;
	rid = doc_str(rule, "id");
	if (id_list_has(rules, rid))
		r = api_conflict(&ctx->err, "FirewallRuleAlreadyAssociated",
				 "Operation cannot be performed since firewall rule %s is already "
				 "associated with firewall policy %s.",
				 rid, doc_str(policy, "id"));
	if (r >= 0)
		r = policy_check_rule(ctx, policy, rule);
	if (r >= 0)
		r = insert_position(ctx, policy, body, &pos);
	if (r >= 0 && json_array_size(rules) >= MAX_POLICY_RULES)
		r = api_bad_request(&ctx->err, "A firewall policy holds at most %d rules.",
				    MAX_POLICY_RULES);
	if (r >= 0) {
		old = json_copy(rules);
		json_array_insert_new(rules, pos, json_string(rid));
		r = link_rules(ctx, doc_str(policy, "id"), old, rules);
		json_decref(old);
	}
	json_decref(rule);
	return r;
}

static int policy_remove_rule(struct api_ctx *ctx, json_t *policy, json_t *body)
{
	json_t *rules = json_object_get(policy, "firewall_rules"), *old, *rule;
	const char *rid;
	int r;

	r = body_rule_id(ctx, body, &rid);
	if (r < 0)
		return r;
	rule = resource_get_visible(ctx, &firewall_rule_def, rid);
	if (!rule)
		return -ENOENT;
	rid = doc_str(rule, "id");
	if (!id_list_has(rules, rid)) {
		r = api_fail(&ctx->err, 400, "FirewallRuleNotAssociatedWithPolicy",
			     "Firewall rule %s is not associated with firewall policy %s.", rid,
			     doc_str(policy, "id"));
	} else {
		old = json_copy(rules);
		id_list_remove(rules, rid);
		r = link_rules(ctx, doc_str(policy, "id"), old, rules);
		json_decref(old);
	}
	json_decref(rule);
	return r;
}

/* PUT /fwaas/firewall_policies/{id}/insert_rule|remove_rule: answers the
 * policy itself, not wrapped (as Neutron does). */
static int policy_action(struct api_ctx *ctx, json_t *doc, const char *action, json_t *body,
			 json_t **ret_body)
{
	bool is_insert = streq(action, "insert_rule");
	int r;

	if (!is_insert && !streq(action, "remove_rule"))
		return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
	r = check_action_body(ctx, body, is_insert);
	if (r >= 0)
		r = is_insert ? policy_insert_rule(ctx, doc, body)
			      : policy_remove_rule(ctx, doc, body);
	if (r < 0)
		return r;
	json_object_set_new(doc, "audited", json_false());
	r = resource_save(ctx, &firewall_policy_def, doc);
	if (r < 0)
		return r;
	*ret_body = resource_view(ctx, &firewall_policy_def, doc, NULL, 0);
	return 0;
}

/* --- groups --- */

/* A group's policy is its project's own or a shared one. */
static int group_check_policy(struct api_ctx *ctx, json_t *group, const char *key)
{
	const char *id = json_string_value(json_object_get(group, key));
	json_t *policy;
	bool ok;

	if (!id)
		return 0;
	policy = resource_get_visible(ctx, &firewall_policy_def, id);
	if (!policy)
		return -ENOENT;
	ok = is_shared(policy) || same_project(policy, group);
	json_decref(policy);
	if (!ok)
		return api_fail(&ctx->err, 404, "FirewallPolicyNotFound",
				"Firewall policy %s for the firewall group's project could not be "
				"found: it must be the project's own or shared.",
				id);
	return 0;
}

static bool port_is_router_port(json_t *port)
{
	const char *owner = doc_str(port, "device_owner");

	return startswith(owner, "network:router_interface") ||
	       streq(owner, "network:router_gateway");
}

/* The ports of another group that `ports` names, as "id, id" (caller frees),
 * or NULL. */
static char *ports_in_other_groups(struct api_ctx *ctx, json_t *group, json_t *ports)
{
	json_t *all = store_list_shared(ctx->store, "firewall_group"), *g, *p;
	char *out = NULL;
	size_t i, j;

	json_array_foreach(all, i, g) {
		if (streq(doc_str(g, "id"), doc_str(group, "id")))
			continue;
		json_array_foreach(json_object_get(g, "ports"), j, p) {
			char *prev = out;

			if (!id_list_has(ports, json_string_value(p)))
				continue;
			out = prev ? xasprintf("%s, %s", prev, json_string_value(p))
				   : xstrdup(json_string_value(p));
			free(prev);
		}
	}
	json_decref(all);
	return out;
}

/* Each port must be visible to the caller, of the group's project, a router
 * port, and in no other group. */
static int group_check_ports(struct api_ctx *ctx, json_t *group)
{
	json_t *given = json_object_get(group, "ports"), *list, *e;
	_cleanup_free_ char *in_use = NULL;
	size_t i;
	int r = 0;

	list = json_is_null(given) ? json_array()
				   : check_id_list(ctx, "ports", given, MAX_GROUP_PORTS);
	if (!list)
		return -EINVAL;
	json_array_foreach(list, i, e) {
		json_t *port = resource_get_visible(ctx, &port_def, json_string_value(e));

		if (!port) {
			r = -ENOENT;
			break;
		}
		if (!same_project(port, group))
			r = api_conflict(
				&ctx->err, "FirewallGroupPortInvalidProject",
				"Operation cannot be performed as port %s is in an invalid "
				"project %s.",
				doc_str(port, "id"), doc_str(port, "project_id"));
		else if (!port_is_router_port(port))
			r = api_fail(&ctx->err, 400, "FirewallGroupPortInvalid",
				     "Port %s of firewall group is invalid: it is not a router "
				     "port (device_owner '%s'; a firewall group applies to router "
				     "interface and gateway ports).",
				     doc_str(port, "id"), doc_str(port, "device_owner"));
		json_decref(port);
		if (r < 0)
			break;
	}
	if (r >= 0) {
		in_use = ports_in_other_groups(ctx, group, list);
		if (in_use)
			r = api_conflict(&ctx->err, "FirewallGroupPortInUse",
					 "Port(s) %s provided already associated with other "
					 "firewall group(s).",
					 in_use);
	}
	if (r >= 0)
		json_object_set(group, "ports", list);
	json_decref(list);
	return r;
}

static void group_set_status(json_t *group)
{
	json_object_set_new(group, "status",
			    json_string(json_array_size(json_object_get(group, "ports"))
						? "ACTIVE"
						: "INACTIVE"));
}

static int group_create(struct api_ctx *ctx, json_t *doc)
{
	int r = group_check_policy(ctx, doc, "ingress_firewall_policy_id");

	if (r >= 0)
		r = group_check_policy(ctx, doc, "egress_firewall_policy_id");
	if (r >= 0)
		r = group_check_ports(ctx, doc);
	if (r >= 0)
		group_set_status(doc);
	return r;
}

static int group_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	int r = 0;

	(void) old;
	if (json_object_get(changes, "ingress_firewall_policy_id"))
		r = group_check_policy(ctx, doc, "ingress_firewall_policy_id");
	if (r >= 0 && json_object_get(changes, "egress_firewall_policy_id"))
		r = group_check_policy(ctx, doc, "egress_firewall_policy_id");
	if (r >= 0 && json_object_get(changes, "ports"))
		r = group_check_ports(ctx, doc);
	if (r >= 0)
		group_set_status(doc);
	return r;
}

/* As Neutron: a group that still filters ports is in use. */
static int group_remove(struct api_ctx *ctx, json_t *doc)
{
	if (json_array_size(json_object_get(doc, "ports")))
		return api_conflict(&ctx->err, "FirewallGroupInUse",
				    "Firewall group %s is still active: remove its ports first.",
				    doc_str(doc, "id"));
	return 0;
}

int fwaas_port_deleted(struct api_ctx *ctx, const char *port_id)
{
	json_t *groups = docs_referring(ctx, "firewall_group", "ports", port_id, true), *g;
	size_t i;
	int r = 0;

	json_array_foreach(groups, i, g) {
		id_list_remove(json_object_get(g, "ports"), port_id);
		group_set_status(g);
		r = resource_save(ctx, &firewall_group_def, g);
		if (r < 0)
			break;
	}
	json_decref(groups);
	return r;
}

const struct resource_def firewall_rule_def = {
	.type = "firewall_rule",
	.collection = "firewall_rules",
	.path_prefix = "fwaas",
	.title = "Firewall rule",
	.not_found = "FirewallRuleNotFound",
	.quota = "firewall_rule",
	.attrs = rule_attrs,
	.create = rule_create,
	.update = rule_update,
	.remove = rule_remove,
	.visible = shared_visible,
};

const struct resource_def firewall_policy_def = {
	.type = "firewall_policy",
	.collection = "firewall_policies",
	.path_prefix = "fwaas",
	.title = "Firewall policy",
	.not_found = "FirewallPolicyNotFound",
	.quota = "firewall_policy",
	.attrs = policy_attrs,
	.create = policy_create,
	.update = policy_update,
	.remove = policy_remove,
	.visible = shared_visible,
	.action = policy_action,
};

const struct resource_def firewall_group_def = {
	.type = "firewall_group",
	.collection = "firewall_groups",
	.path_prefix = "fwaas",
	.title = "Firewall group",
	.not_found = "FirewallGroupNotFound",
	.quota = "firewall_group",
	.attrs = group_attrs,
	.create = group_create,
	.update = group_update,
	.remove = group_remove,
	.visible = shared_visible,
};
