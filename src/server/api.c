/* Request routing, identity, JSON rendering and the fixed documents. */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "server/keystone.h"
#include "server/list.h"
#include "server/quota.h"
#include "server/resources.h"
#include "server/snat.h"
#include "server/telemetry.h"
#include "server/changes.h"
#include "server/watch.h"
#include "server/web.h"

#define MAX_PATH_PARTS 8
/* How often a request runs when other servers keep committing first. */
#define STORE_ATTEMPTS 50

/* One entry per line (clang-format off keeps it so for easy merges). */
/* clang-format off */
const struct resource_def *const all_resources[] = {
	&network_def,
	&subnet_def,
	&subnetpool_def,
	&port_def,
	&segment_def,
	&router_def,
	&floatingip_def,
	&floatingip_pool_def,
	&network_ip_availability_def,
	&agent_def,
	&security_group_def,
	&security_group_rule_def,
	&firewall_rule_def,
	&firewall_policy_def,
	&firewall_group_def,
	&rbac_policy_def,
	&address_scope_def,
	&address_group_def,
	&service_provider_def,
	&flavor_def,
	&service_profile_def,
	&network_segment_range_def,
	&availability_zone_def,
	NULL,
};
/* clang-format on */

/* Whether a path names a collection: its own spelling, or Neutron's path
 * spelling of it with '-' for '_' (floatingip-pools). */
static bool collection_matches(const char *collection, const char *path)
{
	size_t i;

	for (i = 0; collection[i] && path[i]; i++)
		if (collection[i] != path[i] && !(collection[i] == '_' && path[i] == '-'))
			return false;
	return collection[i] == path[i];
}

const struct resource_def *resource_by_collection(const char *prefix, const char *collection)
{
	for (size_t i = 0; all_resources[i]; i++)
		if (collection_matches(all_resources[i]->collection, collection) &&
		    streq_ptr(all_resources[i]->path_prefix, prefix))
			return all_resources[i];
	return NULL;
}

