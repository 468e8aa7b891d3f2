/* Pure parts of the server: IPAM plans, list matching and ordering, config. */
#include <errno.h>
#include <jansson.h>
#include "server/api.h"
#include "server/config.h"
#include "server/ipam.h"
#include "server/list.h"
#include "test.h"

static struct ipam_plan plan_of(const char *cidr)
{
	struct ipam_plan p = {0};
	struct api_error err = {0};

	ipam_parse_cidr(cidr, &p.cidr, &err);
	api_error_done(&err);
	return p;
}

TEST(ipam_cidr_refuses_bad_and_noncanonical)
{
	struct api_error err = {0};
	struct ipnet c;

	CHECK(ipam_parse_cidr("10.0.0.0/24", &c, &err) == 0 && c.len == 24);
	CHECK(ipam_parse_cidr("10.0.0.5/24", &c, &err) < 0 && err.status == 400);
	CHECK(strstr(err.message, "10.0.0.0/24") != NULL);
	api_error_done(&err);
	CHECK(ipam_parse_cidr("10.0.0.0/31", &c, &err) < 0 && err.status == 400);
	api_error_done(&err);
	CHECK(ipam_parse_cidr("0.0.0.0/0", &c, &err) < 0);
	api_error_done(&err);
	/* IPv6: canonical, not "::". */
	CHECK(ipam_parse_cidr("2001:db8::/64", &c, &err) == 0 && c.len == 64 &&
	      c.addr.version == 6);
	CHECK(ipam_parse_cidr("2001:db8::1/64", &c, &err) < 0 && err.status == 400);
	CHECK(strstr(err.message, "2001:db8::/64") != NULL);
	api_error_done(&err);
	CHECK(ipam_parse_cidr("::/64", &c, &err) < 0 && err.status == 400);
	api_error_done(&err);
	CHECK(ipam_parse_cidr("2001:db8::/129", &c, &err) < 0);
	api_error_done(&err);
	CHECK(ipam_parse_cidr(NULL, &c, &err) < 0);
	api_error_done(&err);
}

TEST(ipam_default_gateway_and_pools)
{
	struct ipam_plan p = plan_of("10.0.0.0/24");
	struct api_error err = {0};
	json_t *j;

	REQUIRE(ipam_parse_gateway(&p, NULL, &err) == 0);
	CHECK(p.has_gateway && p.gateway == 0x0a000001);
	REQUIRE(ipam_parse_pools(&p, NULL, &err) == 0);
	CHECK(p.npools == 1 && p.pools[0].start == 0x0a000002 && p.pools[0].end == 0x0a0000fe);
	/* A gateway in the middle splits the default pool in two. */
	p = plan_of("10.0.0.0/24");
	j = json_string("10.0.0.100");
	REQUIRE(ipam_parse_gateway(&p, j, &err) == 0);
	json_decref(j);
	REQUIRE(ipam_parse_pools(&p, NULL, &err) == 0);
	CHECK(p.npools == 2 && p.pools[0].end == 0x0a000063 && p.pools[1].start == 0x0a000065);
	/* No gateway: every host. */
	p = plan_of("10.0.0.0/24");
	REQUIRE(ipam_parse_gateway(&p, json_null(), &err) == 0);
	REQUIRE(ipam_parse_pools(&p, NULL, &err) == 0);
	CHECK(!p.has_gateway && p.npools == 1 && p.pools[0].start == 0x0a000001);
	j = ipam_pools_json(&p);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(j, 0), "end")), "10.0.0.254");
	json_decref(j);
}

static int pools_error(const char *cidr, const char *gw, const char *pools_json, int *status)
{
	struct ipam_plan p = plan_of(cidr);
	struct api_error err = {0};
	json_t *pools = json_loads(pools_json, 0, NULL);
	json_t *g = gw ? json_string(gw) : NULL;
	int r = ipam_parse_gateway(&p, g, &err);

	if (r == 0)
		r = ipam_parse_pools(&p, pools, &err);
	*status = err.status;
	api_error_done(&err);
	json_decref(pools);
	json_decref(g);
	return r;
}

