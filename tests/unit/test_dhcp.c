/* The DHCP codec and server core: packed packets through the whole
 * dhcp_server_process() path (DORA, renew, rebind, init-reboot, release,
 * decline, inform, relays), hand-written bytes for the parsers, hostile
 * frames that must be dropped and counted, and option 121 against the
 * encodings worked out from RFC 3442's examples. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "dhcp/extra.h"
#include "dhcp/packet.h"
#include "dhcp/server.h"
#include "test.h"

#define IP(a, b, c, d) (((uint32_t) (a) << 24) | ((uint32_t) (b) << 16) | ((c) << 8) | (d))

static const uint8_t vm_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t other_mac[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
static const uint8_t srv_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
static const uint8_t relay_mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void lease_init(struct dhcp_lease *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, vm_mac, 6);
	memcpy(l->server_mac, srv_mac, 6);
	l->ip = IP(10, 0, 0, 5);
	l->netmask = IP(255, 255, 255, 0);
	l->router = IP(10, 0, 0, 1);
	l->server_id = IP(10, 0, 0, 1);
	l->dns[0] = IP(192, 0, 2, 53);
	l->dns[1] = IP(192, 0, 2, 54);
	l->n_dns = 2;
	l->mtu = 1450;
	l->lease_secs = 3600;
	strcpy(l->hostname, "vm1");
	strcpy(l->domain, "example.org");
}

static const struct dhcp_lease *lookup_one(const uint8_t mac[6], void *userdata)
{
	const struct dhcp_lease *l = userdata;

	return memcmp(mac, l->mac, 6) == 0 ? l : NULL;
}

/* A request as a client would send it. */
struct req {
	uint8_t type;
	const uint8_t *mac; /* default vm_mac */
	uint32_t ciaddr, giaddr, requested_ip, server_id;
	uint16_t flags, max_size;
	const uint8_t *prl;
	size_t n_prl;
	const char *client_id;
};

static size_t build_request(const struct req *q, uint8_t *frame, size_t max)
{
	uint8_t payload[DHCP_PAYLOAD_MAX];
	struct dhcp_message h = {0};
	struct dhcp_builder b;
	struct dhcp_frame f = {0};
	size_t size = 0, fsize = 0;
	const uint8_t *mac = q->mac ? q->mac : vm_mac;

	h.op = DHCP_OP_BOOTREQUEST;
	h.htype = DHCP_HTYPE_ETHER;
	h.hlen = 6;
	h.xid = 0xdeadbeef;
	h.flags = q->flags;
	h.ciaddr = q->ciaddr;
	h.giaddr = q->giaddr;
	memcpy(h.chaddr, mac, 6);
	if (dhcp_builder_init(&b, payload, sizeof(payload), &h) < 0)
		return 0;
	if (q->type)
		(void) dhcp_builder_append_u8(&b, DHCP_OPT_MESSAGE_TYPE, q->type);
	if (q->requested_ip)
		(void) dhcp_builder_append_u32(&b, DHCP_OPT_REQUESTED_IP, q->requested_ip);
	if (q->server_id)
		(void) dhcp_builder_append_u32(&b, DHCP_OPT_SERVER_ID, q->server_id);
	if (q->max_size)
		(void) dhcp_builder_append_u16(&b, DHCP_OPT_MAX_SIZE, q->max_size);
	if (q->n_prl)
		(void) dhcp_builder_append(&b, DHCP_OPT_PARAM_REQUEST, q->prl, q->n_prl);
	if (q->client_id)
		(void) dhcp_builder_append(&b, DHCP_OPT_CLIENT_ID, q->client_id,
					   strlen(q->client_id));
	if (dhcp_builder_finish(&b, &size) < 0)
		return 0;

	memcpy(f.eth_src, q->giaddr ? relay_mac : mac, 6);
	memcpy(f.eth_dst, bcast_mac, 6);
	f.ip_src = q->giaddr ? q->giaddr : q->ciaddr;
	f.ip_dst = q->giaddr || q->ciaddr ? IP(10, 0, 0, 1) : 0xffffffff;
	f.udp_src = q->giaddr ? DHCP_SERVER_PORT : DHCP_CLIENT_PORT;
	f.udp_dst = DHCP_SERVER_PORT;
	f.payload = payload;
	f.payload_size = size;
	if (dhcp_frame_build(&f, frame, max, &fsize) < 0)
		return 0;
	return fsize;
}

/* RFC 1071 sum, for checking the checksums we were sent. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t) (p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t) p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t) sum;
}

static bool checksums_ok(const uint8_t *frame, size_t size)
{
	const uint8_t *ip = frame + 14, *udp = ip + 20;
	size_t udp_len;
	uint8_t pseudo[12];

	if (size < 42)
		return false;
	udp_len = (size_t) (udp[4] << 8 | udp[5]);
	if (fold(sum16(0, ip, 20)) != 0xffff || 42 + udp_len - 8 > size)
		return false;
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	pseudo[10] = udp[4];
	pseudo[11] = udp[5];
	return fold(sum16(sum16(0, pseudo, 12), udp, udp_len)) == 0xffff;
}

/* A reply as the client sees it. */
struct seen {
	int r;
	struct dhcp_frame f;
	struct dhcp_message m;
	uint8_t frame[DHCP_FRAME_MAX];
	size_t size;
};

static void send_req(const struct req *q, const struct dhcp_lease *l, struct dhcp_stats *st,
		     struct seen *s)
{
	uint8_t in[DHCP_FRAME_MAX];
	size_t n = build_request(q, in, sizeof(in));

	memset(s, 0, sizeof(*s));
	s->r = -1000;
	if (n == 0)
		return;
	s->r = dhcp_server_process(in, n, lookup_one, (void *) l, s->frame, sizeof(s->frame),
				   &s->size, st);
	if (s->r != 1)
		return;
	if (!checksums_ok(s->frame, s->size) ||
	    dhcp_frame_parse(s->frame, s->size, q->giaddr ? DHCP_SERVER_PORT : DHCP_CLIENT_PORT,
			     &s->f) < 0 ||
	    dhcp_message_parse(s->f.payload, s->f.payload_size, &s->m) < 0)
		s->r = -2000;
}

/* Finds option 'code' in a reply we built (options field only, first
 * instance); returns its data or NULL. */
