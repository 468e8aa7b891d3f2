/* Fuzz target for the DHCP path: every input goes through
 * dhcp_server_process() twice, once as a raw frame (the Ethernet, IPv4 and
 * UDP parsers) and once as a DHCP message wrapped in a valid frame (so the
 * fuzzer reaches the option parser and the server core without having to
 * solve the IPv4 header checksum). The lookup knows one MAC, whose lease has
 * every option we send, 32 host routes included. Any reply must parse back
 * as an OFFER, ACK or NAK within the size the client allowed, and exactly
 * one counter besides 'received' moves per frame. The same input goes the
 * IPv6 way too: as a frame (IPv6 parser, router solicitation check, DHCPv6
 * core) and as a DHCPv6 message in a valid frame; any DHCPv6 reply must
 * parse back as a frame to the client. */
#include <stdlib.h>
#include <string.h>
#include "base/ipaddr.h"
#include "dhcp/dhcp6.h"
#include "dhcp/frame6.h"
#include "dhcp/nd.h"
#include "dhcp/packet.h"
#include "dhcp/ra.h"
#include "dhcp/server.h"
#include "fuzz.h"

static const uint8_t known_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static const struct dhcp_lease *lookup(const uint8_t mac[6], void *userdata)
{
	const struct dhcp_lease *l = userdata;

	return memcmp(mac, l->mac, 6) == 0 ? l : NULL;
}

static void lease_init(struct dhcp_lease *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, known_mac, 6);
	memcpy(l->server_mac, "\x02\xaa\xbb\xcc\xdd\xee", 6);
	l->ip = 0x0a000005;
	l->netmask = 0xffffff00;
	l->router = 0x0a000001;
	l->server_id = 0x0a000001;
	for (size_t i = 0; i < DHCP_LEASE_MAX_DNS; i++)
		l->dns[i] = 0xc0000235 + (uint32_t) i;
	l->n_dns = DHCP_LEASE_MAX_DNS;
	for (size_t i = 0; i < DHCP_LEASE_MAX_ROUTES; i++) {
		l->routes[i].dest = 0xac100000 + ((uint32_t) i << 8) + (uint32_t) i;
		l->routes[i].prefixlen = (uint8_t) (24 + i % 9); /* 293+ octets: split */
		l->routes[i].gateway = 0x0a0000fe;
	}
	l->n_routes = DHCP_LEASE_MAX_ROUTES;
	l->mtu = 1450;
	l->lease_secs = 3600;
	memset(l->hostname, 'h', sizeof(l->hostname) - 1);
	memset(l->domain, 'd', sizeof(l->domain)); /* not NUL-terminated: bounded by size */
}

static void check_reply(const uint8_t *out, size_t out_len, size_t out_max)
{
	struct dhcp_frame f;
	struct dhcp_message m;

	if (out_len > out_max)
		abort();
	/* To the client (68) or to a relay (67). */
	if (dhcp_frame_parse(out, out_len, DHCP_CLIENT_PORT, &f) < 0 &&
	    dhcp_frame_parse(out, out_len, DHCP_SERVER_PORT, &f) < 0)
		abort();
	if (f.payload_size > DHCP_PAYLOAD_MAX ||
	    dhcp_message_parse(f.payload, f.payload_size, &m) < 0)
		abort();
	if (m.op != DHCP_OP_BOOTREPLY || memcmp(m.chaddr, known_mac, 6) != 0)
		abort();
	if (m.type != DHCP_OFFER && m.type != DHCP_ACK && m.type != DHCP_NAK)
		abort();
}

static void run(const uint8_t *frame, size_t size, struct dhcp_lease *l)
{
	static uint8_t out[DHCP_FRAME_MAX];
	struct dhcp_stats st = {0};
	size_t out_len = 0;
	int r;

	r = dhcp_server_process(frame, size, lookup, l, out, sizeof(out), &out_len, &st);
	if (r == 1)
		check_reply(out, out_len, sizeof(out));
	else if (r > 1)
		abort();
	if (st.received != 1 || st.replied + st.dropped_malformed + st.dropped_unknown +
						st.released + st.declined + st.ignored +
						st.failed !=
					1)
		abort();
}

