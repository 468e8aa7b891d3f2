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
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/log.h"
#include "base/timeutil.h"
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
	bool ours;		 /* its loopback is in our link group */
	struct r_observed links; /* name -> ifindex cache (links only) */
	bool links_valid;
	int pkt;		/* a packet socket made in the namespace, for gratuitous ARP; -1 */
	struct nft_handle *nft; /* libnftables, its socket made in the namespace */
};

/* A gratuitous ARP to repeat (rns_tick). */
struct garp_again {
	char ns[R_NSNAMSIZ];
	char dev[D_IFNAMSIZ];
	uint32_t ip;
	uint8_t mac[6];
	unsigned sent;	 /* repeats sent so far */
	uint64_t due_ms; /* monotonic */
};

struct rns_set {
	struct rtnl *node_nl;
	char prefix[R_NSNAMSIZ];
	struct rns *v;
	size_t n;
	struct garp_again *garps;
	size_t n_garps;
};

struct rns_set *rns_set_new(struct rtnl *node_nl, const char *prefix)
{
	struct rns_set *s = xcalloc(1, sizeof(*s));

	s->node_nl = node_nl;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix ? prefix : "");
	return s;
}

static void rns_close(struct rns *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->pkt >= 0)
		close(r->pkt);
	nft_handle_free(r->nft);
	rtnl_close(r->nl);
	r_observed_done(&r->links);
}

