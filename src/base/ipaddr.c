/* IP addresses and prefixes of either family. */
#include "base/ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/ip4.h"

int ipaddr_parse(const char *s, struct ipaddr *ret)
{
	unsigned char b[16];
	ipaddr_int v = 0;
	uint32_t a;

	if (!s)
		return -EINVAL;
	if (!strchr(s, ':')) {
		if (ip4_parse(s, &a) < 0)
			return -EINVAL;
		*ret = (struct ipaddr){a, 4};
		return 0;
	}
	if (strlen(s) >= IPADDR_STRLEN || inet_pton(AF_INET6, s, b) != 1)
		return -EINVAL;
	for (int i = 0; i < 16; i++)
		v = v << 8 | b[i];
	*ret = (struct ipaddr){v, 6};
	return 0;
}

int ipnet_parse(const char *s, bool allow_host, struct ipnet *ret)
{
	char a[IPADDR_STRLEN];
	struct ipaddr addr;
	const char *slash;
	unsigned len = 0;
	size_t n;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		if (!allow_host || ipaddr_parse(s, &addr) < 0)
			return -EINVAL;
		*ret = (struct ipnet){addr, (uint8_t) ipaddr_bits(addr.version)};
		return 0;
	}
	n = (size_t) (slash - s);
	if (n == 0 || n >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, n);
	a[n] = '\0';
	if (ipaddr_parse(a, &addr) < 0)
		return -EINVAL;
	s = slash + 1;
	if (*s == '\0' || strlen(s) > 3 || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		len = len * 10 + (unsigned) (*s - '0');
	}
	if (len > ipaddr_bits(addr.version))
		return -EINVAL;
	*ret = (struct ipnet){addr, (uint8_t) len};
	return 0;
}

void ipaddr_format(const struct ipaddr *a, char buf[static IPADDR_STRLEN])
{
	unsigned char b[16];
	ipaddr_int v = a->v;

	if (a->version == 4) {
		ip4_format((uint32_t) a->v, buf);
		return;
	}
	for (int i = 15; i >= 0; i--) {
		b[i] = (unsigned char) (v & 255);
		v >>= 8;
	}
	if (!inet_ntop(AF_INET6, b, buf, IPADDR_STRLEN))
		snprintf(buf, IPADDR_STRLEN, "::");
}

void ipnet_format(const struct ipnet *n, char buf[static IPNET_STRLEN])
{
	char a[IPADDR_STRLEN];
	struct ipaddr net = {ipnet_first(n), n->addr.version};

	ipaddr_format(&net, a);
	snprintf(buf, IPNET_STRLEN, "%s/%u", a, n->len);
}

unsigned ipaddr_bits(uint8_t version)
{
	return version == 6 ? 128 : 32;
}

ipaddr_int ipnet_mask(const struct ipnet *n)
{
	unsigned bits = ipaddr_bits(n->addr.version);
	ipaddr_int all = bits == 128 ? ~(ipaddr_int) 0 : ((ipaddr_int) 1 << bits) - 1;

	if (n->len == 0)
		return 0;
	if (n->len >= bits)
		return all;
	return all & ~(((ipaddr_int) 1 << (bits - n->len)) - 1);
}

ipaddr_int ipnet_first(const struct ipnet *n)
{
	return n->addr.v & ipnet_mask(n);
}

ipaddr_int ipnet_last(const struct ipnet *n)
{
	unsigned bits = ipaddr_bits(n->addr.version);
	ipaddr_int all = bits == 128 ? ~(ipaddr_int) 0 : ((ipaddr_int) 1 << bits) - 1;

	return ipnet_first(n) | (all & ~ipnet_mask(n));
}

bool ipnet_is_canonical(const struct ipnet *n)
{
	return n->addr.v == ipnet_first(n);
}

bool ipnet_contains(const struct ipnet *n, const struct ipaddr *a)
{
	return a->version == n->addr.version && (a->v & ipnet_mask(n)) == ipnet_first(n);
}

bool ipnet_overlaps(const struct ipnet *a, const struct ipnet *b)
{
	const struct ipnet *shorter = a->len < b->len ? a : b;

	return a->addr.version == b->addr.version &&
	       (a->addr.v & ipnet_mask(shorter)) == (b->addr.v & ipnet_mask(shorter));
}

bool ipnet_covers(const struct ipnet *a, const struct ipnet *b)
{
	return a->addr.version == b->addr.version && a->len <= b->len &&
	       (b->addr.v & ipnet_mask(a)) == ipnet_first(a);
}

void ip6_eui64(const uint8_t prefix[16], const uint8_t mac[6], uint8_t ret[16])
{
	memcpy(ret, prefix, 8);
	ret[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted */
	ret[9] = mac[1];
	ret[10] = mac[2];
	ret[11] = 0xff;
	ret[12] = 0xfe;
	ret[13] = mac[3];
	ret[14] = mac[4];
	ret[15] = mac[5];
}

void ip6_link_local(const uint8_t mac[6], uint8_t ret[16])
{
	static const uint8_t ll[16] = {0xfe, 0x80};

	ip6_eui64(ll, mac, ret);
}

int ip6_prefix_parse(const char *s, uint8_t ret[16], uint8_t *ret_len)
{
	struct ipnet n;

	if (!s || ipnet_parse(s, true, &n) < 0 || n.addr.version != 6)
		return -EINVAL;
	n.addr.v = ipnet_first(&n);
	for (int i = 15; i >= 0; i--, n.addr.v >>= 8)
		ret[i] = (uint8_t) n.addr.v;
	*ret_len = n.len;
	return 0;
}

bool ip6_prefix_contains(const uint8_t net[16], uint8_t len, const uint8_t a[16])
{
	size_t full = len / 8;
	unsigned rest = len % 8;

	if (len > 128 || memcmp(net, a, full) != 0)
		return false;
	return !rest || ((net[full] ^ a[full]) & (uint8_t) (0xff << (8 - rest))) == 0;
}
