/* The DHCPv4 server core and its frame wrapper: see server.h. Behaviour
 * follows RFC 2131 section 4.3 (server side), with the model standing in
 * for the lease database: the only address a client can get is its port's. */
#include <errno.h>
#include <string.h>
#include "base/ip4.h"
#include "dhcp/server.h"

#define IP4_UDP_OVERHEAD (DHCP_IP4_HEADER_SIZE + DHCP_UDP_HEADER_SIZE)
#define MIN_IP_DATAGRAM	 576 /* RFC 2132 section 9.10: minimum legal max size */
#define MIN_MTU		 68  /* RFC 2132 section 5.1 */
#define LEASE_INFINITE	 0xffffffffu
/* Option 121: up to 32 host routes plus the default, 9 octets each at most. */
#define ROUTES_MAX_SIZE ((DHCP_LEASE_MAX_ROUTES + 1) * 9)

static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Options we may send beyond the mandatory ones, in the order used when the
 * client's parameter request list does not name them. */
static const uint8_t optional_options[] = {
	DHCP_OPT_ROUTER, DHCP_OPT_DNS, DHCP_OPT_HOSTNAME,
	DHCP_OPT_DOMAIN, DHCP_OPT_MTU, DHCP_OPT_CLASSLESS_ROUTES,
};

static int put_route(uint8_t *buf, size_t max, size_t *used, uint32_t dest, uint8_t prefixlen,
		     uint32_t gateway)
{
	/* RFC 3442 section 2: width, then only the significant octets of the
	 * destination (ceil(width / 8)), then the router's 4 octets. */
	size_t sig = (prefixlen + 7u) / 8u, need = 1 + sig + 4;

	if (need > max - *used)
		return -ENOBUFS;
	dest &= ip4_mask(prefixlen);
	buf[(*used)++] = prefixlen;
	for (size_t i = 0; i < sig; i++)
		buf[(*used)++] = (uint8_t) (dest >> (24 - 8 * i));
	for (size_t i = 0; i < 4; i++)
		buf[(*used)++] = (uint8_t) (gateway >> (24 - 8 * i));
	return 0;
}

int dhcp_server_encode_routes(const struct dhcp_lease *lease, uint8_t *buf, size_t max)
{
	size_t n =
		lease->n_routes < DHCP_LEASE_MAX_ROUTES ? lease->n_routes : DHCP_LEASE_MAX_ROUTES;
	bool has_default = false;
	size_t used = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (lease->routes[i].prefixlen > 32)
			continue;
		if (lease->routes[i].prefixlen == 0)
			has_default = true;
		r = put_route(buf, max, &used, lease->routes[i].dest, lease->routes[i].prefixlen,
			      lease->routes[i].gateway);
		if (r < 0)
			return r;
	}
	/* RFC 3442 section 2: a client that receives option 121 ignores
	 * option 3, so the default route must be in 121 as well. */
	if (lease->router && !has_default) {
		r = put_route(buf, max, &used, 0, 0, lease->router);
		if (r < 0)
			return r;
	}
	return (int) used;
}

static int append_optional(struct dhcp_builder *b, const struct dhcp_lease *l, uint8_t code)
{
	switch (code) {
	case DHCP_OPT_ROUTER: /* RFC 2132 section 3.5 */
		return l->router ? dhcp_builder_append_u32(b, code, l->router) : 0;
	case DHCP_OPT_DNS: { /* RFC 2132 section 3.8 */
		size_t n = l->n_dns < DHCP_LEASE_MAX_DNS ? l->n_dns : DHCP_LEASE_MAX_DNS;
		uint8_t d[DHCP_LEASE_MAX_DNS * 4];

		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < 4; k++)
				d[i * 4 + k] = (uint8_t) (l->dns[i] >> (24 - 8 * k));
		return n ? dhcp_builder_append(b, code, d, n * 4) : 0;
	}
	case DHCP_OPT_HOSTNAME: { /* RFC 2132 section 3.14: minimum length 1 */
		size_t n = strnlen(l->hostname, sizeof(l->hostname));

		return n ? dhcp_builder_append(b, code, l->hostname, n) : 0;
	}
	case DHCP_OPT_DOMAIN: { /* RFC 2132 section 3.17 */
		size_t n = strnlen(l->domain, sizeof(l->domain));

		return n ? dhcp_builder_append(b, code, l->domain, n) : 0;
	}
	case DHCP_OPT_MTU: /* RFC 2132 section 5.1: at least 68 */
		return l->mtu >= MIN_MTU ? dhcp_builder_append_u16(b, code, l->mtu) : 0;
	case DHCP_OPT_CLASSLESS_ROUTES: { /* RFC 3442 */
		uint8_t d[ROUTES_MAX_SIZE];
		int n;

		if (l->n_routes == 0)
			return 0;
		n = dhcp_server_encode_routes(l, d, sizeof(d));
		if (n <= 0)
			return n;
		return dhcp_builder_append(b, code, d, (size_t) n);
	}
	default:
		return 0;
	}
}