void rns_set_free(struct rns_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		rns_close(&s->v[i]);
	free(s->v);
	free(s->garps);
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
		log_event(LOG_LVL_ERROR, "agent.setns_failed", "ns=node err=%s", strerror(errno));
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
		/* IPv6: routing; no duplicate address detection, as every
		 * node holds a distributed router's addresses and link-local
		 * address (from the same MAC) at once; no autoconfiguration
		 * from advertisements (the node sends those itself, to its
		 * VMs). */
		{"/proc/sys/net/ipv6/conf/all/forwarding", "1"},
		{"/proc/sys/net/ipv6/conf/all/proxy_ndp", "1"},
		{"/proc/sys/net/ipv6/conf/all/accept_dad", "0"},
		{"/proc/sys/net/ipv6/conf/default/accept_dad", "0"},
		{"/proc/sys/net/ipv6/conf/default/dad_transmits", "0"},
		{"/proc/sys/net/ipv6/conf/all/accept_ra", "0"},
		{"/proc/sys/net/ipv6/conf/default/accept_ra", "0"},
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

static int read_comment(void *out)
{
	int r = nfnl_table_comment(NFPROTO_IPV4, "lepton", out, 64);

	if (r < 0)
		((char *) out)[0] = '\0';
	return 0;
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
			log_event(LOG_LVL_ERROR, "agent.setns_failed", "ns=node err=%s",
				  strerror(errno));
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
		log_event(LOG_LVL_WARN, "agent.umount_failed", "path=%s err=%s", path,
			  strerror(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		log_event(LOG_LVL_WARN, "agent.unlink_failed", "path=%s err=%s", path,
			  strerror(errno));
}

static struct rns *find(struct rns_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static int dump_with(struct rtnl *nl, struct r_observed *o, bool links_only);

/* Our handle on an existing namespace (NULL, 0 when there is none). Its
 * marker is read when the handle is made; a namespace of ours gets its
 * sysctls set every time we take it in hand. */
static int ns_get(struct rns_set *s, const char *name, struct rns **ret)
{
	char path[sizeof(NETNS_DIR) + 257];
	struct rns *r = find(s, name), n = {.fd = -1, .pkt = -1};
	int e;

	*ret = NULL;
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
		rns_close(r);
		*r = s->v[--s->n];
	}
	n.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (n.fd < 0)
		return errno == ENOENT ? 0 : -errno;
	e = in_ns(n.fd, open_rtnl, &n.nl);
	if (e >= 0)
		e = dump_with(n.nl, &n.links, true);
	if (e < 0) {
		rns_close(&n);
		return e;
	}
	n.links_valid = true;
	for (size_t i = 0; i < n.links.n_links; i++)
		if (streq(n.links.links[i].name, "lo"))
			n.ours = n.links.links[i].group == RTNL_GROUP;
	if (n.ours && (e = in_ns(n.fd, ns_sysctls, NULL)) < 0) {
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
	*k = (struct r_link){.ifindex = l.ifindex, .mtu = l.mtu, .up = l.up, .group = l.group};
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
	*k = (struct r_addr){.ip = a.ip, .prefixlen = a.prefixlen, .scope = a.scope};
	snprintf(k->dev, sizeof(k->dev), "%s", dev);
	return 0;
}

/* IPv6 addresses but the kernel's link-local ones. */
static int on_addr6(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_addr a;
	const char *dev;
	struct r_addr *k;

	if (rtnl_parse_addr6(nlh, &a) < 0 || a.scope != RT_SCOPE_UNIVERSE ||
	    !(dev = link_name(o, a.ifindex)) || streq(dev, "lo"))
		return 0;
	k = APPEND(o->addrs, o->n_addrs);
	*k = (struct r_addr){.v6 = true, .prefixlen = a.prefixlen};
	memcpy(k->ip6, a.ip6, 16);
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

static int on_route6(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_route rt;
	struct r_route *k;
	const char *dev;

	if (rtnl_parse_route6(nlh, &rt) < 0 || rt.protocol != RTNL_PROTO)
		return 0;
	dev = link_name(o, rt.oif);
	k = APPEND(o->routes, o->n_routes);
	*k = (struct r_route){
		.table = rt.table, .prefixlen = rt.prefixlen, .onlink = rt.onlink, .v6 = true};
	memcpy(k->dst6, rt.dst6, 16);
	memcpy(k->gw6, rt.gw6, 16);
	snprintf(k->dev, sizeof(k->dev), "%s", dev ? dev : "");
	return 0;
}

/* Proxy neighbour entries (IPv6). */
static int on_proxy(const struct nlmsghdr *nlh, void *data)
{
	struct r_observed *o = data;
	struct rtnl_neigh n;
	struct r_neigh *k;
	const char *dev;

	if (rtnl_parse_neigh(nlh, &n) < 0 || n.family != AF_INET6 || !(n.flags & NTF_PROXY) ||
	    !(dev = link_name(o, n.ifindex)))
		return 0;
	k = APPEND(o->neighs, o->n_neighs);
	*k = (struct r_neigh){.v6 = true, .proxy = true};
	memcpy(k->ip6, n.dst6, 16);
	snprintf(k->dev, sizeof(k->dev), "%s", dev);
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

	if (rtnl_parse_neigh(nlh, &n) < 0 || (n.family != AF_INET && n.family != AF_INET6) ||
	    (n.flags & NTF_PROXY) || !n.has_mac || !(n.state & NUD_PERMANENT) ||
	    !(dev = link_name(o, n.ifindex)))
		return 0;
	k = APPEND(o->neighs, o->n_neighs);
	*k = (struct r_neigh){.ip = n.family == AF_INET ? n.dst : 0, .v6 = n.family == AF_INET6};
	if (k->v6)
		memcpy(k->ip6, n.dst6, 16);
	snprintf(k->dev, sizeof(k->dev), "%s", dev);
	memcpy(k->mac, n.mac, 6);
	return 0;
}

static int dump_with(struct rtnl *nl, struct r_observed *o, bool links_only)
{
	char buf[RTNL_BUF_SIZE];
	int r;

	*o = (struct r_observed){0};
	r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETLINK, AF_UNSPEC), on_link, o);
	if (r >= 0 && links_only)
		return r;
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETADDR, AF_INET), on_addr, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETROUTE, AF_INET), on_route, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETRULE, AF_INET), on_rule, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETNEIGH, AF_INET), on_neigh, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETADDR, AF_INET6), on_addr6, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETNEIGH, AF_INET6), on_neigh, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_proxy6(buf), on_proxy, o);
	if (r >= 0)
		r = rtnl_dump(nl, rtnl_dump_request(buf, RTM_GETROUTE, AF_INET6), on_route6, o);
	if (r < 0)
		r_observed_done(o);
	return r;
}

