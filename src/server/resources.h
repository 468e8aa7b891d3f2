/* The resource definitions the API serves, and cross-resource helpers. */
#pragma once

#include "server/resource.h"

extern const struct resource_def network_def;
extern const struct resource_def subnet_def;
extern const struct resource_def subnetpool_def;
extern const struct resource_def port_def;
extern const struct resource_def segment_def;
extern const struct resource_def router_def;
extern const struct resource_def floatingip_def;
extern const struct resource_def floatingip_pool_def;
extern const struct resource_def network_ip_availability_def;
extern const struct resource_def agent_def;
extern const struct resource_def security_group_def;
extern const struct resource_def security_group_rule_def;
extern const struct resource_def firewall_rule_def;
extern const struct resource_def firewall_policy_def;
extern const struct resource_def firewall_group_def;
extern const struct resource_def rbac_policy_def;
extern const struct resource_def address_scope_def;
extern const struct resource_def address_group_def;
extern const struct resource_def service_provider_def;
extern const struct resource_def flavor_def;
extern const struct resource_def service_profile_def;
extern const struct resource_def network_segment_range_def;
extern const struct resource_def availability_zone_def;

/* Every resource the API serves, NULL-terminated. */
extern const struct resource_def *const all_resources[];

/* prefix: NULL or "fwaas". */
const struct resource_def *resource_by_collection(const char *prefix, const char *collection);

/* Network helpers used by subnets and ports. */
bool network_is_shared_or_external(json_t *net);
/* Adds or removes a subnet id in the network's "subnets" list and saves it. */
int network_link_subnet(struct api_ctx *ctx, const char *network_id, const char *subnet_id,
			bool add);

/* Subnet pools: gives a subnet with a subnetpool_id its cidr (the one it
 * asks for, checked, or the first free block of its prefixlen or the pool's
 * default), within the pool's bounds and quota; drops "prefixlen". */
int subnetpool_allocate(struct api_ctx *ctx, json_t *subnet);
/* default-subnetpools: a subnet with use_default_subnetpool gets the
 * default pool of its IP version (400 when there is none); drops the key. */
int subnetpool_use_default(struct api_ctx *ctx, json_t *subnet);

/* Segments: checks a segment document's type, physical network and id and
 * allocates the id; releases it. */
int segment_allocate(struct api_ctx *ctx, json_t *seg, const char *project_id);
/* Network segment ranges (segrange.c): the first free VNI for a network of
 * the project (its ranges, the shared ones, then vni_range), or -ENOSPC. */
int segment_ranges_allocate(struct api_ctx *ctx, const char *project_id, int64_t *ret);
int segment_release(struct api_ctx *ctx, json_t *seg);
/* The network's segments, primary first (new reference). */
json_t *segments_of_network(struct api_ctx *ctx, const char *network_id);

/* Deletes the floating IPs from an external network that is being deleted;
 * 409 NetworkInUse if one is associated. */
int floatingips_network_deleted(struct api_ctx *ctx, const char *network_id);
/* Floating IPs: disassociates those on a port being deleted. */
int floatingip_port_deleted(struct api_ctx *ctx, const char *port_id);
/* Floating IPs associated through the router (new reference). */
json_t *floatingips_of_router(struct api_ctx *ctx, const char *router_id);
/* Ports whose device_id is the router and that are its interfaces. */
json_t *router_interface_ports(struct api_ctx *ctx, const char *router_id);

/* Whether s is a host or interface name: 1 to max of [A-Za-z0-9._-]. */
bool agent_name_valid(const char *s, size_t max);
/* Whether the agent on host heartbeats; the live network-mode hosts. */
bool agent_alive(struct api_ctx *ctx, const char *host);
json_t *agents_network_hosts(struct api_ctx *ctx);
/* Routers not yet on a network node get one (after a network agent came). */
int routers_schedule_pending(struct api_ctx *ctx);
/* The agent-facing API: /v2.0/lepton/{parts...}. */
int agent_api(struct api_ctx *ctx, const char *method, char **parts, size_t n, json_t *body,
	      json_t **ret_body);

/* Security groups: the project's default group, made on first use (inside a
 * transaction); *ret_id (may be NULL) gets its id. */
int secgroup_ensure_default(struct api_ctx *ctx, const char *project_id, char **ret_id);

