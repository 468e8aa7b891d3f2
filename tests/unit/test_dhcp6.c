/* Router solicitations and advertisements, DHCPv6: frames built by hand,
 * answers parsed back, hostile inputs refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include "base/ipaddr.h"
#include "dhcp/dhcp6.h"
#include "dhcp/frame6.h"
#include "dhcp/nd.h"
#include "dhcp/ra.h"
#include "test.h"

static const uint8_t vm_mac[6] = {0xfa, 0x16, 0x3e, 0x11, 0x22, 0x33};
static const uint8_t router_mac[6] = {0xfa, 0x16, 0x3e, 0xaa, 0xbb, 0xcc};
static const uint8_t server_mac[6] = {0x02, 0x12, 0x34, 0x56, 0x78, 0x9a};

static void a6(const char *s, uint8_t out[16])
{
	(void) inet_pton(AF_INET6, s, out);
}

TEST(ip6_eui64_and_link_local)
{
	uint8_t prefix[16], got[16], want[16];

	a6("2001:db8:1::", prefix);
	ip6_eui64(prefix, vm_mac, got);
	a6("2001:db8:1::f816:3eff:fe11:2233", want);
	CHECK(memcmp(got, want, 16) == 0);
	ip6_link_local(vm_mac, got);
	a6("fe80::f816:3eff:fe11:2233", want);
	CHECK(memcmp(got, want, 16) == 0);
}

/* A frame from the VM: ICMPv6 or UDP, through frame6_build (which computes
 * the checksum the parser checks). */
static size_t vm_frame(uint8_t next, const uint8_t *payload, size_t size, uint8_t hop_limit,
		       uint8_t *out)
{
	struct frame6 f = {.next = next, .hop_limit = hop_limit, .udp_src = 546, .udp_dst = 547};
	size_t len = 0;

	memcpy(f.eth_src, vm_mac, 6);
	memset(f.eth_dst, 0x33, 6);
	ip6_link_local(vm_mac, f.src);
	a6(next == FRAME6_PROTO_UDP ? "ff02::1:2" : "ff02::2", f.dst);
	f.payload = payload;
	f.payload_size = size;
	(void) frame6_build(&f, out, FRAME6_MAX, &len);
	return len;
}

TEST(ra_solicit_checked_and_advert_built)
{
	uint8_t rs[16] = {133, 0, 0, 0, 0, 0, 0, 0, 1, 1};
	uint8_t frame[FRAME6_MAX], out[FRAME6_MAX], ll[16];
	struct frame6 f, r;
	size_t len, out_len = 0;
	struct ra_config c = {.router_lifetime = 180,
			      .managed = false,
			      .other = true,
			      .prefix_len = 64,
			      .autonomous = true,
			      .valid_lifetime = 86400,
			      .preferred_lifetime = 14400,
			      .mtu = 1450,
			      .n_dns = 1};
	static const uint8_t all[16] = {0xff, 0x02, [15] = 1};

	memcpy(rs + 10, vm_mac, 6);
	len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(ra_check_solicit(&f) == 0);
	/* RFC 4861 6.1.1: hop limit 255 only. */
	len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 64, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(ra_check_solicit(&f) == -EBADMSG);
	/* An option of length 0, an option past the end. */
	rs[9] = 0;
	len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(ra_check_solicit(&f) == -EBADMSG);
	rs[9] = 2;
	len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(ra_check_solicit(&f) == -EBADMSG);
	/* A bad checksum never parses. */
	rs[9] = 1;
	len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 255, frame);
	frame[len - 1] ^= 1;
	CHECK(frame6_parse(frame, len, &f) == -EBADMSG);

	memcpy(c.router_mac, router_mac, 6);
	a6("2001:db8:1::", c.prefix);
	a6("2001:db8::53", c.dns[0]);
	REQUIRE(ra_build(&c, vm_mac, all, out, sizeof(out), &out_len) == 0);
	REQUIRE(frame6_parse(out, out_len, &r) == 0);
	CHECK(memcmp(r.eth_src, router_mac, 6) == 0);
	ip6_link_local(router_mac, ll);
	CHECK(memcmp(r.src, ll, 16) == 0);
	CHECK(r.hop_limit == 255);
	REQUIRE(r.payload_size == 16 + 8 + 8 + 32 + 24);
	CHECK(r.payload[0] == 134 && r.payload[5] == 0x40);
	CHECK(frame6_get16(r.payload + 6) == 180);
	/* Source link-layer, MTU, prefix (L and A), RDNSS. */
	CHECK(r.payload[16] == 1 && memcmp(r.payload + 18, router_mac, 6) == 0);
	CHECK(r.payload[24] == 5 && frame6_get16(r.payload + 30) == 1450);
	CHECK(r.payload[32] == 3 && r.payload[34] == 64 && r.payload[35] == 0xc0);
	CHECK(memcmp(r.payload + 48, c.prefix, 16) == 0);
	CHECK(r.payload[64] == 25 && r.payload[65] == 3);
	/* Stateful: M, and no SLAAC from the prefix. */
	c.managed = true;
	c.autonomous = false;
	REQUIRE(ra_build(&c, vm_mac, all, out, sizeof(out), &out_len) == 0);
	REQUIRE(frame6_parse(out, out_len, &r) == 0);
	CHECK(r.payload[5] == 0xc0 && r.payload[35] == 0x80);
}

