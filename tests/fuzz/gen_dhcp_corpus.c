/* Writes the seed corpus of fuzz_dhcp.c into a directory: valid frames for
 * every message the server answers (for the MAC the fuzz target knows),
 * DHCP messages without a frame (the target also wraps its input), and a
 * few broken ones. Run by `make fuzz-corpus-dhcp`; the output is checked in
 * under tests/fuzz/corpus/dhcp/. */
#include <stdio.h>
#include <string.h>
#include "dhcp/packet.h"

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t other[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
static const char *dir;
static int failed;

struct seed {
	uint8_t type;
	const uint8_t *mac;
	uint32_t ciaddr, giaddr, requested_ip, server_id;
	uint16_t flags, max_size;
	bool prl, client_id;
};

static void save(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n)
		failed = 1;
	if (f && fclose(f) != 0)
		failed = 1;
}

static size_t message(const struct seed *s, uint8_t *buf, size_t max)
{
	static const uint8_t prl[] = {1, 3, 6, 12, 15, 26, 28, 42, 119, 121};
	struct dhcp_message h = {0};
	struct dhcp_builder b;
	size_t n = 0;

	h.op = DHCP_OP_BOOTREQUEST;
	h.htype = DHCP_HTYPE_ETHER;
	h.hlen = 6;
	h.xid = 0x12345678;
	h.flags = s->flags;
	h.ciaddr = s->ciaddr;
	h.giaddr = s->giaddr;
	memcpy(h.chaddr, s->mac ? s->mac : mac, 6);
	if (dhcp_builder_init(&b, buf, max, &h) < 0)
		return 0;
	(void) dhcp_builder_append_u8(&b, DHCP_OPT_MESSAGE_TYPE, s->type);
	if (s->requested_ip)
		(void) dhcp_builder_append_u32(&b, DHCP_OPT_REQUESTED_IP, s->requested_ip);
	if (s->server_id)
		(void) dhcp_builder_append_u32(&b, DHCP_OPT_SERVER_ID, s->server_id);
	if (s->max_size)
		(void) dhcp_builder_append_u16(&b, DHCP_OPT_MAX_SIZE, s->max_size);
	if (s->prl)
		(void) dhcp_builder_append(&b, DHCP_OPT_PARAM_REQUEST, prl, sizeof(prl));
	if (s->client_id)
		(void) dhcp_builder_append(&b, DHCP_OPT_CLIENT_ID, "\x01\x52\x54\x00\x12\x34\x56",
					   7);
	if (dhcp_builder_finish(&b, &n) < 0)
		return 0;
	return n;
}

static size_t frame(const struct seed *s, uint8_t *out, size_t max)
{
	uint8_t payload[DHCP_PAYLOAD_MAX];
	struct dhcp_frame f = {0};
	size_t n = message(s, payload, sizeof(payload)), size = 0;

	memset(f.eth_dst, 0xff, 6);
	memcpy(f.eth_src, s->mac ? s->mac : mac, 6);
	f.ip_src = s->giaddr ? s->giaddr : s->ciaddr;
	f.ip_dst = s->ciaddr || s->giaddr ? 0x0a000001 : 0xffffffff;
	f.udp_src = s->giaddr ? DHCP_SERVER_PORT : DHCP_CLIENT_PORT;
	f.udp_dst = DHCP_SERVER_PORT;
	f.payload = payload;
	f.payload_size = n;
	if (n == 0 || dhcp_frame_build(&f, out, max, &size) < 0)
		failed = 1;
	return size;
}

static void save_frame(const char *name, const struct seed *s)
{
	uint8_t out[DHCP_FRAME_MAX];
	size_t n = frame(s, out, sizeof(out));

	save(name, out, n);
}

int main(int argc, char **argv)
{
	uint8_t buf[DHCP_FRAME_MAX];
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	save_frame("discover", &(struct seed){.type = DHCP_DISCOVER});
	save_frame("discover-broadcast-prl", &(struct seed){.type = DHCP_DISCOVER,
							    .flags = DHCP_FLAG_BROADCAST,
							    .prl = true,
							    .client_id = true,
							    .max_size = 1500});
	save_frame("request-selecting", &(struct seed){.type = DHCP_REQUEST,
						       .requested_ip = 0x0a000005,
						       .server_id = 0x0a000001,
						       .prl = true});
	save_frame("request-other-server", &(struct seed){.type = DHCP_REQUEST,
							  .requested_ip = 0x0a000005,
							  .server_id = 0x0a000002});
	save_frame("request-init-reboot-nak",
		   &(struct seed){.type = DHCP_REQUEST, .requested_ip = 0x0a090909});
	save_frame("request-renew", &(struct seed){.type = DHCP_REQUEST, .ciaddr = 0x0a000005});
	save_frame("release", &(struct seed){.type = DHCP_RELEASE,
					     .ciaddr = 0x0a000005,
					     .server_id = 0x0a000001});
	save_frame("decline", &(struct seed){.type = DHCP_DECLINE,
					     .requested_ip = 0x0a000005,
					     .server_id = 0x0a000001});
	save_frame("inform", &(struct seed){.type = DHCP_INFORM, .ciaddr = 0x0a000005});
	save_frame("unknown-mac", &(struct seed){.type = DHCP_DISCOVER, .mac = other});
	save_frame("relay-discover", &(struct seed){.type = DHCP_DISCOVER, .giaddr = 0x0a0000fe});

	/* Bare DHCP messages: the target wraps these in a frame. */
	n = message(&(struct seed){.type = DHCP_DISCOVER, .prl = true}, buf, sizeof(buf));
	save("msg-discover", buf, n);
	/* Option overload: 52 = 3 in 'options', the type in 'file', the
	 * requested address in 'sname'. */
	n = message(&(struct seed){.type = DHCP_REQUEST}, buf, sizeof(buf));
	memcpy(buf + 240, "\x34\x01\x03\xff", 4);
	memcpy(buf + 108, "\x35\x01\x03\xff", 4);
	memcpy(buf + 44, "\x32\x04\x0a\x00\x00\x05\xff", 7);
	save("msg-overload", buf, n);
	/* An option whose length runs past the end. */
	n = message(&(struct seed){.type = DHCP_DISCOVER}, buf, sizeof(buf));
	buf[243] = 12;
	buf[244] = 200;
	save("msg-option-past-end", buf, 246);

	/* Broken frames. */
	n = frame(&(struct seed){.type = DHCP_DISCOVER}, buf, sizeof(buf));
	save("frame-truncated", buf, n / 2);
	buf[14] = 0x44;
	save("frame-bad-ihl", buf, n);
	buf[14] = 0x45;
	buf[37] = 68;
	save("frame-port-68", buf, n);
	save("empty", buf, 0);

	if (failed)
		fprintf(stderr, "gen_dhcp_corpus: could not write %s\n", dir);
	return failed;
}