static const uint8_t *find_opt(const struct seen *s, uint8_t code, size_t *ret_len)
{
	const uint8_t *p = s->f.payload;
	size_t i = DHCP_MIN_SIZE, n = s->f.payload_size;

	while (i < n) {
		uint8_t c = p[i];

		if (c == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		if (c == DHCP_OPT_END || i + 1 >= n || i + 2 + p[i + 1] > n)
			return NULL;
		if (c == code) {
			*ret_len = p[i + 1];
			return p + i + 2;
		}
		i += 2 + p[i + 1];
	}
	return NULL;
}

/* Position of option 'code' in the reply, or -1. */
static int opt_pos(const struct seen *s, uint8_t code)
{
	size_t len;
	const uint8_t *d = find_opt(s, code, &len);

	return d ? (int) (d - s->f.payload) : -1;
}

static uint32_t opt_u32(const struct seen *s, uint8_t code)
{
	size_t len = 0;
	const uint8_t *d = find_opt(s, code, &len);

	if (!d || len != 4)
		return 0xbad;
	return (uint32_t) d[0] << 24 | (uint32_t) d[1] << 16 | (uint32_t) d[2] << 8 | d[3];
}

static bool opt_str(const struct seen *s, uint8_t code, const char *want)
{
	size_t len = 0;
	const uint8_t *d = find_opt(s, code, &len);

	return d && len == strlen(want) && memcmp(d, want, len) == 0;
}

TEST(dhcp_dora_full)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));
	size_t len;
	const uint8_t *d;

	REQUIRE(s);
	lease_init(&l);

	/* DISCOVER without the broadcast bit: unicast OFFER to chaddr/yiaddr. */
	send_req(&(struct req){.type = DHCP_DISCOVER}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.op == DHCP_OP_BOOTREPLY && s->m.type == DHCP_OFFER);
	CHECK(s->m.xid == 0xdeadbeef && s->m.yiaddr == IP(10, 0, 0, 5) && s->m.ciaddr == 0);
	CHECK(memcmp(s->m.chaddr, vm_mac, 6) == 0 && s->m.hlen == 6 && s->m.htype == 1);
	CHECK(s->m.has_server_id && s->m.server_id == IP(10, 0, 0, 1));
	CHECK(memcmp(s->f.eth_dst, vm_mac, 6) == 0 && memcmp(s->f.eth_src, srv_mac, 6) == 0);
	CHECK(s->f.ip_src == IP(10, 0, 0, 1) && s->f.ip_dst == IP(10, 0, 0, 5));
	CHECK(s->f.udp_src == 67 && s->f.udp_dst == 68);
	CHECK(s->f.payload_size >= DHCP_BOOTP_MIN_SIZE);
	CHECK(opt_u32(s, DHCP_OPT_SUBNET_MASK) == IP(255, 255, 255, 0));
	CHECK(opt_u32(s, DHCP_OPT_ROUTER) == IP(10, 0, 0, 1));
	CHECK(opt_u32(s, DHCP_OPT_LEASE_TIME) == 3600);
	CHECK(opt_u32(s, DHCP_OPT_T1) == 1800);
	CHECK(opt_u32(s, DHCP_OPT_T2) == 3150);
	CHECK(opt_str(s, DHCP_OPT_HOSTNAME, "vm1"));
	CHECK(opt_str(s, DHCP_OPT_DOMAIN, "example.org"));
	d = find_opt(s, DHCP_OPT_DNS, &len);
	CHECK(d && len == 8 && memcmp(d, "\xc0\x00\x02\x35\xc0\x00\x02\x36", 8) == 0);
	d = find_opt(s, DHCP_OPT_MTU, &len);
	CHECK(d && len == 2 && d[0] == 0x05 && d[1] == 0xaa);
	/* No host routes: no option 121. Mask before router (RFC 2132 3.3). */
	CHECK(opt_pos(s, DHCP_OPT_CLASSLESS_ROUTES) == -1);
	CHECK(opt_pos(s, DHCP_OPT_SUBNET_MASK) < opt_pos(s, DHCP_OPT_ROUTER));

	/* With the broadcast bit: broadcast at both layers. */
	send_req(&(struct req){.type = DHCP_DISCOVER, .flags = DHCP_FLAG_BROADCAST}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(memcmp(s->f.eth_dst, bcast_mac, 6) == 0 && s->f.ip_dst == 0xffffffff);
	CHECK(s->m.flags == DHCP_FLAG_BROADCAST);

	/* REQUEST in SELECTING: ours, right address -> ACK. */
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .server_id = IP(10, 0, 0, 1),
			       .requested_ip = IP(10, 0, 0, 5),
			       .flags = DHCP_FLAG_BROADCAST},
		 &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_ACK && s->m.yiaddr == IP(10, 0, 0, 5));
	CHECK(s->f.ip_dst == 0xffffffff);
	CHECK(opt_u32(s, DHCP_OPT_LEASE_TIME) == 3600);

	/* SELECTING with the wrong address but our server id -> NAK. */
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .server_id = IP(10, 0, 0, 1),
			       .requested_ip = IP(10, 0, 0, 6)},
		 &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_NAK);

	CHECK(st.received == 4 && st.replied == 4 && st.dropped_malformed == 0);
}

TEST(dhcp_request_for_another_server_is_ignored)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .server_id = IP(10, 0, 0, 2),
			       .requested_ip = IP(10, 0, 0, 5)},
		 &l, &st, s);
	CHECK(s->r == 0 && s->size == 0);
	CHECK(st.received == 1 && st.ignored == 1 && st.replied == 0);
}

TEST(dhcp_renew_and_rebind)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	/* RENEWING: unicast from ciaddr; ACK straight back to ciaddr. */
	send_req(&(struct req){.type = DHCP_REQUEST, .ciaddr = IP(10, 0, 0, 5)}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_ACK && s->m.ciaddr == IP(10, 0, 0, 5));
	CHECK(s->m.yiaddr == IP(10, 0, 0, 5));
	CHECK(s->f.ip_dst == IP(10, 0, 0, 5) && memcmp(s->f.eth_dst, vm_mac, 6) == 0);

	/* REBINDING: same message broadcast, with the broadcast bit even:
	 * ciaddr wins (RFC 2131 section 4.1). */
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .ciaddr = IP(10, 0, 0, 5),
			       .flags = DHCP_FLAG_BROADCAST},
		 &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_ACK && s->f.ip_dst == IP(10, 0, 0, 5));

	/* Renewing an address the port no longer has: NAK, broadcast. */
	send_req(&(struct req){.type = DHCP_REQUEST, .ciaddr = IP(10, 0, 0, 9)}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_NAK && s->m.yiaddr == 0 && s->m.ciaddr == 0);
	CHECK(s->f.ip_dst == 0xffffffff && memcmp(s->f.eth_dst, bcast_mac, 6) == 0);
	CHECK(st.replied == 3);
}

