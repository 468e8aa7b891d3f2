/* Extra DHCP options of a port (Neutron's extra_dhcp_opt): an option named
 * as dnsmasq names them ("bootfile-name", "tftp-server", "ntp-server"...) or
 * by its number, with its value written as text, turned into the option's
 * wire form (RFC 2132, RFC 3397 for domain-search). "server-ip-address" is
 * not an option but the BOOTP header's siaddr (the next server, RFC 2131
 * section 2). The table lists the options whose format is known; options a
 * server must own (message type, lease time, server identifier...) are
 * refused. Pure, libc only: the API checks values with it, the agent
 * encodes them with it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DHCP_EXTRA_DATA_MAX    255
#define DHCP_EXTRA_NEXT_SERVER 0 /* code of "server-ip-address": siaddr */

struct dhcp_extra_opt {
	uint8_t code; /* DHCP_EXTRA_NEXT_SERVER: data is siaddr's 4 octets */
	uint8_t size;
	uint8_t data[DHCP_EXTRA_DATA_MAX];
};

/* Parses one option. Returns 0 and fills *ret, or -ENOENT for a name (or
 * number) this table does not know or a server-owned option, -EINVAL for
 * a value that is not of the option's type or does not fit. */
int dhcp_extra_parse(const char *name, const char *value, struct dhcp_extra_opt *ret);
