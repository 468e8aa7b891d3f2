/* nf_tables over netlink: a table's comment. */
#include "nft/nfnl.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UDATA_TABLE_COMMENT 0 /* libnftnl's NFTNL_UDATA_TABLE_COMMENT */

struct found {
	char *out;
	size_t size;
	int r;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, NFTA_TABLE_MAX) > 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[NFTA_TABLE_MAX + 1] = {0};
	struct found *f = data;
	const uint8_t *u;
	uint16_t len;

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	f->r = 0;
	f->out[0] = '\0';
	if (!tb[NFTA_TABLE_USERDATA])
		return MNL_CB_OK;
	u = mnl_attr_get_payload(tb[NFTA_TABLE_USERDATA]);
	len = mnl_attr_get_payload_len(tb[NFTA_TABLE_USERDATA]);
	/* Type-length-value records; lengths never trusted. */
	for (size_t i = 0; i + 2 <= len;) {
		uint8_t t = u[i], l = u[i + 1];

		if (i + 2 + l > len)
			break;
		if (t == UDATA_TABLE_COMMENT) {
			size_t n = strnlen((const char *) u + i + 2, l);

			if (n >= f->size)
				n = f->size - 1;
			memcpy(f->out, u + i + 2, n);
			f->out[n] = '\0';
			break;
		}
		i += 2 + (size_t) l;
	}
	return MNL_CB_OK;
}

int nfnl_table_comment(uint8_t family, const char *table, char *out, size_t size)
{
	char buf[8192];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct found f = {out, size, -ENOENT};
	unsigned seq = (unsigned) time(NULL), portid;
	ssize_t n;
	int r;

	if (!size)
		return -EINVAL;
	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	r = 0;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t) n, seq, portid, table_cb, &f);
	} while (r > MNL_CB_STOP);
	mnl_socket_close(nl);
	if (r < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	return f.r;
}
