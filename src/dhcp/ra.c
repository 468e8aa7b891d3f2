/* Router solicitations in, router advertisements out. */
#include "dhcp/ra.h"

#include <errno.h>
#include <string.h>
#include "base/ipaddr.h"

#define OPT_SOURCE_LLADDR 1
#define OPT_PREFIX_INFO	  3
#define OPT_MTU		  5
#define OPT_RDNSS	  25

int ra_check_solicit(const struct frame6 *f)
{
	const uint8_t *m = f->payload;
	const size_t off = 8;

	if (f->next != FRAME6_PROTO_ICMP6 || f->payload_size < 8 || m[0] != ICMP6_ROUTER_SOLICIT ||
	    m[1] != 0 || f->hop_limit != 255)
		return -EBADMSG;
	if (frame6_check_nd_options(f, off) < 0)
		return -EBADMSG;
	return 0;
}

int ra_build(const struct ra_config *c, const uint8_t eth_dst[6], const uint8_t ip_dst[16],
	     uint8_t *out, size_t max, size_t *ret_size)
{
	uint8_t m[16 + 8 + 8 + 32 + 8 + 16 * RA_MAX_DNS] = {0};
	size_t off = 16, n_dns = c->n_dns < RA_MAX_DNS ? c->n_dns : RA_MAX_DNS;
	struct frame6 f = {.next = FRAME6_PROTO_ICMP6, .hop_limit = 255};

	m[0] = ICMP6_ROUTER_ADVERT;
	m[4] = 64; /* Cur Hop Limit */
	m[5] = (uint8_t) ((c->managed ? 0x80 : 0) | (c->other ? 0x40 : 0));
	frame6_put16(m + 6, c->router_lifetime);
	/* Reachable Time and Retrans Timer: 0, unspecified. */
	m[off] = OPT_SOURCE_LLADDR;
	m[off + 1] = 1;
	memcpy(m + off + 2, c->router_mac, 6);
	off += 8;
	if (c->mtu) {
		m[off] = OPT_MTU;
		m[off + 1] = 1;
		frame6_put32(m + off + 4, c->mtu);
		off += 8;
	}
	/* RFC 4861 section 4.6.2: on-link (L) always; autonomous (A) for
	 * SLAAC. */
	m[off] = OPT_PREFIX_INFO;
	m[off + 1] = 4;
	m[off + 2] = c->prefix_len;
	m[off + 3] = (uint8_t) (0x80 | (c->autonomous ? 0x40 : 0));
	frame6_put32(m + off + 4, c->valid_lifetime);
	frame6_put32(m + off + 8, c->preferred_lifetime);
	memcpy(m + off + 16, c->prefix, 16);
	off += 32;
	if (n_dns) {
		m[off] = OPT_RDNSS;
		m[off + 1] = (uint8_t) (1 + 2 * n_dns);
		frame6_put32(m + off + 4, c->valid_lifetime);
		for (size_t i = 0; i < n_dns; i++)
			memcpy(m + off + 8 + 16 * i, c->dns[i], 16);
		off += 8 + 16 * n_dns;
	}
	memcpy(f.eth_dst, eth_dst, 6);
	memcpy(f.eth_src, c->router_mac, 6);
	ip6_link_local(c->router_mac, f.src);
	memcpy(f.dst, ip_dst, 16);
	f.payload = m;
	f.payload_size = off;
	return frame6_build(&f, out, max, ret_size);
}