/* The extensions this server really implements, with Neutron's aliases. */
static const struct {
	const char *alias, *name, *description;
} extensions[] = {
	{"external-net", "Neutron external network", "Adds external network attribute."},
	{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks"},
	{"binding", "Port Binding",
	 "Expose port bindings of a virtual port to external application"},
	{"port-security", "Port Security", "Provides port security"},
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"},
	{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource."},
	{"net-mtu-writable", "Network MTU (writable)",
	 "Provides a writable MTU attribute for a network resource."},
	{"standard-attr-description", "standard-attr-description",
	 "Extension to add descriptions to standard attributes"},
	{"standard-attr-revisions", "Resource revision numbers",
	 "This extension will display the revision number of neutron resources."},
	{"revision-if-match", "If-Match constraints based on revision_number",
	 "Extension indicating that If-Match based on revision_number is supported."},
	{"standard-attr-timestamp", "Resource timestamps",
	 "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
	 "standard attributes."},
	{"standard-attr-tag", "Tag support for resources with standard attribute",
	 "Enables to set tag on resources with standard attribute."},
	{"tag", "Tag support", "Enables to set tag on resources."},
	{"project-id", "project_id field enabled",
	 "Extension that indicates that project_id field is enabled."},
	{"pagination", "Pagination support",
	 "Extension that indicates that pagination is enabled."},
	{"sorting", "Sorting support", "Extension that indicates that sorting is enabled."},
	{"filter-validation", "Filter parameters validation",
	 "Provides validation on filter parameters."},
	{"ip-substring-filtering", "IP address substring filtering",
	 "Provides IP address substring filtering when listing ports"},
	{"port-security-groups-filtering", "Port filtering on security groups",
	 "Provides security groups filtering when listing ports"},
	{"empty-string-filtering", "Empty String Filtering Extension",
	 "Allow filtering by attributes with empty string value"},
	{"network-ip-availability", "Network IP Availability",
	 "Provides IP availability data for each network and subnet."},
	{"port-mac-address-regenerate", "Neutron Port MAC address regenerate",
	 "Network port MAC address regenerate"},
	{"tag-ports-during-bulk-creation", "Tag Ports During Bulk Creation",
	 "Allow to tag ports during bulk creation"},
	{"subnet_allocation", "Subnet Allocation",
	 "Enables allocation of subnets from a subnet pool"},
	{"subnetpool-prefix-ops", "Subnet Pool Prefix Operations",
	 "Provides support for adjusting the prefix list of subnet pools"},
	{"default-subnetpools", "Default Subnetpools",
	 "Provides ability to mark and use a subnetpool as the default."},
	{"subnet-service-types", "Subnet service types",
	 "Provides ability to set the subnet service_types field"},
	{"segment", "Segment", "Segments extension."},
	{"standard-attr-segment", "Standard Attribute Segment Extension",
	 "Add standard attributes to Segment resource"},
	{"router", "Neutron L3 Router",
	 "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to "
	 "external networks via a NAT gateway."},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode",
	 "Extension of the router abstraction for specifying whether SNAT should occur on the "
	 "external gateway"},
	{"dvr", "Distributed Virtual Router",
	 "Enables configuration of Distributed Virtual Routers."},
	{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"},
	{"extraroute-atomic", "Atomically add/remove extra routes",
	 "Edit extra routes of a router on server side by atomically adding/removing extra routes"},
	{"floatingip-pools", "Floating IP Pools", "Provides a floating IP pools API."},
	{"fip-port-details", "Floating IP Port Details Extension",
	 "Add port_details attribute to Floating IP resource"},
	{"lepton-snat-mode", "Lepton SNAT mode",
	 "Adds snat_mode (distributed or centralized) to distributed routers."},
	{"lepton-snat-blocks", "Lepton distributed SNAT blocks",
	 "Port blocks of router gateway addresses per node (/v2.0/lepton/snat_blocks) and "
	 "lepton:snat_owner and lepton:snat_owners (the owner of each address) on routers."},
	{"quotas", "Quota management support",
	 "Expose functions for quotas management per project"},
	{"quota_details", "Quota details management support",
	 "Expose functions for quotas usage statistics per project"},
	{"agent", "agent", "The agent management extension."},
	{"dns-integration", "DNS Integration",
	 "Provides integration with DNS: dns_name on ports (given to the VM by DHCP), dns_domain "
	 "on networks, dns_assignment."},
	{"dns-domain-ports", "dns_domain for ports",
	 "Allows the dns_domain attribute to be set "
	 "for ports"},
	{"auto-allocated-topology", "Auto Allocated Topology Services",
	 "Auto Allocated Topology Services."},
	{"network-segment-range", "Network Segment Range",
	 "Provides support for the network segment range management"},
	{"availability_zone", "Availability Zone",
	 "The availability zone extension: zones of the agents, per resource."},
	{"router_availability_zone", "Router Availability Zone",
	 "Availability zone support for router."},
	{"extra_dhcp_opt", "Neutron Extra DHCP options",
	 "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can "
	 "be specified (e.g. tftp-server, server-ip-address, bootfile-name)"},
	{"security-group", "security-group", "The security groups extension."},
	{"stateful-security-group", "Stateful security group",
	 "Indicates if the security group is stateful or not"},
	{"lepton-watch", "Lepton change feed",
	 "Revisioned stream of every change (GET /v2.0/lepton/watch?since=REV)."},
	{"lepton-dhcp-mode", "Lepton DHCP mode",
	 "Adds lepton:dhcp (distributed or centralized) to networks."},
	{"fwaas_v2", "FWaaS v2", "Provides support for firewall-as-a-service version 2"},
	{"rbac-policies", "RBAC Policies",
	 "Allows creation and modification of policies that control tenant access to resources."},
	{"rbac-security-groups", "RBAC Security Groups", "Add security_group type to network RBAC"},
	{"rbac-subnetpool", "RBAC Subnet Pool", "Add subnetpool type to network RBAC"},
	{"address-scope", "Address scope", "Address scopes extension."},
	{"rbac-address-scope", "RBAC Address Scope", "Add address_scope type to RBAC"},
	{"address-group", "Address group", "Support address group"},
	{"rbac-address-group", "RBAC Address Group", "Add address_group type to RBAC"},
	{"security-groups-remote-address-group",
	 "Remote address group id field for security group "
	 "rules",
	 "Add new field of remote address group id in security group rules"},
	{"service-type", "Neutron Service Type Management",
	 "API for retrieving service providers for Neutron advanced services"},
	{"flavors", "Neutron Service Flavors",
	 "Flavor specification for Neutron advanced services."},
};

struct reply {
	int status;
	json_t *body;
};

#define COUNT_MARK "\\u0000int:" /* as json_dumps() escapes it */

json_t *api_count_json(ipaddr_int n)
{
	char digits[48], *d = digits + sizeof(digits), text[64];

	if (n <= (ipaddr_int) INT64_MAX)
		return json_integer((json_int_t) n);
	*--d = '\0';
	do {
		*--d = (char) ('0' + (int) (n % 10));
		n /= 10;
	} while (n);
	text[0] = '\0';
	snprintf(text + 1, sizeof(text) - 1, "int:%s", d);
	return json_stringn(text, 1 + strlen(text + 1));
}

void api_unquote_counts(char *text)
{
	char *w = text, *r = text, *m;

	while ((m = strstr(r, "\"" COUNT_MARK))) {
		size_t n = (size_t) (m - r);

		memmove(w, r, n);
		w += n;
		r = m + 1 + strlen(COUNT_MARK);
		while (*r >= '0' && *r <= '9')
			*w++ = *r++;
		r += *r == '"';
	}
	memmove(w, r, strlen(r) + 1);
}

static void render(struct http_response *resp, int status, json_t *body)
{
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (resp->body && strstr(resp->body, COUNT_MARK))
		api_unquote_counts(resp->body);
	json_decref(body);
}

static void render_error(struct http_response *resp, const struct api_error *err)
{
	render(resp, err->status,
	       json_pack("{s:{s:s, s:s, s:s}}", "NeutronError", "type", err->type, "message",
			 err->message ? err->message : "", "detail", ""));
}

static bool has_admin_role(const char *roles)
{
	_cleanup_free_ char *copy = NULL;

	if (!roles)
		return false;
	copy = xstrdup(roles);
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n && t[n - 1] == ' ')
			t[--n] = '\0';
		if (streq(t, "admin"))
			return true;
	}
	return false;
}

