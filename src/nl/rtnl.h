/* rtnetlink, typed: the only user of libmnl. Encoders fill a caller's buffer
 * (at least RTNL_BUF_SIZE bytes) with one request and are pure; parsers turn
 * one message into a plain struct and never trust a length; a thin transport
 * sends requests (the kernel's answer comes back as 0 or a negative errno,
 * EEXIST and ENOENT included, so the caller decides what idempotence means),
 * runs dumps and reads link events. IPv4 addresses are host order. */
#pragma once

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTNL_BUF_SIZE	8192
#define RTNL_IFNAMSIZ	16
#define RTNL_VXLAN_PORT 4789

/* Ownership: every link Lepton makes (bridges, VXLAN and VLAN devices,
 * both ends of router legs) is created in this link group, and so is the
 * loopback of every namespace it makes; dumps read the group back. Objects
 * outside it are never changed or deleted, even when their names look like
 * ours (Neutron's linuxbridge agent uses brq* and vxlan-* too). */
#define RTNL_GROUP 76 /* 'L' */

/* Encoders. Links made by them are in RTNL_GROUP. */
/* mac: NULL for the kernel's choice (a bridge then takes its first port's
 * address, and a change of address flushes its neighbour entries). */
struct nlmsghdr *rtnl_bridge_add(void *buf, const char *name, uint32_t mtu, const uint8_t *mac);
/* learning off; link: the underlay device's ifindex. */
struct nlmsghdr *rtnl_vxlan_add(void *buf, const char *name, uint32_t vni, uint32_t local, int link,
				uint32_t mtu);
/* A VLAN device on link (ifindex). */
struct nlmsghdr *rtnl_vlan_add(void *buf, const char *name, int link, uint16_t vid, uint32_t mtu);
/* master: -1 leave alone, 0 none, else the master's ifindex; up: -1 leave
 * alone, 0 down, 1 up; mtu: 0 leave alone. */
struct nlmsghdr *rtnl_link_set(void *buf, int ifindex, int master, int up, uint32_t mtu);
struct nlmsghdr *rtnl_link_del(void *buf, int ifindex);
/* Puts an existing link in a link group (a namespace's loopback: the
 * namespace's ownership marker). */
struct nlmsghdr *rtnl_link_group(void *buf, int ifindex, uint32_t group);
/* Bridge port flags of a port (IFLA_PROTINFO, AF_BRIDGE). */
struct nlmsghdr *rtnl_brport_set(void *buf, int ifindex, bool learning, bool neigh_suppress);
/* A bridge's own netfilter switches (nf_call_iptables and
 * nf_call_ip6tables; arptables stays off): on, its bridged IP packets go
 * through the inet hooks (br_netfilter) even where the namespace's
 * bridge-nf-call-* sysctls are 0. */
struct nlmsghdr *rtnl_bridge_nf(void *buf, int ifindex, bool on);
/* FDB entries. Self entries live on the VXLAN device (dst: the remote
 * tunnel address; the all-zero MAC is appended, one entry per destination);
 * master entries in the bridge's FDB, static, for the port ifindex. */
struct nlmsghdr *rtnl_fdb(void *buf, bool add, int ifindex, const uint8_t mac[6], uint32_t dst,
			  bool master);
/* IPv4 neighbour entries, permanent. */
struct nlmsghdr *rtnl_neigh(void *buf, bool add, int ifindex, uint32_t ip, const uint8_t mac[6]);
/* A veth pair: `name` here, `peer` in the namespace of peer_netns_fd (-1:
 * here) with peer_mac (NULL: random). */
struct nlmsghdr *rtnl_veth_add(void *buf, const char *name, const char *peer, int peer_netns_fd,
			       const uint8_t peer_mac[6], uint32_t mtu);
/* IPv4 addresses. */
/* scope: RT_SCOPE_UNIVERSE, or RT_SCOPE_HOST for an address never chosen as a
 * source for another host. */
struct nlmsghdr *rtnl_addr(void *buf, bool add, int ifindex, uint32_t ip, uint8_t prefixlen,
			   uint8_t scope);

/* IPv6 (addresses 16 bytes, network order): an address without duplicate
 * address detection (IFA_F_NODAD: a distributed router's gateway address is
 * on every node at once), a permanent neighbour, a route (gateway: NULL or
 * all zero for a link route). */
struct nlmsghdr *rtnl_addr6(void *buf, bool add, int ifindex, const uint8_t ip[16],
			    uint8_t prefixlen);
struct nlmsghdr *rtnl_neigh6(void *buf, bool add, int ifindex, const uint8_t ip[16],
			     const uint8_t mac[6]);
