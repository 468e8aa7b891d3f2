/* The model as the agent sees it: typed documents of every resource the
 * agent uses, parsed and validated once when a feed line brings them, kept
 * in feed order per type, found by id, with indexes (ports by network, host
 * and device; Floating IPs by router; security group members; agents by
 * host) rebuilt lazily after changes.
 *
 * Validation happens here, once: an id (which reaches kernel object names
 * and nftables identifiers) must be 1..36 of [A-Za-z0-9._-], else the
 * document is refused; a field that does not parse (a MAC, an address, a
 * CIDR, a protocol, a port range) is marked invalid or left out, so that no
 * model string ever reaches a kernel name or an nftables script unchecked.
 * Documents whose fields make no sense are kept (the desired state skips
 * what it cannot use), as the server is the one that refuses bad input. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/hmap.h"
#include "base/ip4.h"
#include "base/ipaddr.h"

#define M_ID   37 /* 36 characters (a UUID) and NUL */
#define M_HOST 64
#define M_NAME 64

enum m_type {
	M_NETWORK,
	M_SUBNET,
	M_PORT,
	M_ROUTER,
	M_FLOATINGIP,
	M_SECURITY_GROUP,
	M_AGENT,
	M_FIREWALL_GROUP,
	M_FIREWALL_POLICY,
	M_FIREWALL_RULE,
	M_SNAT_BLOCK,
	M_ADDRESS_GROUP,
	M_NTYPES
};

/* The head of every document. */
struct m_obj {
	struct m_obj *prev, *next;
	enum m_type type;
	uint64_t gen; /* the model's generation when it was put: unique per version */
	char id[M_ID];
};

struct m_vec {
	void **v;
	size_t len, cap;
};

enum m_net_type { M_NET_OTHER, M_NET_VXLAN, M_NET_VLAN, M_NET_FLAT };

struct m_network {
	struct m_obj o;
	enum m_net_type type;
	char physnet[M_NAME]; /* provider:physical_network, [A-Za-z0-9._-] or "" */
	uint32_t segmentation_id;
	uint32_t mtu;
	bool central_dhcp;   /* lepton:dhcp centralized */
	char dns_domain[64]; /* dns_domain without its final dot, [A-Za-z0-9.-] or "" */
};

struct m_route {
	struct ip4_cidr dst; /* network address (host bits cleared) */
	uint32_t nexthop;
};

/* ipv6_ra_mode and ipv6_address_mode (null: M_V6_NONE). */
enum m_v6_mode { M_V6_NONE, M_V6_SLAAC, M_V6_STATEFUL, M_V6_STATELESS };

struct m_subnet {
	struct m_obj o;
	char network_id[M_ID];
	bool is_v4;	      /* the CIDR parsed as IPv4 */
	struct ip4_cidr cidr; /* as written */
	uint32_t gateway;     /* 0: none */
	bool enable_dhcp;
	uint32_t dns[8];
	size_t n_dns;
	struct m_route *host_routes;
	size_t n_host_routes;
	/* IPv6 (when !is_v4 and the CIDR parsed as IPv6): addresses in
	 * network byte order. */
	bool is_v6;
	uint8_t cidr6[16]; /* network address (host bits cleared) */
	uint8_t len6;
	bool has_gateway6;
	uint8_t gateway6[16];
	enum m_v6_mode ra_mode, address_mode; /* ipv6_ra_mode, ipv6_address_mode */
	uint8_t dns6[4][16];
	size_t n_dns6;
};

struct m_fixed_ip {
	char subnet_id[M_ID];
	bool is_v4;
	uint32_t ip;	 /* when is_v4 */
	uint8_t ip6[16]; /* otherwise: an IPv6 address, network byte order */
};

struct m_pair {
	struct ip4_cidr cidr; /* network address */
	uint8_t mac[6];
	bool has_mac;
};

/* An IPv6 allowed address pair: a prefix (host bits cleared; 128: one
 * address). */
