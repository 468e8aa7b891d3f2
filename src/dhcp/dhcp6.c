/* The DHCPv6 server core. */
#include "dhcp/dhcp6.h"

#include <errno.h>
#include <string.h>
#include "base/ipaddr.h"

#define HEADER_SIZE  4 /* msg-type and transaction-id (RFC 8415 section 8) */
#define IA_NA_FIXED  12
#define IAADDR_FIXED 24
#define DUID_LL	     3 /* RFC 8415 section 11.4 */
#define HWTYPE_ETHER 1
#define PAYLOAD_MAX  (FRAME6_MTU - FRAME6_IP6_SIZE - FRAME6_UDP_SIZE)

/* The options of an IA_NA (after its fixed part): the first IA Address. */
static int parse_ia_na(const uint8_t *p, size_t size, struct dhcp6_message *m)
{
	size_t off = IA_NA_FIXED;

	if (size < IA_NA_FIXED)
		return -EBADMSG;
	memcpy(m->iaid, p, 4);
	while (off < size) {
		uint16_t code, len;

		if (size - off < 4)
			return -EBADMSG;
		code = frame6_get16(p + off);
		len = frame6_get16(p + off + 2);
		if (len > size - off - 4)
			return -EBADMSG;
		if (code == DHCP6_OPT_IAADDR) {
			if (len < IAADDR_FIXED)
				return -EBADMSG;
			if (!m->has_iaaddr)
				memcpy(m->iaaddr, p + off + 4, 16);
			m->has_iaaddr = true;
		}
		off += 4 + (size_t) len;
	}
	return 0;
}

int dhcp6_message_parse(const uint8_t *buf, size_t size, struct dhcp6_message *ret)
{
	struct dhcp6_message m = {0};
	size_t off = HEADER_SIZE;

	if (size < HEADER_SIZE)
		return -EBADMSG;
	m.type = buf[0];
	memcpy(m.xid, buf + 1, 3);
	while (off < size) {
		uint16_t code, len;
		const uint8_t *data;

		if (size - off < 4)
			return -EBADMSG;
		code = frame6_get16(buf + off);
		len = frame6_get16(buf + off + 2);
		data = buf + off + 4;
		if (len > size - off - 4)
			return -EBADMSG;
		switch (code) {
		case DHCP6_OPT_CLIENTID:
		case DHCP6_OPT_SERVERID:
			if (len == 0 || len > DHCP6_DUID_MAX)
				return -EBADMSG;
			if (code == DHCP6_OPT_CLIENTID) {
				memcpy(m.client_id, data, len);
				m.client_id_size = len;
			} else {
				memcpy(m.server_id, data, len);
				m.server_id_size = len;
			}
			break;
		case DHCP6_OPT_IA_NA:
			if (!m.has_ia_na && parse_ia_na(data, len, &m) < 0)
				return -EBADMSG;
			m.has_ia_na = true;
			break;
		case DHCP6_OPT_IA_TA:
			m.has_ia_ta = true;
			break;
		case DHCP6_OPT_RAPID_COMMIT:
			if (len != 0)
				return -EBADMSG;
			m.rapid_commit = true;
			break;
		default:
			break;
		}
		off += 4 + (size_t) len;
	}
	*ret = m;
	return 0;
}

struct writer {
	uint8_t *buf;
	size_t max, used;
	bool full;
};

static uint8_t *opt(struct writer *w, uint16_t code, size_t len)
{
	uint8_t *p;

	if (w->full || len > 0xffff || w->max - w->used < 4 + len) {
		w->full = true;
		return NULL;
	}
	p = w->buf + w->used;
	frame6_put16(p, code);
	frame6_put16(p + 2, (uint16_t) len);
	w->used += 4 + len;
	return p + 4;
}

static void opt_data(struct writer *w, uint16_t code, const void *data, size_t len)
{
	uint8_t *p = opt(w, code, len);

	if (p && len)
		memcpy(p, data, len);
}

static void server_duid(const struct dhcp6_lease *l, uint8_t duid[10])
{
	frame6_put16(duid, DUID_LL);
	frame6_put16(duid + 2, HWTYPE_ETHER);
	memcpy(duid + 4, l->server_mac, 6);
}

