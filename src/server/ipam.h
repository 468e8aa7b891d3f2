/* IPAM: the rules of a subnet's address plan (pure: gateway, allocation pools,
 * their defaults and checks) and the allocation of addresses from it, made
 * unique by the store's allocation table inside the request's transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/ipaddr.h"
#include "server/error.h"
#include "server/resource.h"

#define IPAM_MAX_POOLS 64

struct ipam_range {
	ipaddr_int start, end;
};

/* A subnet's plan, parsed from its document or a request; addresses of the
 * CIDR's family. */
struct ipam_plan {
	struct ipnet cidr;
	bool has_gateway;
	ipaddr_int gateway;
	struct ipam_range pools[IPAM_MAX_POOLS];
	size_t npools;
};

/* Parses a CIDR for a new subnet: canonical; IPv4 prefix 1..30, IPv6 1..128
 * and not "::". */
int ipam_parse_cidr(const char *s, struct ipnet *ret, struct api_error *err);
/* Parses and checks gateway_ip (JSON string or null; absent: the first
 * address after the network's). */
int ipam_parse_gateway(struct ipam_plan *plan, json_t *gw, struct api_error *err);
/* Parses and checks allocation_pools (absent: every host but the gateway). */
int ipam_parse_pools(struct ipam_plan *plan, json_t *pools, struct api_error *err);
/* The pools as Neutron renders them: [{"start", "end"}]. */
json_t *ipam_pools_json(const struct ipam_plan *plan);
/* The plan of a stored subnet document. */
int ipam_plan_from_subnet(json_t *subnet, struct ipam_plan *ret);

/* Allocation kind of a subnet: "ip:<subnet-id>". An address's value in it is
 * the IPv4 address, or the low 64 bits of the IPv6 address (as int64): an
 * IPv6 subnet allocates within its first /64 (ipam_addr_allocatable). */
void ipam_kind(const char *subnet_id, char buf[static 64]);
/* Whether an address of the subnet's plan can be allocated: IPv4 not the
 * network nor the broadcast address; IPv6 in the first /64 of the subnet and,
 * unless for a router, not the subnet-router anycast address (RFC 4291 2.6.1). */
bool ipam_addr_allocatable(const struct ipam_plan *plan, const struct ipaddr *a, bool for_router);
/* Takes the first free address of the pools; -ENOSPC when exhausted. */
int ipam_allocate_any(struct api_ctx *ctx, json_t *subnet, const char *port_id, struct ipaddr *ret);
/* Takes one address; -EEXIST when taken. */
int ipam_allocate(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip,
		  const char *port_id);
int ipam_release(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip);
/* The port holding an address (caller frees), NULL when free. */
char *ipam_owner(struct api_ctx *ctx, const char *subnet_id, const struct ipaddr *ip);
/* Free addresses left in a subnet's allocation pools (at most INT64_MAX). */
int64_t ipam_free_count(struct api_ctx *ctx, json_t *subnet);
/* The EUI-64 address (RFC 4291 appendix A) of a MAC in a /64. */
struct ipaddr ipam_eui64(const struct ipnet *prefix, const uint8_t mac[6]);
