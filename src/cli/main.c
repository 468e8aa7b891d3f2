/* lepton: the command-line client. Neutron-style verbs over a table of
 * resource families (create, list, show, update, delete, each with its
 * options), plus the verbs that are actions (router interfaces and gateways,
 * floating IP association, firewall policy rules, tags). Resources are named
 * by id or by a unique name. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include "base/uuid.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "cli/cli.h"

enum opt_kind {
	O_STR,	 /* --flag VALUE */
	O_INT,	 /* --flag N */
	O_BOOL,	 /* --flag true|false */
	O_TRUE,	 /* --flag: true */
	O_FALSE, /* --flag: false */
	O_NULL,	 /* --flag: null */
	O_EMPTY, /* --flag: [] */
	O_LIST,	 /* repeatable --flag VALUE: a list */
	O_KV,	 /* repeatable --flag k=v,k=v: a list of objects */
	O_REF,	 /* --flag NAME-OR-ID of ref */
	O_REFS,	 /* repeatable --flag NAME-OR-ID of ref: a list */
};

struct opt {
	const char *flag;
	const char *attr;
	enum opt_kind kind;
	const char *ref; /* collection path for O_REF(S) */
};

enum { V_CREATE = 1, V_LIST = 2, V_SHOW = 4, V_UPDATE = 8, V_DELETE = 16, V_ALL = 31 };

struct family {
	const char *name;     /* verb prefix */
	const char *singular; /* JSON key of one */
	const char *path;     /* collection path under /v2.0/ */
	const char *list_key; /* JSON key of the list */
	const char *columns;  /* default list columns */
	const char *pos[3];   /* create's positional arguments: "attr" or "attr@collection" */
	const char *extra;    /* JSON merged into create bodies */
	const struct opt *opts;
	unsigned verbs;
};

