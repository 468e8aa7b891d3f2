/* Router namespaces in the kernel. */
#include "agent/rns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "nft/nfnl.h"
#include "nft/nft.h"
#include "nl/rtnl.h"

#define NETNS_DIR "/run/netns"

struct rns {
	char name[R_NSNAMSIZ];
	int fd;
	struct rtnl *nl;
	char *nft_applied; /* the table last applied here */
	uint64_t synced;   /* hash of the desired state last reached, 0 none */
	char found[64];	   /* the comment of the table found when we took it */
};

struct rns_set {
	struct rtnl *node_nl;
	struct rns *v;
	size_t n;
};

struct rns_set *rns_set_new(struct rtnl *node_nl)
{
	struct rns_set *s = xcalloc(1, sizeof(*s));

	s->node_nl = node_nl;
	return s;
}

static void rns_close(struct rns *r)
{
	if (r->fd >= 0)
		close(r->fd);
	rtnl_close(r->nl);
	free(r->nft_applied);
}

void rns_set_free(struct rns_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		rns_close(&s->v[i]);
	free(s->v);
	free(s);
}

/* Runs fn inside the namespace (this thread only), then comes back. */
static int in_ns(int fd, int (*fn)(void *), void *data)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), r;

	if (self < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0) {
		r = -errno;
		close(self);
		return r;
	}
	r = fn(data);
	if (setns(self, CLONE_NEWNET) < 0)
		log_error("cannot return to the node's namespace: %s", strerror(errno));
	close(self);
	return r;
}

static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Inside a fresh router namespace: forwarding on, reverse-path filtering
 * off (Floating IP paths are asymmetric), ARP answered only for addresses
 * of the receiving leg, with the leg's own address as source. */
static int ns_sysctls(void *unused)
{
	static const char *const settings[][2] = {
		{"/proc/sys/net/ipv4/conf/all/rp_filter", "0"},
		{"/proc/sys/net/ipv4/conf/default/rp_filter", "0"},
		{"/proc/sys/net/ipv4/conf/all/arp_ignore", "1"},
		{"/proc/sys/net/ipv4/conf/default/arp_ignore", "1"},
		{"/proc/sys/net/ipv4/conf/all/arp_announce", "2"},
		{"/proc/sys/net/ipv4/conf/default/arp_announce", "2"},
		{"/proc/sys/net/ipv4/ip_forward", "1"},
	};
	int first = 0;

	(void) unused;
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		int r = write_file(settings[i][0], settings[i][1]);

		if (r < 0 && !first)
			first = r;
	}
	return first;
}

static int open_rtnl(void *data)
{
	return rtnl_open(0, data);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static int read_comment(void *out)
{
	return nfnl_table_comment(NFPROTO_IPV4, "lepton", out, 64);
}

static int ns_create(const char *name)
{
	char path[sizeof(NETNS_DIR) + 257];
	int self, fd, r = 0;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || unshare(CLONE_NEWNET) < 0) {
		r = -errno;
	} else {
		if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
			r = -errno;
		if (setns(self, CLONE_NEWNET) < 0)
			log_error("cannot return to the node's namespace: %s", strerror(errno));
	}
	if (self >= 0)
		close(self);
	if (r < 0)
		unlink(path);
	return r;
}