TEST(ipam_pool_validation)
{
	int st;

	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.20\"}]",
			  &st) == 0);
	/* Outside the CIDR, reversed, overlapping, holding the gateway. */
	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.1.10\",\"end\":\"10.0.1.20\"}]",
			  &st) < 0 &&
	      st == 400);
	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.0\",\"end\":\"10.0.0.20\"}]",
			  &st) < 0 &&
	      st == 400);
	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.20\",\"end\":\"10.0.0.10\"}]",
			  &st) < 0 &&
	      st == 400);
	CHECK(pools_error("10.0.0.0/24", NULL,
			  "[{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.20\"},"
			  "{\"start\":\"10.0.0.20\",\"end\":\"10.0.0.30\"}]",
			  &st) < 0 &&
	      st == 409);
	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.20\"}]",
			  &st) < 0 &&
	      st == 409);
	CHECK(pools_error("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.5\"}]", &st) < 0 && st == 400);
	CHECK(pools_error("10.0.0.0/24", NULL, "{}", &st) < 0 && st == 400);
	CHECK(pools_error("10.0.0.0/24", "10.0.0.255", "[]", &st) < 0 && st == 400);
	CHECK(pools_error("10.0.0.0/24", "10.0.1.1", "[]", &st) < 0 && st == 400);
	CHECK(pools_error("10.0.0.0/24", "bogus", "[]", &st) < 0 && st == 400);
}

TEST(ipam_ipv6_plan_and_eui64)
{
	struct ipam_plan p = plan_of("2001:db8:0:1::/64");
	struct api_error err = {0};
	struct ipaddr a;
	uint8_t mac[6] = {0xfa, 0x16, 0x3e, 0x12, 0x34, 0x56};
	char buf[IPADDR_STRLEN];
	json_t *j;
	int st;

	/* Gateway ::1, one pool from ::2 to the last address (no broadcast). */
	REQUIRE(ipam_parse_gateway(&p, NULL, &err) == 0);
	REQUIRE(ipam_parse_pools(&p, NULL, &err) == 0);
	j = ipam_pools_json(&p);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(j, 0), "start")),
		    "2001:db8:0:1::2");
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(j, 0), "end")),
		    "2001:db8:0:1:ffff:ffff:ffff:ffff");
	json_decref(j);
	a = ipam_eui64(&p.cidr, mac);
	ipaddr_format(&a, buf);
	CHECK_STREQ(buf, "2001:db8:0:1:f816:3eff:fe12:3456");
	/* The subnet-router anycast address is a router's only. */
	REQUIRE(ipaddr_parse("2001:db8:0:1::", &a) == 0);
	CHECK(!ipam_addr_allocatable(&p, &a, false) && ipam_addr_allocatable(&p, &a, true));
	REQUIRE(ipaddr_parse("2001:db8:0:2::5", &a) == 0);
	CHECK(!ipam_addr_allocatable(&p, &a, false));
	REQUIRE(ipaddr_parse("10.0.0.5", &a) == 0);
	CHECK(!ipam_addr_allocatable(&p, &a, false));
	/* Pools and gateways of the other family are refused. */
	CHECK(pools_error("2001:db8::/64", NULL, "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.2\"}]",
			  &st) < 0 &&
	      st == 400);
	CHECK(pools_error("2001:db8::/64", "10.0.0.1", NULL, &st) < 0 && st == 400);
	CHECK(pools_error("2001:db8::/64", "2001:db8::", NULL, &st) == 0);
	CHECK(pools_error("2001:db8::/64", NULL,
			  "[{\"start\":\"2001:db8::\",\"end\":\"2001:db8::9\"}]", &st) < 0 &&
	      st == 400);
}

TEST(ipaddr_parse_format_and_math)
{
	struct ipaddr a;
	struct ipnet n, m;
	char buf[IPNET_STRLEN];

	CHECK(ipaddr_parse("2001:0db8:0000::0001", &a) == 0 && a.version == 6);
	ipaddr_format(&a, buf);
	CHECK_STREQ(buf, "2001:db8::1");
	CHECK(ipaddr_parse("10.0.0.01", &a) < 0);
	CHECK(ipaddr_parse("2001:db8::1%eth0", &a) < 0);
	CHECK(ipaddr_parse("2001:db8:::1", &a) < 0);
	CHECK(ipaddr_parse(NULL, &a) < 0);
	CHECK(ipnet_parse("2001:db8::1/48", false, &n) == 0 && !ipnet_is_canonical(&n));
	ipnet_format(&n, buf);
	CHECK_STREQ(buf, "2001:db8::/48");
	CHECK(ipnet_parse("2001:db8::/129", false, &n) < 0);
	CHECK(ipnet_parse("2001:db8::/01", false, &n) < 0);
	CHECK(ipnet_parse("2001:db8::1", false, &n) < 0);
	CHECK(ipnet_parse("2001:db8::1", true, &n) == 0 && n.len == 128);
	REQUIRE(ipnet_parse("2001:db8::/32", false, &n) == 0);
	REQUIRE(ipnet_parse("2001:db8:5::/48", false, &m) == 0);
	CHECK(ipnet_covers(&n, &m) && !ipnet_covers(&m, &n) && ipnet_overlaps(&m, &n));
	REQUIRE(ipnet_parse("10.0.0.0/8", false, &m) == 0);
	CHECK(!ipnet_overlaps(&m, &n) && !ipnet_covers(&n, &m));
	CHECK(ipnet_last(&m) == 0x0affffff);
	REQUIRE(ipnet_parse("::/0", false, &n) == 0);
	CHECK(ipnet_last(&n) == ~(ipaddr_int) 0 && ipnet_first(&n) == 0);
}

