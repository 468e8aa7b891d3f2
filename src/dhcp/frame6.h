/* Ethernet + IPv6 frames carrying ICMPv6 or UDP, as the agent's responder
 * reads them from and writes them to a VM's tap (router solicitations and
 * advertisements, DHCPv6), and the addresses derived from a MAC (RFC 4291
 * appendix A: modified EUI-64). The parser takes untrusted bytes and bounds
 * every field before reading it; nothing is allocated. IPv6 addresses are
 * 16 bytes in network order. libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME6_ETH_SIZE	   14
#define FRAME6_IP6_SIZE	   40
#define FRAME6_UDP_SIZE	   8
#define FRAME6_PROTO_ICMP6 58
#define FRAME6_PROTO_UDP   17
#define FRAME6_MTU	   1280 /* RFC 8200 section 5: what every link carries */
#define FRAME6_MAX	   (FRAME6_ETH_SIZE + FRAME6_MTU)

/* Big-endian fields. */
static inline uint16_t frame6_get16(const uint8_t *p)
{
	return (uint16_t) (p[0] << 8 | p[1]);
}

static inline void frame6_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static inline void frame6_put32(uint8_t *p, uint32_t v)
{
	frame6_put16(p, (uint16_t) (v >> 16));
	frame6_put16(p + 2, (uint16_t) v);
}

struct frame6 {
	uint8_t eth_dst[6], eth_src[6];
	uint8_t src[16], dst[16];
	uint8_t next; /* FRAME6_PROTO_ICMP6 or FRAME6_PROTO_UDP */
	uint8_t hop_limit;
	uint16_t udp_src, udp_dst; /* UDP only */
	/* ICMPv6: the whole message (type, code, checksum, body); UDP: the
	 * payload after the UDP header. On parse it points into the caller's
	 * frame. */
	const uint8_t *payload;
	size_t payload_size;
};

/* Parses a frame and checks: Ethernet type IPv6 (no VLAN tag), version 6,
 * the payload length within the frame (trailing padding allowed), no
 * extension header, next header ICMPv6 (with a valid checksum and at least
 * 4 bytes) or UDP (a length >= 8 within the IPv6 payload; its checksum is
 * not verified, as frames read from a tap may carry a partial one left for
 * offload). Returns 0 or -EBADMSG; ret is untouched on failure. */
int frame6_parse(const uint8_t *frame, size_t size, struct frame6 *ret);

/* Builds f into out, computing the ICMPv6 checksum (f->payload's bytes 2-3
 * are ignored) or the UDP header and checksum. Returns 0, -ENOBUFS if out is
 * too small, -EMSGSIZE if the frame would exceed FRAME6_MAX, -EINVAL for
 * another next header. */
int frame6_build(const struct frame6 *f, uint8_t *out, size_t max, size_t *ret_size);

/* 33:33 + the address's last 32 bits (RFC 2464 section 7). */
void frame6_multicast_mac(const uint8_t ip[16], uint8_t ret[6]);
bool frame6_is_link_local(const uint8_t ip[16]);
bool frame6_is_unspecified(const uint8_t ip[16]);

/* RFC 4861 section 4.6: the options of a neighbour discovery message f from
 * byte off: each of non-zero length within the message, and no source
 * link-layer address option when the source is unspecified. 0 or
 * -EBADMSG. */
int frame6_check_nd_options(const struct frame6 *f, size_t off);