static void ns_delete(const char *name)
{
	char path[sizeof(NETNS_DIR) + 257];

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_warn("umount %s: %s", path, strerror(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("unlink %s: %s", path, strerror(errno));
}

static struct rns *find(struct rns_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

/* Our handle on a namespace, creating the namespace if needed. */
static int ns_get(struct rns_set *s, const char *name, struct rns **ret)
{
	char path[sizeof(NETNS_DIR) + 257];
	struct rns *r = find(s, name), n = {.fd = -1};
	int e;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (r) {
		struct stat a, b;

		/* Still the namespace under that name? (Deleted by hand, our
		 * handle would keep configuring a ghost.) */
		if (fstat(r->fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*ret = r;
			return 0;
		}
		log_warn("namespace %s vanished: making it anew", name);
		rns_close(r);
		*r = s->v[--s->n];
	}
	n.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (n.fd < 0) {
		e = ns_create(name);
		if (e < 0)
			return e;
		n.fd = open(path, O_RDONLY | O_CLOEXEC);
		if (n.fd < 0)
			return -errno;
		log_info("namespace %s created", name);
	}
	/* Every time we take a namespace in hand: its sysctls are ours. */
	e = in_ns(n.fd, ns_sysctls, NULL);
	if (e >= 0)
		e = in_ns(n.fd, open_rtnl, &n.nl);
	if (e >= 0 && in_ns(n.fd, read_comment, n.found) < 0)
		n.found[0] = '\0';
	if (e < 0) {
		rns_close(&n);
		return e;
	}
	snprintf(n.name, sizeof(n.name), "%s", name);
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n] = n;
	*ret = &s->v[s->n++];
	return 0;
}

/* Dump. */

struct dump {
	struct r_observed *o;
};

static const char *link_name(const struct r_observed *o, int ifindex)
{
	for (size_t i = 0; i < o->n_links; i++)
		if (o->links[i].ifindex == ifindex)
			return o->links[i].name;
	return NULL;
}

#define APPEND(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

static int on_link(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_link l;
	struct r_link *k;

	if (rtnl_parse_link(nlh, &l) < 0)
		return 0;
	k = APPEND(o->links, o->n_links);
	*k = (struct r_link){.ifindex = l.ifindex, .mtu = l.mtu, .up = l.up};
	snprintf(k->name, sizeof(k->name), "%s", l.name);
	memcpy(k->mac, l.mac, 6);
	return 0;
}

static int on_addr(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_addr a;
	const char *dev;
	struct r_addr *k;

	if (rtnl_parse_addr(nlh, &a) < 0 || !(dev = link_name(o, a.ifindex)) || streq(dev, "lo"))
		return 0;
	k = APPEND(o->addrs, o->n_addrs);
	*k = (struct r_addr){.ip = a.ip, .prefixlen = a.prefixlen};
	snprintf(k->dev, sizeof(k->dev), "%s", dev);
	return 0;
}

static int on_route(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_route rt;
	struct r_route *k;
	const char *dev;

	if (rtnl_parse_route(nlh, &rt) < 0 || rt.protocol != RTNL_PROTO)
		return 0;
	dev = link_name(o, rt.oif);
	k = APPEND(o->routes, o->n_routes);
	*k = (struct r_route){.table = rt.table,
			      .dst = rt.dst,
			      .prefixlen = rt.prefixlen,
			      .gateway = rt.gateway,
			      .onlink = rt.onlink};
	snprintf(k->dev, sizeof(k->dev), "%s", dev ? dev : "");
	return 0;
}

static int on_rule(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_rule ru;

	if (rtnl_parse_rule(nlh, &ru) < 0 || ru.priority < R_PRIO_MAIN ||
	    ru.priority > R_PRIO_OURS_LAST)
		return 0;
	*APPEND(o->rules, o->n_rules) =
		(struct r_rule){.priority = ru.priority,
				.src = ru.src,
				.src_len = ru.src_len,
				.table = ru.table,
				.suppress_prefixlen = ru.suppress_prefixlen};
	return 0;
}

static int on_neigh(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_neigh n;
	struct r_neigh *k;
	const char *dev;

	if (rtnl_parse_neigh(nlh, &n) < 0 || n.family != AF_INET || !n.has_mac ||
	    !(n.state & NUD_PERMANENT) || !(dev = link_name(o, n.ifindex)))
		return 0;
	k = APPEND(o->neighs, o->n_neighs);
	*k = (struct r_neigh){.ip = n.dst};
	snprintf(k->dev, sizeof(k->dev), "%s", dev);
	memcpy(k->mac, n.mac, 6);
	return 0;
}

static int dump_with(struct rtnl *nl, struct r_observed *o)
{
	char buf[RTNL_BUF_SIZE];
	int r;

	*o = (struct r_observed){0};
	r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETLINK, AF_UNSPEC), on_link, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETADDR, AF_INET), on_addr, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETROUTE, AF_INET), on_route, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETRULE, AF_INET), on_rule, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETNEIGH, AF_INET), on_neigh, o);
	if (r < 0)
		r_observed_done(o);
	return r;
}

