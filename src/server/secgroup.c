/* Security groups and their rules (Neutron's security-group extension):
 * stateful whitelists per port, ingress and egress, by remote prefix or
 * remote group. Each project's `default` group is made on first use with
 * Neutron's default rules. Rules are documents of their own and are also
 * embedded in their group's document (security_group_rules), so that a rule
 * change bumps the group's revision and reaches agents as one group update. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/xalloc.h"
#include "server/quota.h"
#include "server/resources.h"

#define DEFAULT_NAME "default"

static const struct attr_def sg_attrs[] = {
	{"stateful", AK_BOOL, AF_RW, "true", 0},
	{"security_group_rules", AK_LIST, 0, "[]", 0},
	{NULL, 0, 0, NULL, 0},
};

static const struct attr_def rule_attrs[] = {
	{"security_group_id", AK_UUID, AF_POST | AF_REQUIRED, NULL, 0},
	{"direction", AK_STRING, AF_POST | AF_REQUIRED, NULL, 16},
	{"ethertype", AK_STRING, AF_POST, "\"IPv4\"", 8},
	{"protocol", AK_ANY, AF_POST | AF_NULLABLE, "null", 0},
	{"port_range_min", AK_INT, AF_POST | AF_NULLABLE, "null", 0},
	{"port_range_max", AK_INT, AF_POST | AF_NULLABLE, "null", 0},
	{"remote_ip_prefix", AK_STRING, AF_POST | AF_NULLABLE, "null", 64},
	/* Not checked as a UUID: an unknown group is a 404 whatever its spelling. */
	{"remote_group_id", AK_STRING, AF_POST | AF_NULLABLE, "null", 255},
	{"remote_address_group_id", AK_UUID, AF_POST | AF_NULLABLE, "null", 0},
	{"normalized_cidr", AK_STRING, AF_NULLABLE, "null", 0},
	{NULL, 0, 0, NULL, 0},
};

/* Neutron's protocol names, with their numbers. */
static const struct {
	const char *name;
	int number;
} protocols[] = {
	{"icmp", 1},	   {"igmp", 2},	   {"ipip", 4},	       {"tcp", 6},
	{"egp", 8},	   {"udp", 17},	   {"ipv6-encap", 41}, {"ipv6-route", 43},
	{"ipv6-frag", 44}, {"rsvp", 46},   {"gre", 47},	       {"esp", 50},
	{"ah", 51},	   {"icmpv6", 58}, {"ipv6-icmp", 58},  {"ipv6-nonxt", 59},
	{"ipv6-opts", 60}, {"ospf", 89},   {"encap", 98},      {"pgm", 113},
	{"vrrp", 112},	   {"l2tp", 115},  {"sctp", 132},      {"udplite", 136},
	{"dccp", 33},
};

static json_t *rule_view(json_t *rule)
{
	static const char *const keys[] = {
		"id",
		"security_group_id",
		"direction",
		"ethertype",
		"protocol",
		"port_range_min",
		"port_range_max",
		"remote_ip_prefix",
		"remote_group_id",
		"normalized_cidr",
		"description",
		"project_id",
		"tenant_id",
		"created_at",
		"updated_at",
		"revision_number",
		"remote_address_group_id",
	};
	json_t *v = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *x = json_object_get(rule, keys[i]);

		if (x)
			json_object_set(v, keys[i], x);
	}
	return v;
}

/* Rules to add when a group is made: egress anywhere for both families;
 * the default group also lets its own members in. */
static int add_rule(struct api_ctx *ctx, json_t *sg, const char *direction, const char *ethertype,
		    const char *remote_group)
{
	json_t *rule =
		json_pack("{s:s, s:s, s:s, s:s, s:s}", "security_group_id", doc_str(sg, "id"),
			  "direction", direction, "ethertype", ethertype, "project_id",
			  doc_str(sg, "project_id"), "tenant_id", doc_str(sg, "project_id"));
	int r;

	json_object_set_new(rule, "remote_group_id",
			    remote_group ? json_string(remote_group) : json_null());
	r = resource_prepare(ctx, &security_group_rule_def, rule);
	if (r >= 0)
		r = resource_store_new(ctx, &security_group_rule_def, rule);
	if (r >= 0)
		json_array_append_new(json_object_get(sg, "security_group_rules"), rule_view(rule));
	json_decref(rule);
	return r;
}