TEST(dhcp_init_reboot)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));
	size_t len;

	REQUIRE(s);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_REQUEST, .requested_ip = IP(10, 0, 0, 5)}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_ACK && s->m.yiaddr == IP(10, 0, 0, 5));

	/* The VM remembers an address from another life: NAK. */
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .requested_ip = IP(10, 9, 9, 9),
			       .client_id = "\x01vm-1"},
		 &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_NAK && s->m.yiaddr == 0);
	CHECK(s->f.ip_dst == 0xffffffff && memcmp(s->f.eth_dst, bcast_mac, 6) == 0);
	CHECK(s->m.has_server_id && s->m.server_id == IP(10, 0, 0, 1));
	/* RFC 2131 table 3: no lease time, mask or router in a NAK; the
	 * client identifier is echoed (RFC 6842). */
	CHECK(opt_pos(s, DHCP_OPT_LEASE_TIME) == -1 && opt_pos(s, DHCP_OPT_SUBNET_MASK) == -1);
	CHECK(opt_pos(s, DHCP_OPT_ROUTER) == -1 && opt_pos(s, DHCP_OPT_MESSAGE) > 0);
	CHECK(s->m.client_id_size == 5 && memcmp(s->m.client_id, "\x01vm-1", 5) == 0);
	CHECK(find_opt(s, DHCP_OPT_MESSAGE, &len) && len > 0);
}

TEST(dhcp_release_decline_counted_silently)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_RELEASE,
			       .ciaddr = IP(10, 0, 0, 5),
			       .server_id = IP(10, 0, 0, 1)},
		 &l, &st, s);
	CHECK(s->r == 0);
	send_req(&(struct req){.type = DHCP_DECLINE,
			       .requested_ip = IP(10, 0, 0, 5),
			       .server_id = IP(10, 0, 0, 1)},
		 &l, &st, s);
	CHECK(s->r == 0);
	/* A DECLINE sent to another server is not about us. */
	send_req(&(struct req){.type = DHCP_DECLINE,
			       .requested_ip = IP(10, 0, 0, 5),
			       .server_id = IP(10, 0, 0, 2)},
		 &l, &st, s);
	CHECK(s->r == 0);
	CHECK(st.received == 3 && st.released == 1 && st.declined == 1 && st.ignored == 1);
	CHECK(st.replied == 0);
}

TEST(dhcp_inform)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_INFORM, .ciaddr = IP(10, 0, 0, 5)}, &l, &st, s);
	REQUIRE(s->r == 1);
	/* RFC 2131 section 3.4: configuration, but no lease and no yiaddr. */
	CHECK(s->m.type == DHCP_ACK && s->m.yiaddr == 0 && s->m.ciaddr == IP(10, 0, 0, 5));
	CHECK(opt_pos(s, DHCP_OPT_LEASE_TIME) == -1);
	CHECK(opt_pos(s, DHCP_OPT_T1) == -1 && opt_pos(s, DHCP_OPT_T2) == -1);
	CHECK(opt_u32(s, DHCP_OPT_SUBNET_MASK) == IP(255, 255, 255, 0));
	CHECK(opt_u32(s, DHCP_OPT_ROUTER) == IP(10, 0, 0, 1));
	CHECK(s->f.ip_dst == IP(10, 0, 0, 5) && memcmp(s->f.eth_dst, vm_mac, 6) == 0);
}

TEST(dhcp_unknown_mac_and_portless_lease)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));
	struct dhcp_message req = {0};
	_cleanup_free_ struct dhcp_reply *reply = calloc(1, sizeof(*reply));

	REQUIRE(s && reply);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_DISCOVER, .mac = other_mac}, &l, &st, s);
	CHECK(s->r == 0 && st.dropped_unknown == 1 && st.replied == 0);

	/* The core itself: chaddr must be the lease's MAC, and a lease
	 * without an address answers nothing. */
	req.op = DHCP_OP_BOOTREQUEST;
	req.htype = 1;
	req.hlen = 6;
	req.type = DHCP_DISCOVER;
	memcpy(req.chaddr, other_mac, 6);
	CHECK(dhcp_server_answer(&req, &l, reply) == DHCP_VERDICT_UNKNOWN);
	CHECK(dhcp_server_answer(&req, NULL, reply) == DHCP_VERDICT_UNKNOWN);
	memcpy(req.chaddr, vm_mac, 6);
	CHECK(dhcp_server_answer(&req, &l, reply) == DHCP_VERDICT_REPLY);
	l.ip = 0;
	CHECK(dhcp_server_answer(&req, &l, reply) == DHCP_VERDICT_UNKNOWN);
	l.ip = IP(10, 0, 0, 5);
	/* Not Ethernet, or not a request: malformed. */
	req.hlen = 16;
	CHECK(dhcp_server_answer(&req, &l, reply) == -EBADMSG);
	req.hlen = 6;
	req.htype = 6;
	CHECK(dhcp_server_answer(&req, &l, reply) == -EBADMSG);
	req.htype = 1;
	req.op = DHCP_OP_BOOTREPLY;
	CHECK(dhcp_server_answer(&req, &l, reply) == -EBADMSG);
	req.op = DHCP_OP_BOOTREQUEST;
	/* Server-only types from a client: ignored. */
	req.type = DHCP_OFFER;
	CHECK(dhcp_server_answer(&req, &l, reply) == DHCP_VERDICT_IGNORE);
	req.type = 42;
	CHECK(dhcp_server_answer(&req, &l, reply) == DHCP_VERDICT_IGNORE);
	/* A REQUEST that names no address at all. */
	req.type = DHCP_REQUEST;
	CHECK(dhcp_server_answer(&req, &l, reply) == -EBADMSG);
}