/* Gratuitous ARP for a Floating IP that arrived on a leg. */
struct garp {
	char dev[IFNAMSIZ];
	uint32_t ip;
	uint8_t mac[6];
};

static int send_garp(void *data)
{
	const struct garp *g = data;
	struct {
		struct ether_header eth;
		struct arphdr arp;
		uint8_t sha[6], spa[4], tha[6], tpa[4];
	} __attribute__((packed)) f = {0};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = 6};
	uint32_t be = htonl(g->ip);
	int fd, r = 0;

	sll.sll_ifindex = (int) if_nametoindex(g->dev);
	if (!sll.sll_ifindex)
		return -ENODEV;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (fd < 0)
		return -errno;
	memset(f.eth.ether_dhost, 0xff, 6);
	memcpy(f.eth.ether_shost, g->mac, 6);
	f.eth.ether_type = htons(ETH_P_ARP);
	f.arp.ar_hrd = htons(ARPHRD_ETHER);
	f.arp.ar_pro = htons(ETH_P_IP);
	f.arp.ar_hln = 6;
	f.arp.ar_pln = 4;
	f.arp.ar_op = htons(ARPOP_REQUEST);
	memcpy(f.sha, g->mac, 6);
	memcpy(f.spa, &be, 4);
	memcpy(f.tpa, &be, 4);
	memset(sll.sll_addr, 0xff, 6);
	for (int i = 0; i < 2; i++)
		if (sendto(fd, &f, sizeof(f), 0, (struct sockaddr *) &sll, sizeof(sll)) < 0)
			r = -errno;
	close(fd);
	return r;
}

static int ifindex_in(const struct r_observed *o, const char *name)
{
	for (size_t i = 0; i < o->n_links; i++)
		if (streq(o->links[i].name, name))
			return o->links[i].ifindex;
	return -ENODEV;
}

/* The leg's veth pair, made from the node: the peer here, in its bridge;
 * the leg in the namespace with the router port's MAC. */
static int leg_add(struct rns_set *s, struct rns *ns, const struct r_leg *leg)
{
	char buf[RTNL_BUF_SIZE];
	int r, idx, br;

	r = rtnl_request(s->node_nl,
			 rtnl_veth_add(buf, leg->peer, leg->name, ns->fd, leg->mac, leg->mtu));
	if (r == -EEXIST) {
		/* A stale node end: remove it and make the pair anew. */
		idx = (int) if_nametoindex(leg->peer);
		if (idx > 0)
			rtnl_request(s->node_nl, rtnl_link_del(buf, idx));
		r = rtnl_request(s->node_nl, rtnl_veth_add(buf, leg->peer, leg->name, ns->fd,
							   leg->mac, leg->mtu));
	}
	if (r < 0)
		return r;
	idx = (int) if_nametoindex(leg->peer);
	br = (int) if_nametoindex(leg->bridge);
	if (idx <= 0 || br <= 0)
		return -ENODEV;
	r = rtnl_request(s->node_nl, rtnl_link_set(buf, idx, br, 1, leg->mtu));
	if (r >= 0 && startswith(leg->name, "qr-"))
		/* Tenant side: the bridge answers ARP for the router from
		 * the model, so it never floods to other nodes. */
		r = rtnl_request(s->node_nl, rtnl_brport_set(buf, idx, true, true));
	return r;
}