static json_t *find_default(struct api_ctx *ctx, const char *project_id)
{
	/* Read in place (every port create asks): only the one found is copied. */
	json_t *all = store_list_shared(ctx->store, "security_group"), *g, *found = NULL;
	size_t i;

	json_array_foreach(all, i, g) {
		if (streq(doc_str(g, "name"), DEFAULT_NAME) &&
		    streq(doc_str(g, "project_id"), project_id)) {
			found = json_deep_copy(g);
			break;
		}
	}
	json_decref(all);
	return found;
}

int secgroup_ensure_default(struct api_ctx *ctx, const char *project_id, char **ret_id)
{
	json_t *sg = find_default(ctx, project_id);
	int r = 0;

	if (!sg) {
		sg = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "name", DEFAULT_NAME, "description",
			       "Default security group", "project_id", project_id, "tenant_id",
			       project_id, "security_group_rules");
		r = resource_prepare(ctx, &security_group_def, sg);
		if (r >= 0)
			r = add_rule(ctx, sg, "egress", "IPv4", NULL);
		if (r >= 0)
			r = add_rule(ctx, sg, "egress", "IPv6", NULL);
		if (r >= 0)
			r = add_rule(ctx, sg, "ingress", "IPv4", doc_str(sg, "id"));
		if (r >= 0)
			r = add_rule(ctx, sg, "ingress", "IPv6", doc_str(sg, "id"));
		if (r >= 0)
			r = resource_store_new(ctx, &security_group_def, sg);
	}
	if (r >= 0 && ret_id)
		*ret_id = xstrdup(doc_str(sg, "id"));
	json_decref(sg);
	return r;
}

static int sg_before_list(struct api_ctx *ctx)
{
	/* An admin without a project creates nothing by listing. */
	if (!ctx->project_id)
		return 0;
	return secgroup_ensure_default(ctx, ctx->project_id, NULL);
}

static int sg_create(struct api_ctx *ctx, json_t *doc)
{
	int r;

	/* The name is the default group's: there is one per project. */
	if (streq(doc_str(doc, "name"), DEFAULT_NAME))
		return api_conflict(&ctx->err, "SecurityGroupDefaultAlreadyExists",
				    "Default security group already exists.");
	r = secgroup_ensure_default(ctx, doc_str(doc, "project_id"), NULL);
	json_object_set_new(doc, "security_group_rules", json_array());
	/* Its two default rules count against the rule quota (as Neutron). */
	if (r >= 0)
		r = quota_check(ctx, "security_group_rule", "security_group_rule",
				doc_str(doc, "project_id"), 2);
	if (r >= 0)
		r = add_rule(ctx, doc, "egress", "IPv4", NULL);
	if (r >= 0)
		r = add_rule(ctx, doc, "egress", "IPv6", NULL);
	return r;
}

static int sg_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	(void) changes;
	if (streq(doc_str(old, "name"), DEFAULT_NAME) && !streq(doc_str(doc, "name"), DEFAULT_NAME))
		return api_conflict(&ctx->err, "SecurityGroupCannotUpdateDefault",
				    "Updating default security group not allowed.");
	if (!streq(doc_str(old, "name"), DEFAULT_NAME) && streq(doc_str(doc, "name"), DEFAULT_NAME))
		return api_conflict(&ctx->err, "SecurityGroupDefaultAlreadyExists",
				    "Default security group already exists.");
	return 0;
}

static bool port_uses(json_t *port, const char *sg)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(port, "security_groups"), i, e) {
		if (streq(json_string_value(e), sg))
			return true;
	}
	return false;
}

/* Deletes a rule document and its copy in its group (saved unless the group
 * itself is going). */
static int drop_rule(struct api_ctx *ctx, json_t *rule, bool save_group)
{
	json_t *sg = store_get(ctx->store, "security_group", doc_str(rule, "security_group_id"));
	int r = 0;

	if (store_delete(ctx->store, "security_group_rule", doc_str(rule, "id")) < 0)
		r = api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	if (r >= 0 && sg && save_group) {
		json_t *kept = json_array(), *e;
		size_t i;

		json_array_foreach(json_object_get(sg, "security_group_rules"), i, e) {
			if (!streq(doc_str(e, "id"), doc_str(rule, "id")))
				json_array_append(kept, e);
		}
		json_object_set_new(sg, "security_group_rules", kept);
		r = resource_save(ctx, &security_group_def, sg);
	}
	json_decref(sg);
	return r;
}

