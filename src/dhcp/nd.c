/* Neighbour solicitations in, advertisements out. */
#include "dhcp/nd.h"

#include <errno.h>
#include <string.h>

#define OPT_TARGET_LLADDR 2

int nd_check_solicit(const struct frame6 *f, uint8_t ret_target[16])
{
	const uint8_t *m = f->payload;
	const size_t off = 24;

	if (f->next != FRAME6_PROTO_ICMP6 || f->payload_size < 24 ||
	    m[0] != ICMP6_NEIGHBOR_SOLICIT || m[1] != 0 || f->hop_limit != 255 || m[8] == 0xff)
		return -EBADMSG;
	/* ff02::1:ffXX:XXXX */
	if (frame6_is_unspecified(f->src) &&
	    !(f->dst[0] == 0xff && f->dst[1] == 0x02 && f->dst[11] == 0x01 && f->dst[12] == 0xff))
		return -EBADMSG;
	if (frame6_check_nd_options(f, off) < 0)
		return -EBADMSG;
	memcpy(ret_target, m + 8, 16);
	return 0;
}

int nd_build_advert(const struct frame6 *f, const uint8_t target[16], const uint8_t mac[6],
		    bool router, uint8_t *out, size_t max, size_t *ret_size)
{
	uint8_t m[32] = {ICMP6_NEIGHBOR_ADVERT};
	struct frame6 r = {.next = FRAME6_PROTO_ICMP6, .hop_limit = 255};

	/* RFC 4861 section 4.4: Router, Solicited, Override. */
	m[4] = (uint8_t) ((router ? 0x80 : 0) | 0x40 | 0x20);
	memcpy(m + 8, target, 16);
	m[24] = OPT_TARGET_LLADDR;
	m[25] = 1;
	memcpy(m + 26, mac, 6);
	memcpy(r.eth_dst, f->eth_src, 6);
	memcpy(r.eth_src, mac, 6);
	memcpy(r.src, target, 16);
	memcpy(r.dst, f->src, 16);
	r.payload = m;
	r.payload_size = sizeof(m);
	return frame6_build(&r, out, max, ret_size);
}