static const struct opt common_opts[] = {
	{"--name", "name", O_STR, NULL},
	{"--description", "description", O_STR, NULL},
	{"--tag", "tags", O_LIST, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt net_opts[] = {
	{"--shared", "shared", O_TRUE, NULL},
	{"--no-shared", "shared", O_FALSE, NULL},
	{"--external", "router:external", O_TRUE, NULL},
	{"--internal", "router:external", O_FALSE, NULL},
	{"--disable", "admin_state_up", O_FALSE, NULL},
	{"--enable", "admin_state_up", O_TRUE, NULL},
	{"--provider-network-type", "provider:network_type", O_STR, NULL},
	{"--provider-physical-network", "provider:physical_network", O_STR, NULL},
	{"--provider-segment", "provider:segmentation_id", O_INT, NULL},
	{"--port-security-enabled", "port_security_enabled", O_BOOL, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt subnet_opts[] = {
	{"--gateway", "gateway_ip", O_STR, NULL},
	{"--no-gateway", "gateway_ip", O_NULL, NULL},
	{"--allocation-pool", "allocation_pools", O_KV, NULL},
	{"--dns-nameserver", "dns_nameservers", O_LIST, NULL},
	{"--host-route", "host_routes", O_KV, NULL},
	{"--disable-dhcp", "enable_dhcp", O_FALSE, NULL},
	{"--enable-dhcp", "enable_dhcp", O_TRUE, NULL},
	{"--service-type", "service_types", O_LIST, NULL},
	{"--segment", "segment_id", O_REF, "segments"},
	{NULL, NULL, 0, NULL},
};

static const struct opt port_opts[] = {
	{"--fixed-ip", "fixed_ips", O_KV, NULL},
	{"--binding-host-id", "binding:host_id", O_STR, NULL},
	{"--no-security-groups", "security_groups", O_EMPTY, NULL},
	{"--security-group", "security_groups", O_REFS, "security-groups"},
	{"--mac-address", "mac_address", O_STR, NULL},
	{"--device-owner", "device_owner", O_STR, NULL},
	{"--device-id", "device_id", O_STR, NULL},
	{"--port-security-enabled", "port_security_enabled", O_BOOL, NULL},
	{"--allowed-address-pair", "allowed_address_pairs", O_KV, NULL},
	{"--no-allowed-address-pairs", "allowed_address_pairs", O_EMPTY, NULL},
	{"--disable", "admin_state_up", O_FALSE, NULL},
	{"--enable", "admin_state_up", O_TRUE, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt router_opts[] = {
	{"--distributed", "distributed", O_BOOL, NULL},
	{"--snat-mode", "snat_mode", O_STR, NULL},
	{"--route", "routes", O_KV, NULL},
	{"--no-routes", "routes", O_EMPTY, NULL},
	{"--disable", "admin_state_up", O_FALSE, NULL},
	{"--enable", "admin_state_up", O_TRUE, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt fip_opts[] = {
	{"--port-id", "port_id", O_REF, "ports"},
	{"--fixed-ip-address", "fixed_ip_address", O_STR, NULL},
	{"--floating-ip-address", "floating_ip_address", O_STR, NULL},
	{"--subnet", "subnet_id", O_REF, "subnets"},
	{NULL, NULL, 0, NULL},
};

static const struct opt sg_opts[] = {
	{"--stateful", "stateful", O_BOOL, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt rule_opts[] = {
	{"--direction", "direction", O_STR, NULL},
	{"--ethertype", "ethertype", O_STR, NULL},
	{"--protocol", "protocol", O_STR, NULL},
	{"--port-range-min", "port_range_min", O_INT, NULL},
	{"--port-range-max", "port_range_max", O_INT, NULL},
	{"--remote-ip-prefix", "remote_ip_prefix", O_STR, NULL},
	{"--remote-group-id", "remote_group_id", O_REF, "security-groups"},
	{NULL, NULL, 0, NULL},
};

static const struct opt segment_opts[] = {
	{"--network-type", "network_type", O_STR, NULL},
	{"--physical-network", "physical_network", O_STR, NULL},
	{"--segmentation-id", "segmentation_id", O_INT, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt agent_opts[] = {
	{"--admin-state-up", "admin_state_up", O_BOOL, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt fwr_opts[] = {
	{"--protocol", "protocol", O_STR, NULL},
	{"--ip-version", "ip_version", O_INT, NULL},
	{"--source-ip-address", "source_ip_address", O_STR, NULL},
	{"--destination-ip-address", "destination_ip_address", O_STR, NULL},
	{"--source-port", "source_port", O_STR, NULL},
	{"--destination-port", "destination_port", O_STR, NULL},
	{"--action", "action", O_STR, NULL},
	{"--enabled", "enabled", O_BOOL, NULL},
	{"--shared", "shared", O_TRUE, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt fwp_opts[] = {
	{"--firewall-rule", "firewall_rules", O_REFS, "fwaas/firewall_rules"},
	{"--audited", "audited", O_TRUE, NULL},
	{"--shared", "shared", O_TRUE, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct opt fwg_opts[] = {
	{"--ingress-firewall-policy", "ingress_firewall_policy_id", O_REF,
	 "fwaas/firewall_policies"},
	{"--egress-firewall-policy", "egress_firewall_policy_id", O_REF, "fwaas/firewall_policies"},
	{"--port", "ports", O_REFS, "ports"},
	{"--no-ports", "ports", O_EMPTY, NULL},
	{"--admin-state-up", "admin_state_up", O_BOOL, NULL},
	{"--shared", "shared", O_TRUE, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct family families[] = {
	{"net",
	 "network",
	 "networks",
	 "networks",
	 "id,name,subnets",
	 {"name"},
	 NULL,
	 net_opts,
	 V_ALL},
	{"subnet",
	 "subnet",
	 "subnets",
	 "subnets",
	 "id,name,network_id,cidr",
	 {"network_id@networks", "cidr"},
	 "{\"ip_version\": 4}",
	 subnet_opts,
	 V_ALL},
	{"port",
	 "port",
	 "ports",
	 "ports",
	 "id,name,mac_address,fixed_ips",
	 {"network_id@networks"},
	 NULL,
	 port_opts,
	 V_ALL},
	{"router",
	 "router",
	 "routers",
	 "routers",
	 "id,name,external_gateway_info",
	 {"name"},
	 NULL,
	 router_opts,
	 V_ALL},
	{"floatingip",
	 "floatingip",
	 "floatingips",
	 "floatingips",
	 "id,floating_ip_address,fixed_ip_address,port_id",
	 {"floating_network_id@networks"},
	 NULL,
	 fip_opts,
	 V_ALL},
	{"security-group",
	 "security_group",
	 "security-groups",
	 "security_groups",
	 "id,name,description",
	 {"name"},
	 NULL,
	 sg_opts,
	 V_ALL},
	{"security-group-rule",
	 "security_group_rule",
	 "security-group-rules",
	 "security_group_rules",
	 "id,security_group_id,direction,ethertype,protocol,port_range_min,port_range_max,"
	 "remote_ip_prefix,remote_group_id",
	 {"security_group_id@security-groups"},
	 NULL,
	 rule_opts,
	 V_CREATE | V_LIST | V_SHOW | V_DELETE},
	{"segment",
	 "segment",
	 "segments",
	 "segments",
	 "id,name,network_id,network_type,physical_network,segmentation_id",
	 {"network_id@networks"},
	 NULL,
	 segment_opts,
	 V_ALL},
	{"agent",
	 "agent",
	 "agents",
	 "agents",
	 "id,agent_type,host,alive,admin_state_up",
	 {NULL},
	 NULL,
	 agent_opts,
	 V_LIST | V_SHOW | V_UPDATE | V_DELETE},
	{"snat-block",
	 "snat_block",
	 "lepton/snat_blocks",
	 "snat_blocks",
	 "id,router_id,host,ip_address,port_min,port_max,status",
	 {NULL},
	 NULL,
	 NULL,
	 V_LIST | V_SHOW | V_DELETE},
	{"floatingip-pool",
	 "floatingip_pool",
	 "floatingip_pools",
	 "floatingip_pools",
	 "subnet_id,subnet_name,subnet_ip_cidr,network_id",
	 {NULL},
	 NULL,
	 NULL,
	 V_LIST},
	{"firewall-rule",
	 "firewall_rule",
	 "fwaas/firewall_rules",
	 "firewall_rules",
	 "id,name,protocol,source_ip_address,destination_ip_address,destination_port,action,"
	 "enabled",
	 {NULL},
	 NULL,
	 fwr_opts,
	 V_ALL},
	{"firewall-policy",
	 "firewall_policy",
	 "fwaas/firewall_policies",
	 "firewall_policies",
	 "id,name,firewall_rules",
	 {"name"},
	 NULL,
	 fwp_opts,
	 V_ALL},
	{"firewall-group",
	 "firewall_group",
	 "fwaas/firewall_groups",
	 "firewall_groups",
	 "id,name,ingress_firewall_policy_id,egress_firewall_policy_id,ports,status",
	 {"name"},
	 NULL,
	 fwg_opts,
	 V_ALL},
};

static struct cli cli;

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "lepton: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* The id of a resource named by id or unique name; NULL after an error. */
static char *resolve(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	char *q, *enc, *key;
	json_t *body = NULL, *list;
	long st;

	if (uuid_is_valid(name))
		return xstrdup(name);
	CURL *e = curl_easy_init();
	enc = curl_easy_escape(e, name, 0);
	q = xasprintf("/v2.0/%s?name=%s&fields=id", path, enc);
	curl_free(enc);
	curl_easy_cleanup(e);
	st = cli_http(&cli, "GET", q, NULL, &body);
	free(q);
	if (st != 200) {
		cli_print_error(st, body);
		json_decref(body);
		return NULL;
	}
	key = xstrdup(slash ? slash + 1 : path);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	list = json_object_get(body, key);
	free(key);
	if (json_array_size(list) != 1) {
		fprintf(stderr, "lepton: %s '%s' %s\n", path, name,
			json_array_size(list) ? "is ambiguous: several have that name"
					      : "not found");
		json_decref(body);
		return NULL;
	}
	char *id = xstrdup(json_string_value(json_object_get(json_array_get(list, 0), "id")));
	json_decref(body);
	return id;
}

static json_t *parse_kv(const char *s, const char *attr)
{
	json_t *o = json_object();
	char *copy = xstrdup(s);

	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (!eq) {
			json_decref(o);
			free(copy);
			return NULL;
		}
		*eq = '\0';
		/* Subnets in fixed IPs may be named. */
		if (streq(attr, "fixed_ips") && streq(t, "subnet_id")) {
			char *id = resolve("subnets", eq + 1);

			if (!id) {
				json_decref(o);
				free(copy);
				return NULL;
			}
			json_object_set_new(o, t, json_string(id));
			free(id);
		} else {
			json_object_set_new(o, t, json_string(eq + 1));
		}
	}
	free(copy);
	return o;
}

/* Applies "--flag value" options to body; returns the number of arguments
 * used (1 or 2), 0 when the flag is not an option here, -1 on error. */
static int apply_opt(const struct opt *opts, char **argv, int argc, int i, json_t *body)
{
	for (const struct opt *o = opts; o && o->flag; o++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		json_t *list;

		if (!streq(argv[i], o->flag))
			continue;
		switch (o->kind) {
		case O_TRUE:
			json_object_set_new(body, o->attr, json_true());
			return 1;
		case O_FALSE:
			json_object_set_new(body, o->attr, json_false());
			return 1;
		case O_NULL:
			json_object_set_new(body, o->attr, json_null());
			return 1;
		case O_EMPTY:
			json_object_set_new(body, o->attr, json_array());
			return 1;
		default:
			break;
		}
		if (!v) {
			fail("%s needs a value", o->flag);
			return -1;
		}
		list = json_object_get(body, o->attr);
		if ((o->kind == O_LIST || o->kind == O_KV || o->kind == O_REFS) && !list) {
			list = json_array();
			json_object_set_new(body, o->attr, list);
		}
		switch (o->kind) {
		case O_STR:
			json_object_set_new(body, o->attr, json_string(v));
			break;
		case O_INT: {
			char *end;
			long long n = strtoll(v, &end, 10);

			if (!*v || *end) {
				fail("%s takes a number", o->flag);
				return -1;
			}
			json_object_set_new(body, o->attr, json_integer(n));
			break;
		}
		case O_BOOL:
			if (strcasecmp(v, "true") && strcasecmp(v, "false")) {
				fail("%s takes true or false", o->flag);
				return -1;
			}
			json_object_set_new(body, o->attr, json_boolean(!strcasecmp(v, "true")));
			break;
		case O_LIST:
			json_array_append_new(list, json_string(v));
			break;
		case O_KV: {
			json_t *kv = parse_kv(v, o->attr);

			if (!kv) {
				fail("%s takes key=value[,key=value...]", o->flag);
				return -1;
			}
			json_array_append_new(list, kv);
			break;
		}
		case O_REF:
		case O_REFS: {
			char *id = resolve(o->ref, v);

			if (!id)
				return -1;
			if (o->kind == O_REF)
				json_object_set_new(body, o->attr, json_string(id));
			else
				json_array_append_new(list, json_string(id));
			free(id);
			break;
		}
		default:
			break;
		}
		return 2;
	}
	return 0;
}

static int show_answer(long st, json_t *body, const char *key)
{
	if (st / 100 != 2) {
		cli_print_error(st, body);
		json_decref(body);
		return 1;
	}
	if (key && json_object_get(body, key))
		cli_show(&cli, json_object_get(body, key));
	json_decref(body);
	return 0;
}

static int verb_create(const struct family *f, char **argv, int argc)
{
	json_t *body = f->extra ? json_loads(f->extra, 0, NULL) : json_object(), *ans = NULL;
	int npos = 0, r;
	long st;
	char *path;

	for (int i = 0; i < argc;) {
		if (startswith(argv[i], "--")) {
			r = apply_opt(common_opts, argv, argc, i, body);
			if (r == 0)
				r = apply_opt(f->opts, argv, argc, i, body);
			if (r == 0)
				r = -1, fail("unknown option %s", argv[i]);
			if (r < 0) {
				json_decref(body);
				return 2;
			}
			i += r;
			continue;
		}
		if (npos >= 3 || !f->pos[npos]) {
			json_decref(body);
			return fail("unexpected argument %s", argv[i]);
		}
		const char *spec = f->pos[npos++], *at = strchr(spec, '@');
		char *attr = at ? xstrndup(spec, (size_t) (at - spec)) : xstrdup(spec);

		if (at) {
			char *id = resolve(at + 1, argv[i]);

			if (!id) {
				free(attr);
				json_decref(body);
				return 1;
			}
			json_object_set_new(body, attr, json_string(id));
			free(id);
		} else {
			json_object_set_new(body, attr, json_string(argv[i]));
		}
		free(attr);
		i++;
	}
	for (int k = npos; k < 3 && f->pos[k]; k++) {
		/* A name is optional (--name works too); references are not. */
		if (strchr(f->pos[k], '@') || streq(f->pos[k], "cidr")) {
			json_decref(body);
			return fail("missing argument %s", f->pos[k]);
		}
	}
	json_t *wrapped = json_pack("{s:o}", f->singular, body);
	path = xasprintf("/v2.0/%s", f->path);
	st = cli_http(&cli, "POST", path, wrapped, &ans);
	free(path);
	json_decref(wrapped);
	return show_answer(st, ans, f->singular);
}

static int verb_list(const struct family *f, char **argv, int argc)
{
	json_t *ans = NULL;
	long st;
	char *path;

	/* Filters: --attr value. */
	struct strbuf_like {
		char buf[2048];
		size_t len;
	} q = {"", 0};
	for (int i = 0; i + 1 < argc; i += 2) {
		if (!startswith(argv[i], "--"))
			return fail("unexpected argument %s", argv[i]);
		CURL *e = curl_easy_init();
		char *v = curl_easy_escape(e, argv[i + 1], 0), *k = xstrdup(argv[i] + 2);

		for (char *p = k; *p; p++)
			if (*p == '-')
				*p = '_';
		q.len += (size_t) snprintf(q.buf + q.len, sizeof(q.buf) - q.len, "%c%s=%s",
					   q.len ? '&' : '?', k, v);
		free(k);
		curl_free(v);
		curl_easy_cleanup(e);
		if (q.len >= sizeof(q.buf))
			return fail("%s", "too many filters");
	}
	if (argc % 2)
		return fail("filter %s needs a value", argv[argc - 1]);
	path = xasprintf("/v2.0/%s%s", f->path, q.buf);
	st = cli_http(&cli, "GET", path, NULL, &ans);
	free(path);
	if (st != 200) {
		cli_print_error(st, ans);
		json_decref(ans);
		return 1;
	}
	cli_list(&cli, json_object_get(ans, f->list_key), f->columns);
	json_decref(ans);
	return 0;
}

/* floating IPs are named by id or address. */
static char *resolve_member(const struct family *f, const char *name)
{
	if (streq(f->name, "floatingip") && !uuid_is_valid(name)) {
		char *q = xasprintf("/v2.0/floatingips?floating_ip_address=%s", name);
		json_t *ans = NULL;
		long st = cli_http(&cli, "GET", q, NULL, &ans);
		json_t *list = json_object_get(ans, "floatingips");
		char *id = NULL;

		free(q);
		if (st == 200 && json_array_size(list) == 1)
			id = xstrdup(
				json_string_value(json_object_get(json_array_get(list, 0), "id")));
		else
			fprintf(stderr, "lepton: floating IP %s not found\n", name);
		json_decref(ans);
		return id;
	}
	return resolve(f->path, name);
}

static int verb_member(const struct family *f, const char *verb, char **argv, int argc)
{
	json_t *ans = NULL, *body = NULL;
	char *id, *path;
	long st;

	if (argc < 1)
		return fail("%s: which one?", verb);
	id = resolve_member(f, argv[0]);
	if (!id)
		return 1;
	path = xasprintf("/v2.0/%s/%s", f->path, id);
	free(id);
	if (streq(verb, "show")) {
		st = cli_http(&cli, "GET", path, NULL, &ans);
	} else if (streq(verb, "delete")) {
		st = cli_http(&cli, "DELETE", path, NULL, &ans);
		if (st == 204)
			printf("Deleted %s: %s\n", f->singular, argv[0]);
	} else {
		body = json_object();
		for (int i = 1; i < argc;) {
			int r = apply_opt(common_opts, argv, argc, i, body);

			if (r == 0)
				r = apply_opt(f->opts, argv, argc, i, body);
			if (r == 0)
				r = -1, fail("unknown option %s", argv[i]);
			if (r < 0) {
				json_decref(body);
				free(path);
				return 2;
			}
			i += r;
		}
		json_t *wrapped = json_pack("{s:o}", f->singular, body);
		st = cli_http(&cli, "PUT", path, wrapped, &ans);
		json_decref(wrapped);
	}
	free(path);
	return show_answer(st, ans, streq(verb, "delete") ? NULL : f->singular);
}

static const struct family *family_of(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		if (streq(families[i].name, name))
			return &families[i];
	return NULL;
}

/* PUT /v2.0/{path}/{id}[/action] with a body; shows the answer's key. */
static int put(const char *path, const char *id, const char *action, json_t *body, const char *key)
{
	json_t *ans = NULL;
	char *p = xasprintf("/v2.0/%s/%s%s%s", path, id, action ? "/" : "", action ? action : "");
	long st = cli_http(&cli, "PUT", p, body, &ans);

	free(p);
	json_decref(body);
	if (st / 100 != 2) {
		cli_print_error(st, ans);
		json_decref(ans);
		return 1;
	}
	if (key && json_object_get(ans, key))
		cli_show(&cli, json_object_get(ans, key));
	else if (!key && ans)
		cli_show(&cli, ans);
	json_decref(ans);
	return 0;
}

static int verb_special(const char *verb, char **argv, int argc)
{
	_cleanup_free_ char *a = NULL, *b = NULL;

	if (streq(verb, "router-interface-add") || streq(verb, "router-interface-delete")) {
		const char *target;
		bool is_port;

		if (argc != 2)
			return fail("%s ROUTER SUBNET (or port=PORT)", verb);
		is_port = startswith(argv[1], "port=");
		target = startswith(argv[1], "subnet=") ? argv[1] + 7
			 : is_port			? argv[1] + 5
							: argv[1];
		if (!(a = resolve("routers", argv[0])) ||
		    !(b = resolve(is_port ? "ports" : "subnets", target)))
			return 1;
		return put("routers", a,
			   streq(verb, "router-interface-add") ? "add_router_interface"
							       : "remove_router_interface",
			   json_pack("{s:s}", is_port ? "port_id" : "subnet_id", b), NULL);
	}
	if (streq(verb, "router-gateway-set")) {
		json_t *info;

		if (argc < 2)
			return fail("%s ROUTER EXTERNAL-NETWORK [--disable-snat]", verb);
		if (!(a = resolve("routers", argv[0])) || !(b = resolve("networks", argv[1])))
			return 1;
		info = json_pack("{s:s}", "network_id", b);
		for (int i = 2; i < argc; i++) {
			if (streq(argv[i], "--disable-snat"))
				json_object_set_new(info, "enable_snat", json_false());
			else if (streq(argv[i], "--enable-snat"))
				json_object_set_new(info, "enable_snat", json_true());
			else if (streq(argv[i], "--fixed-ip") && i + 1 < argc) {
				json_t *kv = parse_kv(argv[++i], "fixed_ips");

				if (!kv) {
					json_decref(info);
					return 2;
				}
				if (!json_object_get(info, "external_fixed_ips"))
					json_object_set_new(info, "external_fixed_ips",
							    json_array());
				json_array_append_new(json_object_get(info, "external_fixed_ips"),
						      kv);
			} else {
				json_decref(info);
				return fail("unknown option %s", argv[i]);
			}
		}
		return put("routers", a, NULL,
			   json_pack("{s:{s:o}}", "router", "external_gateway_info", info),
			   "router");
	}
	if (streq(verb, "router-gateway-clear")) {
		if (argc != 1)
			return fail("%s ROUTER", verb);
		if (!(a = resolve("routers", argv[0])))
			return 1;
		return put("routers", a, NULL,
			   json_pack("{s:{s:n}}", "router", "external_gateway_info"), "router");
	}
	if (streq(verb, "floatingip-associate")) {
		json_t *body;

		if (argc != 2 && !(argc == 4 && streq(argv[2], "--fixed-ip-address")))
			return fail("%s FLOATINGIP PORT [--fixed-ip-address IP]", verb);
		if (!(a = resolve_member(family_of("floatingip"), argv[0])) ||
		    !(b = resolve("ports", argv[1])))
			return 1;
		body = json_pack("{s:{s:s}}", "floatingip", "port_id", b);
		if (argc == 4)
			json_object_set_new(json_object_get(body, "floatingip"), "fixed_ip_address",
					    json_string(argv[3]));
		return put("floatingips", a, NULL, body, "floatingip");
	}
	if (streq(verb, "floatingip-disassociate")) {
		if (argc != 1)
			return fail("%s FLOATINGIP", verb);
		if (!(a = resolve_member(family_of("floatingip"), argv[0])))
			return 1;
		return put("floatingips", a, NULL, json_pack("{s:{s:n}}", "floatingip", "port_id"),
			   "floatingip");
	}
	if (streq(verb, "firewall-policy-insert-rule") ||
	    streq(verb, "firewall-policy-remove-rule")) {
		json_t *body;

		if (argc < 2)
			return fail("%s POLICY RULE [--insert-before R] [--insert-after R]", verb);
		if (!(a = resolve("fwaas/firewall_policies", argv[0])) ||
		    !(b = resolve("fwaas/firewall_rules", argv[1])))
			return 1;
		body = json_pack("{s:s}", "firewall_rule_id", b);
		for (int i = 2; i + 1 < argc; i += 2) {
			char *r = resolve("fwaas/firewall_rules", argv[i + 1]);

			if (!r) {
				json_decref(body);
				return 1;
			}
			json_object_set_new(body,
					    streq(argv[i], "--insert-before") ? "insert_before"
									      : "insert_after",
					    json_string(r));
			free(r);
		}
		return put("fwaas/firewall_policies", a,
			   streq(verb, "firewall-policy-insert-rule") ? "insert_rule"
								      : "remove_rule",
			   body, NULL);
	}
	if (streq(verb, "tag-add") || streq(verb, "tag-remove")) {
		const struct family *f;
		json_t *ans = NULL;
		char *p;
		long st;

		if (argc != 3 || !(f = family_of(argv[0])))
			return fail("%s RESOURCE-TYPE (net, subnet, port...) NAME-OR-ID TAG", verb);
		if (!(a = resolve(f->path, argv[1])))
			return 1;
		p = xasprintf("/v2.0/%s/%s/tags/%s", f->path, a, argv[2]);
		st = cli_http(&cli, streq(verb, "tag-add") ? "PUT" : "DELETE", p, NULL, &ans);
		free(p);
		if (st / 100 != 2) {
			cli_print_error(st, ans);
			json_decref(ans);
			return 1;
		}
		json_decref(ans);
		return 0;
	}
	if (streq(verb, "quota-show") || streq(verb, "quota-update") ||
	    streq(verb, "quota-delete")) {
		const char *project = cli.project;
		json_t *q = json_object(), *ans = NULL;
		char *p;
		long st;

		for (int i = 0; i + 1 < argc; i += 2) {
			if (streq(argv[i], "--project") || streq(argv[i], "--tenant-id"))
				project = argv[i + 1];
			else if (startswith(argv[i], "--"))
				json_object_set_new(q, argv[i] + 2,
						    json_integer(strtoll(argv[i + 1], NULL, 10)));
		}
		if (!project) {
			json_decref(q);
			return fail("%s", "which project? (--project)");
		}
		p = xasprintf("/v2.0/quotas/%s", project);
		if (streq(verb, "quota-show")) {
			st = cli_http(&cli, "GET", p, NULL, &ans);
			json_decref(q);
		} else if (streq(verb, "quota-delete")) {
			st = cli_http(&cli, "DELETE", p, NULL, &ans);
			json_decref(q);
		} else {
			json_t *body = json_pack("{s:o}", "quota", q);

			st = cli_http(&cli, "PUT", p, body, &ans);
			json_decref(body);
		}
		free(p);
		return show_answer(st, ans, "quota");
	}
	return -1;
}

static void usage(FILE *out)
{
	fputs("usage: lepton [--os-url URL] [--os-project-id P] [--os-roles R] [--os-token T]\n"
	      "              [-f table|json|value] [-c COLUMN]... VERB ARGS...\n"
	      "\n"
	      "URL: http://HOST:PORT or unix:/path (LEPTON_URL); project LEPTON_PROJECT_ID,\n"
	      "roles LEPTON_ROLES, token LEPTON_TOKEN.\n\nverbs:\n",
	      out);
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct family *f = &families[i];

		fprintf(out, "  %s-{%s%s%s%s%s}", f->name, f->verbs & V_CREATE ? "create," : "",
			f->verbs & V_LIST ? "list," : "", f->verbs & V_SHOW ? "show," : "",
			f->verbs & V_UPDATE ? "update," : "", f->verbs & V_DELETE ? "delete" : "");
		if (f->verbs & V_CREATE && f->pos[0]) {
			fputs("  create:", out);
			for (int k = 0; k < 3 && f->pos[k]; k++) {
				const char *at = strchr(f->pos[k], '@');

				fprintf(out, " %.*s",
					at ? (int) (at - f->pos[k]) : (int) strlen(f->pos[k]),
					f->pos[k]);
			}
		}
		fputc('\n', out);
		for (const struct opt *o = f->opts; o && o->flag; o++)
			fprintf(out, "      %s%s\n", o->flag,
				o->kind == O_TRUE || o->kind == O_FALSE || o->kind == O_NULL ||
						o->kind == O_EMPTY
					? ""
				: o->kind == O_KV ? " k=v[,k=v]"
						  : " VALUE");
	}
	fputs("  router-interface-add/-delete ROUTER SUBNET|port=PORT\n"
	      "  router-gateway-set ROUTER EXT-NET [--disable-snat] [--fixed-ip "
	      "subnet_id=S,ip_address=A]\n"
	      "  router-gateway-clear ROUTER\n"
	      "  floatingip-associate FLOATINGIP PORT [--fixed-ip-address IP]\n"
	      "  floatingip-disassociate FLOATINGIP\n"
	      "  firewall-policy-insert-rule POLICY RULE [--insert-before R|--insert-after R]\n"
	      "  firewall-policy-remove-rule POLICY RULE\n"
	      "  tag-add/tag-remove TYPE NAME-OR-ID TAG\n"
	      "  quota-show/quota-update/quota-delete [--project P] [--network N ...]\n"
	      "Lists take filters: --ATTRIBUTE VALUE.\n",
	      out);
}

int main(int argc, char **argv)
{
	char **rest = xcalloc((size_t) argc + 1, sizeof(*rest));
	int n = 0, r;

	cli.url = getenv("LEPTON_URL") ? getenv("LEPTON_URL") : "http://127.0.0.1:9696";
	cli.project = getenv("LEPTON_PROJECT_ID");
	cli.roles = getenv("LEPTON_ROLES");
	cli.token = getenv("LEPTON_TOKEN");
	cli.format = "table";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if ((streq(a, "--os-url") || streq(a, "--os-project-id") ||
		     streq(a, "--os-roles") || streq(a, "--os-token") || streq(a, "-f") ||
		     streq(a, "--format") || streq(a, "-c") || streq(a, "--column")) &&
		    !has) {
			free(rest);
			return fail("%s needs a value", a);
		}
		if (streq(a, "--os-url"))
			cli.url = argv[++i];
		else if (streq(a, "--os-project-id"))
			cli.project = argv[++i];
		else if (streq(a, "--os-roles"))
			cli.roles = argv[++i];
		else if (streq(a, "--os-token"))
			cli.token = argv[++i];
		else if (streq(a, "-f") || streq(a, "--format"))
			cli.format = argv[++i];
		else if ((streq(a, "-c") || streq(a, "--column")) && cli.n_columns < 64)
			cli.columns[cli.n_columns++] = argv[++i];
		else if (streq(a, "-h") || streq(a, "--help") || streq(a, "help")) {
			usage(stdout);
			free(rest);
			return 0;
		} else
			rest[n++] = argv[i];
	}
	if (!streq(cli.format, "table") && !streq(cli.format, "json") &&
	    !streq(cli.format, "value")) {
		free(rest);
		return fail("unknown format %s (table, json, value)", cli.format);
	}
	if (n == 0) {
		usage(stderr);
		free(rest);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = verb_special(rest[0], rest + 1, n - 1);
	if (r < 0) {
		const char *verb = rest[0], *dash = strrchr(verb, '-');
		char *fname = dash ? xstrndup(verb, (size_t) (dash - verb)) : NULL;
		const struct family *f = fname ? family_of(fname) : NULL;
		const char *action = dash ? dash + 1 : "";

		free(fname);
		if (!f) {
			r = fail("unknown verb %s (lepton --help)", verb);
		} else if (streq(action, "create") && (f->verbs & V_CREATE)) {
			r = verb_create(f, rest + 1, n - 1);
		} else if (streq(action, "list") && (f->verbs & V_LIST)) {
			r = verb_list(f, rest + 1, n - 1);
		} else if ((streq(action, "show") && (f->verbs & V_SHOW)) ||
			   (streq(action, "update") && (f->verbs & V_UPDATE)) ||
			   (streq(action, "delete") && (f->verbs & V_DELETE))) {
			r = verb_member(f, action, rest + 1, n - 1);
		} else {
			r = fail("unknown verb %s (lepton --help)", verb);
		}
	}
	curl_global_cleanup();
	free(rest);
	return r;
}
