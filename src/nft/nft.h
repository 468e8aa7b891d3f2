/* Applying nftables scripts: the only user of libnftables. One script is one
 * transaction (all or nothing). Also reads our tables back, so the agent can
 * tell when someone changed them by hand. */
#pragma once

#include <stdint.h>

struct nft_handle;

int nft_handle_new(struct nft_handle **ret);
void nft_handle_free(struct nft_handle *h);

/* Runs the script in the current network namespace. On failure returns
 * -EINVAL and *ret_error (caller frees) says why. */
int nft_apply(struct nft_handle *h, const char *script, char **ret_error);
/* A hash of the listing of our tables ("bridge lepton", "inet lepton");
 * 0 when they do not exist. */
uint64_t nft_tables_hash(struct nft_handle *h);