static json_t *versions_doc(const char *base)
{
	char *href = xasprintf("%s/v2.0/", base);
	json_t *doc = json_pack("{s:[{s:s, s:s, s:[{s:s, s:s}]}]}", "versions", "id", "v2.0",
				"status", "CURRENT", "links", "href", href, "rel", "self");

	free(href);
	return doc;
}

static json_t *resources_doc(const char *base)
{
	json_t *list = json_array();

	for (size_t i = 0; all_resources[i]; i++) {
		const char *prefix = all_resources[i]->path_prefix;
		char *href = xasprintf("%s/v2.0/%s%s%s", base, prefix ? prefix : "",
				       prefix ? "/" : "", all_resources[i]->collection);

		json_array_append_new(list, json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "name",
						      all_resources[i]->type, "collection",
						      all_resources[i]->collection, "links", "href",
						      href, "rel", "self"));
		free(href);
	}
	return json_pack("{s:o}", "resources", list);
}

static json_t *extension_doc(size_t i)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[]}", "alias", extensions[i].alias, "name",
			 extensions[i].name, "description", extensions[i].description, "updated",
			 "2026-11-24T00:00:00-00:00", "links");
}

static int parse_body(struct api_ctx *ctx, const struct http_request *req, json_t **ret)
{
	json_error_t jerr;
	json_t *body;

	if (req->body_too_large)
		return api_bad_request(&ctx->err, "Request body is larger than %llu bytes.",
				       (unsigned long long) ctx->cfg->max_body_size);
	if (!req->body || req->body_size == 0)
		return api_bad_request(&ctx->err, "Resource body required.");
	body = json_loadb(req->body, req->body_size, JSON_REJECT_DUPLICATES, &jerr);
	if (!body)
		return api_bad_request(&ctx->err, "Malformed request body: %s", jerr.text);
	if (!json_is_object(body)) {
		json_decref(body);
		return api_bad_request(&ctx->err, "Malformed request body: not a JSON object.");
	}
	*ret = body;
	return 0;
}

static const char *query_get(const struct http_request *req, const char *key)
{
	for (size_t i = 0; i < req->query_len; i++)
		if (streq(req->query[i].key, key))
			return req->query[i].value;
	return NULL;
}

static int handle_watch(struct api *api, struct api_ctx *ctx, const struct http_request *req,
			struct http_response *resp)
{
	const char *since = query_get(req, "since"), *follow = query_get(req, "follow");
	const char *host = query_get(req, "host");
	long long rev = 0;
	char *end;