struct m_pair6 {
	uint8_t ip6[16];
	uint8_t len;
	uint8_t mac[6];
	bool has_mac;
};

enum m_owner {
	M_OWNER_VM,	   /* not network:* (a hypervisor plugs it) */
	M_OWNER_ROUTER_IF, /* network:router_interface[_distributed] */
	M_OWNER_ROUTER_GW, /* network:router_gateway */
	M_OWNER_CSNAT,	   /* network:router_centralized_snat */
	M_OWNER_NETWORK	   /* any other network:* (dhcp, floatingip, ...) */
};

/* An extra DHCP option as the API holds it (the DHCP responder encodes
 * it, dhcp/extra.h). */
struct m_dhcp_opt {
	char name[65];
	char value[256];
};

struct m_port {
	struct m_obj o;
	char network_id[M_ID];
	char device_id[M_ID]; /* "" unless a valid id */
	char host[M_HOST];    /* binding:host_id */
	enum m_owner owner;
	uint8_t mac[6];
	bool has_mac;
	bool admin_up;
	bool port_security;
	char status[16];
	struct m_fixed_ip *ips;
	size_t n_ips;
	char (*sgs)[M_ID]; /* security groups, repeats removed */
	size_t n_sgs;
	struct m_pair *pairs; /* allowed address pairs (IPv4) */
	size_t n_pairs;
	struct m_pair6 *pairs6; /* allowed address pairs (IPv6) */
	size_t n_pairs6;
	char dns_name[64];	      /* dns_name's first label, [A-Za-z0-9-] or "" */
	struct m_dhcp_opt *dhcp_opts; /* extra_dhcp_opts of ip_version 4 */
	size_t n_dhcp_opts;
};

enum m_snat_mode { M_SNAT_OTHER, M_SNAT_CENTRALIZED, M_SNAT_DISTRIBUTED };

/* The node answering for one of a router's gateway addresses (one owner per
 * segment: seed case 2). */
struct m_snat_owner {
	uint32_t ip;
	char host[M_HOST];
};

struct m_router {
	struct m_obj o;
	bool admin_up;
	bool distributed;
	char l3_host[M_HOST];
	enum m_snat_mode snat_mode;
	bool enable_snat;	 /* external_gateway_info.enable_snat, true unless false */
	char snat_owner[M_HOST]; /* lepton:snat_owner: the node answering for the gateway */
	struct m_route *routes;
	size_t n_routes;
	struct m_snat_owner *owners; /* lepton:snat_owners: one per address */
	size_t n_owners;
};

struct m_floatingip {
	struct m_obj o;
	char router_id[M_ID];
	char port_id[M_ID];
	uint32_t floating_ip;
	uint32_t fixed_ip;
	bool is_associated; /* a router, a port and both addresses */
};

/* A port block of a router's gateway address for one node (distributed
 * SNAT): the TCP and UDP ports and ICMP echo identifiers port_min..port_max
 * of ip. Usable only when every field is valid: a router id, a host, an
 * IPv4 address, 1024 <= port_min <= port_max <= 65535, status ACTIVE or
 * GRACE. */
struct m_snat_block {
	struct m_obj o;
	char router_id[M_ID];
	char host[M_HOST];
	uint32_t ip;
	uint16_t port_min, port_max;
	/* ACTIVE: the host SNATs with it. GRACE: the server took the host for
	 * gone (no heartbeat for agent_down_time) or the router left it; the
	 * owner still forwards to it, and a host that is there after all (an
	 * agent restarted more slowly than agent_down_time) keeps using it:
	 * nobody else gets it before it expires, and the next heartbeat makes
	 * it ACTIVE again. */
	bool is_active;
	bool usable;
};

struct m_sg_rule {
	bool ingress;
	bool ipv6;
	char proto[16];		/* "" any, a known name, or a number 0..255 */
	int pmin, pmax;		/* -1 none */
	char remote_prefix[64]; /* a validated CIDR, or "" */
	char remote_group[M_ID];
	char remote_address_group[M_ID];
};