TEST(dhcp_relay_addressing)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	send_req(&(struct req){.type = DHCP_DISCOVER, .giaddr = IP(10, 0, 0, 254)}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_OFFER && s->m.giaddr == IP(10, 0, 0, 254));
	CHECK(s->f.ip_dst == IP(10, 0, 0, 254) && s->f.udp_dst == 67);
	CHECK(memcmp(s->f.eth_dst, relay_mac, 6) == 0);
	CHECK((s->m.flags & DHCP_FLAG_BROADCAST) == 0);

	/* A NAK through a relay carries the broadcast bit (RFC 2131 4.3.2). */
	send_req(&(struct req){.type = DHCP_REQUEST,
			       .giaddr = IP(10, 0, 0, 254),
			       .requested_ip = IP(10, 0, 0, 77)},
		 &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->m.type == DHCP_NAK && (s->m.flags & DHCP_FLAG_BROADCAST));
	CHECK(s->f.ip_dst == IP(10, 0, 0, 254));
}

TEST(dhcp_parameter_request_order)
{
	static const uint8_t prl[] = {DHCP_OPT_CLASSLESS_ROUTES, DHCP_OPT_DNS, DHCP_OPT_MTU,
				      DHCP_OPT_ROUTER,		 42,	       DHCP_OPT_DNS};
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));

	REQUIRE(s);
	lease_init(&l);
	l.routes[0].dest = IP(172, 16, 0, 0);
	l.routes[0].prefixlen = 12;
	l.routes[0].gateway = IP(10, 0, 0, 254);
	l.n_routes = 1;
	send_req(&(struct req){.type = DHCP_DISCOVER, .prl = prl, .n_prl = sizeof(prl)}, &l, &st,
		 s);
	REQUIRE(s->r == 1);
	CHECK(opt_pos(s, DHCP_OPT_MESSAGE_TYPE) < opt_pos(s, DHCP_OPT_SUBNET_MASK));
	CHECK(opt_pos(s, DHCP_OPT_SUBNET_MASK) < opt_pos(s, DHCP_OPT_CLASSLESS_ROUTES));
	CHECK(opt_pos(s, DHCP_OPT_CLASSLESS_ROUTES) < opt_pos(s, DHCP_OPT_DNS));
	CHECK(opt_pos(s, DHCP_OPT_DNS) < opt_pos(s, DHCP_OPT_MTU));
	CHECK(opt_pos(s, DHCP_OPT_MTU) < opt_pos(s, DHCP_OPT_ROUTER));
	/* Not requested, but we have them: still sent, after. */
	CHECK(opt_pos(s, DHCP_OPT_ROUTER) < opt_pos(s, DHCP_OPT_HOSTNAME));
	CHECK(opt_pos(s, DHCP_OPT_HOSTNAME) < opt_pos(s, DHCP_OPT_DOMAIN));
}

TEST(dhcp_option121_rfc3442_examples)
{
	/* RFC 3442 section 2's table of destination descriptors, each with a
	 * router of 192.0.2.1 appended, then the default route via the
	 * router because option 3 is ignored by clients that take 121. */
	static const struct {
		uint32_t dest;
		uint8_t len;
	} ex[] = {
		{IP(10, 0, 0, 0), 8},	  {IP(10, 0, 0, 0), 24},     {IP(10, 17, 0, 0), 16},
		{IP(10, 27, 129, 0), 24}, {IP(10, 229, 0, 128), 25}, {IP(10, 198, 122, 47), 32},
	};
	static const uint8_t want[] = {
		8,  10, 192, 0,	  2,   1,	     /* 10/8 */
		24, 10, 0,   0,	  192, 0,   2, 1,    /* 10.0.0/24 */
		16, 10, 17,  192, 0,   2,   1,	     /* 10.17/16 */
		24, 10, 27,  129, 192, 0,   2, 1,    /* 10.27.129/24 */
		25, 10, 229, 0,	  128, 192, 0, 2, 1, /* 10.229.0.128/25 */
		32, 10, 198, 122, 47,  192, 0, 2, 1, /* 10.198.122.47/32 */
		0,  10, 0,   0,	  1,		     /* default via router */
	};
	struct dhcp_lease l;
	uint8_t buf[512];
	int n;

	lease_init(&l);
	for (size_t i = 0; i < ARRAY_SIZE(ex); i++) {
		l.routes[i].dest = ex[i].dest;
		l.routes[i].prefixlen = ex[i].len;
		l.routes[i].gateway = IP(192, 0, 2, 1);
	}
	l.n_routes = ARRAY_SIZE(ex);
	n = dhcp_server_encode_routes(&l, buf, sizeof(buf));
	REQUIRE(n == (int) sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);
	/* Too small a buffer: refused, not truncated. */
	CHECK(dhcp_server_encode_routes(&l, buf, sizeof(want) - 1) == -ENOBUFS);

	/* Host bits are masked off; an explicit default is not doubled; a
	 * bad prefix length is skipped. */
	l.routes[0].dest = IP(10, 31, 2, 3);
	l.routes[0].prefixlen = 12; /* 10.16.0.0/12 */
	l.routes[1].dest = 0;
	l.routes[1].prefixlen = 0;
	l.routes[1].gateway = IP(10, 0, 0, 254);
	l.routes[2].prefixlen = 33;
	l.n_routes = 3;
	n = dhcp_server_encode_routes(&l, buf, sizeof(buf));
	CHECK(n == 12 && memcmp(buf, "\x0c\x0a\x10\xc0\x00\x02\x01\x00\x0a\x00\x00\xfe", 12) == 0);

	/* No router: no default added. */
	l.router = 0;
	l.n_routes = 1;
	n = dhcp_server_encode_routes(&l, buf, sizeof(buf));
	CHECK(n == 7 && memcmp(buf, "\x0c\x0a\x10\xc0\x00\x02\x01", 7) == 0);
}

