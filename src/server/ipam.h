/* IPAM: the rules of a subnet's address plan (pure: gateway, allocation pools,
 * their defaults and checks) and the allocation of addresses from it, made
 * unique by the store's allocation table inside the request's transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/ip4.h"
#include "server/error.h"
#include "server/resource.h"

#define IPAM_MAX_POOLS 64

struct ip4_range {
	uint32_t start, end;
};

/* A subnet's plan, parsed from its document or a request. */
struct ipam_plan {
	struct ip4_cidr cidr;
	bool has_gateway;
	uint32_t gateway;
	struct ip4_range pools[IPAM_MAX_POOLS];
	size_t npools;
};

/* Parses a CIDR for a new subnet: IPv4, canonical, prefix 1..30. */
int ipam_parse_cidr(const char *s, struct ip4_cidr *ret, struct api_error *err);
/* Parses and checks gateway_ip (JSON string or null; absent: first host). */
int ipam_parse_gateway(struct ipam_plan *plan, json_t *gw, struct api_error *err);
/* Parses and checks allocation_pools (absent: every host but the gateway). */
int ipam_parse_pools(struct ipam_plan *plan, json_t *pools, struct api_error *err);
/* The pools as Neutron renders them: [{"start", "end"}]. */
json_t *ipam_pools_json(const struct ipam_plan *plan);
/* The plan of a stored subnet document. */
int ipam_plan_from_subnet(json_t *subnet, struct ipam_plan *ret);

/* Allocation kind of a subnet: "ip:<subnet-id>". */
void ipam_kind(const char *subnet_id, char buf[static 64]);
/* Takes the first free address of the pools; -ENOSPC when exhausted. */
int ipam_allocate_any(struct api_ctx *ctx, json_t *subnet, const char *port_id, uint32_t *ret);
/* Takes one address; -EEXIST when taken. */
int ipam_allocate(struct api_ctx *ctx, const char *subnet_id, uint32_t ip, const char *port_id);
int ipam_release(struct api_ctx *ctx, const char *subnet_id, uint32_t ip);