/* An address group: its IPv4 prefixes (network addresses, host bits
 * cleared), none inside another one (an nftables interval set refuses
 * overlapping elements). IPv6 prefixes are left out: the data plane is
 * IPv4. */
/* An IPv6 prefix (host bits cleared). */
struct m_cidr6 {
	uint8_t ip6[16];
	uint8_t len;
};

struct m_address_group {
	struct m_obj o;
	struct ip4_cidr *prefixes;
	size_t n_prefixes;
	struct m_cidr6 *prefixes6; /* IPv6 ones, as given (they may nest) */
	size_t n_prefixes6;
};

struct m_security_group {
	struct m_obj o;
	struct m_sg_rule *rules;
	size_t n_rules;
};

struct m_agent {
	struct m_obj o;
	char host[M_HOST];
	bool network_mode;  /* configurations.mode == network */
	uint32_t tunnel_ip; /* 0: none */
};

struct m_firewall_group {
	struct m_obj o;
	bool admin_up;
	char ingress_policy[M_ID];
	char egress_policy[M_ID];
	char (*ports)[M_ID];
	size_t n_ports;
};

struct m_firewall_policy {
	struct m_obj o;
	char (*rules)[M_ID];
	size_t n_rules;
};

enum m_fw_proto { M_FW_ANY, M_FW_ICMP, M_FW_TCP, M_FW_UDP };
enum m_fw_action { M_FW_DENY, M_FW_ALLOW, M_FW_REJECT };

struct m_firewall_rule {
	struct m_obj o;
	bool usable; /* enabled and every field understood */
	bool v6;     /* ip_version 6: applies to IPv6 traffic only (else IPv4 only) */
	enum m_fw_proto proto;
	enum m_fw_action action;
	char src[IPNET_STRLEN], dst[IPNET_STRLEN]; /* canonical, of the rule's family, or "" */
	char sport[24], dport[24];		   /* "N" or "N-M", or "" */
};

struct m_list {
	struct m_obj *head, *tail;
	size_t len;
	struct hmap by_id;
};

struct m_index {
	struct hmap ports_by_network; /* -> struct m_vec of m_port */
	struct hmap ports_by_host;
	struct hmap ports_by_device;
	struct hmap fips_by_router;
	struct hmap blocks_by_router; /* usable SNAT blocks */
	struct hmap sg_members;	      /* security group id -> ports */
	struct hmap agents_by_host;
	struct m_vec network_agents; /* agents in network mode */
};

/* What a computation read from the model (see model_track): each lookup
 * with the stamp of what it found, so that the computation can be known
 * to give the same result again without running it. */
enum m_dep_kind {
	M_DEP_DOC,	    /* model_get(type, key): the document's gen, 0 if none */
	M_DEP_TYPE,	    /* every document of a type (MODEL_FOREACH) */
	M_DEP_PORTS_ON_NET, /* index lookups: the gens of the documents found */
	M_DEP_PORTS_ON_HOST,
	M_DEP_PORTS_OF_DEV,
	M_DEP_FIPS_OF_ROUTER,
	M_DEP_BLOCKS_OF_ROUTER,
	M_DEP_SG_MEMBERS,
	M_DEP_NETWORK_AGENTS,
	M_DEP_AGENT_ON
};

struct m_dep {
	uint8_t kind; /* enum m_dep_kind */
	uint8_t type; /* enum m_type, for M_DEP_DOC and M_DEP_TYPE */
	char key[M_HOST];
	uint64_t stamp;
};

struct m_deps {
	uint64_t serial; /* of the model read */
	struct m_dep *v;
	size_t n, cap;
};

struct model {
	struct m_list t[M_NTYPES];
	struct m_deps *track;	    /* when set, every lookup is recorded there */
	uint64_t serial;	    /* distinct for every model made in the process */
	uint64_t generation;	    /* bumped by every change */
	uint64_t changed[M_NTYPES]; /* the generation of each type's last change */
	uint64_t indexed;	    /* the generation the index was built for */
	struct m_index idx;
};