static bool is_optional(uint8_t code)
{
	return memchr(optional_options, code, sizeof(optional_options)) != NULL;
}

/* The port's extra option with this code, or NULL. */
static const struct dhcp_extra_opt *extra_opt(const struct dhcp_lease *l, uint8_t code)
{
	for (size_t i = 0; i < l->n_extra; i++)
		if (l->extra[i].code == code)
			return &l->extra[i];
	return NULL;
}

/* An option of the reply: the port's extra option of that code when it has
 * one, else the lease's own. */
static void append_option(struct dhcp_builder *b, const struct dhcp_lease *l, uint8_t code)
{
	const struct dhcp_extra_opt *x = extra_opt(l, code);

	if (x)
		(void) dhcp_builder_append(b, code, x->data, x->size);
	else
		(void) append_optional(b, l, code);
}

/* The largest reply the client takes: 548 octets of DHCP message unless it
 * announced more with option 57 (RFC 2131 section 2, RFC 2132 section
 * 9.10), never more than the link's MTU or our buffer. Option 57 is read
 * as the IP datagram's size, the conservative reading. */
static size_t reply_limit(const struct dhcp_message *req, const struct dhcp_lease *l)
{
	size_t limit = DHCP_DEFAULT_MAX_SIZE;

	if (req->max_size > MIN_IP_DATAGRAM)
		limit = (size_t) req->max_size - IP4_UDP_OVERHEAD;
	if (l->mtu >= MIN_IP_DATAGRAM && (size_t) l->mtu - IP4_UDP_OVERHEAD < limit)
		limit = (size_t) l->mtu - IP4_UDP_OVERHEAD;
	if (limit > DHCP_PAYLOAD_MAX)
		limit = DHCP_PAYLOAD_MAX;
	return limit;
}

/* RFC 2131 section 4.1, last paragraphs: relay first, then NAKs broadcast,
 * then ciaddr, then the broadcast bit, else unicast to chaddr/yiaddr. */
static void choose_dest(const struct dhcp_message *req, uint8_t type, uint32_t yiaddr,
			struct dhcp_reply *r)
{
	if (req->giaddr) {
		r->dest = DHCP_DEST_RELAY;
		r->ip_dst = req->giaddr;
		r->udp_dst = DHCP_SERVER_PORT;
	} else if (type == DHCP_NAK) {
		r->dest = DHCP_DEST_BROADCAST;
	} else if (req->ciaddr) {
		r->dest = DHCP_DEST_CLIENT;
		r->ip_dst = req->ciaddr;
	} else if (req->flags & DHCP_FLAG_BROADCAST || !yiaddr) {
		r->dest = DHCP_DEST_BROADCAST;
	} else {
		r->dest = DHCP_DEST_CLIENT;
		r->ip_dst = yiaddr;
	}
	if (r->dest == DHCP_DEST_BROADCAST)
		r->ip_dst = 0xffffffffu;
	if (r->dest != DHCP_DEST_RELAY)
		r->udp_dst = DHCP_CLIENT_PORT;
}

static int make_reply(const struct dhcp_message *req, const struct dhcp_lease *l, uint8_t type,
		      struct dhcp_reply *ret)
{
	bool is_inform = req->type == DHCP_INFORM;
	uint32_t lease_secs = l->lease_secs ? l->lease_secs : DHCP_LEASE_SECS_DEFAULT;
	struct dhcp_message h = {0};
	struct dhcp_builder b;
	struct dhcp_reply r;
	bool done[256] = {false};
	int err;

	/* RFC 2131 section 4.3.1, table 3: the fixed fields of a reply. */
	h.op = DHCP_OP_BOOTREPLY;
	h.htype = req->htype;
	h.hlen = req->hlen;
	h.xid = req->xid;
	h.flags = req->flags;
	h.giaddr = req->giaddr;
	memcpy(h.chaddr, req->chaddr, sizeof(h.chaddr));
	if (type == DHCP_ACK)
		h.ciaddr = req->ciaddr;
	/* RFC 2131 section 3.4: an ACK to INFORM carries no yiaddr. */
	if (type != DHCP_NAK && !is_inform)
		h.yiaddr = l->ip;
	/* RFC 2131 section 4.3.2: a NAK through a relay has the broadcast
	 * bit set, so the relay broadcasts it on the client's link. */
	if (type == DHCP_NAK && req->giaddr)
		h.flags |= DHCP_FLAG_BROADCAST;
	/* RFC 2131 section 2: siaddr, the next server (a boot server). */
	if (type != DHCP_NAK) {
		const struct dhcp_extra_opt *next = extra_opt(l, DHCP_EXTRA_NEXT_SERVER);

		if (next && next->size == 4)
			h.siaddr = (uint32_t) next->data[0] << 24 | (uint32_t) next->data[1] << 16 |
				   (uint32_t) next->data[2] << 8 | next->data[3];
	}

