/* libnftables adapter. */
#include "nft/nft.h"

#include <errno.h>
#include <stdbool.h>
#include <nftables/libnftables.h>
#include <string.h>
#include "base/hash.h"
#include "base/xalloc.h"

struct nft_handle {
	struct nft_ctx *ctx;
};

int nft_handle_new(struct nft_handle **ret)
{
	struct nft_handle *h = xcalloc(1, sizeof(*h));

	h->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!h->ctx) {
		free(h);
		return -ENOMEM;
	}
	nft_ctx_buffer_output(h->ctx);
	nft_ctx_buffer_error(h->ctx);
	*ret = h;
	return 0;
}

void nft_handle_free(struct nft_handle *h)
{
	if (!h)
		return;
	nft_ctx_free(h->ctx);
	free(h);
}

int nft_apply(struct nft_handle *h, const char *script, char **ret_error)
{
	int r = nft_run_cmd_from_buffer(h->ctx, script);
	const char *err = nft_ctx_get_error_buffer(h->ctx);

	if (r == 0)
		return 0;
	if (ret_error)
		*ret_error = xstrdup(err && *err ? err : "nft failed");
	return -EINVAL;
}

uint64_t nft_tables_hash(struct nft_handle *h)
{
	static const char *const cmds[] = {"list table bridge lepton", "list table netdev lepton",
					   "list table inet lepton"};
	uint64_t v = 0xcbf29ce484222325ull; /* FNV's own basis, as the hashes on record */
	bool any = false;

	for (size_t i = 0; i < 3; i++) {
		if (nft_run_cmd_from_buffer(h->ctx, cmds[i]) != 0) {
			(void) nft_ctx_get_error_buffer(h->ctx);
			continue;
		}
		any = true;
		v = fnv_str(v, nft_ctx_get_output_buffer(h->ctx));
	}
	return any ? v : 0;
}

bool nft_netdev_hooks_by_name(struct nft_handle *h)
{
	static const char probe[] =
		"table netdev lepton_probe\n"
		"delete table netdev lepton_probe\n"
		"table netdev lepton_probe {\n"
		"\tchain i { type filter hook ingress device \"lp-no-such-0\" priority 0; }\n"
		"\tchain e { type filter hook egress device \"lp-no-such-0\" priority 0; }\n"
		"}\n";
	bool ok = nft_run_cmd_from_buffer(h->ctx, probe) == 0;

	(void) nft_ctx_get_error_buffer(h->ctx);
	if (nft_run_cmd_from_buffer(h->ctx, "delete table netdev lepton_probe") != 0)
		(void) nft_ctx_get_error_buffer(h->ctx);
	return ok;
}
