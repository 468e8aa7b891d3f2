/* rtnetlink over libmnl. */
#include "nl/rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "base/xalloc.h"

static struct nlmsghdr *header(void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(struct nlmsghdr) + 64);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

static struct ifinfomsg *ifinfo(struct nlmsghdr *nlh, uint8_t family, int ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = family;
	ifi->ifi_index = ifindex;
	return ifi;
}

struct nlmsghdr *rtnl_bridge_add(void *buf, const char *name, uint32_t mtu, const uint8_t *mac)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct nlattr *info;

	ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_IFNAME, name);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, RTNL_GROUP);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	if (mac)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFLA_ADDRESS, 6, mac);
	info = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_LINKINFO);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *rtnl_bridge_nf(void *buf, int ifindex, bool on)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_ACK);
	struct nlattr *info, *data;

	ifinfo(nlh, AF_UNSPEC, ifindex);
	info = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_LINKINFO);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_DATA);
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_BR_NF_CALL_IPTABLES, on);
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_BR_NF_CALL_IP6TABLES, on);
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_BR_NF_CALL_ARPTABLES, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *rtnl_vxlan_add(void *buf, const char *name, uint32_t vni, uint32_t local, int link,
				uint32_t mtu)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct nlattr *info, *data;

	ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_IFNAME, name);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, RTNL_GROUP);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	info = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_LINKINFO);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_DATA);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_VXLAN_ID, vni);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_VXLAN_LOCAL, htonl(local));
	if (link > 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_VXLAN_LINK, (uint32_t) link);
	mnl_attr_put_u16_check(nlh, RTNL_BUF_SIZE, IFLA_VXLAN_PORT, htons(RTNL_VXLAN_PORT));
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *rtnl_vlan_add(void *buf, const char *name, int link, uint16_t vid, uint32_t mtu)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct nlattr *info, *data;

	ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_IFNAME, name);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, RTNL_GROUP);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_LINK, (uint32_t) link);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	info = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_LINKINFO);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_KIND, "vlan");
	data = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_DATA);
	mnl_attr_put_u16_check(nlh, RTNL_BUF_SIZE, IFLA_VLAN_ID, vid);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *rtnl_link_set(void *buf, int ifindex, int master, int up, uint32_t mtu)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = ifinfo(nlh, AF_UNSPEC, ifindex);

	if (up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = up ? IFF_UP : 0;
	}
	if (master >= 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MASTER, (uint32_t) master);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	return nlh;
}

struct nlmsghdr *rtnl_link_group(void *buf, int ifindex, uint32_t group)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_ACK);

	ifinfo(nlh, AF_UNSPEC, ifindex);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, group);
	return nlh;
}

struct nlmsghdr *rtnl_link_del(void *buf, int ifindex)
{
	struct nlmsghdr *nlh = header(buf, RTM_DELLINK, NLM_F_ACK);

	ifinfo(nlh, AF_UNSPEC, ifindex);
	return nlh;
}

struct nlmsghdr *rtnl_brport_set(void *buf, int ifindex, bool learning, bool neigh_suppress)
{
	struct nlmsghdr *nlh = header(buf, RTM_SETLINK, NLM_F_ACK);
	struct nlattr *prot;

	ifinfo(nlh, AF_BRIDGE, ifindex);
	prot = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_PROTINFO);
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_BRPORT_LEARNING, learning);
	mnl_attr_put_u8_check(nlh, RTNL_BUF_SIZE, IFLA_BRPORT_NEIGH_SUPPRESS, neigh_suppress);
	mnl_attr_nest_end(nlh, prot);
	return nlh;
}

static const uint8_t zero_mac[6];

struct nlmsghdr *rtnl_fdb(void *buf, bool add, int ifindex, const uint8_t mac[6], uint32_t dst,
			  bool master)
{
	uint16_t flags = NLM_F_ACK;
	struct nlmsghdr *nlh;
	struct ndmsg *nd;

	if (add)
		flags |= NLM_F_CREATE |
			 (memcmp(mac, zero_mac, 6) == 0 && !master ? NLM_F_APPEND : NLM_F_REPLACE);
	nlh = header(buf, add ? RTM_NEWNEIGH : RTM_DELNEIGH, flags);
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_BRIDGE;
	nd->ndm_ifindex = ifindex;
	nd->ndm_flags = master ? NTF_MASTER : NTF_SELF;
	nd->ndm_state = master ? NUD_NOARP : NUD_PERMANENT;
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_LLADDR, 6, mac);
	if (dst && !master) {
		uint32_t be = htonl(dst);

		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_DST, 4, &be);
	}
	return nlh;
}