static void status(struct writer *w, uint16_t code)
{
	uint8_t *p = opt(w, DHCP6_OPT_STATUS_CODE, 2);

	if (p)
		frame6_put16(p, code);
}

static void ia_na(struct writer *w, const struct dhcp6_message *req, const struct dhcp6_lease *l)
{
	uint32_t lease = l->lease_secs ? l->lease_secs : DHCP_LEASE_SECS_DEFAULT;
	uint8_t *p = opt(w, DHCP6_OPT_IA_NA, IA_NA_FIXED + 4 + IAADDR_FIXED);

	if (!p)
		return;
	/* RFC 8415 section 21.4: T1 and T2 at 0.5 and 0.8 of the lifetime. */
	memcpy(p, req->iaid, 4);
	frame6_put32(p + 4, lease == 0xffffffff ? lease : lease / 2);
	frame6_put32(p + 8, lease == 0xffffffff ? lease : (uint32_t) ((uint64_t) lease * 4 / 5));
	frame6_put16(p + 12, DHCP6_OPT_IAADDR);
	frame6_put16(p + 14, IAADDR_FIXED);
	memcpy(p + 16, l->addr, 16);
	frame6_put32(p + 32, lease);
	frame6_put32(p + 36, lease);
}

/* RFC 1035 section 3.1 wire form of one domain; empty labels (a final dot)
 * are skipped. Returns the size, 0 when it does not encode. */
static size_t domain_wire(const char *d, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*d) {
		size_t len = strcspn(d, ".");

		if (len > 63 || max - n < len + 2)
			return 0;
		if (len) {
			out[n++] = (uint8_t) len;
			memcpy(out + n, d, len);
			n += len;
		}
		d += len + (d[len] == '.');
	}
	if (!n)
		return 0;
	out[n++] = 0;
	return n;
}

static void config(struct writer *w, const struct dhcp6_lease *l)
{
	uint8_t wire[80];
	size_t n_dns = l->n_dns < DHCP6_MAX_DNS ? l->n_dns : DHCP6_MAX_DNS, size;

	if (n_dns)
		opt_data(w, DHCP6_OPT_DNS_SERVERS, l->dns, 16 * n_dns);
	size = domain_wire(l->domain, wire, sizeof(wire));
	if (size)
		opt_data(w, DHCP6_OPT_DOMAIN_LIST, wire, size);
}

/* Whether the message names another server (or none, when one is due). */
static bool for_us(const struct dhcp6_message *m, const uint8_t duid[10])
{
	return m->server_id_size == 10 && memcmp(m->server_id, duid, 10) == 0;
}

