/* The agent's HTTP client to lepton-server (the agent's only user of
 * libcurl), with two threads so that the event loop never waits on the
 * network: the change-feed stream, which hands complete lines to the event
 * loop through a queue and an eventfd, and the reporter, which delivers
 * registration, heartbeats and port status from a coalescing outbox
 * (agent/outbox.h), retrying with backoff while the server is unreachable.
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

/* Starts the reporter thread for agent `host`: it registers first with
 * `registration` (the register call's body; takes ownership), retried until
 * the server accepts it, then delivers heartbeats and port status. */
int client_reports_start(struct client *c, const char *host, json_t *registration);
/* Queues a heartbeat (one queued stands for any number). Never blocks on
 * the network. */
void client_heartbeat(struct client *c);
/* Queues a request for one more SNAT block of router_id for this host
 * (POST /v2.0/lepton/snat_blocks; one queued stands for any number). Never
 * blocks on the network. */
void client_snat_block(struct client *c, const char *router_id);
/* Queues `status` (ACTIVE or DOWN) for port `port_id`, replacing what is
 * queued for it; `model_status` is the port's status in the agent's model
 * (NULL if unknown). See outbox_report(). Never blocks on the network. */
void client_report_port(struct client *c, const char *port_id, const char *status,
			const char *model_status);
