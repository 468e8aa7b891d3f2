/* IPv4 and CIDR math. */
#include <errno.h>
#include "base/ip4.h"
#include "test.h"

TEST(ip4_parse_accepts_dotted_quads)
{
	uint32_t a;

	CHECK(ip4_parse("10.0.0.1", &a) == 0 && a == 0x0a000001);
	CHECK(ip4_parse("255.255.255.255", &a) == 0 && a == 0xffffffff);
	CHECK(ip4_parse("0.0.0.0", &a) == 0 && a == 0);
}

TEST(ip4_parse_refuses_malformed)
{
	static const char *const bad[] = {"",	      "1.2.3",	  "1.2.3.4.5", "256.0.0.1",
					  "01.2.3.4", "1.2.3.4 ", " 1.2.3.4",  "1..3.4",
					  "a.b.c.d",  "1.2.3.-4", "1.2.3.4/24"};
	uint32_t a = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(ip4_parse(bad[i], &a) == -EINVAL);
	CHECK(a == 7);
	CHECK(ip4_parse(NULL, &a) == -EINVAL);
}

TEST(ip4_cidr_parse_and_format)
{
	struct ip4_cidr c;
	char buf[IP4_CIDR_STRLEN];

	REQUIRE(ip4_cidr_parse("10.1.2.0/24", false, &c) == 0);
	CHECK(c.addr == 0x0a010200 && c.len == 24);
	ip4_cidr_format(&c, buf);
	CHECK_STREQ(buf, "10.1.2.0/24");
	CHECK(ip4_cidr_is_canonical(&c));
	REQUIRE(ip4_cidr_parse("10.1.2.5/24", false, &c) == 0);
	CHECK(!ip4_cidr_is_canonical(&c));
	CHECK(ip4_cidr_parse("10.1.2.0", false, &c) == -EINVAL);
	CHECK(ip4_cidr_parse("10.1.2.7", true, &c) == 0 && c.len == 32);
	CHECK(ip4_cidr_parse("10.1.2.0/33", false, &c) == -EINVAL);
	CHECK(ip4_cidr_parse("10.1.2.0/", false, &c) == -EINVAL);
	CHECK(ip4_cidr_parse("10.1.2.0/024", false, &c) == -EINVAL);
	CHECK(ip4_cidr_parse("10.1.2.0/2x", false, &c) == -EINVAL);
	CHECK(ip4_cidr_parse("0.0.0.0/0", false, &c) == 0 && c.len == 0);
}

TEST(ip4_cidr_math)
{
	struct ip4_cidr c, d;
	uint32_t a;

	ip4_cidr_parse("192.0.2.0/24", false, &c);
	CHECK(ip4_cidr_network(&c) == 0xc0000200);
	CHECK(ip4_cidr_broadcast(&c) == 0xc00002ff);
	CHECK(ip4_cidr_first_host(&c) == 0xc0000201);
	CHECK(ip4_cidr_last_host(&c) == 0xc00002fe);
	ip4_parse("192.0.2.77", &a);
	CHECK(ip4_cidr_contains(&c, a));
	ip4_parse("192.0.3.1", &a);
	CHECK(!ip4_cidr_contains(&c, a));
	CHECK(ip4_cidr_is_reserved(&c, 0xc0000200));
	CHECK(ip4_cidr_is_reserved(&c, 0xc00002ff));
	CHECK(!ip4_cidr_is_reserved(&c, 0xc0000201));
	ip4_cidr_parse("192.0.2.128/25", false, &d);
	CHECK(ip4_cidr_overlaps(&c, &d) && ip4_cidr_overlaps(&d, &c));
	ip4_cidr_parse("192.0.3.0/24", false, &d);
	CHECK(!ip4_cidr_overlaps(&c, &d));
	ip4_cidr_parse("0.0.0.0/0", false, &d);
	CHECK(ip4_cidr_overlaps(&c, &d));
	CHECK(ip4_mask(0) == 0 && ip4_mask(32) == 0xffffffff && ip4_mask(24) == 0xffffff00);
	ip4_cidr_parse("10.0.0.0/31", false, &d);
	CHECK(ip4_cidr_first_host(&d) == 0x0a000000 && ip4_cidr_last_host(&d) == 0x0a000001);
}
