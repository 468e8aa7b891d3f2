/* The agent's HTTP client to lepton-server (the agent's only user of
 * libcurl): one-shot JSON calls (register, heartbeat, port status) and the
 * change-feed stream, which runs on its own thread and hands complete lines
 * to the event loop through a queue and an eventfd.
 *
 * The server URL is "http://HOST:PORT" or "unix:/path/to/socket" (agents in
 * node namespaces reach a server in another namespace through its socket). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct client;

int client_new(const char *url, const char *token, struct client **ret);
void client_free(struct client *c);

/* A blocking call with a short timeout. *ret_status gets the HTTP status;
 * *ret_body (may be NULL) the parsed answer. Returns 0, or -errno when the
 * server could not be reached. */
int client_call(struct client *c, const char *method, const char *path, json_t *body,
		long *ret_status, json_t **ret_body);

/* Starts following host's feed (watch?host=: only what the node needs) from
 * `since` (0: snapshot). Lines arrive in order; after a broken stream the
 * watcher reconnects from the revision of the last complete change it
 * delivered (the server answers a node's feed with a fresh snapshot), so
 * nothing is missed. */
int client_watch_start(struct client *c, const char *host, int64_t since);
/* An fd that becomes readable when lines are queued. */
int client_watch_fd(struct client *c);
/* Takes the queued lines (new reference to an array; empty when none). */
json_t *client_watch_take(struct client *c);
/* Whether the stream is currently connected. */
bool client_watch_connected(struct client *c);
