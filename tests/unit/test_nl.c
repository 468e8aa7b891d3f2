/* src/nl: encoders read back by the parsers, and hostile messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include "nl/rtnl.h"
#include "test.h"

TEST(rtnl_vxlan_add_reads_back)
{
	char buf[RTNL_BUF_SIZE];
	struct nlmsghdr *nlh = rtnl_vxlan_add(buf, "vxlan-1001", 1001, 0x647f000b, 3, 1450);
	struct rtnl_link l;

	CHECK(nlh->nlmsg_type == RTM_NEWLINK);
	CHECK(nlh->nlmsg_flags & NLM_F_CREATE);
	REQUIRE(rtnl_parse_link(nlh, &l) == 0);
	CHECK_STREQ(l.name, "vxlan-1001");
	CHECK_STREQ(l.kind, "vxlan");
	CHECK(l.vni == 1001 && l.local == 0x647f000b && !l.learning && l.mtu == 1450);
}

TEST(rtnl_bridge_add_and_link_set)
{
	char buf[RTNL_BUF_SIZE];
	struct rtnl_link l;
	struct nlmsghdr *nlh = rtnl_bridge_add(buf, "brqabc", 1450, NULL);

	REQUIRE(rtnl_parse_link(nlh, &l) == 0);
	CHECK_STREQ(l.kind, "bridge");
	nlh = rtnl_link_set(buf, 7, 5, 1, 1400);
	/* A set message carries no name: not a valid link for the parser. */
	CHECK(rtnl_parse_link(nlh, &l) == -EBADMSG);
	CHECK(((struct ifinfomsg *) NLMSG_DATA(nlh))->ifi_index == 7);
	CHECK(((struct ifinfomsg *) NLMSG_DATA(nlh))->ifi_change == 1);
}

TEST(rtnl_fdb_and_neigh_read_back)
{
	char buf[RTNL_BUF_SIZE];
	const uint8_t mac[6] = {0xfa, 0x16, 0x3e, 1, 2, 3}, zero[6] = {0};
	struct rtnl_neigh n;
	struct nlmsghdr *nlh = rtnl_fdb(buf, true, 4, mac, 0x647f000c, false);

	REQUIRE(rtnl_parse_neigh(nlh, &n) == 0);
	CHECK(n.family == AF_BRIDGE && n.ifindex == 4 && n.dst == 0x647f000c);
	CHECK(n.flags == NTF_SELF && n.has_mac && memcmp(n.mac, mac, 6) == 0);
	CHECK(nlh->nlmsg_flags & NLM_F_REPLACE);
	nlh = rtnl_fdb(buf, true, 4, zero, 0x647f000c, false);
	CHECK(nlh->nlmsg_flags & NLM_F_APPEND);
	nlh = rtnl_fdb(buf, true, 4, mac, 0, true);
	REQUIRE(rtnl_parse_neigh(nlh, &n) == 0);
	CHECK(n.flags == NTF_MASTER && n.state == NUD_NOARP && n.dst == 0);
	nlh = rtnl_neigh(buf, true, 9, 0x0a000005, mac);
	REQUIRE(rtnl_parse_neigh(nlh, &n) == 0);
	CHECK(n.family == AF_INET && n.dst == 0x0a000005 && n.state == NUD_PERMANENT);
}

TEST(rtnl_parsers_refuse_hostile_messages)
{
	char buf[RTNL_BUF_SIZE];
	struct rtnl_link l;
	struct rtnl_neigh n;
	struct nlmsghdr *nlh = rtnl_bridge_add(buf, "brqabc", 1450, NULL);
	struct nlattr *a;

	/* Too short for its header. */
	nlh->nlmsg_len = sizeof(*nlh) + 2;
	CHECK(rtnl_parse_link(nlh, &l) == -EBADMSG);
	/* An attribute claiming more than the message holds. */
	nlh = rtnl_bridge_add(buf, "brqabc", 1450, NULL);
	a = (struct nlattr *) ((char *) NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct ifinfomsg)));
	a->nla_len = 60000;
	CHECK(rtnl_parse_link(nlh, &l) == -EBADMSG);
	/* A name without its terminator fills the buffer: refused. */
	nlh = rtnl_bridge_add(buf, "0123456789abcdef0123", 0, NULL);
	CHECK(rtnl_parse_link(nlh, &l) == -EBADMSG);
	/* Other message types are not links or neighbours. */
	nlh = rtnl_dump_request(buf, RTM_GETLINK, AF_UNSPEC);
	CHECK(rtnl_parse_link(nlh, &l) == -ENOMSG);
	CHECK(rtnl_parse_neigh(nlh, &n) == -ENOMSG);
}
