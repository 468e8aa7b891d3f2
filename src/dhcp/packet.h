/* BOOTP/DHCP message codec (RFC 2131 section 2, options per RFC 2132) and the
 * Ethernet + IPv4 + UDP frame around it, as read from and written to the
 * AF_PACKET socket on a VM's tap. Every parser takes untrusted bytes and a
 * size, bounds each field before reading it and fills a fixed-size struct:
 * nothing is allocated, nothing grows with the input. Addresses are
 * host-order uint32_t, as in base/ip4.h. libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68

#define DHCP_OP_BOOTREQUEST 1
#define DHCP_OP_BOOTREPLY   2
#define DHCP_HTYPE_ETHER    1 /* RFC 1700 hardware type */
#define DHCP_HLEN_ETHER	    6
#define DHCP_CHADDR_SIZE    16
#define DHCP_FLAG_BROADCAST 0x8000	/* RFC 2131 section 2, figure 2 */
#define DHCP_MAGIC_COOKIE   0x63825363u /* RFC 2131 section 3 */

#define DHCP_HEADER_SIZE 236 /* fixed part, RFC 2131 section 2 figure 1 */
#define DHCP_MIN_SIZE	 240 /* fixed part + magic cookie */
/* RFC 1542 section 2.1: some relays and clients drop BOOTP messages shorter
 * than 300 octets, so replies are padded to that. */
#define DHCP_BOOTP_MIN_SIZE 300
/* RFC 2131 section 2: a client must accept a 576-octet IP datagram, so 548
 * octets of DHCP message; more only if it says so with option 57. */
#define DHCP_DEFAULT_MAX_SIZE 548
#define DHCP_PAYLOAD_MAX      1472 /* 1500 - IPv4 (20) - UDP (8) */

#define DHCP_ETH_HEADER_SIZE 14
#define DHCP_IP4_HEADER_SIZE 20 /* what we send; we accept options on input */
#define DHCP_UDP_HEADER_SIZE 8
#define DHCP_FRAME_OVERHEAD  (DHCP_ETH_HEADER_SIZE + DHCP_IP4_HEADER_SIZE + DHCP_UDP_HEADER_SIZE)
#define DHCP_FRAME_MAX	     (DHCP_FRAME_OVERHEAD + DHCP_PAYLOAD_MAX)

/* Message types, option 53 (RFC 2132 section 9.6). */
enum dhcp_type {
	DHCP_DISCOVER = 1,
	DHCP_OFFER = 2,
	DHCP_REQUEST = 3,
	DHCP_DECLINE = 4,
	DHCP_ACK = 5,
	DHCP_NAK = 6,
	DHCP_RELEASE = 7,
	DHCP_INFORM = 8,
};

/* Option codes (RFC 2132, RFC 3442). */
enum dhcp_option {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN = 15,
	DHCP_OPT_MTU = 26,
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_OVERLOAD = 52,
	DHCP_OPT_MESSAGE_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_PARAM_REQUEST = 55,
	DHCP_OPT_MESSAGE = 56,
	DHCP_OPT_MAX_SIZE = 57,
	DHCP_OPT_T1 = 58,
	DHCP_OPT_T2 = 59,
	DHCP_OPT_CLIENT_ID = 61,
	DHCP_OPT_CLASSLESS_ROUTES = 121,
	DHCP_OPT_END = 255,
};

/* A message: the fixed BOOTP header and the options a server acts on. The
 * parser fills all of it; the builder reads only the header fields (op ..
 * chaddr), sname and file are always sent empty. */
struct dhcp_message {
	uint8_t op, htype, hlen, hops;
	uint32_t xid;
	uint16_t secs, flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[DHCP_CHADDR_SIZE];

	uint8_t type;	   /* option 53; a parsed message always has one */
	uint8_t overload;  /* option 52 (1 file, 2 sname, 3 both), 0 if absent */
	uint16_t max_size; /* option 57, 0 if absent */
	bool has_requested_ip, has_server_id;
	uint32_t requested_ip; /* option 50 */
	uint32_t server_id;    /* option 54 */
	size_t n_prl;	       /* option 55, concatenated over instances (RFC 3396) */
	uint8_t prl[255];
	size_t client_id_size; /* option 61 */
	uint8_t client_id[255];
};

