/* The DHCPv4 server core (DESIGN.md section 3: DHCP is answered on the VM's
 * own node, from the model). There is no lease database: the server's IPAM
 * is the truth, so a client's state is whatever the model says about the
 * port with its MAC, and the core is a pure function from (request, lease)
 * to (reply, destination). dhcp_server_process() wraps it for raw frames and
 * counts what happened. libc only; never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dhcp/extra.h"
#include "dhcp/packet.h"

#define DHCP_LEASE_MAX_DNS	8
#define DHCP_LEASE_MAX_ROUTES	32
#define DHCP_LEASE_SECS_DEFAULT 86400

/* What the model says about one port. Addresses are host order. */
struct dhcp_lease {
	uint8_t mac[6];
	uint32_t ip, netmask, router /* 0: none */, server_id;
	uint32_t dns[DHCP_LEASE_MAX_DNS];
	size_t n_dns;
	struct {
		uint32_t dest;
		uint8_t prefixlen;
		uint32_t gateway;
	} routes[DHCP_LEASE_MAX_ROUTES]; /* host routes, sent as option 121 */
	size_t n_routes;
	uint16_t mtu;	       /* 0: not sent */
	uint32_t lease_secs;   /* 0: DHCP_LEASE_SECS_DEFAULT; 0xffffffff: infinite */
	char hostname[64];     /* "" : not sent */
	char domain[64];       /* "" : not sent */
	uint8_t server_mac[6]; /* Ethernet source of our replies */
	/* The port's extra options (borrowed): each replaces the option of
	 * its code that the lease would give; DHCP_EXTRA_NEXT_SERVER sets
	 * siaddr. */
	const struct dhcp_extra_opt *extra;
	size_t n_extra;
};

/* What the core decided. */
enum dhcp_verdict {
	DHCP_VERDICT_REPLY,   /* send ret->payload to ret's destination */
	DHCP_VERDICT_IGNORE,  /* valid, but not ours to answer (another server
			       * chosen, or a type a server never answers) */
	DHCP_VERDICT_UNKNOWN, /* no port with that MAC */
	DHCP_VERDICT_RELEASE, /* RFC 2131 section 4.3.4: nothing to send */
	DHCP_VERDICT_DECLINE, /* RFC 2131 section 4.3.3: the client found the
			       * address in use: an address conflict to log */
};

/* Where a reply goes (RFC 2131 section 4.1). */
enum dhcp_dest {
	DHCP_DEST_BROADCAST, /* ff:ff:ff:ff:ff:ff, 255.255.255.255:68 */
	DHCP_DEST_CLIENT,    /* chaddr, ip_dst:68 (ciaddr or yiaddr) */
	DHCP_DEST_RELAY,     /* the relay's MAC (the request's source), giaddr:67 */
};

struct dhcp_reply {
	uint8_t type; /* DHCP_OFFER, DHCP_ACK or DHCP_NAK */
	enum dhcp_dest dest;
	uint32_t ip_dst;
	uint16_t udp_dst;
	uint8_t payload[DHCP_PAYLOAD_MAX];
	size_t payload_size;
};

/* Answers one request (RFC 2131 section 4.3) for the port 'lease' (NULL:
 * no port has that MAC). Returns a verdict (>= 0); for DHCP_VERDICT_REPLY,
 * ret holds the reply, otherwise ret is untouched. Returns -EBADMSG if the
 * request breaks RFC 2131 (not a BOOTREQUEST, hardware not Ethernet, a
 * REQUEST naming no address), -ENOBUFS if the mandatory options cannot fit
 * the client's maximum message size. */
int dhcp_server_answer(const struct dhcp_message *req, const struct dhcp_lease *lease,
		       struct dhcp_reply *ret);

/* Encodes host routes as option 121 data (RFC 3442: prefix length, the
 * significant octets of the destination, the router). When a router is
 * given and no route has prefix length 0, a 0.0.0.0/0 route via the router
 * is appended, because clients that honour 121 ignore option 3. Routes
 * with a prefix length above 32 are skipped. Returns the data's size, or
 * -ENOBUFS if it exceeds max. */
int dhcp_server_encode_routes(const struct dhcp_lease *lease, uint8_t *buf, size_t max);

struct dhcp_stats {
	uint64_t received;	    /* frames given to dhcp_server_process() */
	uint64_t replied;	    /* replies built */
	uint64_t dropped_malformed; /* bad frame, bad message, or breaks RFC 2131 */
	uint64_t dropped_unknown;   /* no port with that MAC */
	uint64_t released;	    /* DHCPRELEASE */
	uint64_t declined;	    /* DHCPDECLINE: address conflict */
	uint64_t ignored;	    /* valid, not ours to answer */
	uint64_t failed;	    /* could not build the reply (buffer too small) */
};

/* The lease of the port with this MAC, or NULL. The agent's callback should
 * return only a port bound to the tap the frame came from, so that a VM
 * cannot ask for another port's configuration by its MAC. */
typedef const struct dhcp_lease *(*dhcp_lookup_fn)(const uint8_t mac[6], void *userdata);

/* Runs one frame read from a tap (Ethernet + IPv4 + UDP to port 67) through
 * parse, lookup and the core, and builds the reply frame into out: Ethernet
 * from lease->server_mac to the client (or broadcast, or the relay), IPv4
 * from lease->server_id, UDP 67 -> 68 (67 to a relay). Exactly one counter
 * besides 'received' moves per call (st may be NULL). Returns 1 and the
 * frame's size in *out_len when a reply is to be sent, 0 when nothing is to
 * be sent, -EBADMSG for a malformed frame or request, -ENOBUFS if out (or
 * the client's maximum message size) is too small for the reply. */
int dhcp_server_process(const uint8_t *frame, size_t len, dhcp_lookup_fn lookup, void *userdata,
			uint8_t *out, size_t out_max, size_t *out_len, struct dhcp_stats *st);