void model_init(struct model *m);
/* A stamp of the documents of the given types (a mask of 1 << M_x): it
 * changes whenever one of them changes, or the model is another one. */
uint64_t model_stamp(const struct model *m, unsigned types);
void model_done(struct model *m);

/* The type of a feed type name ("port", ...); -ENOENT for types the agent
 * does not use. */
int model_type(const char *name);
/* Parses doc as a document of type with that id and puts it in place of
 * the previous one (keeping its position). Returns 0, -ENOENT for a type
 * the agent does not use (nothing stored), -EINVAL for an id that is not
 * valid or a doc that is not an object (nothing changed). */
int model_put(struct model *m, const char *type, const char *id, json_t *doc);
/* Returns 1 when a document was removed, 0 if there was none. */
int model_del(struct model *m, const char *type, const char *id);
size_t model_count(const struct model *m);

/* Whether s is usable as an id. */
bool model_valid_id(const char *s);

const void *model_get(const struct model *m, enum m_type type, const char *id);
#define model_network(m, id) ((const struct m_network *) model_get(m, M_NETWORK, id))
#define model_subnet(m, id)  ((const struct m_subnet *) model_get(m, M_SUBNET, id))
#define model_port(m, id)    ((const struct m_port *) model_get(m, M_PORT, id))
#define model_router(m, id)  ((const struct m_router *) model_get(m, M_ROUTER, id))
#define model_firewall_policy(m, id)                                                               \
	((const struct m_firewall_policy *) model_get(m, M_FIREWALL_POLICY, id))
#define model_firewall_rule(m, id)                                                                 \
	((const struct m_firewall_rule *) model_get(m, M_FIREWALL_RULE, id))

/* Documents of a type in feed order:
 *   MODEL_FOREACH(m, M_PORT, const struct m_port, p) { ... } */
#define MODEL_FOREACH(m, type, T, var)                                                             \
	for (T *var = (T *) (void *) (m)->t[(type)].head; var;                                     \
	     var = (T *) (void *) ((const struct m_obj *) var)->next)

/* Index lookups (the index is brought up to date first): never NULL. */
const struct m_vec *model_ports_on_network(struct model *m, const char *network_id);
const struct m_vec *model_ports_on_host(struct model *m, const char *host);
const struct m_vec *model_ports_of_device(struct model *m, const char *device_id);
const struct m_vec *model_fips_of_router(struct model *m, const char *router_id);
/* Usable SNAT blocks of a router, in feed order. */
const struct m_vec *model_snat_blocks_of_router(struct model *m, const char *router_id);
/* The node that owns one of the router's gateway addresses (distributed
 * SNAT): its entry in lepton:snat_owners; without that map (a server that
 * names one owner), lepton:snat_owner; "" for none. */
const char *model_snat_owner(const struct m_router *r, uint32_t ip);
const struct m_vec *model_sg_members(struct model *m, const char *sg_id);
const struct m_vec *model_network_agents(struct model *m);
/* The agent of a host, or NULL. */
const struct m_agent *model_agent_on(struct model *m, const char *host);

/* Dependency tracking: between model_track(m, d) and model_track(m, NULL)
 * every lookup (model_get, the index lookups, model_track_type for a walk
 * over a type) is appended to *d. model_deps_valid() tells whether every
 * lookup of *d would find the same now: a pure computation that read the
 * model only through them gives the same result. Cost: one lookup per
 * entry, no allocation. */
void model_track(struct model *m, struct m_deps *d);
void model_track_type(const struct model *m, enum m_type type);
bool model_deps_valid(struct model *m, const struct m_deps *d);
void model_deps_done(struct m_deps *d);

/* "aa:bb:cc:dd:ee:ff" -> bytes; -EINVAL if malformed. */
int model_parse_mac(const char *s, uint8_t mac[static 6]);