/* Gratuitous ARP for a Floating IP that arrived on a leg. */
/* The namespace's packet socket, made there once: a packet socket's close
 * waits for an RCU grace period (about 10 ms), so one per announcement made
 * thousands of them cost seconds. Protocol 0: it receives nothing. */
static int open_packet(void *data)
{
	int *fd = data;

	*fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	return *fd < 0 ? -errno : 0;
}

/* A gratuitous ARP request for ip from the leg ifindex with mac (one frame:
 * the repeats of garp_again make up for a lost one). */
static int send_garp(struct rns *ns, int ifindex, uint32_t ip, const uint8_t mac[static 6])
{
	struct {
		struct ether_header eth;
		struct arphdr arp;
		uint8_t sha[6], spa[4], tha[6], tpa[4];
	} __attribute__((packed)) f = {0};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_halen = 6,
				  .sll_ifindex = ifindex,
				  .sll_protocol = htons(ETH_P_ARP)};
	uint32_t be = htonl(ip);
	int r = 0;

	if (ns->pkt < 0 && (r = in_ns(ns->fd, open_packet, &ns->pkt)) < 0)
		return r;
	memset(f.eth.ether_dhost, 0xff, 6);
	memcpy(f.eth.ether_shost, mac, 6);
	f.eth.ether_type = htons(ETH_P_ARP);
	f.arp.ar_hrd = htons(ARPHRD_ETHER);
	f.arp.ar_pro = htons(ETH_P_IP);
	f.arp.ar_hln = 6;
	f.arp.ar_pln = 4;
	f.arp.ar_op = htons(ARPOP_REQUEST);
	memcpy(f.sha, mac, 6);
	memcpy(f.spa, &be, 4);
	memcpy(f.tpa, &be, 4);
	memset(sll.sll_addr, 0xff, 6);
	if (sendto(ns->pkt, &f, sizeof(f), 0, (struct sockaddr *) &sll, sizeof(sll)) < 0)
		r = -errno;
	return r;
}

/* A link's ifindex in the namespace, from the cache (refreshed after legs
 * came or went). */
static int ns_ifindex(struct rns *ns, const char *name)
{
	if (!ns->links_valid) {
		r_observed_done(&ns->links);
		if (dump_with(ns->nl, &ns->links, true) < 0)
			return -EIO;
		ns->links_valid = true;
	}
	for (size_t i = 0; i < ns->links.n_links; i++)
		if (streq(ns->links.links[i].name, name))
			return ns->links.links[i].ifindex;
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

/* The namespace's libnftables handle, made there once (its netlink socket
 * stays in the namespace; a new handle per table cost ~13 ms). */
static int open_nft(void *data)
{
	return nft_handle_new(data);
}

static int set_lo_group(void *data)
{
	struct rns *ns = data;
	char buf[RTNL_BUF_SIZE];
	int idx = ns_ifindex(ns, "lo");

	return idx < 0 ? idx : rtnl_request(ns->nl, rtnl_link_group(buf, idx, RTNL_GROUP));
}

static int ns_add(struct rns_set *s, const char *name)
{
	struct rns *ns;
	int r = ns_get(s, name, &ns);

	if (r < 0)
		return r;
	if (ns)
		return ns->ours ? -EEXIST : -EPERM;
	r = ns_create(name);
	if (r >= 0)
		r = ns_get(s, name, &ns);
	if (r >= 0 && !ns)
		r = -ENOENT;
	if (r < 0)
		return r;
	/* The marker, then what every namespace of ours has. */
	r = set_lo_group(ns);
	if (r < 0)
		return r;
	ns->ours = true;
	log_event(LOG_LVL_INFO, "agent.namespace_created", "name=%s", name);
	return in_ns(ns->fd, ns_sysctls, NULL);
}

/* Gratuitous ARP, again. An address that moved between nodes (a Floating
 * IP whose VM migrated, a SNAT address whose owner changed) is briefly held
 * by both: the old node drops it in its own pass, which may come after the
 * new node's announcement. Meanwhile the upstream may ask (its entry in
 * PROBE, or a request of its own) and take the old node's answer, then keep
 * that for its reachable time, 15 to 45 s, after the old node let go (and a
 * second answer within its locktime, 1 s, is ignored). A gratuitous ARP
 * always overrides the entry: the new holder repeats it at 0.2, 0.6, 1.4 and
 * 3 s after the first (while it holds the address), so an entry taken from
 * the old node lasts until the next repeat at most. */
#define GARP_FIRST_MS 200
#define GARP_REPEATS  4

static void garp_forget(struct rns_set *s, const char *ns, const char *dev, uint32_t ip)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n_garps; i++) {
		const struct garp_again *g = &s->garps[i];

		if (streq(g->ns, ns) && (!dev || streq(g->dev, dev)) && (!ip || g->ip == ip))
			continue;
		s->garps[k++] = *g;
	}
	s->n_garps = k;
}