static int sg_remove(struct api_ctx *ctx, json_t *doc)
{
	const char *id = doc_str(doc, "id");
	json_t *ports = store_list(ctx->store, "port"), *rules, *p;
	size_t i;
	int r = 0;

	if (streq(doc_str(doc, "name"), DEFAULT_NAME) && !ctx->is_admin)
		r = api_conflict(&ctx->err, "SecurityGroupCannotRemoveDefault",
				 "Insufficient rights for removing default security group.");
	json_array_foreach(ports, i, p) {
		if (r >= 0 && port_uses(p, id))
			r = api_conflict(&ctx->err, "SecurityGroupInUse",
					 "Security Group %s in use.", id);
	}
	json_decref(ports);
	if (r < 0)
		return r;
	/* Its own rules go with it; other groups' rules that name it as their
	 * remote group go too (Neutron's cascade). */
	rules = store_list(ctx->store, "security_group_rule");
	json_array_foreach(rules, i, p) {
		bool own = streq(doc_str(p, "security_group_id"), id);

		if (r >= 0 && (own || streq(doc_str(p, "remote_group_id"), id)))
			r = drop_rule(ctx, p, !own);
	}
	json_decref(rules);
	return r < 0 ? r : rbac_object_deleted(ctx, id);
}

static bool sg_visible(struct api_ctx *ctx, json_t *doc)
{
	return rbac_shares(ctx, doc);
}

const struct resource_def security_group_def = {
	.type = "security_group",
	.collection = "security-groups",
	.json_key = "security_groups",
	.title = "Security group",
	.not_found = "SecurityGroupNotFound",
	.quota = "security_group",
	.attrs = sg_attrs,
	.create = sg_create,
	.update = sg_update,
	.remove = sg_remove,
	.before_list = sg_before_list,
	.visible = sg_visible,
};

/* "A.B.C.D/N" or an IPv6 prefix, normalised to its network address. */
static int normalize_prefix(struct api_ctx *ctx, const char *s, bool ipv6, json_t **ret)
{
	char buf[INET6_ADDRSTRLEN + 8], out[2 * INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned char a[16];
	long len;

	if (!ipv6) {
		struct ip4_cidr c;
		char txt[IP4_CIDR_STRLEN];

		if (ip4_cidr_parse(s, true, &c) < 0) {
			if (strchr(s, ':'))
				return api_bad_request(
					&ctx->err, "Conflicting value ethertype IPv4 for CIDR %s",
					s);
			return api_bad_request(
				&ctx->err,
				"Invalid input for remote_ip_prefix. Reason: '%s' is "
				"not a valid IP subnet.",
				s);
		}
		c.addr = ip4_cidr_network(&c);
		ip4_cidr_format(&c, txt);
		*ret = json_string(txt);
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return api_bad_request(&ctx->err, "Invalid input for remote_ip_prefix.");
	strcpy(buf, s);
	len = 128;
	if (slash) {
		char *end;

		buf[slash - s] = '\0';
		len = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || len < 0 || len > 128)
			return api_bad_request(&ctx->err, "Invalid input for remote_ip_prefix.");
	}
	if (inet_pton(AF_INET6, buf, a) != 1) {
		if (strchr(buf, '.'))
			return api_bad_request(&ctx->err,
					       "Conflicting value ethertype IPv6 for CIDR %s", s);
		return api_bad_request(&ctx->err, "Invalid input for remote_ip_prefix.");
	}
	for (int i = 0; i < 16; i++) {
		int bits = (int) len - i * 8;

		if (bits <= 0)
			a[i] = 0;
		else if (bits < 8)
			a[i] &= (unsigned char) (0xff << (8 - bits));
	}
	inet_ntop(AF_INET6, a, buf, sizeof(buf));
	snprintf(out, sizeof(out), "%s/%ld", buf, len);
	*ret = json_string(out);
	return 0;
}

static const char *protocol_name(json_t *p, int *ret_number, char buf[static 8])
{
	if (json_is_integer(p)) {
		snprintf(buf, 8, "%lld", (long long) json_integer_value(p));
		*ret_number = (int) json_integer_value(p);
		return json_integer_value(p) >= 0 && json_integer_value(p) <= 255 ? buf : NULL;
	}
	const char *s = json_string_value(p);

	if (!s)
		return NULL;
	if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 3 && atoi(s) <= 255) {
		*ret_number = atoi(s);
		return s;
	}
	for (size_t i = 0; i < ARRAY_SIZE(protocols); i++) {
		if (streq(protocols[i].name, s)) {
			*ret_number = protocols[i].number;
			return s;
		}
	}
	return NULL;
}