static struct dhcp6_lease lease;

static const struct dhcp6_lease *lookup(const uint8_t mac[6], void *userdata)
{
	(void) userdata;
	return memcmp(mac, lease.mac, 6) == 0 ? &lease : NULL;
}

static void lease_init(bool stateful)
{
	memset(&lease, 0, sizeof(lease));
	memcpy(lease.mac, vm_mac, 6);
	memcpy(lease.server_mac, server_mac, 6);
	lease.stateful = stateful;
	a6("2001:db8:1::f816:3eff:fe11:2233", lease.addr);
	a6("2001:db8::53", lease.dns[0]);
	lease.n_dns = 1;
	snprintf(lease.domain, sizeof(lease.domain), "example.org.");
	lease.lease_secs = 3600;
}

/* A client message: type, xid 0x010203, then options as given. */
static size_t msg(uint8_t *buf, uint8_t type, const uint8_t *opts, size_t size)
{
	buf[0] = type;
	buf[1] = 1, buf[2] = 2, buf[3] = 3;
	memcpy(buf + 4, opts, size);
	return 4 + size;
}

static const uint8_t client_id[] = {0, 1, 0, 10, 0, 3, 0, 1, 0xfa, 0x16, 0x3e, 0x11, 0x22, 0x33};
static const uint8_t ia_na[] = {0, 3, 0, 12, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0};

/* Runs a message through the frame path; the reply's DHCPv6 payload, or
 * NULL. */
static int run(const uint8_t *m, size_t size, struct frame6 *reply, uint8_t *out,
	       struct dhcp_stats *st)
{
	uint8_t frame[FRAME6_MAX];
	size_t len = vm_frame(FRAME6_PROTO_UDP, m, size, 1, frame), out_len = 0;
	struct frame6 f;
	int r;

	if (frame6_parse(frame, len, &f) < 0)
		return -EBADMSG;
	r = dhcp6_server_process(&f, lookup, NULL, out, FRAME6_MAX, &out_len, st);
	if (r == 1 && frame6_parse(out, out_len, reply) < 0)
		return -EPROTO;
	return r;
}

/* The option `code` of a reply (its data), or NULL. */
static const uint8_t *find(const struct frame6 *r, uint16_t code, uint16_t *ret_len)
{
	for (size_t off = 4; off + 4 <= r->payload_size;) {
		uint16_t c = frame6_get16(r->payload + off), l = frame6_get16(r->payload + off + 2);

		if (c == code) {
			*ret_len = l;
			return r->payload + off + 4;
		}
		off += 4 + l;
	}
	return NULL;
}

