/* Listening sockets for the daemons' HTTP listeners. libc only. */
#pragma once

/* A TCP socket bound to "HOST:PORT" (numeric host; IPv6 as "[::1]:PORT"),
 * listening, close-on-exec, SO_REUSEADDR: its fd, or -EINVAL for a
 * malformed address, or the negative errno of socket(), bind(), listen(). */
int listen_tcp(const char *listen_addr);
