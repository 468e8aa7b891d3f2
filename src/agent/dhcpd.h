/* The agent's DHCP responder: one AF_PACKET socket per local tap (filtered in
 * the kernel to IPv4 UDP to port 67, IPv6 router solicitations and UDP to
 * port 547, so the VM's other traffic never wakes us), answered from the
 * desired state through the pure cores: DHCPv4 (dhcp/server.h), router
 * advertisements (dhcp/ra.h), DHCPv6 (dhcp/dhcp6.h).
 *
 * Router advertisements come from here, not from radvd in each router
 * namespace: radvd multicasts to ff02::1 on the router leg, which the
 * bridge floods over VXLAN to every node of the network (and each node's
 * router would answer every VM's solicitation), and it is a process per
 * router. Sent on the tap, an advertisement reaches only its VM, from the
 * router port's MAC and link-local address (the anycast gateway: the VM's
 * default route is the router leg on its own node), with the flags of the
 * subnet's ipv6_ra_mode, and costs no process. */
#pragma once

#include "agent/desired.h"

struct dhcpd;

int dhcpd_new(uint32_t lease_secs, struct dhcpd **ret);
void dhcpd_free(struct dhcpd *d);
/* Opens sockets for taps that exist (ifindex >= 0 from lookup), closes those
 * of taps that are gone. Returns the fds to watch through the callback. */
void dhcpd_sync(struct dhcpd *d, const struct desired *desired,
		int (*ifindex)(void *, const char *), void *userdata, int epfd);
/* Handles a readable socket fd: reads and answers what is pending. */
void dhcpd_handle(struct dhcpd *d, int fd, const struct desired *desired);
/* Sends the router advertisements that are due (RA_INTERVAL_MS, or a port
 * whose advertisement changed or whose socket is new). */
void dhcpd_tick(struct dhcpd *d, const struct desired *desired, uint64_t now_ms);
/* Whether fd is one of ours. */
bool dhcpd_owns(struct dhcpd *d, int fd);