TEST(dhcp6_stateful_solicit_request)
{
	uint8_t opts[256], m[300], out[FRAME6_MAX], ll[16];
	struct frame6 r;
	struct dhcp_stats st = {0};
	const uint8_t *o;
	uint16_t l;
	size_t n = 0, size;

	lease_init(true);
	memcpy(opts, client_id, sizeof(client_id));
	n = sizeof(client_id);
	memcpy(opts + n, ia_na, sizeof(ia_na));
	n += sizeof(ia_na);
	size = msg(m, DHCP6_SOLICIT, opts, n);
	REQUIRE(run(m, size, &r, out, &st) == 1);
	CHECK(r.payload[0] == DHCP6_ADVERTISE && r.payload[3] == 3);
	CHECK(r.udp_src == 547 && r.udp_dst == 546);
	CHECK(memcmp(r.eth_dst, vm_mac, 6) == 0 && memcmp(r.eth_src, server_mac, 6) == 0);
	ip6_link_local(server_mac, ll);
	CHECK(memcmp(r.src, ll, 16) == 0);
	ip6_link_local(vm_mac, ll);
	CHECK(memcmp(r.dst, ll, 16) == 0);
	o = find(&r, DHCP6_OPT_CLIENTID, &l);
	CHECK(o && l == 10 && memcmp(o, client_id + 4, 10) == 0);
	o = find(&r, DHCP6_OPT_IA_NA, &l);
	REQUIRE(o && l == 40);
	CHECK(memcmp(o, "\xde\xad\xbe\xef", 4) == 0);
	CHECK(frame6_get16(o + 12) == DHCP6_OPT_IAADDR && memcmp(o + 16, lease.addr, 16) == 0);
	o = find(&r, DHCP6_OPT_DNS_SERVERS, &l);
	CHECK(o && l == 16 && memcmp(o, lease.dns[0], 16) == 0);
	o = find(&r, DHCP6_OPT_DOMAIN_LIST, &l);
	CHECK(o && l == 13 &&
	      memcmp(o,
		     "\x07"
		     "example\x03org\x00",
		     13) == 0);
	/* Request, naming our server (DUID-LL of the server MAC). */
	o = find(&r, DHCP6_OPT_SERVERID, &l);
	REQUIRE(o && l == 10);
	CHECK(memcmp(o, "\x00\x03\x00\x01", 4) == 0 && memcmp(o + 4, server_mac, 6) == 0);
	opts[n] = 0, opts[n + 1] = 2, opts[n + 2] = 0, opts[n + 3] = 10;
	memcpy(opts + n + 4, o, 10);
	size = msg(m, DHCP6_REQUEST, opts, n + 14);
	REQUIRE(run(m, size, &r, out, &st) == 1);
	CHECK(r.payload[0] == DHCP6_REPLY);
	o = find(&r, DHCP6_OPT_IA_NA, &l);
	CHECK(o && memcmp(o + 16, lease.addr, 16) == 0);
	/* Another server's: ignored. */
	opts[n + 13] ^= 1;
	size = msg(m, DHCP6_REQUEST, opts, n + 14);
	CHECK(run(m, size, &r, out, &st) == 0);
	CHECK(st.received == 3 && st.replied == 2 && st.ignored == 1);
	/* Rapid commit: a Reply straight away. */
	opts[n] = 0, opts[n + 1] = 14, opts[n + 2] = 0, opts[n + 3] = 0;
	size = msg(m, DHCP6_SOLICIT, opts, n + 4);
	REQUIRE(run(m, size, &r, out, &st) == 1);
	CHECK(r.payload[0] == DHCP6_REPLY && find(&r, DHCP6_OPT_RAPID_COMMIT, &l));
}

TEST(dhcp6_stateless_and_validation)
{
	uint8_t m[300], out[FRAME6_MAX], opts[64];
	struct frame6 r;
	struct dhcp_stats st = {0};
	uint16_t l;
	size_t size;

	lease_init(false);
	/* Information-request: DNS and domain, no address. */
	size = msg(m, DHCP6_INFORMATION_REQUEST, client_id, sizeof(client_id));
	REQUIRE(run(m, size, &r, out, &st) == 1);
	CHECK(r.payload[0] == DHCP6_REPLY && find(&r, DHCP6_OPT_DNS_SERVERS, &l));
	CHECK(!find(&r, DHCP6_OPT_IA_NA, &l));
	/* A stateless subnet gives no address. */
	memcpy(opts, client_id, sizeof(client_id));
	memcpy(opts + sizeof(client_id), ia_na, sizeof(ia_na));
	size = msg(m, DHCP6_SOLICIT, opts, sizeof(client_id) + sizeof(ia_na));
	CHECK(run(m, size, &r, out, &st) == 0);
	/* RFC 8415 section 16: a Solicit needs a Client Identifier. */
	size = msg(m, DHCP6_SOLICIT, ia_na, sizeof(ia_na));
	CHECK(run(m, size, &r, out, &st) == -EBADMSG);
	/* An option past the end, an empty DUID, a short IA_NA, a rapid
	 * commit with data: malformed. */
	opts[0] = 0, opts[1] = 1, opts[2] = 0, opts[3] = 40;
	CHECK(run(m, msg(m, DHCP6_SOLICIT, opts, 10), &r, out, &st) == -EBADMSG);
	opts[3] = 0;
	CHECK(run(m, msg(m, DHCP6_SOLICIT, opts, 4), &r, out, &st) == -EBADMSG);
	memcpy(opts, "\x00\x03\x00\x04\x01\x02\x03\x04", 8);
	CHECK(run(m, msg(m, DHCP6_SOLICIT, opts, 8), &r, out, &st) == -EBADMSG);
	memcpy(opts, "\x00\x0e\x00\x01\x01", 5);
	CHECK(run(m, msg(m, DHCP6_SOLICIT, opts, 5), &r, out, &st) == -EBADMSG);
	CHECK(run(m, 3, &r, out, &st) == -EBADMSG);
	/* A server's message from a VM: ignored. */
	size = msg(m, DHCP6_ADVERTISE, client_id, sizeof(client_id));
	CHECK(run(m, size, &r, out, &st) == 0);
	/* Another MAC: unknown. */
	lease.mac[5] ^= 1;
	size = msg(m, DHCP6_INFORMATION_REQUEST, client_id, sizeof(client_id));
	CHECK(run(m, size, &r, out, &st) == 0);
	CHECK(st.dropped_unknown == 1);
	CHECK(st.received == st.replied + st.ignored + st.dropped_malformed + st.dropped_unknown +
				     st.released + st.declined + st.failed);
}

