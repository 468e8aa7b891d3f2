/* The DHCPv6 server core (RFC 8415), answered on the VM's own node from the
 * model, as DHCPv4 is (server.h): no lease database, the port's address is
 * the server's IPAM's. Stateful subnets give the port's address in IA_NA
 * (Solicit -> Advertise, or Reply with Rapid Commit; Request, Renew, Rebind,
 * Confirm, Release, Decline -> Reply); stateless and stateful ones answer
 * Information-request with DNS servers and the domain. The server's DUID is
 * DUID-LL of the network's DHCP server MAC. Pure; libc only; never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dhcp/frame6.h"
#include "dhcp/server.h"

#define DHCP6_SERVER_PORT 547
#define DHCP6_CLIENT_PORT 546
#define DHCP6_MAX_DNS	  4
#define DHCP6_DUID_MAX	  130 /* RFC 8415 section 11.1: 2 bytes of type + 128 */

enum dhcp6_type {
	DHCP6_SOLICIT = 1,
	DHCP6_ADVERTISE = 2,
	DHCP6_REQUEST = 3,
	DHCP6_CONFIRM = 4,
	DHCP6_RENEW = 5,
	DHCP6_REBIND = 6,
	DHCP6_REPLY = 7,
	DHCP6_RELEASE = 8,
	DHCP6_DECLINE = 9,
	DHCP6_INFORMATION_REQUEST = 11,
};

enum dhcp6_option {
	DHCP6_OPT_CLIENTID = 1,
	DHCP6_OPT_SERVERID = 2,
	DHCP6_OPT_IA_NA = 3,
	DHCP6_OPT_IA_TA = 4,
	DHCP6_OPT_IAADDR = 5,
	DHCP6_OPT_ORO = 6,
	DHCP6_OPT_STATUS_CODE = 13,
	DHCP6_OPT_RAPID_COMMIT = 14,
	DHCP6_OPT_DNS_SERVERS = 23,
	DHCP6_OPT_DOMAIN_LIST = 24,
};

enum dhcp6_status {
	DHCP6_STATUS_SUCCESS = 0,
	DHCP6_STATUS_NOT_ON_LINK = 4,
};

/* What the model says about one port. */
struct dhcp6_lease {
	uint8_t mac[6];
	bool stateful; /* addresses are given (dhcpv6-stateful) */
	uint8_t addr[16];
	uint32_t lease_secs; /* 0: DHCP_LEASE_SECS_DEFAULT */
	uint8_t dns[DHCP6_MAX_DNS][16];
	size_t n_dns;
	char domain[64];       /* "": not sent */
	uint8_t server_mac[6]; /* Ethernet source, DUID-LL, link-local source */
};

/* The parts of a client's message a server acts on. */
struct dhcp6_message {
	uint8_t type;
	uint8_t xid[3];
	uint8_t client_id[DHCP6_DUID_MAX];
	size_t client_id_size; /* 0: absent */
	uint8_t server_id[DHCP6_DUID_MAX];
	size_t server_id_size; /* 0: absent */
	bool has_ia_na, has_ia_ta, rapid_commit;
	uint8_t iaid[4]; /* the first IA_NA's */
	bool has_iaaddr; /* an IA Address in that IA_NA */
	uint8_t iaaddr[16];
};

/* Parses a client's message (the UDP payload). Returns 0, or -EBADMSG for a
 * message shorter than its header, an option running past the message or
 * its IA_NA, a DUID of 0 or more than DHCP6_DUID_MAX bytes, an IA_NA or
 * IAADDR shorter than its fixed part, a Rapid Commit with data. ret is
 * untouched on failure. */
int dhcp6_message_parse(const uint8_t *buf, size_t size, struct dhcp6_message *ret);

/* Answers one message (RFC 8415 sections 16 and 18.3) for the port 'lease'
 * (NULL: no port). Returns a verdict (server.h's) and, for
 * DHCP_VERDICT_REPLY, the reply's payload in out (*ret_size bytes); -EBADMSG
 * for a message that breaks section 16's validation (a Solicit without a
 * Client Identifier...), -ENOBUFS if out is too small. */
int dhcp6_server_answer(const struct dhcp6_message *req, const struct dhcp6_lease *lease,
			uint8_t *out, size_t max, size_t *ret_size);

/* The lease of the port with this MAC, or NULL (the agent returns only the
 * port on the tap the frame came from). */
typedef const struct dhcp6_lease *(*dhcp6_lookup_fn)(const uint8_t mac[6], void *userdata);

/* Runs one parsed frame (UDP to port 547) through the message parser, the
 * lookup (by the frame's Ethernet source) and the core, and builds the
 * reply frame into out: from lease->server_mac and its link-local address to
 * the client's MAC and address, UDP 547 -> the client's port. Counts as
 * dhcp_server_process() does. 1 and *out_len when a reply is to be sent, 0
 * when nothing is, -EBADMSG, -ENOBUFS. */
int dhcp6_server_process(const struct frame6 *f, dhcp6_lookup_fn lookup, void *userdata,
			 uint8_t *out, size_t out_max, size_t *out_len, struct dhcp_stats *st);
