/* IP addresses and prefixes of either family, as 128-bit integers, for the
 * API's address plans (IPAM, subnet pools, routes, rules). An IPv4 address is
 * its 32-bit value; an IPv6 address its 128-bit value. IPv4 text is parsed as
 * strictly as ip4_parse(); IPv6 text as inet_pton(3) (RFC 4291 section 2.2)
 * and always formatted in RFC 5952's canonical form. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef unsigned __int128 ipaddr_int;

#define IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define IPNET_STRLEN  50

struct ipaddr {
	ipaddr_int v;
	uint8_t version; /* 4 or 6 */
};

struct ipnet {
	struct ipaddr addr; /* as written; ipnet_is_canonical() tells if host bits are 0 */
	uint8_t len;
};

/* Either family (IPv6 when the text has a ':'). 0 or -EINVAL. */
int ipaddr_parse(const char *s, struct ipaddr *ret);
/* "ADDR/N"; without "/N" only if allow_host: then a host prefix. */
int ipnet_parse(const char *s, bool allow_host, struct ipnet *ret);

void ipaddr_format(const struct ipaddr *a, char buf[static IPADDR_STRLEN]);
/* The canonical text of a prefix: host bits cleared. */
void ipnet_format(const struct ipnet *n, char buf[static IPNET_STRLEN]);

/* 32 or 128. */
unsigned ipaddr_bits(uint8_t version);
ipaddr_int ipnet_mask(const struct ipnet *n);
/* The first and last address of the prefix. */
ipaddr_int ipnet_first(const struct ipnet *n);
ipaddr_int ipnet_last(const struct ipnet *n);
bool ipnet_is_canonical(const struct ipnet *n);
bool ipnet_contains(const struct ipnet *n, const struct ipaddr *a);
bool ipnet_overlaps(const struct ipnet *a, const struct ipnet *b);
/* Whether b lies wholly inside a (same family). */
bool ipnet_covers(const struct ipnet *a, const struct ipnet *b);

/* IPv6 addresses as 16 bytes in network order: prefix (its first 64 bits)
 * + the modified EUI-64 interface identifier of mac (RFC 4291 appendix A),
 * what SLAAC gives a host with that MAC; and fe80::/64 + the same, the
 * link-local address the kernel gives an interface with that MAC. */
void ip6_eui64(const uint8_t prefix[16], const uint8_t mac[6], uint8_t ret[16]);
void ip6_link_local(const uint8_t mac[6], uint8_t ret[16]);

/* An IPv6 prefix as 16 bytes (network order, host bits cleared) and a
 * length: "ADDR" (a /128) or "ADDR/N", IPv6 only. 0 or -EINVAL. */
int ip6_prefix_parse(const char *s, uint8_t ret[16], uint8_t *ret_len);
/* Whether prefix net/len holds a (16 bytes each). */
bool ip6_prefix_contains(const uint8_t net[16], uint8_t len, const uint8_t a[16]);
