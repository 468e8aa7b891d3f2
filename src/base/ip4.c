/* IPv4 address and CIDR math. */
#include "base/ip4.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int parse_octets(const char *s, size_t n, uint32_t *ret)
{
	uint32_t addr = 0;
	int octets = 0;
	size_t i = 0;

	while (octets < 4) {
		unsigned v = 0;
		size_t digits = 0;

		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (digits > 0 && v == 0)
				return -EINVAL; /* leading zero */
			v = v * 10 + (unsigned) (s[i] - '0');
			if (v > 255)
				return -EINVAL;
			digits++;
			i++;
		}
		if (digits == 0)
			return -EINVAL;
		addr = addr << 8 | v;
		octets++;
		if (octets < 4) {
			if (i >= n || s[i] != '.')
				return -EINVAL;
			i++;
		}
	}
	if (i != n)
		return -EINVAL;
	*ret = addr;
	return 0;
}

int ip4_parse(const char *s, uint32_t *ret_addr)
{
	if (!s)
		return -EINVAL;
	return parse_octets(s, strlen(s), ret_addr);
}

int ip4_cidr_parse(const char *s, bool allow_host, struct ip4_cidr *ret)
{
	const char *slash;
	uint32_t addr;
	unsigned len = 0;
	int r;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		if (!allow_host)
			return -EINVAL;
		r = parse_octets(s, strlen(s), &addr);
		if (r < 0)
			return r;
		*ret = (struct ip4_cidr){addr, 32};
		return 0;
	}
	r = parse_octets(s, (size_t) (slash - s), &addr);
	if (r < 0)
		return r;
	s = slash + 1;
	if (*s == '\0' || strlen(s) > 2 || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		len = len * 10 + (unsigned) (*s - '0');
	}
	if (len > 32)
		return -EINVAL;
	*ret = (struct ip4_cidr){addr, (uint8_t) len};
	return 0;
}

void ip4_format(uint32_t a, char buf[static IP4_STRLEN])
{
	snprintf(buf, IP4_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

void ip4_cidr_format(const struct ip4_cidr *c, char buf[static IP4_CIDR_STRLEN])
{
	char a[IP4_STRLEN];

	ip4_format(c->addr, a);
	snprintf(buf, IP4_CIDR_STRLEN, "%s/%u", a, c->len);
}

uint32_t ip4_mask(uint8_t len)
{
	return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
}

uint32_t ip4_cidr_network(const struct ip4_cidr *c)
{
	return c->addr & ip4_mask(c->len);
}

uint32_t ip4_cidr_broadcast(const struct ip4_cidr *c)
{
	return ip4_cidr_network(c) | ~ip4_mask(c->len);
}

bool ip4_cidr_is_canonical(const struct ip4_cidr *c)
{
	return c->addr == ip4_cidr_network(c);
}

bool ip4_cidr_contains(const struct ip4_cidr *c, uint32_t addr)
{
	return (addr & ip4_mask(c->len)) == ip4_cidr_network(c);
}

bool ip4_cidr_overlaps(const struct ip4_cidr *a, const struct ip4_cidr *b)
{
	uint8_t len = a->len < b->len ? a->len : b->len;

	return (a->addr & ip4_mask(len)) == (b->addr & ip4_mask(len));
}

uint32_t ip4_cidr_first_host(const struct ip4_cidr *c)
{
	return ip4_cidr_network(c) + (c->len <= 30 ? 1 : 0);
}

uint32_t ip4_cidr_last_host(const struct ip4_cidr *c)
{
	return ip4_cidr_broadcast(c) - (c->len <= 30 ? 1 : 0);
}

bool ip4_cidr_is_reserved(const struct ip4_cidr *c, uint32_t addr)
{
	if (c->len > 30)
		return false;
	return addr == ip4_cidr_network(c) || addr == ip4_cidr_broadcast(c);
}