int dhcp6_server_answer(const struct dhcp6_message *req, const struct dhcp6_lease *l, uint8_t *out,
			size_t max, size_t *ret_size)
{
	struct writer w = {out, max, 0, false};
	uint8_t duid[10], type = DHCP6_REPLY;
	bool give_ia = false, with_config = true;
	int verdict = DHCP_VERDICT_REPLY;

	/* RFC 8415 section 16: what each type must and must not carry. */
	switch (req->type) {
	case DHCP6_SOLICIT:
	case DHCP6_CONFIRM:
	case DHCP6_REBIND:
		if (!req->client_id_size || req->server_id_size)
			return -EBADMSG;
		break;
	case DHCP6_REQUEST:
	case DHCP6_RENEW:
	case DHCP6_RELEASE:
	case DHCP6_DECLINE:
		if (!req->client_id_size || !req->server_id_size)
			return -EBADMSG;
		break;
	case DHCP6_INFORMATION_REQUEST:
		if (req->has_ia_na || req->has_ia_ta)
			return -EBADMSG;
		break;
	default:
		return DHCP_VERDICT_IGNORE; /* a server's message, a relay's, or unknown */
	}
	if (!l)
		return DHCP_VERDICT_UNKNOWN;
	server_duid(l, duid);
	if (req->server_id_size && !for_us(req, duid))
		return DHCP_VERDICT_IGNORE;
	switch (req->type) {
	case DHCP6_SOLICIT:
		/* Stateless subnets give no addresses: the client asks with
		 * Information-request (section 18.3.9 lets a server that has
		 * none stay silent). */
		if (!l->stateful || !req->has_ia_na)
			return DHCP_VERDICT_IGNORE;
		type = req->rapid_commit ? DHCP6_REPLY : DHCP6_ADVERTISE;
		give_ia = true;
		break;
	case DHCP6_REQUEST:
	case DHCP6_RENEW:
	case DHCP6_REBIND:
		if (!l->stateful || !req->has_ia_na)
			return DHCP_VERDICT_IGNORE;
		give_ia = true;
		break;
	case DHCP6_CONFIRM:
		/* Section 18.3.3: whether the client's addresses are on the
		 * link; ours is the only one it can have. */
		if (!l->stateful || !req->has_iaaddr)
			return DHCP_VERDICT_IGNORE;
		with_config = false;
		break;
	case DHCP6_RELEASE:
		verdict = DHCP_VERDICT_RELEASE;
		with_config = false;
		break;
	case DHCP6_DECLINE:
		verdict = DHCP_VERDICT_DECLINE;
		with_config = false;
		break;
	default:
		break;
	}
	if (max < HEADER_SIZE)
		return -ENOBUFS;
	out[0] = type;
	memcpy(out + 1, req->xid, 3);
	w.used = HEADER_SIZE;
	if (req->client_id_size)
		opt_data(&w, DHCP6_OPT_CLIENTID, req->client_id, req->client_id_size);
	opt_data(&w, DHCP6_OPT_SERVERID, duid, sizeof(duid));
	if (req->type == DHCP6_SOLICIT && req->rapid_commit)
		opt_data(&w, DHCP6_OPT_RAPID_COMMIT, NULL, 0);
	if (give_ia)
		ia_na(&w, req, l);
	if (req->type == DHCP6_CONFIRM)
		status(&w, memcmp(req->iaaddr, l->addr, 16) == 0 ? DHCP6_STATUS_SUCCESS
								 : DHCP6_STATUS_NOT_ON_LINK);
	else if (!with_config)
		status(&w, DHCP6_STATUS_SUCCESS);
	if (with_config)
		config(&w, l);
	if (w.full)
		return -ENOBUFS;
	*ret_size = w.used;
	return verdict;
}

int dhcp6_server_process(const struct frame6 *f, dhcp6_lookup_fn lookup, void *userdata,
			 uint8_t *out, size_t out_max, size_t *out_len, struct dhcp_stats *st)
{
	struct dhcp_stats dummy;
	struct dhcp6_message m;
	const struct dhcp6_lease *l;
	uint8_t payload[PAYLOAD_MAX];
	size_t size = 0;
	struct frame6 r = {.next = FRAME6_PROTO_UDP, .hop_limit = 255};
	int v;

	if (!st)
		st = &dummy;
	st->received++;
	if (f->next != FRAME6_PROTO_UDP || f->udp_dst != DHCP6_SERVER_PORT ||
	    dhcp6_message_parse(f->payload, f->payload_size, &m) < 0) {
		st->dropped_malformed++;
		return -EBADMSG;
	}
	l = lookup(f->eth_src, userdata);
	v = dhcp6_server_answer(&m, l, payload, sizeof(payload), &size);
	switch (v) {
	case -EBADMSG:
		st->dropped_malformed++;
		return v;
	case DHCP_VERDICT_UNKNOWN:
		st->dropped_unknown++;
		return 0;
	case DHCP_VERDICT_IGNORE:
		st->ignored++;
		return 0;
	case DHCP_VERDICT_RELEASE:
		st->released++;
		break;
	case DHCP_VERDICT_DECLINE:
		st->declined++;
		break;
	case DHCP_VERDICT_REPLY:
		break;
	default:
		st->failed++;
		return v;
	}
	/* Section 18.3.10: to the client's address and port it sent from. */
	memcpy(r.eth_dst, f->eth_src, 6);
	memcpy(r.eth_src, l->server_mac, 6);
	ip6_link_local(l->server_mac, r.src);
	memcpy(r.dst, f->src, 16);
	r.udp_src = DHCP6_SERVER_PORT;
	r.udp_dst = f->udp_src;
	r.payload = payload;
	r.payload_size = size;
	v = frame6_build(&r, out, out_max, out_len);
	if (v < 0) {
		st->failed++;
		return -ENOBUFS;
	}
	if (m.type != DHCP6_RELEASE && m.type != DHCP6_DECLINE)
		st->replied++;
	return 1;
}
