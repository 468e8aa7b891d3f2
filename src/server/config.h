/* lepton-server configuration: defaults, the command line and a key = value
 * config file (lines "key = value", '#' comments, one setting per line). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The resources quotas apply to, in Neutron's names. */
enum quota_resource {
	QUOTA_NETWORK,
	QUOTA_SUBNET,
	QUOTA_PORT,
	QUOTA_ROUTER,
	QUOTA_FLOATINGIP,
	QUOTA_SECURITY_GROUP,
	QUOTA_SECURITY_GROUP_RULE,
	QUOTA_RBAC_POLICY,
	QUOTA_MAX,
};
extern const char *const quota_names[QUOTA_MAX];

struct server_config {
	char *listen;	 /* "127.0.0.1:9696" */
	char *unix_path; /* NULL: no UNIX socket */
	char *data_dir;
	char *store;	  /* "etcd://HOST:PORT[,...][/PREFIX]"; NULL: SQLite in data_dir */
	char *public_url; /* base for pagination links; NULL: from Host */
	char *dns_domain; /* ports' FQDNs in dns_assignment ("openstacklocal.") */
	uint32_t vni_min, vni_max;
	uint8_t mac_base[3];	  /* first three octets of generated MACs */
	uint32_t global_mtu;	  /* physical MTU; VXLAN networks get 50 less */
	int64_t feed_retention;	  /* changes kept for watchers */
	uint64_t max_body_size;	  /* bytes */
	unsigned watch_ping_secs; /* idle ping interval on watch streams */
	bool sync_full;		  /* fsync each commit (power-loss safe) */
	unsigned max_dns_nameservers, max_host_routes, max_address_pairs;
	/* Connections: threads running API requests; open watch streams at
	 * most; connections per listener beyond the streams (the API's); seconds
	 * a stream's client may take none of its waiting lines before it is
	 * cut. */
	unsigned api_workers;
	unsigned watch_max_streams;
	unsigned api_max_connections;
	unsigned watch_send_timeout;
	int64_t quota_default[QUOTA_MAX]; /* -1: unlimited */
	bool router_distributed;	  /* default of routers' `distributed` */
	char *agent_token;		  /* the agents' credential (X-Auth-Token); NULL: none */
	unsigned agent_down_time;	  /* seconds without heartbeat before an agent is dead */
	/* auth_strategy: noauth (X-Project-Id, X-Roles) or keystone (X-Auth-Token
	 * validated against keystone_url with the service user's credentials). */
	bool auth_keystone;
	char *noauth_default_project; /* noauth without X-Project-Id: admin here; NULL: 401 */
	char *keystone_url, *keystone_username, *keystone_password, *keystone_project_name;
	unsigned keystone_cache_secs; /* how long a validated token is trusted */
	/* Distributed SNAT: ports per block (divides 1024..65535 evenly), and
	 * how long a block outlives its node's need for it. */
	unsigned snat_block_size, snat_block_grace;
	/* Operations: where GET /metrics answers without auth (NULL: nowhere),
	 * and whether each request is logged (one key=value line). */
	char *metrics_listen;
	bool request_log;
};

void config_defaults(struct server_config *cfg);
/* Applies one "key", "value" setting; -EINVAL for an unknown key or bad value. */
int config_set(struct server_config *cfg, const char *key, const char *value);
/* Reads a config file; on error ret_line tells the offending line. */
int config_load(struct server_config *cfg, const char *path, unsigned *ret_line);
void config_done(struct server_config *cfg);
