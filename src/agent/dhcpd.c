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
#include "dhcp/server.h"

#define FRAME_MAX 2048

struct dhcp_sock {
	int fd;
	int ifindex;
	char tap[D_IFNAMSIZ];
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

/* Only IPv4 UDP to port 67, first fragments only: the kernel drops the rest
 * before it reaches the socket. */
static int attach_filter(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), /* ethertype */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23), /* IP protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20), /* fragment offset */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), /* IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),	 /* UDP destination */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 0, 1),
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

		if (((p && p->dhcp.enabled) || central) && idx == d->socks[i].ifindex) {
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
			if (!desired->ports[k].dhcp.enabled)
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
		d->socks[d->n] = (struct dhcp_sock){.fd = fd, .ifindex = idx};
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
		r = dhcp_server_process(in, (size_t) n, lookup, &c, out, sizeof(out), &out_len,
					&d->stats);
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