struct nlmsghdr *rtnl_route6(void *buf, bool add, uint32_t table, const uint8_t dst[16],
			     uint8_t prefixlen, const uint8_t *gateway, int oif, bool onlink);
/* A proxy neighbour entry (the interface answers neighbour solicitations
 * for ip, with proxy_ndp on), and the dump request that lists them. */
struct nlmsghdr *rtnl_proxy6(void *buf, bool add, int ifindex, const uint8_t ip[16]);
struct nlmsghdr *rtnl_dump_proxy6(void *buf);

/* Routes and rules we install carry this protocol number, so that a dump
 * tells ours from the kernel's. */
#define RTNL_PROTO 0x4c /* 'L' */

struct rtnl_route {
	uint32_t table;
	uint32_t dst;
	uint8_t prefixlen;
	uint32_t gateway; /* 0: a link route */
	int oif;
	bool onlink;
	uint8_t protocol;	   /* parsed */
	uint8_t dst6[16], gw6[16]; /* rtnl_parse_route6 */
};

struct rtnl_rule {
	uint32_t priority;
	uint32_t src;
	uint8_t src_len;
	uint32_t table;
	int32_t suppress_prefixlen; /* -1: none */
	bool v6;		    /* an IPv6 rule (without src) */
};

struct nlmsghdr *rtnl_route(void *buf, bool add, const struct rtnl_route *rt);
struct nlmsghdr *rtnl_rule(void *buf, bool add, const struct rtnl_rule *ru);
/* Dumps: type RTM_GETLINK or RTM_GETNEIGH; family AF_UNSPEC, AF_INET or
 * AF_BRIDGE. */
struct nlmsghdr *rtnl_dump_request(void *buf, uint16_t type, uint8_t family);

/* Parsed messages. */
struct rtnl_link {
	int ifindex;
	char name[RTNL_IFNAMSIZ];
	char kind[16];
	int master;
	uint32_t mtu;
	uint32_t group;
	bool up;
	uint8_t mac[6];
	uint32_t vni, local; /* VXLAN */
	bool learning;	     /* VXLAN */
	bool nf_call;	     /* bridge: its IPv4/IPv6 packets go through netfilter */
};

struct rtnl_neigh {
	uint8_t family; /* AF_INET or AF_BRIDGE */
	int ifindex;
	uint8_t mac[6];
	bool has_mac;
	uint32_t dst;	  /* AF_INET: the address; AF_BRIDGE: the VXLAN remote */
	uint8_t dst6[16]; /* AF_INET6: the address */
	uint16_t state;
	uint8_t flags;
};

struct rtnl_addr {
	int ifindex;
	uint8_t family;	 /* AF_INET, or AF_INET6 (rtnl_parse_addr6) */
	uint8_t ip6[16]; /* AF_INET6 */
	uint32_t ip;
	uint8_t prefixlen;
	uint8_t scope;
};

/* 0, or -EBADMSG for a malformed message; -ENOMSG for another type (or
 * family: only IPv4 addresses, unicast routes and rules are parsed). */
int rtnl_parse_addr(const struct nlmsghdr *nlh, struct rtnl_addr *ret);
/* IPv6 unicast routes only (dst6, gateway6; -ENOMSG for the others). */
int rtnl_parse_route6(const struct nlmsghdr *nlh, struct rtnl_route *ret);
/* IPv6 addresses only (-ENOMSG for the others). */
int rtnl_parse_addr6(const struct nlmsghdr *nlh, struct rtnl_addr *ret);
int rtnl_parse_route(const struct nlmsghdr *nlh, struct rtnl_route *ret);
int rtnl_parse_rule(const struct nlmsghdr *nlh, struct rtnl_rule *ret);
int rtnl_parse_link(const struct nlmsghdr *nlh, struct rtnl_link *ret);
int rtnl_parse_neigh(const struct nlmsghdr *nlh, struct rtnl_neigh *ret);

/* Transport. */
struct rtnl;

/* groups: 0 for requests and dumps, or RTMGRP_* to read events. */
int rtnl_open(unsigned groups, struct rtnl **ret);
void rtnl_close(struct rtnl *r);
int rtnl_fd(struct rtnl *r);
/* Sends one request and waits for the kernel's ack. */
int rtnl_request(struct rtnl *r, struct nlmsghdr *nlh);
/* Sends a dump request and calls cb on every message of the answer. */
int rtnl_dump(struct rtnl *r, struct nlmsghdr *nlh,
	      int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);
/* Reads pending event messages without blocking, calling cb on each. Returns
 * how many it read, -ENOBUFS when the socket overflowed since the last call
 * (events were lost: the caller must look at the kernel's state again; the
 * messages that remained were read all the same), or -errno. */
int rtnl_read_events(struct rtnl *r, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);
