/* Security groups and port security of the node's ports, from the model to
 * the nftables builder's input (pure). Port indices (the packet marks) come
 * from a small allocator that keeps a port's index while it stays on the
 * node. */
#pragma once

#include "agent/desired.h"
#include "agent/replica.h"
#include "nft/ruleset.h"

#define PORT_INDEX_MAX 65535

struct port_index {
	char (*taps)[D_IFNAMSIZ]; /* slot i holds the tap of index i + 1, "" free */
	size_t n;
	struct hmap by_tap; /* tap -> index (keys in taps) */
};

void port_index_done(struct port_index *pi);
/* Frees the indices of taps no longer desired, assigns new ones. */
void port_index_sync(struct port_index *pi, const struct desired *d);
/* 0 when the tap has none. */
uint16_t port_index_get(const struct port_index *pi, const char *tap);

/* A stamp of what the input is made from: the documents it reads (networks,
 * subnets, ports, security groups, agents) and the node's networks with
 * their zones (a router leg may bring one). Equal stamps, equal input. */
uint64_t secgroups_stamp(const struct model *m, const struct desired *d);

/* Fills *in (freed with secgroups_input_done). */
void secgroups_input(struct replica *r, const struct desired *d, const struct port_index *pi,
		     struct nft_input *in);
void secgroups_input_done(struct nft_input *in);
/* The two halves of secgroups_input: the ports and zones (made from the
 * node's desired ports and networks and the ports' documents), and the
 * groups (rules, members, address groups), into a zeroed *in; a pass where
 * only groups changed makes the second half alone, and frees it alone. */
void secgroups_input_ports(struct replica *r, const struct desired *d, const struct port_index *pi,
			   struct nft_input *in);
void secgroups_input_groups(struct replica *r, struct nft_input *in);
void secgroups_input_groups_done(struct nft_input *in);