static int exec_op(struct rns_set *s, struct rns *ns, const struct r_observed *o,
		   const struct rop *op)
{
	char buf[RTNL_BUF_SIZE];
	int idx = op->kind == ROP_LEG_ADD ? 0 : ifindex_in(o, op->name);
	struct rtnl_route rt;
	struct rtnl_rule ru;

	switch (op->kind) {
	case ROP_LEG_DEL:
		return idx < 0 ? 0 : rtnl_request(ns->nl, rtnl_link_del(buf, idx));
	case ROP_LEG_ADD:
		return leg_add(s, ns, &op->leg);
	case ROP_LINK_UP:
		return idx < 0 ? idx : rtnl_request(ns->nl, rtnl_link_set(buf, idx, -1, 1, 0));
	case ROP_ADDR_ADD:
	case ROP_ADDR_DEL:
		if (idx < 0)
			return idx;
		return rtnl_request(ns->nl, rtnl_addr(buf, op->kind == ROP_ADDR_ADD, idx,
						      op->addr.ip, op->addr.prefixlen));
	case ROP_ROUTE_ADD:
	case ROP_ROUTE_DEL:
		rt = (struct rtnl_route){.table = op->route.table,
					 .dst = op->route.dst,
					 .prefixlen = op->route.prefixlen,
					 .gateway = op->route.gateway,
					 .oif = idx > 0 ? idx : 0,
					 .onlink = op->route.onlink};
		return rtnl_request(ns->nl, rtnl_route(buf, op->kind == ROP_ROUTE_ADD, &rt));
	case ROP_RULE_ADD:
	case ROP_RULE_DEL:
		ru = (struct rtnl_rule){.priority = op->rule.priority,
					.src = op->rule.src,
					.src_len = op->rule.src_len,
					.table = op->rule.table,
					.suppress_prefixlen = op->rule.suppress_prefixlen};
		return rtnl_request(ns->nl, rtnl_rule(buf, op->kind == ROP_RULE_ADD, &ru));
	case ROP_NEIGH_SET:
	case ROP_NEIGH_DEL:
		if (idx < 0)
			return idx;
		return rtnl_request(ns->nl, rtnl_neigh(buf, op->kind == ROP_NEIGH_SET, idx,
						       op->neigh.ip, op->neigh.mac));
	}
	return -EINVAL;
}

struct nft_run {
	const char *script;
	char *err;
};

static int run_nft(void *data)
{
	struct nft_run *n = data;
	struct nft_handle *h;
	int r = nft_handle_new(&h);

	if (r < 0)
		return r;
	r = nft_apply(h, n->script, &n->err);
	nft_handle_free(h);
	return r;
}

/* The desired state of a namespace, hashed (structs are zeroed before
 * they are filled, so padding is stable). */
static uint64_t router_hash(const struct d_router *d)
{
	uint64_t h = 1469598103934665603ull;

	h = fnv(h, d->legs, d->n_legs * sizeof(*d->legs));
	h = fnv(h, d->addrs, d->n_addrs * sizeof(*d->addrs));
	h = fnv(h, d->routes, d->n_routes * sizeof(*d->routes));
	h = fnv(h, d->rules, d->n_rules * sizeof(*d->rules));
	h = fnv(h, d->neighs, d->n_neighs * sizeof(*d->neighs));
	if (d->nft)
		h = fnv(h, d->nft, strlen(d->nft));
	return h ? h : 1;
}

