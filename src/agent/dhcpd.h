/* The agent's DHCP responder: one AF_PACKET socket per local tap (filtered in
 * the kernel to IPv4 UDP to port 67, so the VM's other traffic never wakes
 * us), answered from the desired state through the pure DHCP server core. */
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
/* Whether fd is one of ours. */
bool dhcpd_owns(struct dhcpd *d, int fd);
