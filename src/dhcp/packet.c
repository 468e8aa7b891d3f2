/* BOOTP/DHCP message and frame codec: see packet.h. All multi-octet fields
 * are network order on the wire (RFC 2131 section 2) and host order in our
 * structs; every read is preceded by a bounds check against the field or
 * buffer it lies in. */
#include <errno.h>
#include <string.h>
#include "dhcp/packet.h"

/* Offsets in the fixed part, RFC 2131 section 2, figure 1. */
#define OFF_OP	   0
#define OFF_HTYPE  1
#define OFF_HLEN   2
#define OFF_HOPS   3
#define OFF_XID	   4
#define OFF_SECS   8
#define OFF_FLAGS  10
#define OFF_CIADDR 12
#define OFF_YIADDR 16
#define OFF_SIADDR 20
#define OFF_GIADDR 24
#define OFF_CHADDR 28
#define OFF_SNAME  44
#define OFF_FILE   108
#define OFF_MAGIC  236
#define SNAME_SIZE 64
#define FILE_SIZE  128

#define ETHERTYPE_IPV4 0x0800
#define IPPROTO_UDP_   17
#define IP4_MAX_SIZE   65535

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/* Applies one option to m. Options a server acts on must have their
 * RFC 2132 length; the rest are skipped. */
static int apply_option(struct dhcp_message *m, uint8_t code, const uint8_t *data, uint8_t len,
			bool in_options_field)
{
	switch (code) {
	case DHCP_OPT_MESSAGE_TYPE: /* RFC 2132 section 9.6 */
		if (len != 1)
			return -EBADMSG;
		m->type = data[0];
		return 0;
	case DHCP_OPT_REQUESTED_IP: /* RFC 2132 section 9.1 */
		if (len != 4)
			return -EBADMSG;
		m->requested_ip = get32(data);
		m->has_requested_ip = true;
		return 0;
	case DHCP_OPT_SERVER_ID: /* RFC 2132 section 9.7 */
		if (len != 4)
			return -EBADMSG;
		m->server_id = get32(data);
		m->has_server_id = true;
		return 0;
	case DHCP_OPT_MAX_SIZE: /* RFC 2132 section 9.10 */
		if (len != 2)
			return -EBADMSG;
		m->max_size = get16(data);
		return 0;
	case DHCP_OPT_OVERLOAD: /* RFC 2132 section 9.3 */
		if (len != 1 || data[0] < 1 || data[0] > 3)
			return -EBADMSG;
		/* Only meaningful in the 'options' field itself; an overload
		 * option inside 'file' or 'sname' must not chain further. */
		if (in_options_field)
			m->overload = data[0];
		return 0;
	case DHCP_OPT_PARAM_REQUEST: { /* RFC 2132 section 9.8; RFC 3396 concatenation */
		size_t n = len;

		if (n > sizeof(m->prl) - m->n_prl)
			n = sizeof(m->prl) - m->n_prl;
		memcpy(m->prl + m->n_prl, data, n);
		m->n_prl += n;
		return 0;
	}
	case DHCP_OPT_CLIENT_ID: { /* RFC 2132 section 9.14 */
		size_t n = len;

		if (n > sizeof(m->client_id) - m->client_id_size)
			n = sizeof(m->client_id) - m->client_id_size;
		memcpy(m->client_id + m->client_id_size, data, n);
		m->client_id_size += n;
		return 0;
	}
	default:
		return 0;
	}
}

/* Walks the options in [p, p + size) (RFC 2132 section 2: PAD is one octet,
 * END ends the field, every other option is code, length, data). A field
 * that ends without END is accepted; an option whose length octet or data
 * lies past the field is not. */
static int parse_options(struct dhcp_message *m, const uint8_t *p, size_t size,
			 bool in_options_field)
{
	size_t i = 0;

	while (i < size) {
		uint8_t code = p[i++], len;
		int r;

		if (code == DHCP_OPT_PAD)
			continue;
		if (code == DHCP_OPT_END)
			return 0;
		if (i >= size)
			return -EBADMSG;
		len = p[i++];
		if (len > size - i)
			return -EBADMSG;
		r = apply_option(m, code, p + i, len, in_options_field);
		if (r < 0)
			return r;
		i += len;
	}
	return 0;
}