struct nlmsghdr *rtnl_neigh(void *buf, bool add, int ifindex, uint32_t ip, const uint8_t mac[6])
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWNEIGH : RTM_DELNEIGH,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	uint32_t be = htonl(ip);

	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = NUD_PERMANENT;
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_DST, 4, &be);
	if (add && mac)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_LLADDR, 6, mac);
	return nlh;
}

struct nlmsghdr *rtnl_veth_add(void *buf, const char *name, const char *peer, int peer_netns_fd,
			       const uint8_t peer_mac[6], uint32_t mtu)
{
	struct nlmsghdr *nlh = header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	struct nlattr *info, *data, *pinfo;
	struct ifinfomsg *pi;

	ifinfo(nlh, AF_UNSPEC, 0);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_IFNAME, name);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, RTNL_GROUP);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	info = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_LINKINFO);
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, IFLA_INFO_DATA);
	pinfo = mnl_attr_nest_start_check(nlh, RTNL_BUF_SIZE, VETH_INFO_PEER);
	pi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pi));
	pi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz_check(nlh, RTNL_BUF_SIZE, IFLA_IFNAME, peer);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_GROUP, RTNL_GROUP);
	if (mtu)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_MTU, mtu);
	if (peer_mac)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFLA_ADDRESS, 6, peer_mac);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFLA_NET_NS_FD,
				       (uint32_t) peer_netns_fd);
	mnl_attr_nest_end(nlh, pinfo);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *rtnl_addr(void *buf, bool add, int ifindex, uint32_t ip, uint8_t prefixlen,
			   uint8_t scope)
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWADDR : RTM_DELADDR,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	uint32_t be = htonl(ip);

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = (uint32_t) ifindex;
	ifa->ifa_scope = scope;
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFA_LOCAL, 4, &be);
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFA_ADDRESS, 4, &be);
	return nlh;
}

struct nlmsghdr *rtnl_addr6(void *buf, bool add, int ifindex, const uint8_t ip[16],
			    uint8_t prefixlen)
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWADDR : RTM_DELADDR,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = (uint32_t) ifindex;
	ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFA_LOCAL, 16, ip);
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, IFA_ADDRESS, 16, ip);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, IFA_FLAGS, IFA_F_NODAD);
	return nlh;
}

struct nlmsghdr *rtnl_neigh6(void *buf, bool add, int ifindex, const uint8_t ip[16],
			     const uint8_t mac[6])
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWNEIGH : RTM_DELNEIGH,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

	nd->ndm_family = AF_INET6;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = NUD_PERMANENT;
	mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_DST, 16, ip);
	if (add && mac)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, NDA_LLADDR, 6, mac);
	return nlh;
}

struct nlmsghdr *rtnl_proxy6(void *buf, bool add, int ifindex, const uint8_t ip[16])
{
	struct nlmsghdr *nlh = rtnl_neigh6(buf, add, ifindex, ip, NULL);
	struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);

	nd->ndm_state = 0;
	nd->ndm_flags = NTF_PROXY;
	return nlh;
}

struct nlmsghdr *rtnl_dump_proxy6(void *buf)
{
	struct nlmsghdr *nlh = header(buf, RTM_GETNEIGH, NLM_F_DUMP);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

	nd->ndm_family = AF_INET6;
	nd->ndm_flags = NTF_PROXY;
	return nlh;
}

struct nlmsghdr *rtnl_route6(void *buf, bool add, uint32_t table, const uint8_t dst[16],
			     uint8_t prefixlen, const uint8_t *gateway, int oif, bool onlink)
{
	static const uint8_t zero[16];
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	bool has_gw = gateway && memcmp(gateway, zero, 16) != 0;

	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = prefixlen;
	rtm->rtm_table = table < 256 ? (uint8_t) table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTNL_PROTO;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (onlink)
		rtm->rtm_flags |= RTNH_F_ONLINK;
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, RTA_TABLE, table);
	if (prefixlen)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, RTA_DST, 16, dst);
	if (has_gw)
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, RTA_GATEWAY, 16, gateway);
	if (oif > 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, RTA_OIF, (uint32_t) oif);
	return nlh;
}

