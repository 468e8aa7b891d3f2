/* Neighbour discovery answered by the node (RFC 4861 section 7): a VM's
 * neighbour solicitation for an address the model knows on its network (a
 * port's address, a port's link-local address, the router's) gets its
 * advertisement from the node, so that the solicitation never floods the
 * overlay (the IPv6 side of the bridge's ARP suppression). Pure; libc
 * only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dhcp/frame6.h"

#define ICMP6_NEIGHBOR_SOLICIT 135
#define ICMP6_NEIGHBOR_ADVERT  136

/* Whether f is a valid neighbour solicitation (RFC 4861 section 7.1.1):
 * hop limit 255, code 0, at least 24 bytes, a target that is not multicast,
 * options of non-zero length within the message; from the unspecified
 * address (duplicate address detection) only to a solicited-node address
 * and without a source link-layer option. 0 and the target, or -EBADMSG. */
int nd_check_solicit(const struct frame6 *f, uint8_t ret_target[16]);

/* The advertisement answering solicitation f for target, which mac holds
 * (router: the R flag): solicited, override, with the target link-layer
 * option, from target and mac to f's source. 0, -ENOBUFS. */
int nd_build_advert(const struct frame6 *f, const uint8_t target[16], const uint8_t mac[6],
		    bool router, uint8_t *out, size_t max, size_t *ret_size);