int dhcp_message_parse(const uint8_t *buf, size_t size, struct dhcp_message *ret)
{
	struct dhcp_message m;
	int r;

	if (!buf || size < DHCP_MIN_SIZE)
		return -EBADMSG;
	if (get32(buf + OFF_MAGIC) != DHCP_MAGIC_COOKIE)
		return -EBADMSG;

	memset(&m, 0, sizeof(m));
	m.op = buf[OFF_OP];
	m.htype = buf[OFF_HTYPE];
	m.hlen = buf[OFF_HLEN];
	m.hops = buf[OFF_HOPS];
	if (m.hlen > DHCP_CHADDR_SIZE)
		return -EBADMSG;
	m.xid = get32(buf + OFF_XID);
	m.secs = get16(buf + OFF_SECS);
	m.flags = get16(buf + OFF_FLAGS);
	m.ciaddr = get32(buf + OFF_CIADDR);
	m.yiaddr = get32(buf + OFF_YIADDR);
	m.siaddr = get32(buf + OFF_SIADDR);
	m.giaddr = get32(buf + OFF_GIADDR);
	memcpy(m.chaddr, buf + OFF_CHADDR, DHCP_CHADDR_SIZE);

	r = parse_options(&m, buf + DHCP_MIN_SIZE, size - DHCP_MIN_SIZE, true);
	if (r < 0)
		return r;
	/* RFC 2131 section 4.1: 'options' first, then 'file', then 'sname'. */
	if (m.overload & 1) {
		r = parse_options(&m, buf + OFF_FILE, FILE_SIZE, false);
		if (r < 0)
			return r;
	}
	if (m.overload & 2) {
		r = parse_options(&m, buf + OFF_SNAME, SNAME_SIZE, false);
		if (r < 0)
			return r;
	}
	/* RFC 2131 section 3: every DHCP message carries option 53; without
	 * it this is plain BOOTP, which we do not serve. */
	if (m.type == 0)
		return -EBADMSG;

	*ret = m;
	return 0;
}

int dhcp_builder_init(struct dhcp_builder *b, uint8_t *buf, size_t max,
		      const struct dhcp_message *hdr)
{
	if (!buf || max < DHCP_MIN_SIZE + 1)
		return -ENOBUFS;

	memset(buf, 0, DHCP_MIN_SIZE);
	buf[OFF_OP] = hdr->op;
	buf[OFF_HTYPE] = hdr->htype;
	buf[OFF_HLEN] = hdr->hlen;
	buf[OFF_HOPS] = hdr->hops;
	put32(buf + OFF_XID, hdr->xid);
	put16(buf + OFF_SECS, hdr->secs);
	put16(buf + OFF_FLAGS, hdr->flags);
	put32(buf + OFF_CIADDR, hdr->ciaddr);
	put32(buf + OFF_YIADDR, hdr->yiaddr);
	put32(buf + OFF_SIADDR, hdr->siaddr);
	put32(buf + OFF_GIADDR, hdr->giaddr);
	memcpy(buf + OFF_CHADDR, hdr->chaddr, DHCP_CHADDR_SIZE);
	put32(buf + OFF_MAGIC, DHCP_MAGIC_COOKIE);

	*b = (struct dhcp_builder){.buf = buf, .max = max, .used = DHCP_MIN_SIZE};
	return 0;
}

int dhcp_builder_append(struct dhcp_builder *b, uint8_t code, const void *data, size_t size)
{
	const uint8_t *p = data;
	size_t pieces, need;

	if (code == DHCP_OPT_PAD || code == DHCP_OPT_END)
		return -EINVAL;
	if (size > 0 && !data)
		return -EINVAL;
	/* An empty option is still one instance (code and zero length). */
	pieces = size == 0 ? 1 : (size + 254) / 255;
	need = size + 2 * pieces;
	/* One octet stays free for END. */
	if (b->used > b->max || need >= b->max - b->used)
		return -ENOBUFS;

	do {
		size_t n = size > 255 ? 255 : size;

		b->buf[b->used++] = code;
		b->buf[b->used++] = (uint8_t) n;
		if (n > 0)
			memcpy(b->buf + b->used, p, n);
		b->used += n;
		p += n;
		size -= n;
	} while (size > 0);
	return 0;
}

int dhcp_builder_append_u8(struct dhcp_builder *b, uint8_t code, uint8_t v)
{
	return dhcp_builder_append(b, code, &v, 1);
}

int dhcp_builder_append_u16(struct dhcp_builder *b, uint8_t code, uint16_t v)
{
	uint8_t d[2];

	put16(d, v);
	return dhcp_builder_append(b, code, d, sizeof(d));
}

int dhcp_builder_append_u32(struct dhcp_builder *b, uint8_t code, uint32_t v)
{
	uint8_t d[4];

	put32(d, v);
	return dhcp_builder_append(b, code, d, sizeof(d));
}

int dhcp_builder_finish(struct dhcp_builder *b, size_t *ret_size)
{
	if (b->used >= b->max)
		return -ENOBUFS;
	b->buf[b->used++] = DHCP_OPT_END;
	if (b->used < DHCP_BOOTP_MIN_SIZE && b->max >= DHCP_BOOTP_MIN_SIZE) {
		memset(b->buf + b->used, 0, DHCP_BOOTP_MIN_SIZE - b->used);
		b->used = DHCP_BOOTP_MIN_SIZE;
	}
	*ret_size = b->used;
	return 0;
}

uint32_t dhcp_csum_add(uint32_t sum, const uint8_t *p, size_t size)
{
	for (; size >= 2; p += 2, size -= 2)
		sum += get16(p);
	if (size)
		sum += (uint32_t) p[0] << 8;
	return sum;
}