	memset(&r, 0, sizeof(r));
	r.type = type;
	err = dhcp_builder_init(&b, r.payload, reply_limit(req, l), &h);
	if (err < 0)
		return err;
	err = dhcp_builder_append_u8(&b, DHCP_OPT_MESSAGE_TYPE, type);
	if (err >= 0)
		err = dhcp_builder_append_u32(&b, DHCP_OPT_SERVER_ID, l->server_id);
	/* RFC 6842 section 3: echo the client identifier. */
	if (err >= 0 && req->client_id_size > 0)
		err = dhcp_builder_append(&b, DHCP_OPT_CLIENT_ID, req->client_id,
					  req->client_id_size);
	if (type == DHCP_NAK) {
		/* RFC 2131 section 4.3.2, table 3: a NAK carries only 53, 54,
		 * 56 and the client identifier. */
		static const char msg[] = "requested address is not this port's";

		if (err >= 0)
			(void) dhcp_builder_append(&b, DHCP_OPT_MESSAGE, msg, sizeof(msg) - 1);
	} else {
		/* RFC 2131 section 3.4: no lease time in an ACK to INFORM. */
		if (err >= 0 && !is_inform) {
			err = dhcp_builder_append_u32(&b, DHCP_OPT_LEASE_TIME, lease_secs);
			/* RFC 2131 section 4.4.5: T1 = 0.5, T2 = 0.875 of the
			 * lease; an infinite lease is never renewed. */
			if (err >= 0 && lease_secs != LEASE_INFINITE)
				err = dhcp_builder_append_u32(&b, DHCP_OPT_T1, lease_secs / 2);
			if (err >= 0 && lease_secs != LEASE_INFINITE)
				err = dhcp_builder_append_u32(
					&b, DHCP_OPT_T2,
					(uint32_t) ((uint64_t) lease_secs * 7 / 8));
		}
		/* RFC 2132 section 3.3: the subnet mask precedes the router. */
		if (err >= 0)
			err = dhcp_builder_append_u32(&b, DHCP_OPT_SUBNET_MASK, l->netmask);
		/* Then what the client asked for, in its order, then the rest;
		 * an option that does not fit is left out (the client asked
		 * for less room than we have to say). */
		for (size_t i = 0; err >= 0 && i < req->n_prl; i++) {
			uint8_t code = req->prl[i];

			if (!done[code] && code != DHCP_EXTRA_NEXT_SERVER &&
			    (is_optional(code) || extra_opt(l, code))) {
				done[code] = true;
				append_option(&b, l, code);
			}
		}
		for (size_t i = 0; err >= 0 && i < sizeof(optional_options); i++) {
			uint8_t code = optional_options[i];

			if (!done[code]) {
				done[code] = true;
				append_option(&b, l, code);
			}
		}
		/* The port's other extra options, unasked for (as the ones
		 * above: a client takes what it knows). */
		for (size_t i = 0; err >= 0 && i < l->n_extra; i++) {
			uint8_t code = l->extra[i].code;

			if (code != DHCP_EXTRA_NEXT_SERVER && !done[code]) {
				done[code] = true;
				append_option(&b, l, code);
			}
		}
	}
	if (err >= 0)
		err = dhcp_builder_finish(&b, &r.payload_size);
	if (err < 0)
		return err;

	choose_dest(req, type, h.yiaddr, &r);
	*ret = r;
	return DHCP_VERDICT_REPLY;
}

/* RFC 2131 section 4.3.2: which state the client is in decides what the
 * address under question is. */
static int answer_request(const struct dhcp_message *req, const struct dhcp_lease *l,
			  struct dhcp_reply *ret)
{
	uint32_t addr;

	if (req->has_server_id) {
		/* SELECTING: the client chose a server; if not us, stay
		 * silent. ciaddr MUST be zero, but take it if that is all
		 * the client gave. */
		if (req->server_id != l->server_id)
			return DHCP_VERDICT_IGNORE;
		addr = req->has_requested_ip ? req->requested_ip : req->ciaddr;
	} else if (req->has_requested_ip) {
		/* INIT-REBOOT: verify the address the client remembers. */
		addr = req->requested_ip;
	} else {
		/* RENEWING (unicast) or REBINDING (broadcast): ciaddr. */
		addr = req->ciaddr;
	}
	if (!addr)
		return -EBADMSG;
	return make_reply(req, l, addr == l->ip ? DHCP_ACK : DHCP_NAK, ret);
}