TEST(dhcp_option121_in_reply_and_split)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));
	uint8_t want[400], got[400];
	size_t len, got_n = 0;
	const uint8_t *d;
	int n;

	REQUIRE(s);
	lease_init(&l);
	l.routes[0].dest = IP(172, 16, 0, 0);
	l.routes[0].prefixlen = 12;
	l.routes[0].gateway = IP(10, 0, 0, 254);
	l.n_routes = 1;
	send_req(&(struct req){.type = DHCP_DISCOVER}, &l, &st, s);
	REQUIRE(s->r == 1);
	d = find_opt(s, DHCP_OPT_CLASSLESS_ROUTES, &len);
	CHECK(d && len == 12 &&
	      memcmp(d, "\x0c\xac\x10\x0a\x00\x00\xfe\x00\x0a\x00\x00\x01", 12) == 0);
	/* Option 3 is still sent for clients without 121 (RFC 3442). */
	CHECK(opt_u32(s, DHCP_OPT_ROUTER) == IP(10, 0, 0, 1));

	/* 32 host routes: 293 octets, more than one option can hold. With
	 * the default 548-octet limit it does not fit and is left out... */
	for (size_t i = 0; i < DHCP_LEASE_MAX_ROUTES; i++) {
		l.routes[i].dest = IP(172, 16, 0, i);
		l.routes[i].prefixlen = 32;
		l.routes[i].gateway = IP(10, 0, 0, 254);
	}
	l.n_routes = DHCP_LEASE_MAX_ROUTES;
	send_req(&(struct req){.type = DHCP_DISCOVER}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(s->f.payload_size <= DHCP_DEFAULT_MAX_SIZE);
	CHECK(opt_pos(s, DHCP_OPT_CLASSLESS_ROUTES) == -1);
	CHECK(opt_u32(s, DHCP_OPT_ROUTER) == IP(10, 0, 0, 1));

	/* ...and when the client allows 1500 octets it comes split in two
	 * instances (RFC 3396) whose concatenation is the encoding. */
	send_req(&(struct req){.type = DHCP_DISCOVER, .max_size = 1500}, &l, &st, s);
	REQUIRE(s->r == 1);
	n = dhcp_server_encode_routes(&l, want, sizeof(want));
	REQUIRE(n == 32 * 9 + 5);
	{
		const uint8_t *p = s->f.payload;
		size_t i = DHCP_MIN_SIZE, instances = 0;

		while (i + 1 < s->f.payload_size && p[i] != DHCP_OPT_END) {
			if (p[i] == DHCP_OPT_CLASSLESS_ROUTES) {
				memcpy(got + got_n, p + i + 2, p[i + 1]);
				got_n += p[i + 1];
				instances++;
			}
			i += 2u + p[i + 1];
		}
		CHECK(instances == 2);
	}
	CHECK(got_n == (size_t) n && memcmp(got, want, got_n) == 0);
}

/* A DHCP message: a zeroed fixed part, the magic cookie, then 'opts'. */
static size_t raw_message(uint8_t *buf, const uint8_t *opts, size_t n)
{
	memset(buf, 0, DHCP_MIN_SIZE);
	buf[0] = 1;
	buf[1] = 1;
	buf[2] = 6;
	memcpy(buf + 28, vm_mac, 6);
	memcpy(buf + 236, "\x63\x82\x53\x63", 4);
	memcpy(buf + DHCP_MIN_SIZE, opts, n);
	return DHCP_MIN_SIZE + n;
}

#define RAW(buf, ...)                                                                              \
	raw_message(buf, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

TEST(dhcp_message_parse_hand_written)
{
	uint8_t buf[600] = {0};
	struct dhcp_message m;
	size_t n;

	/* Nothing, or less than the fixed part. */
	CHECK(dhcp_message_parse(buf, 0, &m) == -EBADMSG);
	CHECK(dhcp_message_parse(NULL, 0, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 1, 255);
	CHECK(dhcp_message_parse(buf, DHCP_MIN_SIZE - 1, &m) == -EBADMSG);

	/* The smallest valid DISCOVER. */
	memset(&m, 0x5a, sizeof(m));
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_DISCOVER && m.op == 1 && m.hlen == 6 && m.n_prl == 0);
	CHECK(!m.has_server_id && !m.has_requested_ip && m.client_id_size == 0);
	CHECK(memcmp(m.chaddr, vm_mac, 6) == 0);

	/* No message type: BOOTP, refused. Only END, only PAD. */
	n = RAW(buf, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 0, 0, 0);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	CHECK(dhcp_message_parse(buf, DHCP_MIN_SIZE, &m) == -EBADMSG);

	/* Option length past the end of the buffer; length octet missing. */
	n = RAW(buf, 53, 1, 1, 12, 10, 'v', 'm');
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 1, 12);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);

	/* Wrong lengths for options we act on. */
	n = RAW(buf, 53, 2, 1, 1, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 3, 50, 3, 10, 0, 0, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 3, 54, 5, 10, 0, 0, 1, 1, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 3, 57, 1, 5, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);

	/* Bad magic; huge hlen. */
	n = RAW(buf, 53, 1, 1, 255);
	buf[239] = 0x64;
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	n = RAW(buf, 53, 1, 1, 255);
	buf[2] = 255;
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
	buf[2] = 16;
	CHECK(dhcp_message_parse(buf, n, &m) == 0);

	/* PAD anywhere, garbage after END ignored, no END at all accepted. */
	n = RAW(buf, 0, 0, 53, 1, 3, 0, 50, 4, 10, 0, 0, 5, 54, 4, 10, 0, 0, 1, 255, 12, 200);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_REQUEST && m.has_requested_ip && m.requested_ip == IP(10, 0, 0, 5));
	CHECK(m.has_server_id && m.server_id == IP(10, 0, 0, 1));
	n = RAW(buf, 53, 1, 8, 57, 2, 0x05, 0xdc);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_INFORM && m.max_size == 1500);

	/* Parameter request list and client id over two instances each
	 * (RFC 3396), concatenated. */
	n = RAW(buf, 55, 2, 1, 3, 53, 1, 1, 61, 2, 1, 2, 55, 1, 121, 61, 1, 3, 255);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.n_prl == 3 && m.prl[0] == 1 && m.prl[1] == 3 && m.prl[2] == 121);
	CHECK(m.client_id_size == 3 && memcmp(m.client_id, "\x01\x02\x03", 3) == 0);
}