static int sync_one(struct rns_set *s, const struct d_router *d, bool full, size_t *ops)
{
	struct r_observed o;
	struct rplan plan;
	struct rns *ns = NULL;
	uint64_t want = router_hash(d);
	int first = 0, r;

	r = ns_get(s, d->ns, &ns);
	if (r < 0)
		return r;
	if (!full && ns->synced == want)
		return 0;
	/* The namespace's table first: a Floating IP's DNAT is in place
	 * before its address arrives, so that no packet to it is ever taken
	 * for the router itself (conntrack would pin that flow un-NATed). */
	char stamp[64];

	if (d->nft)
		snprintf(stamp, sizeof(stamp), "lepton:%016llx",
			 (unsigned long long) fnv(1469598103934665603ull, d->nft, strlen(d->nft)));
	if (d->nft && !ns->nft_applied && streq(ns->found, stamp)) {
		/* Already there (an agent restart): nothing to write. */
		ns->nft_applied = xstrdup(d->nft);
	}
	if (d->nft && !streq_ptr(ns->nft_applied, d->nft) &&
	    startswith(d->nft, "table ip lepton {\n")) {
		/* The whole table, replaced in one transaction: NAT bindings of
		 * established flows live in conntrack and are kept. The comment
		 * stamps what was written. */
		size_t len = strlen(d->nft) + 160;
		char *script = xmalloc(len);
		struct nft_run run = {script, NULL};

		snprintf(script, len,
			 "table ip lepton\ndelete table ip lepton\ntable ip lepton {\n\tcomment "
			 "\"%s\"\n%s",
			 stamp, d->nft + strlen("table ip lepton {\n"));
		r = in_ns(ns->fd, run_nft, &run);
		if (r < 0) {
			log_error("%s: nftables: %s", d->ns, run.err ? run.err : strerror(-r));
			if (!first)
				first = r;
		} else {
			free(ns->nft_applied);
			ns->nft_applied = xstrdup(d->nft);
			(*ops)++;
		}
		free(run.err);
		free(script);
	}
	r = dump_with(ns->nl, &o);
	if (r < 0)
		return r;
	router_plan(d, &o, &plan);
	if (plan.n_ops) {
		char *text = rplan_format(&plan);

		log_debug("%s:\n%s", d->ns, text);
		free(text);
	}
	bool stale = false;

	for (size_t i = 0; i < plan.n_ops; i++) {
		const struct rop *op = &plan.ops[i];
		bool leg_op = op->kind == ROP_LEG_ADD || op->kind == ROP_LEG_DEL;

		if (stale && !leg_op) {
			/* Legs came or went: the rest needs the ifindexes afresh. */
			r_observed_done(&o);
			if (dump_with(ns->nl, &o) < 0)
				o = (struct r_observed){0};
			stale = false;
		}
		r = exec_op(s, ns, &o, op);
		stale = stale || leg_op;
		if (r == -EEXIST && (op->kind == ROP_ADDR_ADD || op->kind == ROP_RULE_ADD))
			r = 0;
		if ((r == -ENOENT || r == -ESRCH || r == -EADDRNOTAVAIL) &&
		    (op->kind == ROP_ADDR_DEL || op->kind == ROP_ROUTE_DEL ||
		     op->kind == ROP_RULE_DEL || op->kind == ROP_NEIGH_DEL))
			r = 0;
		if (r < 0) {
			char *text;
			struct rplan one = {(struct rop *) op, 1};

			text = rplan_format(&one);
			log_warn("%s: %s: %s", d->ns, strtok(text, "\n"), strerror(-r));
			free(text);
			if (!first)
				first = r;
		}
		if (r >= 0 && op->kind == ROP_ADDR_ADD && op->addr.announce) {
			const struct r_leg *leg = routers_leg(d, op->addr.dev);
			struct garp g = {.ip = op->addr.ip};

			snprintf(g.dev, sizeof(g.dev), "%s", op->addr.dev);
			if (leg) {
				memcpy(g.mac, leg->mac, 6);
				if (in_ns(ns->fd, send_garp, &g) < 0)
					log_warn("%s: gratuitous ARP failed", d->ns);
			}
		}
	}
	*ops += plan.n_ops;
	rplan_done(&plan);
	r_observed_done(&o);
	ns->synced = first < 0 ? 0 : want;
	return first;
}

static bool ours(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(name, prefix, n) == 0 &&
	       (startswith(name + n, "qrouter-") || startswith(name + n, "snat-"));
}

int rns_sync(struct rns_set *s, const char *prefix, const struct d_routers *want, bool full,
	     size_t *ret_ops)
{
	int first = 0, r;
	DIR *dir;
	struct dirent *e;

	*ret_ops = 0;
	for (size_t i = 0; i < want->n; i++) {
		r = sync_one(s, &want->r[i], full, ret_ops);
		if (r < 0 && !first)
			first = r;
	}
	/* Namespaces of ours that are no longer wanted. */
	dir = opendir(NETNS_DIR);
	while (dir && (e = readdir(dir))) {
		struct rns *ns;

		if (!ours(e->d_name, prefix) || routers_find(want, e->d_name))
			continue;
		ns = find(s, e->d_name);
		if (ns) {
			rns_close(ns);
			*ns = s->v[--s->n];
		}
		ns_delete(e->d_name);
		log_info("namespace %s deleted", e->d_name);
		(*ret_ops)++;
	}
	if (dir)
		closedir(dir);
	/* Handles on namespaces that vanished behind our back. */
	for (size_t i = 0; i < s->n;) {
		if (!routers_find(want, s->v[i].name)) {
			rns_close(&s->v[i]);
			s->v[i] = s->v[--s->n];
		} else {
			i++;
		}
	}
	return first;
}