static void garp_again(struct rns_set *s, const struct op *op)
{
	struct garp_again *g;

	garp_forget(s, op->ns, op->name, op->ip);
	s->garps = xrealloc(s->garps, (s->n_garps + 1) * sizeof(*s->garps));
	g = &s->garps[s->n_garps++];
	*g = (struct garp_again){.ip = op->ip, .due_ms = time_mono_ms() + GARP_FIRST_MS};
	snprintf(g->ns, sizeof(g->ns), "%s", op->ns);
	snprintf(g->dev, sizeof(g->dev), "%s", op->name);
	memcpy(g->mac, op->mac, 6);
}

static int ns_del(struct rns_set *s, const char *name)
{
	struct rns *ns;
	int r = ns_get(s, name, &ns);

	if (r < 0 || !ns)
		return r < 0 ? r : -ENOENT;
	if (!ns->ours)
		return -EPERM; /* never a namespace we did not make */
	garp_forget(s, name, NULL, 0);
	rns_close(ns);
	*ns = s->v[--s->n];
	ns_delete(name);
	log_event(LOG_LVL_INFO, "agent.namespace_deleted", "name=%s", name);
	return 0;
}

static int read_flows(void *ret)
{
	char buf[32] = "";
	int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	*(uint64_t *) ret = strtoull(buf, NULL, 10);
	return 0;
}

int rns_flows(struct rns_set *s, const char *name, uint64_t *ret)
{
	struct rns *ns;
	uint64_t n = 0;
	int r = ns_get(s, name, &ns);

	if (r < 0)
		return r;
	if (!ns || !ns->ours)
		return -ENOENT;
	r = in_ns(ns->fd, read_flows, &n);
	if (r >= 0)
		*ret = n;
	return r;
}

static int nft_table(struct rns *ns, const struct op *op)
{
	const char *head = "table ip lepton {\n";
	size_t len;
	char *script;
	char *err = NULL;
	int r;

	if (!startswith(op->nft, head))
		return -EINVAL;
	/* The whole table, replaced in one transaction: NAT bindings of
	 * established flows live in conntrack and are kept. The comment
	 * stamps what was written. The netdev and arp tables of distributed
	 * SNAT and the ip6 table of the firewall, when the script has them,
	 * follow it: replaced (or removed) in the same transaction. */
	len = strlen(op->nft) + 256;
	script = xmalloc(len);
	snprintf(script, len,
		 "table ip lepton\ndelete table ip lepton\ntable netdev lepton\ndelete table "
		 "netdev lepton\ntable arp lepton\ndelete table arp lepton\ntable ip6 lepton\n"
		 "delete table ip6 lepton\ntable ip lepton {\n"
		 "\tcomment \"%s\"\n%s",
		 op->stamp, op->nft + strlen(head));
	r = ns->nft ? 0 : in_ns(ns->fd, open_nft, &ns->nft);
	if (r >= 0)
		r = nft_apply(ns->nft, script, &err);
	if (r < 0)
		log_event(LOG_LVL_ERROR, "agent.nft_failed", "ns=%s err=%s", ns->name,
			  err ? err : strerror(-r));
	free(err);
	free(script);
	return r;
}