int dhcp_server_answer(const struct dhcp_message *req, const struct dhcp_lease *lease,
		       struct dhcp_reply *ret)
{
	if (req->op != DHCP_OP_BOOTREQUEST)
		return -EBADMSG;
	if (req->htype != DHCP_HTYPE_ETHER || req->hlen != DHCP_HLEN_ETHER)
		return -EBADMSG;
	if (!lease || !lease->ip || memcmp(req->chaddr, lease->mac, DHCP_HLEN_ETHER) != 0)
		return DHCP_VERDICT_UNKNOWN;

	switch (req->type) {
	case DHCP_DISCOVER: /* RFC 2131 section 4.3.1 */
		return make_reply(req, lease, DHCP_OFFER, ret);
	case DHCP_REQUEST:
		return answer_request(req, lease, ret);
	case DHCP_DECLINE: /* RFC 2131 section 4.3.3 */
		if (req->has_server_id && req->server_id != lease->server_id)
			return DHCP_VERDICT_IGNORE;
		if (req->has_requested_ip && req->requested_ip != lease->ip)
			return DHCP_VERDICT_IGNORE;
		return DHCP_VERDICT_DECLINE;
	case DHCP_RELEASE: /* RFC 2131 section 4.3.4 */
		if (req->has_server_id && req->server_id != lease->server_id)
			return DHCP_VERDICT_IGNORE;
		return DHCP_VERDICT_RELEASE;
	case DHCP_INFORM: /* RFC 2131 section 4.3.5 */
		return make_reply(req, lease, DHCP_ACK, ret);
	default:
		/* OFFER, ACK, NAK and later types (FORCERENEW, LEASEQUERY,
		 * ...) are not requests this server answers. */
		return DHCP_VERDICT_IGNORE;
	}
}

int dhcp_server_process(const uint8_t *frame, size_t len, dhcp_lookup_fn lookup, void *userdata,
			uint8_t *out, size_t out_max, size_t *out_len, struct dhcp_stats *st)
{
	struct dhcp_stats scratch = {0};
	const struct dhcp_lease *lease = NULL;
	struct dhcp_frame in, rf;
	struct dhcp_message req;
	struct dhcp_reply reply;
	int r;

	if (!st)
		st = &scratch;
	st->received++;

	r = dhcp_frame_parse(frame, len, DHCP_SERVER_PORT, &in);
	if (r >= 0)
		r = dhcp_message_parse(in.payload, in.payload_size, &req);
	if (r < 0) {
		st->dropped_malformed++;
		return r;
	}
	if (lookup && req.htype == DHCP_HTYPE_ETHER && req.hlen == DHCP_HLEN_ETHER)
		lease = lookup(req.chaddr, userdata);

	r = dhcp_server_answer(&req, lease, &reply);
	if (r < 0) {
		if (r == -EBADMSG)
			st->dropped_malformed++;
		else
			st->failed++;
		return r;
	}
	switch (r) {
	case DHCP_VERDICT_REPLY:
		break;
	case DHCP_VERDICT_UNKNOWN:
		st->dropped_unknown++;
		return 0;
	case DHCP_VERDICT_RELEASE:
		st->released++;
		return 0;
	case DHCP_VERDICT_DECLINE:
		st->declined++;
		return 0;
	default:
		st->ignored++;
		return 0;
	}

	memset(&rf, 0, sizeof(rf));
	memcpy(rf.eth_src, lease->server_mac, 6);
	switch (reply.dest) {
	case DHCP_DEST_BROADCAST:
		memcpy(rf.eth_dst, broadcast_mac, 6);
		break;
	case DHCP_DEST_CLIENT:
		memcpy(rf.eth_dst, req.chaddr, 6);
		break;
	case DHCP_DEST_RELAY:
		memcpy(rf.eth_dst, in.eth_src, 6);
		break;
	}
	rf.ip_src = lease->server_id;
	rf.ip_dst = reply.ip_dst;
	rf.udp_src = DHCP_SERVER_PORT;
	rf.udp_dst = reply.udp_dst;
	rf.payload = reply.payload;
	rf.payload_size = reply.payload_size;
	r = dhcp_frame_build(&rf, out, out_max, out_len);
	if (r < 0) {
		st->failed++;
		return r;
	}
	st->replied++;
	return 1;
}