	if (!ctx->is_admin && !ctx->is_agent)
		return api_forbidden(&ctx->err, "The change feed is for agents and admins.");
	if (host && !agent_name_valid(host, 64))
		return api_bad_request(&ctx->err, "host must be 1 to 64 of [A-Za-z0-9._-].");
	if (since) {
		rev = strtoll(since, &end, 10);
		if (!*since || *end || rev < 0)
			return api_bad_request(&ctx->err, "since must be a revision number >= 0.");
	}
	resp->stream = watch_new(api->hub, host, rev,
				 !(follow && (streq(follow, "false") || streq(follow, "False") ||
					      streq(follow, "0"))));
	if (!resp->stream)
		return api_fail(&ctx->err, 503, "ServiceUnavailable",
				"Too many watch streams are open (watch_max_streams = %u).",
				api->cfg->watch_max_streams);
	resp->status = 200;
	resp->content_type = "application/x-ndjson";
	resp->attach = watch_attach;
	resp->read = watch_read;
	resp->free_stream = watch_free;
	resp->send_timeout = api->cfg->watch_send_timeout;
	resp->send_buffer = 4 * WATCH_BUFFER;
	return 200;
}

static int collect_fields(const struct http_request *req, const char **fields, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < req->query_len && n < max; i++)
		if (streq(req->query[i].key, "fields"))
			fields[n++] = req->query[i].value;
	return (int) n;
}

/* Splits comma lists inside fields into a scratch buffer. */
static size_t split_fields(const char **in, size_t n, char **scratch, const char **out, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		strbuf_appendf(&sb, "%s%s", i ? "," : "", in[i]);
	*scratch = strbuf_steal(&sb);
	for (char *save = NULL, *t = n ? strtok_r(*scratch, ",", &save) : NULL; t && m < max;
	     t = strtok_r(NULL, ",", &save))
		out[m++] = t;
	return m;
}

static int route(struct api *api, struct api_ctx *ctx, const struct http_request *req,
		 struct http_response *resp, json_t **ret_body)
{
	char path[1024];
	char *parts[MAX_PATH_PARTS];
	size_t n = 0, len;
	const char *m = req->method;
	const struct resource_def *def;
	json_t *body = NULL;
	int r;

