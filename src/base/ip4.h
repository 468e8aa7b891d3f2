/* IPv4 address and CIDR math. Addresses are host-order uint32_t. Parsers are
 * strict (no leading zeros, no shorthand forms) because their input is user
 * input that the API must either accept exactly or refuse. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define IP4_STRLEN	16 /* "255.255.255.255" + NUL */
#define IP4_CIDR_STRLEN 20

struct ip4_cidr {
	uint32_t addr; /* as written; ip4_cidr_is_canonical() tells if host bits are 0 */
	uint8_t len;
};

/* Dotted quad only. Returns 0 or -EINVAL. */
int ip4_parse(const char *s, uint32_t *ret_addr);
/* "A.B.C.D/N" (N 0..32). Without "/N" only if allow_host: then /32. */
int ip4_cidr_parse(const char *s, bool allow_host, struct ip4_cidr *ret);

void ip4_format(uint32_t addr, char buf[static IP4_STRLEN]);
void ip4_cidr_format(const struct ip4_cidr *c, char buf[static IP4_CIDR_STRLEN]);

uint32_t ip4_mask(uint8_t len);
uint32_t ip4_cidr_network(const struct ip4_cidr *c);
uint32_t ip4_cidr_broadcast(const struct ip4_cidr *c);
bool ip4_cidr_is_canonical(const struct ip4_cidr *c);
bool ip4_cidr_contains(const struct ip4_cidr *c, uint32_t addr);
bool ip4_cidr_overlaps(const struct ip4_cidr *a, const struct ip4_cidr *b);
/* Usable host range: network+1 .. broadcast-1 for len <= 30; for /31 both
 * addresses (RFC 3021) and for /32 the one address. */
uint32_t ip4_cidr_first_host(const struct ip4_cidr *c);
uint32_t ip4_cidr_last_host(const struct ip4_cidr *c);
/* Whether addr is the network or broadcast address of c (never for /31, /32). */
bool ip4_cidr_is_reserved(const struct ip4_cidr *c, uint32_t addr);
