/* Extra DHCP options: names and text values to wire form (see extra.h). */
#include "dhcp/extra.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/ip4.h"
#include "base/util.h"

enum kind {
	K_ADDRS, /* comma-separated IPv4 addresses, 4 octets each */
	K_TEXT,	 /* the value's octets (RFC 2132: no NUL terminator) */
	K_U8,	 /* a decimal number in 1, 2 or 4 octets, network order */
	K_U16,
	K_U32,
	K_DOMAINS, /* comma-separated domain names, RFC 1035 labels (RFC 3397) */
	K_NEXT,	   /* one IPv4 address: siaddr */
};

/* dnsmasq's names, which Neutron's users write (RFC 2132 sections 3-9). */
static const struct {
	const char *name;
	uint8_t code;
	enum kind kind;
} table[] = {
	{"time-offset", 2, K_U32},
	{"router", 3, K_ADDRS},
	{"dns-server", 6, K_ADDRS},
	{"log-server", 7, K_ADDRS},
	{"lpr-server", 9, K_ADDRS},
	{"hostname", 12, K_TEXT},
	{"boot-file-size", 13, K_U16},
	{"domain-name", 15, K_TEXT},
	{"swap-server", 16, K_ADDRS},
	{"root-path", 17, K_TEXT},
	{"extension-path", 18, K_TEXT},
	{"ip-forward-enable", 19, K_U8},
	{"non-local-source-routing", 20, K_U8},
	{"max-datagram-reassembly", 22, K_U16},
	{"default-ttl", 23, K_U8},
	{"mtu", 26, K_U16},
	{"all-subnets-local", 27, K_U8},
	{"router-discovery", 31, K_U8},
	{"router-solicitation", 32, K_ADDRS},
	{"arp-timeout", 35, K_U32},
	{"ethernet-encap", 36, K_U8},
	{"tcp-ttl", 37, K_U8},
	{"tcp-keepalive", 38, K_U32},
	{"nis-domain", 40, K_TEXT},
	{"nis-server", 41, K_ADDRS},
	{"ntp-server", 42, K_ADDRS},
	{"netbios-ns", 44, K_ADDRS},
	{"netbios-dd", 45, K_ADDRS},
	{"netbios-nodetype", 46, K_U8},
	{"netbios-scope", 47, K_TEXT},
	{"x-windows-fs", 48, K_ADDRS},
	{"x-windows-dm", 49, K_ADDRS},
	{"vendor-class", 60, K_TEXT},
	{"nis+-domain", 64, K_TEXT},
	{"nis+-server", 65, K_ADDRS},
	{"tftp-server", 66, K_TEXT},
	{"bootfile-name", 67, K_TEXT},
	{"mobile-ip-home", 68, K_ADDRS},
	{"smtp-server", 69, K_ADDRS},
	{"pop3-server", 70, K_ADDRS},
	{"nntp-server", 71, K_ADDRS},
	{"irc-server", 74, K_ADDRS},
	{"posix-timezone", 100, K_TEXT},
	{"tzdb-timezone", 101, K_TEXT},
	{"domain-search", 119, K_DOMAINS},
	{"tftp-server-address", 150, K_ADDRS},
	{"server-ip-address", DHCP_EXTRA_NEXT_SERVER, K_NEXT},
};

/* Options the server itself owns: pad, subnet mask, the lease and message
 * options (RFC 2132 section 9), client identifier, relay agent
 * information, classless routes (made from the subnet), end. */
static bool server_owned(unsigned code)
{
	return code == 0 || code == 1 || (code >= 50 && code <= 59) || code == 61 || code == 82 ||
	       code == 121 || code == 255;
}

static int put_addrs(const char *v, struct dhcp_extra_opt *o, size_t max_n)
{
	size_t n = 0;

	for (;;) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t) (end - v) : strlen(v);
		char one[IP4_STRLEN];
		uint32_t a;

		if (len == 0 || len >= sizeof(one) || n == max_n)
			return -EINVAL;
		memcpy(one, v, len);
		one[len] = '\0';
		if (ip4_parse(one, &a) < 0)
			return -EINVAL;
		for (int i = 0; i < 4; i++)
			o->data[o->size++] = (uint8_t) (a >> (24 - 8 * i));
		n++;
		if (!end)
			return 0;
		v = end + 1;
	}
}