	if (strlen(req->path) >= sizeof(path))
		return api_fail(&ctx->err, 414, "HTTPRequestURITooLong", "URI too long.");
	strcpy(path, req->path);
	len = strlen(path);
	if (len > 5 && streq(path + len - 5, ".json"))
		path[len - 5] = '\0';
	for (char *save = NULL, *t = strtok_r(path, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		if (n == MAX_PATH_PARTS)
			return api_fail(&ctx->err, 404, "HTTPNotFound",
					"The resource could not be found.");
		parts[n++] = t;
	}
	if (n == 0) {
		if (!streq(m, "GET"))
			goto not_allowed;
		*ret_body = versions_doc(ctx->base_url);
		return 200;
	}
	if (!streq(parts[0], "v2.0"))
		goto not_found;
	if (n == 1) {
		if (!streq(m, "GET"))
			goto not_allowed;
		*ret_body = resources_doc(ctx->base_url);
		return 200;
	}
	if (streq(parts[1], "extensions")) {
		if (!streq(m, "GET"))
			goto not_allowed;
		if (n == 2) {
			json_t *list = json_array();

			for (size_t i = 0; i < ARRAY_SIZE(extensions); i++)
				json_array_append_new(list, extension_doc(i));
			*ret_body = json_pack("{s:o}", "extensions", list);
			return 200;
		}
		for (size_t i = 0; n == 3 && i < ARRAY_SIZE(extensions); i++) {
			if (streq(extensions[i].alias, parts[2])) {
				*ret_body = json_pack("{s:o}", "extension", extension_doc(i));
				return 200;
			}
		}
		return api_fail(&ctx->err, 404, "ExtensionNotFound", "Extension %s not found.",
				n == 3 ? parts[2] : "");
	}
	if (streq(parts[1], "lepton") && n == 3 && streq(parts[2], "changes")) {
		if (!streq(m, "GET"))
			goto not_allowed;
		return changes_open(ctx, api->hub, resp);
	}
	if (streq(parts[1], "lepton") && n == 3 && streq(parts[2], "watch")) {
		if (!streq(m, "GET"))
			goto not_allowed;
		return handle_watch(api, ctx, req, resp);
	}
	if (streq(parts[1], "lepton") && n >= 3 && streq(parts[2], "snat_blocks")) {
		if (streq(m, "POST")) {
			r = parse_body(ctx, req, &body);
			if (r < 0)
				return r;
		}
		r = snat_api(ctx, m, parts + 3, n - 3, req, body, ret_body);
		json_decref(body);
		return r;
	}
	if (streq(parts[1], "lepton") && n >= 3) {
		if (streq(m, "POST") || streq(m, "PUT")) {
			r = parse_body(ctx, req, &body);
			if (r < 0)
				return r;
		}
		r = agent_api(ctx, m, parts + 2, n - 2, body, ret_body);
		json_decref(body);
		return r;
	}
	if (streq(parts[1], "auto-allocated-topology") && n == 3) {
		bool dry_run = false;

		for (size_t i = 0; i < req->query_len; i++)
			dry_run = dry_run || (streq(req->query[i].key, "fields") &&
					      strstr(req->query[i].value, "dry-run"));
		return auto_topology_handle(ctx, m, parts[2], dry_run, ret_body);
	}
	if (streq(parts[1], "quotas")) {
		if (streq(m, "PUT")) {
			r = parse_body(ctx, req, &body);
			if (r < 0)
				return r;
		}
		r = quota_handle(ctx, m, parts + 2, n - 2, body, ret_body);
		json_decref(body);
		return r;
	}
	if (streq(parts[1], "fwaas") && n >= 3) {
		/* /v2.0/fwaas/{collection}/...: drop the prefix. */
		def = resource_by_collection("fwaas", parts[2]);
		memmove(&parts[1], &parts[2], (n - 2) * sizeof(parts[0]));
		n--;
	} else {
		def = resource_by_collection(NULL, parts[1]);
	}
	if (!def)
		goto not_found;
	if (def->load_all && !streq(m, "GET"))
		goto not_allowed;

	if (streq(m, "POST") || streq(m, "PUT")) {
		/* PUT /tags/{tag} takes no body; member actions may have none. */
		bool body_optional = (n == 5 && streq(parts[3], "tags")) ||
				     (n == 4 && !streq(parts[3], "tags") && req->body_size == 0);

		if (!body_optional) {
			r = parse_body(ctx, req, &body);
			if (r < 0)
				return r;
		}
	}
	if (n == 2) {
		if (streq(m, "GET"))
			r = list_run(ctx, def, req->query, req->query_len, ret_body);
		else if (streq(m, "POST"))
			r = resource_create(ctx, def, body, ret_body);
		else
			r = api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method not allowed.");
	} else if (n == 3) {
		if (streq(m, "GET")) {
			const char *raw[64], *fields[64];
			_cleanup_free_ char *scratch = NULL;
			size_t nf = split_fields(raw, (size_t) collect_fields(req, raw, 64),
						 &scratch, fields, 64);

			r = resource_show(ctx, def, parts[2], fields, nf, ret_body);
		} else if (streq(m, "PUT")) {
			r = resource_update(ctx, def, parts[2], body, ret_body);
		} else if (streq(m, "DELETE")) {
			r = resource_delete(ctx, def, parts[2]);
		} else {
			r = api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method not allowed.");
		}
	} else if ((n == 4 || n == 5) && streq(parts[3], "tags")) {
		r = resource_tags(ctx, def, parts[2], m, n == 5 ? parts[4] : NULL, body, ret_body);
	} else if (n == 4 && def->action && streq(m, "PUT")) {
		r = resource_member_action(ctx, def, parts[2], parts[3], body, ret_body);
	} else {
		json_decref(body);
		goto not_found;
	}
	json_decref(body);
	return r;
not_allowed:
	return api_fail(&ctx->err, 405, "HTTPMethodNotAllowed", "Method %s not allowed.", m);
not_found:
	return api_fail(&ctx->err, 404, "HTTPNotFound", "The resource could not be found.");
}

/* Fills ctx's identity from the request. keystone: the X-Auth-Token, checked
 * against Keystone (X-Project-Id and X-Roles are ignored, as behind
 * keystonemiddleware); noauth: X-Project-Id (or X-Tenant-Id) and X-Roles.
 * Either way the agents' credential marks an agent. 0, or a negative errno
 * with ctx->err set. */
static int identify(struct api *api, struct api_ctx *ctx, const struct http_request *req,
		    struct keystone_identity *id)
{
	const char *token = http_request_header(req, "X-Auth-Token");
	const char *project;
	int r;

