/* The agent's state and its passes: applying feed lines to the replica, and
 * the reconcile pass (kernel links and entries, nftables, DHCP sockets, port
 * status). Registration, heartbeats and status reports are queued for the
 * client's reporter thread: no pass waits on the server. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "agent/announce.h"
#include "agent/client.h"
#include "agent/desired.h"
#include "agent/replica.h"
#include "agent/routers.h"
#include "agent/secgroups.h"
#include "nft/nft.h"
#include "nft/ruleset.h"

#define AGENT_HEARTBEAT_MS 5000
#define AGENT_RESYNC_MS	   10000

struct agent_config {
	const char *host;
	const char *server;
	const char *token;
	const char *mode;
	uint32_t tunnel_ip;
	const char *tunnel_dev;
	json_t *physnets;	  /* {physnet: iface} */
	const char *netns_prefix; /* router namespace names start with it */
	uint32_t lease_secs;
	uint32_t heartbeat_ms;	       /* between heartbeats (AGENT_HEARTBEAT_MS) */
	struct announce_cfg announce;  /* BGP mode when announce.table is set */
	json_t *bgp_physnets;	       /* {physnet: true} BGP's (--bgp-physnet); NULL: all */
	const char *availability_zone; /* the node's zone ("nova") */
	bool vxlan_notrack;	       /* VXLAN packets skip conntrack */
	const char *port_hooks;	       /* "auto", "netdev" or "bridge" (nft/ruleset.h) */
};

struct kernel;
struct dhcpd;

struct agent {
	struct agent_config cfg;
	struct client *client;
	struct kernel *kernel;
	struct dhcpd *dhcpd;
	struct nft_handle *nft;
	struct replica replica;
	struct desired desired;
	struct port_index ports;
	struct nft_state nft_last;
	struct nft_input nft_ports_in; /* the ports half of the input, kept */
	uint64_t nft_ports_stamp;      /* the desired L2 it was made from */
	bool nft_applied;
	bool nft_netdev; /* the ports' hooks are netdev chains (nft/ruleset.h) */
	uint64_t nft_hash;
	bool nft_hash_stale;	  /* changed since nft_hash was read back */
	uint64_t nft_script_hash; /* of the full script of the tables as applied */
	uint64_t nft_inputs;	  /* stamp of what that script was made from */
	uint64_t node_stamp;	  /* node level of the last pass that went through */
	uint64_t pass_serial;	  /* the model (serial, generation) that pass saw */
	uint64_t pass_gen;
	bool dirty;
	bool synced_once;
	bool full_pass;		   /* the next pass looks at every router namespace */
	struct ns_marks ns_synced; /* router namespaces in their desired state */
	int epfd;
};

int agent_init(struct agent *a);
void agent_done(struct agent *a);
/* Queues a heartbeat (delivered by the client's reporter thread). */
void agent_heartbeat(struct agent *a);
/* Applies queued feed lines; marks dirty when the model changed. */
void agent_feed(struct agent *a);
/* One reconcile pass. */
void agent_sync(struct agent *a);