int rns_tick(struct rns_set *s, uint64_t now_ms)
{
	size_t k = 0;
	int sent = 0;

	for (size_t i = 0; i < s->n_garps; i++) {
		struct garp_again g = s->garps[i];
		struct rns *ns = NULL;
		int idx;

		if (now_ms < g.due_ms) {
			s->garps[k++] = g;
			continue;
		}
		if (ns_get(s, g.ns, &ns) < 0 || !ns || !ns->ours ||
		    (idx = ns_ifindex(ns, g.dev)) < 0)
			continue; /* gone: nothing to repeat */
		if (send_garp(ns, idx, g.ip, g.mac) >= 0)
			sent++;
		if (++g.sent < GARP_REPEATS) {
			g.due_ms = now_ms + ((uint64_t) GARP_FIRST_MS << g.sent);
			s->garps[k++] = g;
		}
	}
	s->n_garps = k;
	return sent;
}

int rns_exec(struct rns_set *s, const struct op *op)
{
	char buf[RTNL_BUF_SIZE];
	struct rns *ns;
	struct rtnl_route rt;
	struct rtnl_rule ru;
	int idx = 0, r;

	if (op->kind == OP_NS_ADD)
		return ns_add(s, op->ns);
	if (op->kind == OP_NS_DEL)
		return ns_del(s, op->ns);
	r = ns_get(s, op->ns, &ns);
	if (r < 0)
		return r;
	if (!ns)
		return -ENOENT;
	if (!ns->ours)
		return -EPERM;
	if (op->kind != OP_LEG_ADD && op->kind != OP_NFT_TABLE && op->kind != OP_RULE_ADD &&
	    op->kind != OP_RULE_DEL && op->kind != OP_ROUTE_ADD && op->kind != OP_ROUTE_DEL) {
		idx = ns_ifindex(ns, op->name);
		if (idx < 0)
			return idx;
	}
	switch (op->kind) {
	case OP_NFT_TABLE:
		return nft_table(ns, op);
	case OP_LINK_DEL:
		ns->links_valid = false;
		garp_forget(s, op->ns, op->name, 0);
		return rtnl_request(ns->nl, rtnl_link_del(buf, idx));
	case OP_LEG_ADD:
		ns->links_valid = false;
		return leg_add(s, ns, &op->leg);
	case OP_LINK_SET:
		return rtnl_request(ns->nl, rtnl_link_set(buf, idx, -1, op->up, 0));
	case OP_ADDR_ADD:
	case OP_ADDR_DEL:
		if (op->addr.v6)
			return rtnl_request(ns->nl, rtnl_addr6(buf, op->kind == OP_ADDR_ADD, idx,
							       op->addr.ip6, op->addr.prefixlen));
		if (op->kind == OP_ADDR_DEL)
			garp_forget(s, op->ns, op->name, op->addr.ip);
		return rtnl_request(ns->nl,
				    rtnl_addr(buf, op->kind == OP_ADDR_ADD, idx, op->addr.ip,
					      op->addr.prefixlen, op->addr.scope));
	case OP_ROUTE_ADD:
	case OP_ROUTE_DEL:
		if (op->route.dev[0] && (idx = ns_ifindex(ns, op->route.dev)) < 0 &&
		    op->kind == OP_ROUTE_ADD)
			return idx;
		if (op->route.v6)
			return rtnl_request(ns->nl,
					    rtnl_route6(buf, op->kind == OP_ROUTE_ADD,
							op->route.table, op->route.dst6,
							op->route.prefixlen, op->route.gw6,
							idx > 0 ? idx : 0, op->route.onlink));
		rt = (struct rtnl_route){.table = op->route.table,
					 .dst = op->route.dst,
					 .prefixlen = op->route.prefixlen,
					 .gateway = op->route.gateway,
					 .oif = idx > 0 ? idx : 0,
					 .onlink = op->route.onlink};
		return rtnl_request(ns->nl, rtnl_route(buf, op->kind == OP_ROUTE_ADD, &rt));
	case OP_RULE_ADD:
	case OP_RULE_DEL:
		ru = (struct rtnl_rule){.priority = op->rule.priority,
					.src = op->rule.src,
					.src_len = op->rule.src_len,
					.table = op->rule.table,
					.suppress_prefixlen = op->rule.suppress_prefixlen};
		return rtnl_request(ns->nl, rtnl_rule(buf, op->kind == OP_RULE_ADD, &ru));
	case OP_NEIGH_SET:
	case OP_NEIGH_DEL:
		if (op->proxy)
			return rtnl_request(
				ns->nl, rtnl_proxy6(buf, op->kind == OP_NEIGH_SET, idx, op->ip6));
		if (op->v6)
			return rtnl_request(ns->nl, rtnl_neigh6(buf, op->kind == OP_NEIGH_SET, idx,
								op->ip6, op->mac));
		return rtnl_request(
			ns->nl, rtnl_neigh(buf, op->kind == OP_NEIGH_SET, idx, op->ip, op->mac));
	case OP_GARP:
		garp_again(s, op);
		return send_garp(ns, idx, op->ip, op->mac);
	default:
		return -EINVAL;
	}
}