static int put_number(const char *v, int octets, struct dhcp_extra_opt *o)
{
	unsigned long long max = octets == 4 ? 0xffffffffull : (1ull << (8 * octets)) - 1;
	unsigned long long n;
	char *end;

	if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 10)
		return -EINVAL;
	n = strtoull(v, &end, 10);
	if (n > max)
		return -EINVAL;
	for (int i = octets - 1; i >= 0; i--)
		o->data[o->size++] = (uint8_t) (n >> (8 * i));
	return 0;
}

/* RFC 1035 section 3.1: each label as its length and octets, a zero
 * length after each name. */
static int put_domains(const char *v, struct dhcp_extra_opt *o)
{
	size_t i = 0, len = strlen(v);

	while (i < len) {
		size_t name_end = i + strcspn(v + i, ",");

		while (i < name_end) {
			size_t label = strcspn(v + i, ".,");

			if (label == 0 || label > 63 ||
			    o->size + 1 + label + 1 > DHCP_EXTRA_DATA_MAX)
				return -EINVAL;
			if (strspn(v + i, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789-") < label)
				return -EINVAL;
			o->data[o->size++] = (uint8_t) label;
			memcpy(o->data + o->size, v + i, label);
			o->size = (uint8_t) (o->size + label);
			i += label;
			if (i < name_end && v[i] == '.')
				i++; /* a trailing dot ends the name too */
		}
		o->data[o->size++] = 0;
		i = name_end + (name_end < len);
		if (name_end < len && i == len)
			return -EINVAL; /* a trailing comma */
	}
	return o->size ? 0 : -EINVAL;
}

static int parse_as(enum kind kind, const char *value, struct dhcp_extra_opt *o)
{
	size_t len = strlen(value);

	switch (kind) {
	case K_ADDRS:
		return put_addrs(value, o, DHCP_EXTRA_DATA_MAX / 4);
	case K_NEXT:
		return put_addrs(value, o, 1);
	case K_TEXT:
		if (len == 0 || len > DHCP_EXTRA_DATA_MAX || memchr(value, '\0', len))
			return -EINVAL;
		memcpy(o->data, value, len);
		o->size = (uint8_t) len;
		return 0;
	case K_U8:
		return put_number(value, 1, o);
	case K_U16:
		return put_number(value, 2, o);
	case K_U32:
		return put_number(value, 4, o);
	case K_DOMAINS:
		return put_domains(value, o);
	}
	return -EINVAL;
}

int dhcp_extra_parse(const char *name, const char *value, struct dhcp_extra_opt *ret)
{
	struct dhcp_extra_opt o = {0};
	int r;

	if (!name || !value)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		char num[4];

		snprintf(num, sizeof(num), "%u", table[i].code);
		if (!streq(name, table[i].name) && !(table[i].kind != K_NEXT && streq(name, num)))
			continue;
		o.code = table[i].code;
		r = parse_as(table[i].kind, value, &o);
		if (r < 0)
			return r;
		/* RFC 2132 section 5.1: an MTU is 68 at least. */
		if (o.code == 26 && (o.data[0] << 8 | o.data[1]) < 68)
			return -EINVAL;
		*ret = o;
		return 0;
	}
	/* Another option by number: addresses if the value is a list of
	 * them, else its text. */
	if (*name && strlen(name) <= 3 && strspn(name, "0123456789") == strlen(name)) {
		unsigned code = (unsigned) atoi(name);

		if (code > 254 || server_owned(code))
			return -ENOENT;
		o.code = (uint8_t) code;
		if (put_addrs(value, &o, DHCP_EXTRA_DATA_MAX / 4) < 0) {
			o.size = 0;
			r = parse_as(K_TEXT, value, &o);
			if (r < 0)
				return r;
		}
		*ret = o;
		return 0;
	}
	return -ENOENT;
}