uint16_t dhcp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t) ~sum;
}

int dhcp_frame_parse(const uint8_t *frame, size_t size, uint16_t udp_dst, struct dhcp_frame *ret)
{
	const uint8_t *ip, *udp;
	size_t avail, ihl, total, udp_len;
	struct dhcp_frame f;

	if (!frame || size < DHCP_ETH_HEADER_SIZE)
		return -EBADMSG;
	if (get16(frame + 12) != ETHERTYPE_IPV4)
		return -EBADMSG;

	/* RFC 791 section 3.1 */
	ip = frame + DHCP_ETH_HEADER_SIZE;
	avail = size - DHCP_ETH_HEADER_SIZE;
	if (avail < DHCP_IP4_HEADER_SIZE)
		return -EBADMSG;
	if ((ip[0] >> 4) != 4)
		return -EBADMSG;
	ihl = (size_t) (ip[0] & 0x0f) * 4;
	if (ihl < DHCP_IP4_HEADER_SIZE || ihl > avail)
		return -EBADMSG;
	total = get16(ip + 2);
	if (total < ihl + DHCP_UDP_HEADER_SIZE || total > avail)
		return -EBADMSG;
	/* More-fragments set or a fragment offset: we do not reassemble. */
	if (get16(ip + 6) & 0x3fff)
		return -EBADMSG;
	if (ip[9] != IPPROTO_UDP_)
		return -EBADMSG;
	if (dhcp_csum_fold(dhcp_csum_add(0, ip, ihl)) != 0)
		return -EBADMSG;

	/* RFC 768 */
	udp = ip + ihl;
	udp_len = get16(udp + 4);
	if (udp_len < DHCP_UDP_HEADER_SIZE || udp_len > total - ihl)
		return -EBADMSG;
	if (get16(udp + 2) != udp_dst)
		return -EBADMSG;

	memcpy(f.eth_dst, frame, 6);
	memcpy(f.eth_src, frame + 6, 6);
	f.ip_src = get32(ip + 12);
	f.ip_dst = get32(ip + 16);
	f.udp_src = get16(udp);
	f.udp_dst = get16(udp + 2);
	f.payload = udp + DHCP_UDP_HEADER_SIZE;
	f.payload_size = udp_len - DHCP_UDP_HEADER_SIZE;
	*ret = f;
	return 0;
}

int dhcp_frame_build(const struct dhcp_frame *f, uint8_t *out, size_t max, size_t *ret_size)
{
	size_t total, udp_len;
	uint8_t *ip, *udp, pseudo[12];
	uint32_t sum;
	uint16_t c;

	if (f->payload_size > 0 && !f->payload)
		return -EINVAL;
	if (f->payload_size > IP4_MAX_SIZE - DHCP_IP4_HEADER_SIZE - DHCP_UDP_HEADER_SIZE)
		return -EMSGSIZE;
	udp_len = DHCP_UDP_HEADER_SIZE + f->payload_size;
	total = DHCP_IP4_HEADER_SIZE + udp_len;
	if (!out || max < DHCP_ETH_HEADER_SIZE + total)
		return -ENOBUFS;

	memcpy(out, f->eth_dst, 6);
	memcpy(out + 6, f->eth_src, 6);
	put16(out + 12, ETHERTYPE_IPV4);

	ip = out + DHCP_ETH_HEADER_SIZE;
	memset(ip, 0, DHCP_IP4_HEADER_SIZE);
	ip[0] = 0x45; /* version 4, 5 words */
	put16(ip + 2, (uint16_t) total);
	ip[8] = 64; /* TTL */
	ip[9] = IPPROTO_UDP_;
	put32(ip + 12, f->ip_src);
	put32(ip + 16, f->ip_dst);
	put16(ip + 10, dhcp_csum_fold(dhcp_csum_add(0, ip, DHCP_IP4_HEADER_SIZE)));

	udp = ip + DHCP_IP4_HEADER_SIZE;
	put16(udp, f->udp_src);
	put16(udp + 2, f->udp_dst);
	put16(udp + 4, (uint16_t) udp_len);
	put16(udp + 6, 0);
	if (f->payload_size > 0)
		memmove(udp + DHCP_UDP_HEADER_SIZE, f->payload, f->payload_size);

	/* RFC 768: checksum over the pseudo header, UDP header and data; a
	 * computed 0 is sent as all ones. */
	put32(pseudo, f->ip_src);
	put32(pseudo + 4, f->ip_dst);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP_;
	put16(pseudo + 10, (uint16_t) udp_len);
	sum = dhcp_csum_add(0, pseudo, sizeof(pseudo));
	sum = dhcp_csum_add(sum, udp, udp_len);
	c = dhcp_csum_fold(sum);
	put16(udp + 6, c == 0 ? 0xffff : c);

	*ret_size = DHCP_ETH_HEADER_SIZE + total;
	return 0;
}