static bool ours_by_name(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(name, prefix, n) == 0 &&
	       (startswith(name + n, "qrouter-") || startswith(name + n, "snat-"));
}

int rns_list(struct rns_set *s, struct ns_observed **ret, size_t *ret_n)
{
	struct ns_observed *v = NULL;
	size_t n = 0;
	DIR *dir = opendir(NETNS_DIR);
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		struct rns *ns;

		if (!ours_by_name(e->d_name, s->prefix) || strlen(e->d_name) >= R_NSNAMSIZ ||
		    ns_get(s, e->d_name, &ns) < 0 || !ns)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n] = (struct ns_observed){.ours = ns->ours};
		memcpy(v[n].name, ns->name, sizeof(v[n].name));
		n++;
	}
	if (dir)
		closedir(dir);
	/* Handles on namespaces that vanished behind our back. */
	for (size_t i = 0; i < s->n;) {
		bool seen = false;

		for (size_t j = 0; j < n && !seen; j++)
			seen = streq(v[j].name, s->v[i].name);
		if (!seen) {
			rns_close(&s->v[i]);
			s->v[i] = s->v[--s->n];
		} else {
			i++;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int rns_dump(struct rns_set *s, const char *name, struct r_observed *ret, char stamp[static 64])
{
	struct rns *ns;
	int r = ns_get(s, name, &ns);

	*ret = (struct r_observed){0};
	stamp[0] = '\0';
	if (r < 0 || !ns)
		return r < 0 ? r : -ENOENT;
	r = dump_with(ns->nl, ret, false);
	if (r >= 0)
		r = in_ns(ns->fd, read_comment, stamp);
	if (r >= 0) {
		/* The links just read are the freshest name -> ifindex map. */
		r_observed_done(&ns->links);
		ns->links.links = xmalloc((ret->n_links + 1) * sizeof(*ret->links));
		memcpy(ns->links.links, ret->links, ret->n_links * sizeof(*ret->links));
		ns->links.n_links = ret->n_links;
		ns->links_valid = true;
	}
	return r;
}