static bool same_rule(json_t *a, json_t *b)
{
	static const char *const keys[] = {
		"security_group_id", "direction",	"ethertype",
		"protocol",	     "port_range_min",	"port_range_max",
		"remote_ip_prefix",  "remote_group_id", "remote_address_group_id"};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);

		if (!json_equal(x ? x : json_null(), y ? y : json_null()))
			return false;
	}
	return true;
}

/* A rule's remote (a security group, an address group): null, or one
 * the caller sees (else its 404). */
static int remote_visible(struct api_ctx *ctx, const struct resource_def *def, json_t *id)
{
	json_t *g;

	if (json_is_null(id))
		return 0;
	g = resource_get_visible(ctx, def, json_string_value(id));
	if (!g)
		return -ENOENT;
	json_decref(g);
	return 0;
}

static int rule_create(struct api_ctx *ctx, json_t *doc)
{
	const char *dir = doc_str(doc, "direction"), *eth = doc_str(doc, "ethertype");
	json_t *proto = json_object_get(doc, "protocol"),
	       *pmin = json_object_get(doc, "port_range_min");
	json_t *pmax = json_object_get(doc, "port_range_max");
	json_t *prefix = json_object_get(doc, "remote_ip_prefix");
	json_t *rgroup = json_object_get(doc, "remote_group_id");
	json_t *agroup = json_object_get(doc, "remote_address_group_id");
	json_t *sg, *all, *r2, *norm = NULL;
	bool ipv6 = streq(eth, "IPv6");
	int number = -1, r = 0;
	char nbuf[8];
	size_t i;

	sg = resource_get_visible(ctx, &security_group_def, doc_str(doc, "security_group_id"));
	if (!sg)
		return -ENOENT;
	if (!resource_is_owner(ctx, sg)) {
		json_decref(sg);
		return api_fail(&ctx->err, 404, "SecurityGroupNotFound",
				"Security group %s does not exist",
				doc_str(doc, "security_group_id"));
	}
	json_object_set_new(doc, "project_id", json_string(doc_str(sg, "project_id")));
	json_object_set_new(doc, "tenant_id", json_string(doc_str(sg, "project_id")));
	if (!streq(dir, "ingress") && !streq(dir, "egress")) {
		r = api_bad_request(&ctx->err,
				    "Invalid input for direction. Reason: %s is not in "
				    "[ingress, egress].",
				    dir);
		goto out;
	}
	if (!streq(eth, "IPv4") && !streq(eth, "IPv6")) {
		r = api_bad_request(&ctx->err,
				    "Invalid input for ethertype. Reason: %s is not in "
				    "[IPv4, IPv6].",
				    eth);
		goto out;
	}
	if (json_is_string(proto) &&
	    (streq(json_string_value(proto), "any") || streq(json_string_value(proto), ""))) {
		json_object_set_new(doc, "protocol", json_null());
		proto = json_null();
	}
	if (!json_is_null(proto)) {
		const char *name = protocol_name(proto, &number, nbuf);

		if (!name) {
			r = api_fail(&ctx->err, 400, "SecurityGroupRuleInvalidProtocol",
				     "Security group rule protocol is not supported. Only protocol "
				     "names and their integer representation (0 to 255) are "
				     "supported.");
			goto out;
		}
		json_object_set_new(doc, "protocol", json_string(name));
		/* IPv6's own protocols, as Neutron lists them. */
		bool v6_only = number == 41 || number == 43 || number == 44 || number == 58 ||
			       number == 59 || number == 60;

		if (v6_only && !ipv6) {
			r = api_bad_request(&ctx->err,
					    "Protocol %s is not supported for ethertype "
					    "IPv4.",
					    name);
			goto out;
		}
	}
	if (!json_is_null(pmin) || !json_is_null(pmax)) {
		bool ports = number == 6 || number == 17 || number == 132 || number == 33;
		bool icmp = number == 1 || number == 58;
		bool has_lo = !json_is_null(pmin), has_hi = !json_is_null(pmax);
		json_int_t lo = has_lo ? json_integer_value(pmin) : 0;
		json_int_t hi = has_hi ? json_integer_value(pmax) : 0;

		/* Neutron's order: each value, then the protocol's rules. */
		if ((has_lo && (lo < 0 || lo > 65535)) || (has_hi && (hi < 0 || hi > 65535))) {
			r = api_fail(&ctx->err, 400, "SecurityGroupInvalidPortValue",
				     "Invalid value for port %lld.",
				     (long long) (has_lo && (lo < 0 || lo > 65535) ? lo : hi));
			goto out;
		}
		if (ports) {
			if ((has_lo && lo == 0) || (has_hi && hi == 0)) {
				r = api_fail(&ctx->err, 400, "SecurityGroupInvalidPortValue",
					     "Invalid value for port 0.");
				goto out;
			}
			if (!has_lo || !has_hi || lo > hi) {
				r = api_fail(&ctx->err, 400, "SecurityGroupInvalidPortRange",
					     "For TCP/UDP protocols, port_range_min must be <= "
					     "port_range_max");
				goto out;
			}
		} else if (icmp) {
			if (!has_lo) {
				r = api_fail(&ctx->err, 400, "SecurityGroupMissingIcmpType",
					     "ICMP code (port-range-max) %lld is provided but ICMP "
					     "type (port-range-min) is missing.",
					     (long long) hi);
				goto out;
			}
			if (lo > 255 || hi > 255) {
				bool type = lo > 255;

				r = api_fail(
					&ctx->err, 400, "SecurityGroupInvalidIcmpValue",
					"Invalid value for ICMP %s (%s) %lld. It must be 0 to 255.",
					type ? "type" : "code",
					type ? "port_range_min" : "port_range_max",
					(long long) (type ? lo : hi));
				goto out;
			}
		} else {
			r = api_fail(&ctx->err, 400, "SecurityGroupInvalidPortRange",
				     "Port ranges need protocol tcp, udp, sctp, dccp (ports) or "
				     "icmp (type and code).");
			goto out;
		}
	}
	if (!json_is_null(prefix) && !json_is_null(rgroup)) {
		r = api_fail(&ctx->err, 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix",
			     "Only remote_ip_prefix or remote_group_id may be provided.");
		goto out;
	}
	if (!json_is_null(agroup) && (!json_is_null(prefix) || !json_is_null(rgroup))) {
		r = api_fail(&ctx->err, 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix",
			     "Only one of remote_ip_prefix, remote_group_id or "
			     "remote_address_group_id may be provided.");
		goto out;
	}
	r = remote_visible(ctx, &address_group_def, agroup);
	if (r < 0)
		goto out;
	if (!json_is_null(prefix)) {
		r = normalize_prefix(ctx, json_string_value(prefix), ipv6, &norm);
		if (r < 0)
			goto out;
		json_object_set(doc, "remote_ip_prefix", norm);
		json_object_set(doc, "normalized_cidr", norm);
	}
	r = remote_visible(ctx, &security_group_def, rgroup);
	if (r < 0)
		goto out;
	all = store_list(ctx->store, "security_group_rule");
	json_array_foreach(all, i, r2) {
		if (same_rule(r2, doc)) {
			r = api_conflict(&ctx->err, "SecurityGroupRuleExists",
					 "Security group rule already exists. Rule id is %s.",
					 doc_str(r2, "id"));
			break;
		}
	}
	json_decref(all);
	if (r < 0)
		goto out;
	json_array_append_new(json_object_get(sg, "security_group_rules"), rule_view(doc));
	r = resource_save(ctx, &security_group_def, sg);
out:
	json_decref(norm);
	json_decref(sg);
	return r;
}

static int rule_remove(struct api_ctx *ctx, json_t *doc)
{
	json_t *sg = store_get(ctx->store, "security_group", doc_str(doc, "security_group_id"));
	json_t *kept = json_array(), *e;
	size_t i;
	int r = 0;

	if (sg) {
		json_array_foreach(json_object_get(sg, "security_group_rules"), i, e) {
			if (!streq(doc_str(e, "id"), doc_str(doc, "id")))
				json_array_append(kept, e);
		}
		json_object_set(sg, "security_group_rules", kept);
		r = resource_save(ctx, &security_group_def, sg);
	}
	json_decref(kept);
	json_decref(sg);
	return r;
}

const struct resource_def security_group_rule_def = {
	.type = "security_group_rule",
	.collection = "security-group-rules",
	.json_key = "security_group_rules",
	.title = "Security group rule",
	.not_found = "SecurityGroupRuleNotFound",
	.quota = "security_group_rule",
	.attrs = rule_attrs,
	.create = rule_create,
	.remove = rule_remove,
};
