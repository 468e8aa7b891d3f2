/* Applying nftables scripts: the only user of libnftables. One script is one
 * transaction (all or nothing). Also reads our tables back, so the agent can
 * tell when someone changed them by hand. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct nft_handle;

int nft_handle_new(struct nft_handle **ret);
void nft_handle_free(struct nft_handle *h);

/* Runs the script in the current network namespace. On failure returns
 * -EINVAL and *ret_error (caller frees) says why. */
int nft_apply(struct nft_handle *h, const char *script, char **ret_error);
/* A hash of the listing of our tables ("bridge lepton", "netdev lepton",
 * "inet lepton"); 0 when none exists. */
uint64_t nft_tables_hash(struct nft_handle *h);
/* Whether this kernel hooks netdev chains by device name, to a device that
 * does not exist yet (Linux 6.16 and later), and has the netdev egress
 * hook: what the ports' own chains need (nft/ruleset.h, netdev mode).
 * Tries it in a table of its own, which it removes. */
bool nft_netdev_hooks_by_name(struct nft_handle *h);
