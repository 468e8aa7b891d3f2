/* lepton-server configuration. */
#include "server/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "base/xalloc.h"

const char *const quota_names[QUOTA_MAX] = {
	"network",
	"subnet",
	"port",
	"router",
	"floatingip",
	"security_group",
	"security_group_rule",
	"rbac_policy",
};

static char *default_data_dir(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (state && *state)
		return xasprintf("%s/lepton", state);
	if (home && *home)
		return xasprintf("%s/.local/state/lepton", home);
	return xstrdup("/var/lib/lepton");
}

void config_defaults(struct server_config *cfg)
{
	*cfg = (struct server_config){
		.listen = xstrdup("127.0.0.1:9696"),
		.data_dir = default_data_dir(),
		.vni_min = 1000,
		.vni_max = 99999,
		.mac_base = {0xfa, 0x16, 0x3e},
		.global_mtu = 1500,
		.feed_retention = 100000,
		.max_body_size = 1024 * 1024,
		.watch_ping_secs = 10,
		.sync_full = false,
		.max_dns_nameservers = 5,
		.max_host_routes = 20,
		.max_address_pairs = 10,
		.api_workers = 16,
		.watch_max_streams = 10000,
		.api_max_connections = 1024,
		.watch_send_timeout = 60,
		.agent_down_time = 75,
		.quota_default = {100, 100, 500, 10, 50, 10, 100, 10},
		.router_distributed = true,
		.keystone_username = xstrdup("neutron"),
		.keystone_project_name = xstrdup("service"),
		.keystone_cache_secs = 300,
		.snat_block_size = 1024,
		.snat_block_grace = 120,
		.dns_domain = xstrdup("openstacklocal."),
		.request_log = true,
	};
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (strcmp(v, "true") == 0)
		*ret = true;
	else if (strcmp(v, "false") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = *v ? xstrdup(v) : NULL;
}

int config_set(struct server_config *c, const char *key, const char *v)
{
	uint64_t n, m;

	if (strcmp(key, "listen") == 0)
		set_str(&c->listen, v);
	else if (strcmp(key, "unix") == 0)
		set_str(&c->unix_path, v);
	else if (strcmp(key, "data_dir") == 0)
		set_str(&c->data_dir, v);
	else if (strcmp(key, "store") == 0) {
		if (*v && strncmp(v, "etcd://", 7) != 0 && strcmp(v, "sqlite") != 0)
			return -EINVAL;
		set_str(&c->store, strcmp(v, "sqlite") == 0 ? "" : v);
	} else if (strcmp(key, "public_url") == 0)
		set_str(&c->public_url, v);
	else if (strcmp(key, "dns_domain") == 0)
		set_str(&c->dns_domain, v);
	else if (strncmp(key, "quota_", 6) == 0) {
		for (int i = 0; i < QUOTA_MAX; i++) {
			if (strcmp(key + 6, quota_names[i]) == 0) {
				if (strcmp(v, "-1") == 0)
					c->quota_default[i] = -1;
				else if (parse_u64(v, 0, INT32_MAX, &n) == 0)
					c->quota_default[i] = (int64_t) n;
				else
					return -EINVAL;
				return 0;
			}
		}
		return -EINVAL;
	} else if (strcmp(key, "router_distributed") == 0) {
		return parse_bool(v, &c->router_distributed);
	} else if (strcmp(key, "agent_token") == 0)
		set_str(&c->agent_token, v);
	else if (strcmp(key, "auth_strategy") == 0) {
		if (strcmp(v, "keystone") == 0)
			c->auth_keystone = true;
		else if (strcmp(v, "noauth") == 0)
			c->auth_keystone = false;
		else
			return -EINVAL;
	} else if (strcmp(key, "noauth_default_project") == 0) {
		if (strlen(v) > 255)
			return -EINVAL;
		set_str(&c->noauth_default_project, v);
	} else if (strcmp(key, "keystone_url") == 0)
		set_str(&c->keystone_url, v);
	else if (strcmp(key, "keystone_username") == 0)
		set_str(&c->keystone_username, v);
	else if (strcmp(key, "keystone_password") == 0)
		set_str(&c->keystone_password, v);
	else if (strcmp(key, "keystone_project_name") == 0)
		set_str(&c->keystone_project_name, v);
	else if (strcmp(key, "keystone_cache_secs") == 0) {
		if (parse_u64(v, 0, 86400, &n) < 0)
			return -EINVAL;
		c->keystone_cache_secs = (unsigned) n;
	} else if (strcmp(key, "agent_down_time") == 0) {
		if (parse_u64(v, 1, 86400, &n) < 0)
			return -EINVAL;
		c->agent_down_time = (unsigned) n;
	} else if (strcmp(key, "snat_block_size") == 0) {
		/* Blocks cut the ports 1024..65535 (64512 of them) evenly. */
		if (parse_u64(v, 1, 64512, &n) < 0 || 64512 % n)
			return -EINVAL;
		c->snat_block_size = (unsigned) n;
	} else if (strcmp(key, "snat_block_grace") == 0) {
		if (parse_u64(v, 1, 86400, &n) < 0)
			return -EINVAL;
		c->snat_block_grace = (unsigned) n;
	} else if (strcmp(key, "vni_ranges") == 0) {
		/* "MIN:MAX" (one range) */
		char buf[64];
		char *colon;

		if (strlen(v) >= sizeof(buf))
			return -EINVAL;
		strcpy(buf, v);
		colon = strchr(buf, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		if (parse_u64(buf, 1, 16777215, &n) < 0 ||
		    parse_u64(colon + 1, 1, 16777215, &m) < 0 || n > m)
			return -EINVAL;
		c->vni_min = (uint32_t) n;
		c->vni_max = (uint32_t) m;
	} else if (strcmp(key, "base_mac") == 0) {
		unsigned a, b, d;
		char tail[8];

		/* "fa:16:3e" or "fa:16:3e:00:00:00" (the last three octets are ignored). */
		if (sscanf(v, "%2x:%2x:%2x%7s", &a, &b, &d, tail) < 3)
			return -EINVAL;
		if (a & 1)
			return -EINVAL; /* must be unicast */
		c->mac_base[0] = (uint8_t) a;
		c->mac_base[1] = (uint8_t) b;
		c->mac_base[2] = (uint8_t) d;
	} else if (strcmp(key, "global_physnet_mtu") == 0) {
		if (parse_u64(v, 576, 65535, &n) < 0)
			return -EINVAL;
		c->global_mtu = (uint32_t) n;
	} else if (strcmp(key, "feed_retention") == 0) {
		if (parse_u64(v, 1, INT64_MAX, &n) < 0)
			return -EINVAL;
		c->feed_retention = (int64_t) n;
	} else if (strcmp(key, "max_body_size") == 0) {
		if (parse_u64(v, 1024, 1ull << 30, &n) < 0)
			return -EINVAL;
		c->max_body_size = n;
	} else if (strcmp(key, "watch_ping_interval") == 0) {
		if (parse_u64(v, 1, 3600, &n) < 0)
			return -EINVAL;
		c->watch_ping_secs = (unsigned) n;
	} else if (strcmp(key, "watch_send_timeout") == 0) {
		if (parse_u64(v, 1, 3600, &n) < 0)
			return -EINVAL;
		c->watch_send_timeout = (unsigned) n;
	} else if (strcmp(key, "watch_max_streams") == 0) {
		if (parse_u64(v, 1, 1000000, &n) < 0)
			return -EINVAL;
		c->watch_max_streams = (unsigned) n;
	} else if (strcmp(key, "api_max_connections") == 0) {
		if (parse_u64(v, 16, 1000000, &n) < 0)
			return -EINVAL;
		c->api_max_connections = (unsigned) n;
	} else if (strcmp(key, "api_workers") == 0) {
		if (parse_u64(v, 1, 1024, &n) < 0)
			return -EINVAL;
		c->api_workers = (unsigned) n;
	} else if (strcmp(key, "sync") == 0) {
		if (strcmp(v, "full") == 0)
			c->sync_full = true;
		else if (strcmp(v, "normal") == 0)
			c->sync_full = false;
		else
			return -EINVAL;
	} else if (strcmp(key, "max_dns_nameservers") == 0) {
		if (parse_u64(v, 0, 100, &n) < 0)
			return -EINVAL;
		c->max_dns_nameservers = (unsigned) n;
	} else if (strcmp(key, "max_host_routes") == 0) {
		if (parse_u64(v, 0, 1000, &n) < 0)
			return -EINVAL;
		c->max_host_routes = (unsigned) n;
	} else if (strcmp(key, "max_allowed_address_pair") == 0) {
		if (parse_u64(v, 0, 1000, &n) < 0)
			return -EINVAL;
		c->max_address_pairs = (unsigned) n;
	} else if (strcmp(key, "metrics_listen") == 0) {
		if (*v && (!strchr(v, ':') || strlen(v) > 255))
			return -EINVAL;
		set_str(&c->metrics_listen, v);
	} else if (strcmp(key, "request_log") == 0) {
		return parse_bool(v, &c->request_log);
	} else
		return -EINVAL;
	return 0;
}

int config_load(struct server_config *cfg, const char *path, unsigned *ret_line)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned n = 0;
	int r = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *s = strstrip(line), *eq;

		n++;
		if (*s == '#' || *s == '\0' || *s == '[')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		r = config_set(cfg, strstrip(s), strstrip(eq + 1));
		if (r < 0)
			break;
	}
	fclose(f);
	if (r < 0 && ret_line)
		*ret_line = n;
	return r;
}

void config_done(struct server_config *cfg)
{
	free(cfg->listen);
	free(cfg->unix_path);
	free(cfg->data_dir);
	free(cfg->store);
	free(cfg->public_url);
	free(cfg->dns_domain);
	free(cfg->agent_token);
	free(cfg->noauth_default_project);
	free(cfg->keystone_url);
	free(cfg->keystone_username);
	free(cfg->keystone_password);
	free(cfg->keystone_project_name);
	free(cfg->metrics_listen);
}