	if (token && api->cfg->agent_token && streq(token, api->cfg->agent_token))
		ctx->is_agent = true;
	if (api->keystone) {
		if (ctx->is_agent || streq(req->path, "/"))
			return 0;
		r = keystone_validate(api->keystone, token, id);
		if (r == -EACCES) {
			api_fail(&ctx->err, 401, "NotAuthenticated",
				 "Authentication required: the X-Auth-Token is missing, invalid "
				 "or expired.");
			return r;
		}
		if (r < 0) {
			api_fail(&ctx->err, 503, "ServiceUnavailable",
				 "The identity service cannot validate the token now.");
			return r;
		}
		ctx->project_id = *id->project_id ? id->project_id : NULL;
		ctx->is_admin = id->is_admin;
		if (!ctx->project_id && !ctx->is_admin) {
			api_fail(&ctx->err, 401, "NotAuthenticated",
				 "The token is not scoped to a project.");
			return -EACCES;
		}
		return 0;
	}
	project = http_request_header(req, "X-Project-Id");
	if (!project || !*project)
		project = http_request_header(req, "X-Tenant-Id");
	if (project && !*project)
		project = NULL;
	ctx->project_id = project;
	ctx->is_admin = has_admin_role(http_request_header(req, "X-Roles"));
	if (project && strlen(project) > 255) {
		api_bad_request(&ctx->err, "X-Project-Id is too long.");
		return -EINVAL;
	}
	if (!project && !ctx->is_admin && !ctx->is_agent && api->cfg->noauth_default_project) {
		/* Neutron's noauth: an anonymous caller is an admin. */
		ctx->project_id = api->cfg->noauth_default_project;
		ctx->is_admin = true;
	}
	if (!ctx->project_id && !ctx->is_admin && !ctx->is_agent && !streq(req->path, "/")) {
		api_fail(&ctx->err, 401, "NotAuthenticated",
			 "Authentication required: send X-Project-Id (noauth).");
		return -EACCES;
	}
	return 0;
}

/* Routes the request; when the store says another server committed first
 * (etcd), catches up and runs it again, so it sees what that server wrote. */
static int route_store(struct api *api, struct api_ctx *ctx, const struct http_request *req,
		       struct http_response *resp, json_t **ret_body)
{
	int status = 0, r = 0;

	(void) store_last_error();
	for (int attempt = 0; attempt < STORE_ATTEMPTS; attempt++) {
		status = route(api, ctx, req, resp, ret_body);
		r = store_last_error();
		if (r != -EAGAIN || resp->read)
			break;
		json_decref(*ret_body);
		*ret_body = NULL;
		api_error_done(&ctx->err);
		ctx->err = (struct api_error){0};
		store_lock(api->store);
		store_catch_up(api->store);
		store_unlock(api->store);
	}
	if (r == -EAGAIN || r == -EHOSTUNREACH) {
		json_decref(*ret_body);
		*ret_body = NULL;
		api_error_done(&ctx->err);
		ctx->err = (struct api_error){0};
		store_lock(api->store);
		status = api_fail(&ctx->err, 503, "ServiceUnavailable",
				  r == -EAGAIN ? "The store stayed too busy to commit (%s); "
						 "nothing was written: try again."
					       : "The store is unavailable (%s); try again later.",
				  store_errmsg(api->store));
		store_unlock(api->store);
	}
	return status;
}

void api_handle(void *userdata, const struct http_request *req, struct http_response *resp)
{
	struct api *api = userdata;
	uint64_t start_us = time_mono_us();
	const char *host = http_request_header(req, "Host");
	_cleanup_free_ char *base = NULL;
	struct keystone_identity id;
	json_t *body = NULL;
	int status;

	if (web_handle(req, resp)) { /* the topology page: static, no auth */
		telemetry_request(api, req, resp->status, start_us, NULL);
		return;
	}

	if (api->cfg->public_url)
		base = xstrdup(api->cfg->public_url);
	else
		base = xasprintf("http://%s", host && *host ? host : "localhost");

	struct api_ctx ctx = {
		.store = api->store,
		.cfg = api->cfg,
		.base_url = base,
		.if_match = http_request_header(req, "If-Match"),
	};
	status = identify(api, &ctx, req, &id);
	if (status == 0)
		status = route_store(api, &ctx, req, resp, &body);
	if (resp->read) {
		telemetry_request(api, req, resp->status, start_us, ctx.project_id);
		return;
	}
	if (status < 0) {
		if (!ctx.err.status)
			api_fail(&ctx.err, 500, "InternalServerError", "Request failed.");
		render_error(resp, &ctx.err);
	} else {
		render(resp, status, body);
	}
	api_error_done(&ctx.err);
	telemetry_request(api, req, resp->status, start_us, ctx.project_id);
}