TEST(list_value_matching)
{
	struct attr_def s = {"name", AK_STRING, 0, NULL, 0};
	struct attr_def b = {"shared", AK_BOOL, 0, NULL, 0};
	struct attr_def i = {"mtu", AK_INT, 0, NULL, 0};
	struct attr_def l = {"fixed_ips", AK_LIST, 0, NULL, 0};
	json_t *v = json_string("net1");

	CHECK(list_value_matches(&s, v, "net1") == 1);
	CHECK(list_value_matches(&s, v, "net") == 0);
	json_decref(v);
	CHECK(list_value_matches(&b, json_true(), "True") == 1);
	CHECK(list_value_matches(&b, json_true(), "false") == 0);
	CHECK(list_value_matches(&b, json_true(), "maybe") == -EINVAL);
	v = json_integer(1450);
	CHECK(list_value_matches(&i, v, "1450") == 1);
	CHECK(list_value_matches(&i, v, "x") == -EINVAL);
	json_decref(v);
	v = json_loads("[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.3\"}]", 0, NULL);
	CHECK(list_value_matches(&l, v, "ip_address=10.0.0.3") == 1);
	CHECK(list_value_matches(&l, v, "subnet_id=s2") == 0);
	CHECK(list_value_matches(&l, v, "garbage") == 0);
	json_decref(v);
}

TEST(api_counts_beyond_int64)
{
	ipaddr_int big = ((ipaddr_int) 1 << 64) - 2;
	json_t *doc = json_pack("{s:o, s:o, s:o, s:s}", "small", api_count_json(13), "big",
				api_count_json(big), "max", api_count_json(~(ipaddr_int) 0), "name",
				"\\u0000int:5");
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

	CHECK(json_is_integer(json_object_get(doc, "small")));
	api_unquote_counts(text);
	CHECK_STREQ(text, "{\"big\":18446744073709551614,"
			  "\"max\":340282366920938463463374607431768211455,"
			  "\"name\":\"\\\\u0000int:5\",\"small\":13}");
	free(text);
	json_decref(doc);
}

TEST(list_ordering_and_urlencode)
{
	json_t *a = json_string("a"), *b = json_string("b"), *one = json_integer(1);
	char *e;

	CHECK(list_compare_values(a, b) < 0 && list_compare_values(b, a) > 0);
	CHECK(list_compare_values(a, a) == 0);
	CHECK(list_compare_values(json_null(), one) < 0);
	CHECK(list_compare_values(json_false(), json_true()) < 0);
	CHECK(list_compare_values(one, a) < 0);
	json_decref(a);
	json_decref(b);
	json_decref(one);
	e = list_urlencode("a b&c=d/é");
	CHECK_STREQ(e, "a%20b%26c%3Dd%2F%C3%A9");
	free(e);
}

TEST(config_settings)
{
	struct server_config c;

	config_defaults(&c);
	CHECK(c.vni_min == 1000 && !c.sync_full);
	CHECK(config_set(&c, "sync", "full") == 0 && c.sync_full);
	CHECK(config_set(&c, "vni_ranges", "5:10") == 0 && c.vni_min == 5 && c.vni_max == 10);
	CHECK(config_set(&c, "vni_ranges", "10:5") == -EINVAL);
	CHECK(config_set(&c, "vni_ranges", "0:5") == -EINVAL);
	CHECK(config_set(&c, "base_mac", "fa:16:3e") == 0);
	CHECK(config_set(&c, "base_mac", "01:00:00") == -EINVAL);
	CHECK(config_set(&c, "quota_network", "-1") == 0 && c.quota_default[QUOTA_NETWORK] == -1);
	CHECK(config_set(&c, "quota_bogus", "1") == -EINVAL);
	CHECK(config_set(&c, "sync", "sometimes") == -EINVAL);
	CHECK(config_set(&c, "no_such_key", "1") == -EINVAL);
	CHECK(config_set(&c, "max_body_size", "12") == -EINVAL);
	config_done(&c);
}
