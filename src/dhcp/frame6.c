/* Ethernet + IPv6 + ICMPv6/UDP frames of the responder. */
#include "dhcp/frame6.h"

#include <errno.h>
#include <string.h>
#include "dhcp/packet.h"

#define ETHERTYPE_IPV6 0x86dd

/* RFC 8200 section 8.1: the upper-layer checksum covers a pseudo header of
 * both addresses, the upper-layer length and the next header. */
static uint16_t csum6(const uint8_t src[16], const uint8_t dst[16], uint8_t next, const uint8_t *p,
		      size_t size)
{
	uint8_t pseudo[40] = {0};
	uint32_t sum;

	memcpy(pseudo, src, 16);
	memcpy(pseudo + 16, dst, 16);
	pseudo[32] = (uint8_t) (size >> 24);
	pseudo[33] = (uint8_t) (size >> 16);
	pseudo[34] = (uint8_t) (size >> 8);
	pseudo[35] = (uint8_t) size;
	pseudo[39] = next;
	sum = dhcp_csum_add(0, pseudo, sizeof(pseudo));
	return dhcp_csum_fold(dhcp_csum_add(sum, p, size));
}

int frame6_parse(const uint8_t *frame, size_t size, struct frame6 *ret)
{
	struct frame6 f = {0};
	const uint8_t *ip = frame + FRAME6_ETH_SIZE, *up;
	size_t plen;

	if (size < FRAME6_ETH_SIZE + FRAME6_IP6_SIZE || frame6_get16(frame + 12) != ETHERTYPE_IPV6)
		return -EBADMSG;
	if ((ip[0] >> 4) != 6)
		return -EBADMSG;
	plen = frame6_get16(ip + 4);
	if (plen > size - FRAME6_ETH_SIZE - FRAME6_IP6_SIZE)
		return -EBADMSG;
	memcpy(f.eth_dst, frame, 6);
	memcpy(f.eth_src, frame + 6, 6);
	f.next = ip[6];
	f.hop_limit = ip[7];
	memcpy(f.src, ip + 8, 16);
	memcpy(f.dst, ip + 24, 16);
	up = ip + FRAME6_IP6_SIZE;
	if (f.next == FRAME6_PROTO_ICMP6) {
		if (plen < 4 || csum6(f.src, f.dst, f.next, up, plen) != 0)
			return -EBADMSG;
		f.payload = up;
		f.payload_size = plen;
	} else if (f.next == FRAME6_PROTO_UDP) {
		size_t ulen;

		if (plen < FRAME6_UDP_SIZE)
			return -EBADMSG;
		ulen = frame6_get16(up + 4);
		if (ulen < FRAME6_UDP_SIZE || ulen > plen)
			return -EBADMSG;
		f.udp_src = frame6_get16(up);
		f.udp_dst = frame6_get16(up + 2);
		f.payload = up + FRAME6_UDP_SIZE;
		f.payload_size = ulen - FRAME6_UDP_SIZE;
	} else {
		return -EBADMSG; /* another protocol, or an extension header */
	}
	*ret = f;
	return 0;
}

int frame6_build(const struct frame6 *f, uint8_t *out, size_t max, size_t *ret_size)
{
	size_t up_size, total;
	uint8_t *ip = out + FRAME6_ETH_SIZE, *up = ip + FRAME6_IP6_SIZE;

	if (f->next == FRAME6_PROTO_ICMP6) {
		if (f->payload_size < 4)
			return -EINVAL;
		up_size = f->payload_size;
	} else if (f->next == FRAME6_PROTO_UDP) {
		up_size = f->payload_size + FRAME6_UDP_SIZE;
	} else {
		return -EINVAL;
	}
	total = FRAME6_ETH_SIZE + FRAME6_IP6_SIZE + up_size;
	if (total > FRAME6_MAX)
		return -EMSGSIZE;
	if (total > max)
		return -ENOBUFS;
	memcpy(out, f->eth_dst, 6);
	memcpy(out + 6, f->eth_src, 6);
	frame6_put16(out + 12, ETHERTYPE_IPV6);
	memset(ip, 0, FRAME6_IP6_SIZE);
	ip[0] = 0x60;
	frame6_put16(ip + 4, (uint16_t) up_size);
	ip[6] = f->next;
	ip[7] = f->hop_limit;
	memcpy(ip + 8, f->src, 16);
	memcpy(ip + 24, f->dst, 16);
	if (f->next == FRAME6_PROTO_ICMP6) {
		memcpy(up, f->payload, f->payload_size);
		up[2] = up[3] = 0;
		frame6_put16(up + 2, csum6(f->src, f->dst, f->next, up, up_size));
	} else {
		uint16_t c;

		frame6_put16(up, f->udp_src);
		frame6_put16(up + 2, f->udp_dst);
		frame6_put16(up + 4, (uint16_t) up_size);
		frame6_put16(up + 6, 0);
		memcpy(up + FRAME6_UDP_SIZE, f->payload, f->payload_size);
		/* RFC 8200 section 8.1: a computed 0 is sent as 0xffff. */
		c = csum6(f->src, f->dst, f->next, up, up_size);
		frame6_put16(up + 6, c ? c : 0xffff);
	}
	*ret_size = total;
	return 0;
}

void frame6_multicast_mac(const uint8_t ip[16], uint8_t ret[6])
{
	ret[0] = ret[1] = 0x33;
	memcpy(ret + 2, ip + 12, 4);
}

bool frame6_is_link_local(const uint8_t ip[16])
{
	return ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80;
}

bool frame6_is_unspecified(const uint8_t ip[16])
{
	static const uint8_t zero[16];

	return memcmp(ip, zero, 16) == 0;
}

int frame6_check_nd_options(const struct frame6 *f, size_t off)
{
	const uint8_t *m = f->payload;

	while (off < f->payload_size) {
		size_t len;

		if (f->payload_size - off < 2 || m[off + 1] == 0)
			return -EBADMSG;
		len = (size_t) m[off + 1] * 8;
		if (len > f->payload_size - off)
			return -EBADMSG;
		if (m[off] == 1 /* source link-layer address */ && frame6_is_unspecified(f->src))
			return -EBADMSG;
		off += len;
	}
	return 0;
}