struct nlmsghdr *rtnl_route(void *buf, bool add, const struct rtnl_route *rt)
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	uint32_t be;

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = rt->prefixlen;
	rtm->rtm_table = rt->table < 256 ? (uint8_t) rt->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTNL_PROTO;
	rtm->rtm_scope = rt->gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (rt->onlink)
		rtm->rtm_flags |= RTNH_F_ONLINK;
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, RTA_TABLE, rt->table);
	if (rt->prefixlen) {
		be = htonl(rt->dst);
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, RTA_DST, 4, &be);
	}
	if (rt->gateway) {
		be = htonl(rt->gateway);
		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, RTA_GATEWAY, 4, &be);
	}
	if (rt->oif > 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, RTA_OIF, (uint32_t) rt->oif);
	return nlh;
}

struct nlmsghdr *rtnl_rule(void *buf, bool add, const struct rtnl_rule *ru)
{
	struct nlmsghdr *nlh = header(buf, add ? RTM_NEWRULE : RTM_DELRULE,
				      NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = ru->v6 ? AF_INET6 : AF_INET;
	frh->src_len = ru->v6 ? 0 : ru->src_len;
	frh->action = FR_ACT_TO_TBL;
	frh->table = ru->table < 256 ? (uint8_t) ru->table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, FRA_PRIORITY, ru->priority);
	mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, FRA_TABLE, ru->table);
	if (ru->src_len && !ru->v6) {
		uint32_t be = htonl(ru->src);

		mnl_attr_put_check(nlh, RTNL_BUF_SIZE, FRA_SRC, 4, &be);
	}
	if (ru->suppress_prefixlen >= 0)
		mnl_attr_put_u32_check(nlh, RTNL_BUF_SIZE, FRA_SUPPRESS_PREFIXLEN,
				       (uint32_t) ru->suppress_prefixlen);
	return nlh;
}

struct nlmsghdr *rtnl_dump_request(void *buf, uint16_t type, uint8_t family)
{
	struct nlmsghdr *nlh = header(buf, type, NLM_F_DUMP);

	if (type == RTM_GETLINK) {
		ifinfo(nlh, family, 0);
		/* Counters are most of a link's message, and nobody reads them. */
		mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	} else {
		struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

		nd->ndm_family = family;
	}
	return nlh;
}

/* Parsers. */

struct attrs {
	const struct nlattr *tb[IFLA_MAX + NDA_MAX + 64];
	uint16_t max;
};

static int collect(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, a->max) > 0)
		a->tb[type] = attr;
	return MNL_CB_OK;
}