/* Ports of a device (router, floating IP) whose owner starts with the prefix
 * (new reference to an array). */
json_t *ports_of_device(struct api_ctx *ctx, const char *device_id, const char *owner_prefix);

/* Ports on a network (new reference to an array of documents). */
json_t *ports_on_network(struct api_ctx *ctx, const char *network_id);
/* Whether a port belongs to the network itself (Neutron's network-owned
 * ports, deleted with it): DHCP ports. */
bool port_is_network_owned(json_t *port);
/* Router interface, router gateway and floating IP ports. */
bool port_is_l3(json_t *port);
/* Creates a port on behalf of the server (router and floating IP ports),
 * with admin rights, inside the transaction. */
int port_create_internal(struct api_ctx *ctx, json_t *port);
/* Releases a port's IP allocations and MAC and deletes it. */
int port_destroy(struct api_ctx *ctx, json_t *port);
/* Drops the port's addresses in subnet_id and saves it. */
int port_remove_subnet_ips(struct api_ctx *ctx, json_t *port, const char *subnet_id);

/* IPv6 addressing: whether a subnet gives ports EUI-64 addresses (SLAAC or
 * DHCPv6-stateless); a new such subnet gives one to every port on its network
 * but router interfaces (inside the transaction). */
bool subnet_is_auto_address(json_t *subnet);
int ports_add_auto_address(struct api_ctx *ctx, json_t *subnet);
bool port_is_router_interface(json_t *port);
/* Gives a port the requested fixed IPs (kept, allocated, released) and saves
 * it, inside the transaction. */
int port_set_fixed_ips(struct api_ctx *ctx, json_t *port, json_t *requested);

/* RBAC: whether the caller may use the network as shared (a port on it) or
 * as external (a gateway, a floating IP); the network's wildcard policy,
 * made or dropped by the server when `shared` or `router:external` is set
 * (inside the transaction). */
bool rbac_network_allows(struct api_ctx *ctx, json_t *net, bool external);
int rbac_network_wildcard(struct api_ctx *ctx, json_t *net, bool external, bool add);
/* Whether a security group or subnet pool is shared with the caller / with
 * a project (a wildcard policy or one for it). */
bool rbac_shares(struct api_ctx *ctx, json_t *obj);
bool rbac_shares_with(struct api_ctx *ctx, json_t *obj, const char *project_id);
/* Drops the policies of an object being deleted. */
int rbac_object_deleted(struct api_ctx *ctx, const char *object_id);

/* Address scopes: checks a subnet pool's address_scope_id (visible, usable
 * by the pool's project, same IP version, prefixes unique in the scope and
 * changed by the scope's owner only);
 * whether a project may use a scope. */
int address_scope_check_pool(struct api_ctx *ctx, json_t *pool, bool prefixes_changed);
bool address_scope_usable_by(struct api_ctx *ctx, json_t *scope, const char *project_id);

/* Firewall groups: drops a port being deleted from the group filtering it
 * (its status follows). Inside the transaction. */
int fwaas_port_deleted(struct api_ctx *ctx, const char *port_id);

/* DNS names (dns.c): checks doc's attr ("dns_name" or "dns_domain") as a
 * DNS name ("" passes); 400 when it is not one. */
int dns_check(struct api_ctx *ctx, json_t *doc, const char *attr);
/* The host name a port has on one of its addresses: its dns_name's first
 * label, else "host-" and the address with dashes for dots and colons. */
void dns_hostname(json_t *port, const char *address, char *buf, size_t size);
/* The port's dns_assignment: [{hostname, ip_address, fqdn}] per fixed IP
 * (new reference). */
json_t *dns_assignment(struct api_ctx *ctx, json_t *port);

/* GET and DELETE /v2.0/auto-allocated-topology/{project_id} (autotopo.c);
 * dry_run: ?fields=dry-run. Returns the HTTP status. */
int auto_topology_handle(struct api_ctx *ctx, const char *method, const char *project_id,
			 bool dry_run, json_t **ret_body);

/* Availability zones (azone.c): the zone of the agent on host among
 * `agents` (borrowed), or NULL; checks router availability_zone_hints
 * (zone names of registered agents: 400, or 404 AvailabilityZoneNotFound). */
const char *az_of_host(json_t *agents, const char *host);
int az_check_hints(struct api_ctx *ctx, json_t *hints);