TEST(dhcp_message_parse_overload)
{
	uint8_t buf[600] = {0};
	struct dhcp_message m;
	size_t n;

	/* Overload 1: the message type lives in 'file' (offset 108). */
	n = RAW(buf, 52, 1, 1, 255);
	memcpy(buf + 108, "\x35\x01\x01\xff", 4);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_DISCOVER && m.overload == 1);

	/* Overload 2: in 'sname' (offset 44); 'file' not read. */
	n = RAW(buf, 52, 1, 2, 255);
	memcpy(buf + 44, "\x35\x01\x03\xff", 4);
	memcpy(buf + 108, "\x35\x01\x01\xff", 4);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_REQUEST);

	/* Overload 3: 'file' then 'sname', so sname's value wins. */
	n = RAW(buf, 52, 1, 3, 255);
	memcpy(buf + 44, "\x35\x01\x03\xff", 4);
	memcpy(buf + 108, "\x35\x01\x01\xff", 4);
	REQUIRE(dhcp_message_parse(buf, n, &m) == 0);
	CHECK(m.type == DHCP_REQUEST);

	/* An option that runs out of 'file' (128 octets) is malformed, even
	 * though the buffer goes on. */
	n = RAW(buf, 52, 1, 1, 255);
	memset(buf + 108, 0, 128);
	buf[108 + 125] = 12;
	buf[108 + 126] = 5;
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);

	/* Overload inside 'file' does not chain into 'sname'. */
	n = RAW(buf, 52, 1, 1, 255);
	memset(buf + 108, 0, 128);
	memcpy(buf + 108, "\x34\x01\x02\xff", 4);
	memcpy(buf + 44, "\x35\x01\x01\xff", 4);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG); /* no type found */

	/* Values other than 1..3 are malformed. */
	n = RAW(buf, 53, 1, 1, 52, 1, 4, 255);
	CHECK(dhcp_message_parse(buf, n, &m) == -EBADMSG);
}

/* A frame around a DISCOVER, for the frame parser and the hostile cases. */
static size_t good_frame(uint8_t *frame, size_t max)
{
	return build_request(&(struct req){.type = DHCP_DISCOVER}, frame, max);
}

static void fix_ip_checksum(uint8_t *frame)
{
	uint8_t *ip = frame + 14;
	size_t ihl = (size_t) (ip[0] & 15) * 4;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t) ~fold(sum16(0, ip, ihl));
	ip[10] = (uint8_t) (c >> 8);
	ip[11] = (uint8_t) c;
}

TEST(dhcp_frame_parse_hand_written)
{
	/* Ethernet, IPv4 (checksum computed below), UDP 68 -> 67, and a
	 * 248-octet DHCP DISCOVER. */
	static const uint8_t hdr[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12,
		0x34, 0x56, 0x08, 0x00, /* Ethernet */
		0x45, 0x00, 0x01, 0x14, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0,	  0,	0,    0,    0xff, 0xff, 0xff, 0xff, /* IPv4, total 276 */
		0x00, 0x44, 0x00, 0x43, 0x01, 0x00, 0x00, 0x00,		    /* UDP, length 256 */
	};
	uint8_t frame[400] = {0};
	struct dhcp_frame f;
	struct dhcp_message m;

	memcpy(frame, hdr, sizeof(hdr));
	RAW(frame + 42, 53, 1, 1, 255, 0, 0, 0, 0);
	fix_ip_checksum(frame);
	REQUIRE(dhcp_frame_parse(frame, 42 + 248, 67, &f) == 0);
	CHECK(f.udp_src == 68 && f.udp_dst == 67 && f.ip_dst == 0xffffffff && f.ip_src == 0);
	CHECK(memcmp(f.eth_src, vm_mac, 6) == 0 && f.payload_size == 248);
	CHECK(f.payload == frame + 42);
	CHECK(dhcp_message_parse(f.payload, f.payload_size, &m) == 0 && m.type == DHCP_DISCOVER);
	/* Ethernet padding after the datagram is fine. */
	CHECK(dhcp_frame_parse(frame, 42 + 248 + 60, 67, &f) == 0 && f.payload_size == 248);
	/* Wrong port, truncated. */
	CHECK(dhcp_frame_parse(frame, 42 + 248, 68, &f) == -EBADMSG);
	CHECK(dhcp_frame_parse(frame, 42 + 247, 67, &f) == -EBADMSG);
	CHECK(dhcp_frame_parse(frame, 0, 67, &f) == -EBADMSG);
	/* Checksum broken. */
	frame[22]++;
	CHECK(dhcp_frame_parse(frame, 42 + 248, 67, &f) == -EBADMSG);
	frame[22]--;
	CHECK(dhcp_frame_parse(frame, 42 + 248, 67, &f) == 0);
	/* With 4 octets of IP options (IHL 6): the UDP header moves. */
	memmove(frame + 38, frame + 34, 8 + 248);
	memset(frame + 34, 1, 4); /* NOPs */
	frame[14] = 0x46;
	frame[17] = 0x18; /* total 280 */
	fix_ip_checksum(frame);
	REQUIRE(dhcp_frame_parse(frame, 46 + 248, 67, &f) == 0);
	CHECK(f.payload == frame + 46 && f.payload_size == 248);
}

/* Mutates a good DISCOVER frame with 'mutate' and checks it is dropped as
 * malformed and counted. */
static bool dropped(void (*mutate)(uint8_t *frame, size_t *size), bool fix_csum)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	uint8_t in[DHCP_FRAME_MAX + 64] = {0}, out[DHCP_FRAME_MAX];
	size_t n = good_frame(in, DHCP_FRAME_MAX), out_len = 12345;
	int r;

	lease_init(&l);
	mutate(in, &n);
	if (fix_csum)
		fix_ip_checksum(in);
	r = dhcp_server_process(in, n, lookup_one, &l, out, sizeof(out), &out_len, &st);
	return r == -EBADMSG && st.received == 1 && st.dropped_malformed == 1 && st.replied == 0 &&
	       out_len == 12345;
}