static bool str_attr(const struct nlattr *a, char *out, size_t size)
{
	uint16_t len = mnl_attr_get_payload_len(a);
	const char *s = mnl_attr_get_payload(a);
	size_t n = strnlen(s, len);

	if (n >= size)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static bool u32_attr(const struct nlattr *a, uint32_t *v)
{
	if (mnl_attr_get_payload_len(a) < 4)
		return false;
	memcpy(v, mnl_attr_get_payload(a), 4);
	return true;
}

/* The family header of a parsed message (hdr bytes), its attributes put
 * into a: when its type is new_type or the matching delete (rtnetlink's
 * RTM_DEL* follow their RTM_NEW*). NULL with *err -ENOMSG for another type,
 * -EBADMSG when malformed. */
static const void *parse_head(const struct nlmsghdr *nlh, uint16_t new_type, size_t hdr,
			      struct attrs *a, int *err)
{
	*err = -ENOMSG;
	if (nlh->nlmsg_type != new_type && nlh->nlmsg_type != new_type + 1)
		return NULL;
	*err = -EBADMSG;
	if (nlh->nlmsg_len < mnl_nlmsg_size(hdr) ||
	    mnl_attr_parse(nlh, (unsigned) hdr, collect, a) < 0)
		return NULL;
	return mnl_nlmsg_get_payload(nlh);
}

static void parse_linkinfo(const struct nlattr *info, struct rtnl_link *l)
{
	struct attrs li = {.max = IFLA_INFO_MAX};
	struct attrs vx = {.max = IFLA_VXLAN_MAX};
	struct attrs br = {.max = IFLA_BR_MAX};

	if (mnl_attr_parse_nested(info, collect, &li) < 0)
		return;
	if (li.tb[IFLA_INFO_KIND])
		str_attr(li.tb[IFLA_INFO_KIND], l->kind, sizeof(l->kind));
	if (strcmp(l->kind, "bridge") == 0 && li.tb[IFLA_INFO_DATA] &&
	    mnl_attr_parse_nested(li.tb[IFLA_INFO_DATA], collect, &br) >= 0) {
		const struct nlattr *v4 = br.tb[IFLA_BR_NF_CALL_IPTABLES];
		const struct nlattr *v6 = br.tb[IFLA_BR_NF_CALL_IP6TABLES];

		l->nf_call = v4 && v6 && mnl_attr_get_payload_len(v4) >= 1 &&
			     mnl_attr_get_payload_len(v6) >= 1 && mnl_attr_get_u8(v4) &&
			     mnl_attr_get_u8(v6);
		return;
	}
	if (strcmp(l->kind, "vxlan") != 0 || !li.tb[IFLA_INFO_DATA] ||
	    mnl_attr_parse_nested(li.tb[IFLA_INFO_DATA], collect, &vx) < 0)
		return;
	if (vx.tb[IFLA_VXLAN_ID])
		u32_attr(vx.tb[IFLA_VXLAN_ID], &l->vni);
	if (vx.tb[IFLA_VXLAN_LOCAL] && u32_attr(vx.tb[IFLA_VXLAN_LOCAL], &l->local))
		l->local = ntohl(l->local);
	if (vx.tb[IFLA_VXLAN_LEARNING] && mnl_attr_get_payload_len(vx.tb[IFLA_VXLAN_LEARNING]) >= 1)
		l->learning = mnl_attr_get_u8(vx.tb[IFLA_VXLAN_LEARNING]) != 0;
}

int rtnl_parse_link(const struct nlmsghdr *nlh, struct rtnl_link *ret)
{
	struct attrs a = {.max = IFLA_MAX};
	const struct ifinfomsg *ifi;
	struct rtnl_link l = {0};
	uint32_t v;
	int r;

	ifi = parse_head(nlh, RTM_NEWLINK, sizeof(*ifi), &a, &r);
	if (!ifi)
		return r;
	l.ifindex = ifi->ifi_index;
	l.up = ifi->ifi_flags & IFF_UP;
	if (!a.tb[IFLA_IFNAME] || !str_attr(a.tb[IFLA_IFNAME], l.name, sizeof(l.name)))
		return -EBADMSG;
	if (a.tb[IFLA_MTU] && u32_attr(a.tb[IFLA_MTU], &v))
		l.mtu = v;
	if (a.tb[IFLA_MASTER] && u32_attr(a.tb[IFLA_MASTER], &v))
		l.master = (int) v;
	if (a.tb[IFLA_GROUP] && u32_attr(a.tb[IFLA_GROUP], &v))
		l.group = v;
	if (a.tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(a.tb[IFLA_ADDRESS]) == 6)
		memcpy(l.mac, mnl_attr_get_payload(a.tb[IFLA_ADDRESS]), 6);
	if (a.tb[IFLA_LINKINFO])
		parse_linkinfo(a.tb[IFLA_LINKINFO], &l);
	*ret = l;
	return 0;
}

int rtnl_parse_neigh(const struct nlmsghdr *nlh, struct rtnl_neigh *ret)
{
	struct attrs a = {.max = NDA_MAX};
	const struct ndmsg *nd;
	struct rtnl_neigh n = {0};
	int r;

	nd = parse_head(nlh, RTM_NEWNEIGH, sizeof(*nd), &a, &r);
	if (!nd)
		return r;
	n.family = nd->ndm_family;
	n.ifindex = nd->ndm_ifindex;
	n.state = nd->ndm_state;
	n.flags = nd->ndm_flags;
	if (a.tb[NDA_LLADDR] && mnl_attr_get_payload_len(a.tb[NDA_LLADDR]) == 6) {
		memcpy(n.mac, mnl_attr_get_payload(a.tb[NDA_LLADDR]), 6);
		n.has_mac = true;
	}
	if (a.tb[NDA_DST] && mnl_attr_get_payload_len(a.tb[NDA_DST]) == 4 &&
	    u32_attr(a.tb[NDA_DST], &n.dst))
		n.dst = ntohl(n.dst);
	if (a.tb[NDA_DST] && mnl_attr_get_payload_len(a.tb[NDA_DST]) == 16)
		memcpy(n.dst6, mnl_attr_get_payload(a.tb[NDA_DST]), 16);
	*ret = n;
	return 0;
}

int rtnl_parse_addr(const struct nlmsghdr *nlh, struct rtnl_addr *ret)
{
	struct attrs a = {.max = IFA_MAX};
	const struct ifaddrmsg *ifa;
	uint32_t v;
	int r;

	ifa = parse_head(nlh, RTM_NEWADDR, sizeof(*ifa), &a, &r);
	if (!ifa)
		return r;
	if (ifa->ifa_family != AF_INET || !a.tb[IFA_LOCAL] || !u32_attr(a.tb[IFA_LOCAL], &v))
		return -ENOMSG;
	*ret = (struct rtnl_addr){.ifindex = (int) ifa->ifa_index,
				  .family = AF_INET,
				  .ip = ntohl(v),
				  .prefixlen = ifa->ifa_prefixlen,
				  .scope = ifa->ifa_scope};
	return 0;
}

int rtnl_parse_addr6(const struct nlmsghdr *nlh, struct rtnl_addr *ret)
{
	struct attrs a = {.max = IFA_MAX};
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	int r;

	ifa = parse_head(nlh, RTM_NEWADDR, sizeof(*ifa), &a, &r);
	if (!ifa)
		return r;
	at = a.tb[IFA_LOCAL] ? a.tb[IFA_LOCAL] : a.tb[IFA_ADDRESS];
	if (ifa->ifa_family != AF_INET6 || !at || mnl_attr_get_payload_len(at) != 16)
		return -ENOMSG;
	*ret = (struct rtnl_addr){.ifindex = (int) ifa->ifa_index,
				  .family = AF_INET6,
				  .prefixlen = ifa->ifa_prefixlen,
				  .scope = ifa->ifa_scope};
	memcpy(ret->ip6, mnl_attr_get_payload(at), 16);
	return 0;
}

/* A unicast route of one family: what both families share. */
static int parse_route(const struct nlmsghdr *nlh, uint8_t family, struct attrs *a,
		       struct rtnl_route *rt)
{
	const struct rtmsg *rtm;
	uint32_t v;
	int r;

	rtm = parse_head(nlh, RTM_NEWROUTE, sizeof(*rtm), a, &r);
	if (!rtm)
		return r;
	if (rtm->rtm_family != family || rtm->rtm_type != RTN_UNICAST)
		return -ENOMSG;
	*rt = (struct rtnl_route){0};
	rt->table = rtm->rtm_table;
	if (a->tb[RTA_TABLE] && u32_attr(a->tb[RTA_TABLE], &v))
		rt->table = v;
	rt->prefixlen = rtm->rtm_dst_len;
	rt->protocol = rtm->rtm_protocol;
	rt->onlink = rtm->rtm_flags & RTNH_F_ONLINK;
	if (a->tb[RTA_OIF] && u32_attr(a->tb[RTA_OIF], &v))
		rt->oif = (int) v;
	return 0;
}

int rtnl_parse_route(const struct nlmsghdr *nlh, struct rtnl_route *ret)
{
	struct attrs a = {.max = RTA_MAX};
	struct rtnl_route rt;
	uint32_t v;
	int r = parse_route(nlh, AF_INET, &a, &rt);

	if (r < 0)
		return r;
	if (a.tb[RTA_DST] && u32_attr(a.tb[RTA_DST], &v))
		rt.dst = ntohl(v);
	if (a.tb[RTA_GATEWAY] && u32_attr(a.tb[RTA_GATEWAY], &v))
		rt.gateway = ntohl(v);
	*ret = rt;
	return 0;
}

int rtnl_parse_route6(const struct nlmsghdr *nlh, struct rtnl_route *ret)
{
	struct attrs a = {.max = RTA_MAX};
	struct rtnl_route rt;
	int r = parse_route(nlh, AF_INET6, &a, &rt);

	if (r < 0)
		return r;
	if (a.tb[RTA_DST] && mnl_attr_get_payload_len(a.tb[RTA_DST]) == 16)
		memcpy(rt.dst6, mnl_attr_get_payload(a.tb[RTA_DST]), 16);
	if (a.tb[RTA_GATEWAY] && mnl_attr_get_payload_len(a.tb[RTA_GATEWAY]) == 16)
		memcpy(rt.gw6, mnl_attr_get_payload(a.tb[RTA_GATEWAY]), 16);
	*ret = rt;
	return 0;
}

int rtnl_parse_rule(const struct nlmsghdr *nlh, struct rtnl_rule *ret)
{
	struct attrs a = {.max = FRA_MAX};
	const struct fib_rule_hdr *frh;
	struct rtnl_rule ru = {.suppress_prefixlen = -1};
	uint32_t v;
	int r;

	frh = parse_head(nlh, RTM_NEWRULE, sizeof(*frh), &a, &r);
	if (!frh)
		return r;
	if (frh->family != AF_INET && frh->family != AF_INET6)
		return -ENOMSG;
	ru.v6 = frh->family == AF_INET6;
	ru.src_len = frh->src_len;
	ru.table = frh->table;
	if (a.tb[FRA_TABLE] && u32_attr(a.tb[FRA_TABLE], &v))
		ru.table = v;
	if (a.tb[FRA_PRIORITY] && u32_attr(a.tb[FRA_PRIORITY], &v))
		ru.priority = v;
	if (!ru.v6 && a.tb[FRA_SRC] && u32_attr(a.tb[FRA_SRC], &v))
		ru.src = ntohl(v);
	if (a.tb[FRA_SUPPRESS_PREFIXLEN] && u32_attr(a.tb[FRA_SUPPRESS_PREFIXLEN], &v))
		ru.suppress_prefixlen = (int32_t) v;
	*ret = ru;
	return 0;
}

/* Transport. */

struct rtnl {
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
};

int rtnl_open(unsigned groups, struct rtnl **ret)
{
	struct rtnl *r = xcalloc(1, sizeof(*r));
	int one = 1;

	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0));
	if (!r->nl) {
		free(r);
		return -errno;
	}
	if (mnl_socket_bind(r->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;

		mnl_socket_close(r->nl);
		free(r);
		return e;
	}
	/* Extended acks carry the kernel's reason; harmless where unknown. */
	(void) mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (unsigned) time(NULL);
	*ret = r;
	return 0;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	mnl_socket_close(r->nl);
	free(r);
}

