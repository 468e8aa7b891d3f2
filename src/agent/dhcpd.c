/* The agent's DHCP responder sockets. */
#include "agent/dhcpd.h"
#include "agent/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/hmap.h"
#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "dhcp/dhcp6.h"
#include "dhcp/nd.h"
#include "dhcp/ra.h"
#include "dhcp/server.h"

#define FRAME_MAX 2048
/* Unsolicited router advertisements: one when a port's socket opens or
 * what it advertises changes, then one per interval (RFC 4861 section
 * 6.2.1 allows 4..1800 s; VMs also solicit one when their link comes up). */
#define RA_INTERVAL_MS 60000

struct dhcp_sock {
	int fd;
	int ifindex;
	char tap[D_IFNAMSIZ];
	uint64_t last_ra;  /* monotonic ms of the last unsolicited RA, 0: none yet */
	struct d_v6 ra_as; /* what it said */
};

struct dhcpd {
	uint32_t lease_secs;
	struct dhcp_sock *socks;
	size_t n, cap;
	struct dhcp_stats stats;
};

int dhcpd_new(uint32_t lease_secs, struct dhcpd **ret)
{
	struct dhcpd *d = xcalloc(1, sizeof(*d));

	d->lease_secs = lease_secs;
	*ret = d;
	return 0;
}

void dhcpd_free(struct dhcpd *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		close(d->socks[i].fd);
	free(d->socks);
	free(d);
}

/* Only IPv4 UDP to port 67 (first fragments only), and IPv6 router and
 * neighbour solicitations and UDP to port 547 without extension headers: the kernel
 * drops the rest before it reaches the socket. */
