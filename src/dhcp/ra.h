/* Router advertisements (RFC 4861 section 4.2) as the node sends them to a
 * VM on the router's behalf, and the router solicitations (section 4.1) that
 * ask for them. The RA leaves from the router port's MAC and link-local
 * address (the same on every node: the anycast gateway), so the VM's default
 * route points at the router leg on its own node; flags and the prefix's
 * autonomous bit follow the subnet's ipv6_ra_mode. Pure; libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dhcp/frame6.h"

#define RA_MAX_DNS 4

#define ICMP6_ROUTER_SOLICIT 133
#define ICMP6_ROUTER_ADVERT  134

/* What one advertisement says. */
struct ra_config {
	uint8_t router_mac[6];	  /* Ethernet source, link-layer option, link-local source */
	uint16_t router_lifetime; /* seconds; 0: not a default router (no gateway) */
	bool managed, other;	  /* M and O flags (RFC 4861 section 4.2) */
	uint8_t prefix[16];
	uint8_t prefix_len;
	bool autonomous; /* the prefix's A flag: SLAAC */
	uint32_t valid_lifetime, preferred_lifetime;
	uint32_t mtu; /* 0: no MTU option */
	uint8_t dns[RA_MAX_DNS][16];
	size_t n_dns; /* RDNSS option (RFC 8106) when > 0 */
};

/* Whether f is a valid router solicitation (RFC 4861 section 6.1.1): ICMPv6
 * type 133, code 0, hop limit 255, at least 8 bytes, every option of non-zero
 * length within the message, no source link-layer option when the source is
 * unspecified. 0 or -EBADMSG. */
int ra_check_solicit(const struct frame6 *f);

/* Builds the advertisement into out: to eth_dst and ip_dst (ff02::1 and
 * 33:33:00:00:00:01 for an unsolicited one), from the router's link-local
 * address, hop limit 255. 0, or -ENOBUFS. */
int ra_build(const struct ra_config *c, const uint8_t eth_dst[6], const uint8_t ip_dst[16],
	     uint8_t *out, size_t max, size_t *ret_size);