int rtnl_fd(struct rtnl *r)
{
	return mnl_socket_get_fd(r->nl);
}

struct dump_ctx {
	int (*cb)(const struct nlmsghdr *nlh, void *data);
	void *data;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	int r = c->cb(nlh, c->data);

	if (r < 0 && !c->err)
		c->err = r;
	return MNL_CB_OK;
}

static int exchange(struct rtnl *r, struct nlmsghdr *nlh, struct dump_ctx *c)
{
	char buf[32768];
	unsigned seq = ++r->seq;
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t) n, seq, r->portid, c ? dump_cb : NULL, c);
	} while (ret > MNL_CB_STOP);
	if (ret < 0)
		return -errno; /* the kernel's NLMSG_ERROR, as errno by libmnl */
	return c && c->err ? c->err : 0;
}

int rtnl_request(struct rtnl *r, struct nlmsghdr *nlh)
{
	nlh->nlmsg_flags |= NLM_F_ACK;
	return exchange(r, nlh, NULL);
}

int rtnl_dump(struct rtnl *r, struct nlmsghdr *nlh,
	      int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	struct dump_ctx c = {cb, data, 0};

	return exchange(r, nlh, &c);
}

int rtnl_read_events(struct rtnl *r, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	char buf[32768];
	struct dump_ctx c = {cb, data, 0};
	int count = 0;
	bool lost = false;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return lost ? -ENOBUFS : count;
			if (errno == ENOBUFS) {
				lost = true; /* the socket overflowed; read on */
				continue;
			}
			return -errno;
		}
		(void) mnl_cb_run(buf, (size_t) n, 0, 0, dump_cb, &c);
		count++;
	}
}