TEST(frame6_hostile)
{
	uint8_t frame[FRAME6_MAX] = {0};
	struct frame6 f;
	uint8_t rs[8] = {133};
	size_t len = vm_frame(FRAME6_PROTO_ICMP6, rs, sizeof(rs), 255, frame);

	for (size_t cut = 0; cut < len; cut++)
		CHECK(frame6_parse(frame, cut, &f) == -EBADMSG);
	CHECK(frame6_parse(frame, len, &f) == 0);
	/* A payload length past the frame; an extension header. */
	frame[FRAME6_ETH_SIZE + 5] = 200;
	CHECK(frame6_parse(frame, len, &f) == -EBADMSG);
	frame[FRAME6_ETH_SIZE + 5] = 8;
	frame[FRAME6_ETH_SIZE + 6] = 0;
	CHECK(frame6_parse(frame, len, &f) == -EBADMSG);
	/* A UDP length beyond the IPv6 payload. */
	len = vm_frame(FRAME6_PROTO_UDP, rs, sizeof(rs), 1, frame);
	frame[FRAME6_ETH_SIZE + FRAME6_IP6_SIZE + 5] = 200;
	CHECK(frame6_parse(frame, len, &f) == -EBADMSG);
}

TEST(nd_solicit_checked_and_advert_built)
{
	uint8_t ns[32] = {135}, frame[FRAME6_MAX], out[FRAME6_MAX], target[16], got[16];
	struct frame6 f, r;
	size_t len, out_len = 0;

	a6("2001:db8:1::5", target);
	memcpy(ns + 8, target, 16);
	ns[24] = 1, ns[25] = 1;
	memcpy(ns + 26, vm_mac, 6);
	len = vm_frame(FRAME6_PROTO_ICMP6, ns, sizeof(ns), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	REQUIRE(nd_check_solicit(&f, got) == 0);
	CHECK(memcmp(got, target, 16) == 0);
	REQUIRE(nd_build_advert(&f, target, router_mac, true, out, sizeof(out), &out_len) == 0);
	REQUIRE(frame6_parse(out, out_len, &r) == 0);
	CHECK(r.payload[0] == 136 && r.payload[4] == 0xe0 && r.hop_limit == 255);
	CHECK(memcmp(r.payload + 8, target, 16) == 0 && memcmp(r.src, target, 16) == 0);
	CHECK(memcmp(r.dst, f.src, 16) == 0 && memcmp(r.eth_dst, vm_mac, 6) == 0);
	CHECK(r.payload[24] == 2 && memcmp(r.payload + 26, router_mac, 6) == 0);
	/* Hostile: hop limit, multicast target, a zero-length option. */
	len = vm_frame(FRAME6_PROTO_ICMP6, ns, sizeof(ns), 64, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(nd_check_solicit(&f, got) == -EBADMSG);
	ns[8] = 0xff;
	len = vm_frame(FRAME6_PROTO_ICMP6, ns, sizeof(ns), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(nd_check_solicit(&f, got) == -EBADMSG);
	ns[8] = 0x20;
	ns[25] = 0;
	len = vm_frame(FRAME6_PROTO_ICMP6, ns, sizeof(ns), 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(nd_check_solicit(&f, got) == -EBADMSG);
	CHECK(nd_check_solicit(&f, got) == -EBADMSG);
	len = vm_frame(FRAME6_PROTO_ICMP6, ns, 20, 255, frame);
	REQUIRE(frame6_parse(frame, len, &f) == 0);
	CHECK(nd_check_solicit(&f, got) == -EBADMSG);
}