static int attach_filter(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), /* ethertype */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 9),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23), /* IP protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20), /* fragment offset */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), /* IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),	 /* UDP destination */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, FRAME_MAX),
		BPF_STMT(BPF_RET | BPF_K, 0),
		/* 11: IPv6, its next header at 20, ICMPv6 type (router and
		 * neighbour solicitations) or UDP destination port at 54 and
		 * 56. */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 9),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 133, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 3, 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 3),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 56),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 547, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, FRAME_MAX),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {ARRAY_SIZE(code), code};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static int open_sock(int ifindex)
{
	/* ETH_P_ALL: a bridge port's frames reach only the taps that see
	 * every protocol (before the bridge takes them); the filter keeps
	 * what is ours. */
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	int one = 1, r;

	if (fd < 0)
		return -errno;
	r = attach_filter(fd);
	/* Our own replies leave through this socket; never read them back. */
	if (r >= 0)
		(void) setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (r >= 0 && bind(fd, (struct sockaddr *) &sll, sizeof(sll)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Whether the node answers anything for this port: DHCPv4, router
 * solicitations, DHCPv6 or neighbour solicitations. */
static bool dhcpd_serves(const struct d_port *p)
{
	return p->dhcp.enabled || p->v6.ra || p->v6.dhcp || p->n_ips6;
}

/* Whether this node serves centralized DHCP on that bridge. */
static bool central_bridge(const struct desired *desired, const char *bridge)
{
	for (size_t i = 0; i < desired->n_central; i++)
		if (streq(desired->central[i].bridge, bridge))
			return true;
	return false;
}

void dhcpd_sync(struct dhcpd *d, const struct desired *desired,
		int (*ifindex)(void *, const char *), void *userdata, int epfd)
{
	/* Close sockets of taps (and bridges) that are gone or changed. */
	for (size_t i = 0; i < d->n;) {
		const struct d_port *p = desired_port_by_tap(desired, d->socks[i].tap);
		int idx = ifindex(userdata, d->socks[i].tap);
		bool central = central_bridge(desired, d->socks[i].tap);

		if (((p && dhcpd_serves(p)) || central) && idx == d->socks[i].ifindex) {
			i++;
			continue;
		}
		(void) epoll_ctl(epfd, EPOLL_CTL_DEL, d->socks[i].fd, NULL);
		close(d->socks[i].fd);
		d->socks[i] = d->socks[--d->n];
	}
	/* The devices with a socket; the map borrows the names from socks,
	 * which therefore has room for every new one first. */
	struct hmap open_on = HMAP_INIT;
	size_t room = d->n + desired->n_ports + desired->n_nets;

	if (d->cap < room) {
		d->cap = room;
		d->socks = xrealloc(d->socks, d->cap * sizeof(*d->socks));
	}
	for (size_t i = 0; i < d->n; i++)
		hmap_put(&open_on, d->socks[i].tap, &d->socks[i]);
	for (size_t k = 0; k < desired->n_ports + desired->n_nets; k++) {
		const char *dev;
		struct epoll_event ev = {.events = EPOLLIN};
		int idx, fd;

		if (k < desired->n_ports) {
			if (!dhcpd_serves(&desired->ports[k]))
				continue;
			dev = desired->ports[k].tap;
		} else {
			/* A network node listens on the bridge of each network
			 * whose DHCP it serves. */
			if (!central_bridge(desired, desired->nets[k - desired->n_ports].bridge))
				continue;
			dev = desired->nets[k - desired->n_ports].bridge;
		}
		if (hmap_get(&open_on, dev))
			continue;
		idx = ifindex(userdata, dev);
		if (idx <= 0)
			continue;
		fd = open_sock(idx);
		if (fd < 0) {
			log_event(LOG_LVL_WARN, "agent.dhcp_socket_failed", "dev=%s err=%s", dev,
				  strerror(-fd));
			continue;
		}
		d->socks[d->n] = (struct dhcp_sock){.fd = fd, .ifindex = idx, .last_ra = 0};
		snprintf(d->socks[d->n].tap, D_IFNAMSIZ, "%s", dev);
		hmap_put(&open_on, d->socks[d->n].tap, &d->socks[d->n]);
		d->n++;
		ev.data.fd = fd;
		(void) epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	hmap_done(&open_on);
}

bool dhcpd_owns(struct dhcpd *d, int fd)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->socks[i].fd == fd)
			return true;
	return false;
}

struct lookup_ctx {
	const struct desired *desired;
	const char *tap;
	uint32_t lease_secs;
	struct dhcp_lease lease;
	struct dhcp6_lease lease6;
};

/* Only the port plugged into this tap, and only by its own MAC. */
static const struct dhcp_lease *lookup(const uint8_t mac[6], void *userdata)
{
	struct lookup_ctx *c = userdata;
	const struct d_port *p = startswith(c->tap, "brq")
					 ? desired_central_port(c->desired, c->tap, mac)
					 : desired_port_by_tap(c->desired, c->tap);
	struct dhcp_lease *l = &c->lease;

	if (!p || !p->dhcp.enabled || memcmp(p->mac, mac, 6) != 0)
		return NULL;
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, p->mac, 6);
	l->ip = p->dhcp.ip;
	l->netmask = p->dhcp.netmask;
	l->router = p->dhcp.router;
	l->server_id = p->dhcp.server_id;
	l->n_dns = p->dhcp.n_dns < DHCP_LEASE_MAX_DNS ? p->dhcp.n_dns : DHCP_LEASE_MAX_DNS;
	memcpy(l->dns, p->dhcp.dns, l->n_dns * sizeof(l->dns[0]));
	l->n_routes =
		p->dhcp.n_routes < DHCP_LEASE_MAX_ROUTES ? p->dhcp.n_routes : DHCP_LEASE_MAX_ROUTES;
	for (size_t i = 0; i < l->n_routes; i++) {
		l->routes[i].dest = p->dhcp.routes[i].dest;
		l->routes[i].prefixlen = p->dhcp.routes[i].prefixlen;
		l->routes[i].gateway = p->dhcp.routes[i].gateway;
	}
	l->mtu = p->dhcp.mtu;
	l->lease_secs = c->lease_secs;
	snprintf(l->hostname, sizeof(l->hostname), "%s", p->dhcp.hostname);
	snprintf(l->domain, sizeof(l->domain), "%s", p->dhcp.domain);
	memcpy(l->server_mac, p->dhcp.server_mac, 6);
	l->extra = p->dhcp.extra;
	l->n_extra = p->dhcp.n_extra;
	return l;
}

static const struct dhcp6_lease *lookup6(const uint8_t mac[6], void *userdata)
{
	struct lookup_ctx *c = userdata;
	const struct d_port *p = desired_port_by_tap(c->desired, c->tap);
	struct dhcp6_lease *l = &c->lease6;

	if (!p || !p->v6.dhcp || memcmp(p->mac, mac, 6) != 0)
		return NULL;
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, p->mac, 6);
	l->stateful = p->v6.stateful;
	memcpy(l->addr, p->v6.addr, 16);
	l->lease_secs = c->lease_secs;
	l->n_dns = p->v6.n_dns < DHCP6_MAX_DNS ? p->v6.n_dns : DHCP6_MAX_DNS;
	memcpy(l->dns, p->v6.dns, l->n_dns * 16);
	snprintf(l->domain, sizeof(l->domain), "%s", p->dhcp.domain);
	memcpy(l->server_mac, p->dhcp.server_mac, 6);
	return l;
}

static void ra_config(const struct d_v6 *v, uint32_t mtu, struct ra_config *c)
{
	*c = (struct ra_config){0};
	memcpy(c->router_mac, v->router_mac, 6);
	/* RFC 4861 section 6.2.1: AdvDefaultLifetime, 3 x the interval. */
	c->router_lifetime = v->default_router ? (uint16_t) (3 * RA_INTERVAL_MS / 1000) : 0;
	c->managed = v->managed;
	c->other = v->other;
	memcpy(c->prefix, v->prefix, 16);
	c->prefix_len = v->prefix_len;
	c->autonomous = v->autonomous;
	c->valid_lifetime = 86400;
	c->preferred_lifetime = 14400;
	c->mtu = mtu;
	c->n_dns = v->n_dns < RA_MAX_DNS ? v->n_dns : RA_MAX_DNS;
	memcpy(c->dns, v->dns, c->n_dns * 16);
}

/* An advertisement for the port on this socket, to all nodes (on a tap,
 * only the VM hears it). */