static const struct dhcp6_lease *lookup6(const uint8_t mac[6], void *userdata)
{
	const struct dhcp6_lease *l = userdata;

	return memcmp(mac, l->mac, 6) == 0 ? l : NULL;
}

static void run6(const uint8_t *frame, size_t size, const struct dhcp6_lease *l)
{
	static uint8_t out[FRAME6_MAX];
	struct dhcp_stats st = {0};
	struct frame6 f, r;
	size_t out_len = 0;
	int v;

	if (frame6_parse(frame, size, &f) < 0)
		return;
	if (f.next == FRAME6_PROTO_ICMP6) {
		uint8_t target[16];

		(void) ra_check_solicit(&f);
		if (nd_check_solicit(&f, target) == 0 &&
		    (nd_build_advert(&f, target, known_mac, true, out, sizeof(out), &out_len) < 0 ||
		     frame6_parse(out, out_len, &r) < 0))
			abort();
		return;
	}
	v = dhcp6_server_process(&f, lookup6, (void *) l, out, sizeof(out), &out_len, &st);
	if (v == 1 && (out_len > sizeof(out) || frame6_parse(out, out_len, &r) < 0 ||
		       r.udp_src != DHCP6_SERVER_PORT || memcmp(r.eth_dst, known_mac, 6) != 0))
		abort();
	if (v > 1 || st.received != 1 ||
	    st.replied + st.dropped_malformed + st.dropped_unknown + st.released + st.declined +
			    st.ignored + st.failed !=
		    1)
		abort();
}

static void fuzz6(const uint8_t *data, size_t size)
{
	static struct dhcp6_lease l6;
	static uint8_t frame[FRAME6_MAX];
	struct frame6 f = {
		.next = FRAME6_PROTO_UDP, .hop_limit = 1, .udp_src = 546, .udp_dst = 547};
	size_t n;

	memcpy(l6.mac, known_mac, 6);
	memcpy(l6.server_mac, "\x02\xaa\xbb\xcc\xdd\xee", 6);
	l6.stateful = size & 1;
	l6.n_dns = DHCP6_MAX_DNS;
	memset(l6.domain, 'd', sizeof(l6.domain) - 1);
	run6(data, size, &l6);
	if (size > FRAME6_MTU - FRAME6_IP6_SIZE - FRAME6_UDP_SIZE)
		return;
	memcpy(f.eth_src, known_mac, 6);
	ip6_link_local(known_mac, f.src);
	f.dst[0] = 0xff, f.dst[1] = 0x02, f.dst[13] = 1, f.dst[15] = 2;
	f.payload = data;
	f.payload_size = size;
	if (frame6_build(&f, frame, sizeof(frame), &n) < 0)
		abort();
	run6(frame, n, &l6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dhcp_lease lease;
	static bool ready;
	static uint8_t frame[DHCP_FRAME_MAX];
	struct dhcp_frame f = {0};
	size_t n;

	if (!ready) {
		lease_init(&lease);
		ready = true;
	}

	run(data, size, &lease);
	fuzz6(data, size);

	if (size > DHCP_PAYLOAD_MAX)
		return 0;
	memset(f.eth_dst, 0xff, 6);
	memcpy(f.eth_src, known_mac, 6);
	f.ip_dst = 0xffffffff;
	f.udp_src = DHCP_CLIENT_PORT;
	f.udp_dst = DHCP_SERVER_PORT;
	f.payload = data;
	f.payload_size = size;
	if (dhcp_frame_build(&f, frame, sizeof(frame), &n) < 0)
		abort();
	run(frame, n, &lease);
	return 0;
}