/* Parses a DHCP message (the UDP payload). Options are read from 'options',
 * then 'file' and 'sname' if option 52 says so (RFC 2131 section 4.1).
 * Returns 0, or -EBADMSG if the message is shorter than the fixed part, has
 * no magic cookie, a hlen beyond chaddr, an option that runs past its field,
 * an option we act on with the wrong length, or no message type. ret is
 * untouched on failure. */
int dhcp_message_parse(const uint8_t *buf, size_t size, struct dhcp_message *ret);

/* Writes a message into a caller's buffer, option by option. Appends never
 * leave a partial option behind and always keep room for the END option. */
struct dhcp_builder {
	uint8_t *buf;
	size_t max;  /* bytes available in buf */
	size_t used; /* bytes written so far */
};

/* Writes the fixed header from hdr (op .. chaddr; sname and file zeroed)
 * and the magic cookie. Returns 0, or -ENOBUFS if max cannot hold them plus
 * END. */
int dhcp_builder_init(struct dhcp_builder *b, uint8_t *buf, size_t max,
		      const struct dhcp_message *hdr);
/* Appends option 'code' with 'size' bytes of data. Data longer than 255
 * bytes is split into consecutive instances of the option, which RFC 3396
 * section 7 tells the receiver to concatenate. Returns 0, or -ENOBUFS if the
 * whole option does not fit (nothing is written then), -EINVAL for PAD/END. */
int dhcp_builder_append(struct dhcp_builder *b, uint8_t code, const void *data, size_t size);
int dhcp_builder_append_u8(struct dhcp_builder *b, uint8_t code, uint8_t v);
int dhcp_builder_append_u16(struct dhcp_builder *b, uint8_t code, uint16_t v);
int dhcp_builder_append_u32(struct dhcp_builder *b, uint8_t code, uint32_t v);
/* Writes END, pads with zeros up to DHCP_BOOTP_MIN_SIZE when there is room,
 * and returns the message's size through ret_size. */
int dhcp_builder_finish(struct dhcp_builder *b, size_t *ret_size);

/* One Ethernet II + IPv4 + UDP frame. On parse, payload points into the
 * caller's frame. */
struct dhcp_frame {
	uint8_t eth_dst[6], eth_src[6];
	uint32_t ip_src, ip_dst;
	uint16_t udp_src, udp_dst;
	const uint8_t *payload;
	size_t payload_size;
};

/* Parses a frame and checks: Ethernet type IPv4 (no VLAN tag), IP version 4,
 * header length >= 20 within the frame, header checksum, total length
 * covering header and UDP header and within the frame (trailing Ethernet
 * padding is allowed), not a fragment, protocol UDP, UDP length >= 8 within
 * the IP payload, and UDP destination port == udp_dst. The UDP checksum is
 * not verified: frames read from a tap may carry a partial checksum left for
 * offload (TP_STATUS_CSUMNOTREADY). Returns 0 or -EBADMSG; ret is untouched
 * on failure. */
int dhcp_frame_parse(const uint8_t *frame, size_t size, uint16_t udp_dst, struct dhcp_frame *ret);

/* Builds the frame for f (payload, addresses, ports) into out: IPv4 header
 * without options, TTL 64, both checksums computed. Returns 0 and the
 * frame's size, or -ENOBUFS if out is too small, -EMSGSIZE if the payload
 * cannot fit an IP datagram. */
int dhcp_frame_build(const struct dhcp_frame *f, uint8_t *out, size_t max, size_t *ret_size);

/* RFC 1071: the one's complement sum of size bytes added to sum (a previous
 * part), and its folded complement, the checksum field's value. */
uint32_t dhcp_csum_add(uint32_t sum, const uint8_t *p, size_t size);
uint16_t dhcp_csum_fold(uint32_t sum);