static void m_port68(uint8_t *f, size_t *n)
{
	(void) n;
	f[37] = 68;
}
static void m_ihl4(uint8_t *f, size_t *n)
{
	(void) n;
	f[14] = 0x44;
}
static void m_ihl15(uint8_t *f, size_t *n)
{
	(void) n;
	f[14] = 0x4f;
	*n = 14 + 40;
}
static void m_ipv6(uint8_t *f, size_t *n)
{
	(void) n;
	f[14] = 0x65;
}
static void m_total_long(uint8_t *f, size_t *n)
{
	f[16] = (uint8_t) ((*n - 14 + 1) >> 8);
	f[17] = (uint8_t) (*n - 14 + 1);
}
static void m_total_short(uint8_t *f, size_t *n)
{
	(void) n;
	f[16] = 0;
	f[17] = 27;
}
static void m_udp_long(uint8_t *f, size_t *n)
{
	f[38] = (uint8_t) ((*n - 34 + 1) >> 8);
	f[39] = (uint8_t) (*n - 34 + 1);
}
static void m_udp_short(uint8_t *f, size_t *n)
{
	(void) n;
	f[38] = 0;
	f[39] = 7;
}
static void m_tcp(uint8_t *f, size_t *n)
{
	(void) n;
	f[23] = 6;
}
static void m_fragment(uint8_t *f, size_t *n)
{
	(void) n;
	f[20] = 0x20; /* more fragments */
}
static void m_vlan(uint8_t *f, size_t *n)
{
	(void) n;
	f[12] = 0x81;
}
static void m_empty(uint8_t *f, size_t *n)
{
	(void) f;
	*n = 0;
}
static void m_hlen(uint8_t *f, size_t *n)
{
	(void) n;
	f[42 + 2] = 200;
}
static void m_no_type(uint8_t *f, size_t *n)
{
	/* Replace option 53 by PADs. */
	(void) n;
	f[42 + 240] = f[42 + 241] = f[42 + 242] = 0;
}
static void m_opt_past_end(uint8_t *f, size_t *n)
{
	/* Cut the UDP payload right after a hostile option header. */
	size_t udp_len = 8 + 240 + 3 + 2;

	f[42 + 243] = 12;
	f[42 + 244] = 255;
	f[38] = (uint8_t) (udp_len >> 8);
	f[39] = (uint8_t) udp_len;
	f[16] = (uint8_t) ((udp_len + 20) >> 8);
	f[17] = (uint8_t) (udp_len + 20);
	*n = 34 + udp_len;
}
static void m_bad_magic(uint8_t *f, size_t *n)
{
	(void) n;
	f[42 + 236] = 0;
}
static void m_bootreply(uint8_t *f, size_t *n)
{
	(void) n;
	f[42] = 2;
}
static void m_htype(uint8_t *f, size_t *n)
{
	(void) n;
	f[43] = 6;
}

TEST(dhcp_hostile_frames_dropped_and_counted)
{
	CHECK(dropped(m_port68, false));
	CHECK(dropped(m_ihl4, true));
	CHECK(dropped(m_ihl15, false));
	CHECK(dropped(m_ipv6, true));
	CHECK(dropped(m_total_long, true));
	CHECK(dropped(m_total_short, true));
	CHECK(dropped(m_udp_long, false));
	CHECK(dropped(m_udp_short, false));
	CHECK(dropped(m_tcp, true));
	CHECK(dropped(m_fragment, true));
	CHECK(dropped(m_vlan, false));
	CHECK(dropped(m_empty, false));
	CHECK(dropped(m_hlen, false));
	CHECK(dropped(m_no_type, false));
	CHECK(dropped(m_opt_past_end, true));
	CHECK(dropped(m_bad_magic, false));
	CHECK(dropped(m_bootreply, false));
	CHECK(dropped(m_htype, false));
	/* An IP header checksum that no longer matches. */
	CHECK(dropped(m_tcp, false));
}

TEST(dhcp_every_truncation_and_bit_flip_is_safe)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	uint8_t in[DHCP_FRAME_MAX], out[DHCP_FRAME_MAX], *copy;
	size_t n, out_len;
	uint64_t calls = 0;

	lease_init(&l);
	n = good_frame(in, sizeof(in));
	REQUIRE(n > 42);
	for (size_t cut = 0; cut <= n; cut++) {
		/* An exactly sized heap copy, so ASan sees any overread. */
		copy = malloc(cut ? cut : 1);
		REQUIRE(copy);
		memcpy(copy, in, cut);
		(void) dhcp_server_process(copy, cut, lookup_one, &l, out, sizeof(out), &out_len,
					   &st);
		calls++;
		free(copy);
	}
	/* Only the whole frame (and its Ethernet padding) parse. */
	CHECK(st.replied == 1 && st.dropped_malformed == calls - 1);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			copy = malloc(n);
			REQUIRE(copy);
			memcpy(copy, in, n);
			copy[i] ^= (uint8_t) (1u << bit);
			(void) dhcp_server_process(copy, n, lookup_one, &l, out, sizeof(out),
						   &out_len, &st);
			calls++;
			free(copy);
		}
	}
	CHECK(st.received == calls);
	CHECK(st.received == st.replied + st.dropped_malformed + st.dropped_unknown + st.released +
				     st.declined + st.ignored + st.failed);
}

TEST(dhcp_small_output_buffer)
{
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	uint8_t in[DHCP_FRAME_MAX], out[100];
	size_t n, out_len = 7;

	lease_init(&l);
	n = good_frame(in, sizeof(in));
	CHECK(dhcp_server_process(in, n, lookup_one, &l, out, sizeof(out), &out_len, &st) ==
	      -ENOBUFS);
	CHECK(out_len == 7 && st.failed == 1 && st.replied == 0);
	/* st may be NULL. */
	CHECK(dhcp_server_process(in, n, lookup_one, &l, out, sizeof(out), &out_len, NULL) ==
	      -ENOBUFS);
}

TEST(dhcp_builder_bounds)
{
	uint8_t buf[DHCP_MIN_SIZE + 8], big[600], data[256];
	struct dhcp_message h = {.op = 1, .htype = 1, .hlen = 6};
	struct dhcp_builder b;
	size_t size;

	CHECK(dhcp_builder_init(&b, buf, DHCP_MIN_SIZE, &h) == -ENOBUFS);
	REQUIRE(dhcp_builder_init(&b, buf, sizeof(buf), &h) == 0);
	/* 8 free octets, one kept for END: a 5-octet option fits (7), then
	 * nothing more. */
	CHECK(dhcp_builder_append(&b, 12, "abcde", 5) == 0);
	CHECK(dhcp_builder_append(&b, 12, "", 0) == -ENOBUFS);
	CHECK(dhcp_builder_append(&b, DHCP_OPT_END, "", 0) == -EINVAL);
	CHECK(dhcp_builder_finish(&b, &size) == 0 && size == sizeof(buf));
	CHECK(buf[size - 1] == DHCP_OPT_END);

	/* Padded to 300 when there is room; long options split. */
	memset(data, 0xee, sizeof(data));
	REQUIRE(dhcp_builder_init(&b, big, sizeof(big), &h) == 0);
	CHECK(dhcp_builder_append(&b, 43, data, sizeof(data)) == 0);
	CHECK(big[240] == 43 && big[241] == 255 && big[240 + 257] == 43 && big[240 + 258] == 1);
	CHECK(dhcp_builder_finish(&b, &size) == 0 && size == 240 + 257 + 3 + 1);
	REQUIRE(dhcp_builder_init(&b, big, sizeof(big), &h) == 0);
	CHECK(dhcp_builder_finish(&b, &size) == 0 && size == DHCP_BOOTP_MIN_SIZE);
	CHECK(big[240] == 255 && big[299] == 0);
}