static int send_ra(struct dhcp_sock *s, const struct d_port *p)
{
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
	uint8_t out[FRAME_MAX], eth[6];
	struct ra_config c;
	size_t len;
	int r;

	ra_config(&p->v6, p->dhcp.mtu, &c);
	frame6_multicast_mac(all_nodes, eth);
	r = ra_build(&c, eth, all_nodes, out, sizeof(out), &len);
	if (r == 0 && send(s->fd, out, len, 0) < 0)
		r = -errno;
	return r;
}

void dhcpd_tick(struct dhcpd *d, const struct desired *desired, uint64_t now_ms)
{
	for (size_t i = 0; i < d->n; i++) {
		struct dhcp_sock *s = &d->socks[i];
		const struct d_port *p = desired_port_by_tap(desired, s->tap);
		int r;

		if (!p || !p->v6.ra)
			continue;
		if (s->last_ra && now_ms - s->last_ra < RA_INTERVAL_MS &&
		    memcmp(&s->ra_as, &p->v6, sizeof(p->v6)) == 0)
			continue;
		r = send_ra(s, p);
		if (r < 0)
			log_event(LOG_LVL_WARN, "agent.ra_failed", "dev=%s err=%s", s->tap,
				  strerror(-r));
		s->last_ra = now_ms ? now_ms : 1;
		s->ra_as = p->v6;
	}
}

/* A neighbour solicitation from the port for an address the model knows on
 * its network (another port's, or the router's): the advertisement, as its
 * holder would send it. Solicitations for the port's own addresses
 * (duplicate address detection) and unknown ones get nothing. */
static int answer_ns(const struct frame6 *f, const struct d_port *p, const struct desired *desired,
		     uint8_t *out, size_t *out_len)
{
	const struct d_network *n = p ? desired_net_by_dev(desired, p->bridge, false) : NULL;
	const struct d_nd *e;
	uint8_t target[16];

	if (!n || nd_check_solicit(f, target) < 0 || frame6_is_unspecified(f->src) ||
	    memcmp(f->eth_src, p->mac, 6) != 0)
		return 0;
	e = desired_nd(n, target);
	if (!e || memcmp(e->mac, p->mac, 6) == 0)
		return 0;
	return nd_build_advert(f, target, e->mac, e->router, out, FRAME_MAX, out_len) < 0 ? -ENOBUFS
											  : 1;
}

/* A frame of IPv6: a router or neighbour solicitation, or a DHCPv6 message. Returns what
 * dhcp_server_process() does. */
static int handle6(struct dhcp_sock *s, struct lookup_ctx *c, const uint8_t *in, size_t n,
		   uint8_t *out, size_t *out_len, struct dhcp_stats *st)
{
	struct frame6 f;
	const struct d_port *p;

	if (frame6_parse(in, n, &f) < 0) {
		st->received++;
		st->dropped_malformed++;
		return -EBADMSG;
	}
	if (f.next == FRAME6_PROTO_UDP)
		return dhcp6_server_process(&f, lookup6, c, out, FRAME_MAX, out_len, st);
	p = desired_port_by_tap(c->desired, s->tap);
	if (f.payload[0] == ICMP6_NEIGHBOR_SOLICIT)
		return answer_ns(&f, p, c->desired, out, out_len);
	/* A router solicitation: answered, to all nodes, for the port on
	 * this tap only. */
	if (ra_check_solicit(&f) < 0 || !p || !p->v6.ra || memcmp(f.eth_src, p->mac, 6) != 0)
		return 0;
	return send_ra(s, p) < 0 ? -EIO : 0;
}

void dhcpd_handle(struct dhcpd *d, int fd, const struct desired *desired)
{
	struct dhcp_sock *s = NULL;

	for (size_t i = 0; i < d->n && !s; i++)
		if (d->socks[i].fd == fd)
			s = &d->socks[i];
	if (!s)
		return;
	for (int budget = 64; budget > 0; budget--) {
		uint8_t in[FRAME_MAX], out[FRAME_MAX];
		struct lookup_ctx c = {
			.desired = desired, .tap = s->tap, .lease_secs = d->lease_secs};
		size_t out_len = 0;
		ssize_t n = recv(fd, in, sizeof(in), 0);
		int r;

		if (n <= 0)
			break;
		if (n >= 14 && in[12] == 0x86 && in[13] == 0xdd)
			r = handle6(s, &c, in, (size_t) n, out, &out_len, &d->stats);
		else
			r = dhcp_server_process(in, (size_t) n, lookup, &c, out, sizeof(out),
						&out_len, &d->stats);
		if (r > 0 && send(fd, out, out_len, 0) < 0)
			log_event(LOG_LVL_WARN, "agent.dhcp_reply_failed", "dev=%s err=%s", s->tap,
				  strerror(errno));
		log_event(LOG_LVL_DEBUG, "agent.dhcp",
			  "dev=%s result=%d received=%llu replied=%llu malformed=%llu unknown=%llu",
			  s->tap, r, (unsigned long long) d->stats.received,
			  (unsigned long long) d->stats.replied,
			  (unsigned long long) d->stats.dropped_malformed,
			  (unsigned long long) d->stats.dropped_unknown);
	}
	stats_dhcp(&d->stats);
}