TEST(dhcp_extra_options_parse)
{
	struct dhcp_extra_opt o;
	static const uint8_t search[] = {7,   'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o',
					 'r', 'g', 0,	1,   'a', 2,   'b', 'c', 0};

	CHECK(dhcp_extra_parse("bootfile-name", "pxelinux.0", &o) == 0);
	CHECK(o.code == 67 && o.size == 10 && memcmp(o.data, "pxelinux.0", 10) == 0);
	CHECK(dhcp_extra_parse("tftp-server", "123.123.123.123", &o) == 0);
	CHECK(o.code == 66 && o.size == 15); /* a name, as text */
	CHECK(dhcp_extra_parse("ntp-server", "192.0.2.1,192.0.2.2", &o) == 0);
	CHECK(o.code == 42 && o.size == 8 && o.data[3] == 1 && o.data[7] == 2);
	CHECK(dhcp_extra_parse("42", "192.0.2.9", &o) == 0 && o.code == 42 && o.size == 4);
	CHECK(dhcp_extra_parse("server-ip-address", "192.0.2.45", &o) == 0);
	CHECK(o.code == DHCP_EXTRA_NEXT_SERVER && o.size == 4 && o.data[3] == 45);
	CHECK(dhcp_extra_parse("mtu", "1400", &o) == 0 && o.size == 2 && o.data[0] == 0x05 &&
	      o.data[1] == 0x78);
	CHECK(dhcp_extra_parse("domain-search", "example.org.,a.bc", &o) == 0);
	CHECK(o.code == 119 && o.size == sizeof(search) && memcmp(o.data, search, o.size) == 0);
	/* Another option by number: addresses, or else text. */
	CHECK(dhcp_extra_parse("160", "192.0.2.1", &o) == 0 && o.code == 160 && o.size == 4);
	CHECK(dhcp_extra_parse("224", "hello", &o) == 0 && o.size == 5);
	/* Refused: unknown names, options the server owns, bad values. */
	CHECK(dhcp_extra_parse("no-such-option", "x", &o) == -ENOENT);
	CHECK(dhcp_extra_parse("51", "60", &o) == -ENOENT);
	CHECK(dhcp_extra_parse("255", "x", &o) == -ENOENT);
	CHECK(dhcp_extra_parse("300", "x", &o) == -ENOENT);
	CHECK(dhcp_extra_parse("ntp-server", "192.0.2.1,", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("ntp-server", "pool.ntp.org", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("server-ip-address", "192.0.2.1,192.0.2.2", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("mtu", "67", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("mtu", "70000", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("bootfile-name", "", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("domain-search", "a..b", &o) == -EINVAL);
	CHECK(dhcp_extra_parse("domain-search", "a b", &o) == -EINVAL);
}

TEST(dhcp_extra_options_in_reply)
{
	static const uint8_t prl[] = {DHCP_OPT_SUBNET_MASK, 67, DHCP_OPT_ROUTER};
	struct dhcp_extra_opt x[4];
	struct dhcp_lease l;
	struct dhcp_stats st = {0};
	_cleanup_free_ struct seen *s = calloc(1, sizeof(*s));
	size_t len = 0;
	const uint8_t *d;

	REQUIRE(s);
	lease_init(&l);
	REQUIRE(dhcp_extra_parse("bootfile-name", "pxelinux.0", &x[0]) == 0);
	REQUIRE(dhcp_extra_parse("server-ip-address", "192.0.2.45", &x[1]) == 0);
	REQUIRE(dhcp_extra_parse("dns-server", "198.51.100.53", &x[2]) == 0);
	REQUIRE(dhcp_extra_parse("ntp-server", "192.0.2.123", &x[3]) == 0);
	l.extra = x;
	l.n_extra = 4;
	send_req(&(struct req){.type = DHCP_DISCOVER, .prl = prl, .n_prl = sizeof(prl)}, &l, &st,
		 s);
	REQUIRE(s->r == 1);
	CHECK(opt_str(s, 67, "pxelinux.0"));
	/* Asked for: in the client's order, before the rest. */
	CHECK(opt_pos(s, 67) < opt_pos(s, DHCP_OPT_ROUTER));
	/* An extra option replaces the lease's own of its code. */
	d = find_opt(s, DHCP_OPT_DNS, &len);
	CHECK(d && len == 4 && opt_u32(s, DHCP_OPT_DNS) == IP(198, 51, 100, 53));
	CHECK(opt_u32(s, 42) == IP(192, 0, 2, 123));
	CHECK(s->m.siaddr == IP(192, 0, 2, 45));
	/* The ACK carries them too. */
	send_req(
		&(struct req){.type = DHCP_REQUEST, .requested_ip = l.ip, .server_id = l.server_id},
		&l, &st, s);
	REQUIRE(s->r == 1 && s->m.type == DHCP_ACK);
	CHECK(opt_str(s, 67, "pxelinux.0") && s->m.siaddr == IP(192, 0, 2, 45));
	/* Without extra options: none of them. */
	l.n_extra = 0;
	send_req(&(struct req){.type = DHCP_DISCOVER}, &l, &st, s);
	REQUIRE(s->r == 1);
	CHECK(opt_pos(s, 67) < 0 && s->m.siaddr == 0);
	d = find_opt(s, DHCP_OPT_DNS, &len);
	CHECK(d && len == 8 && d[0] == 192 && d[3] == 53 && d[7] == 54);
}
