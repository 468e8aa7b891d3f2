/* lepton-agent: runs on every node. Registers with the server, follows the
 * change feed into a replica of the model, and keeps the node's kernel state
 * (bridges, VXLAN, taps, FDB and neighbour entries, nftables) equal to what
 * the model wants, answering DHCP for its own ports and reporting their
 * status. One event loop; events only mark the state dirty, and one deferred
 * pass reconciles, so a burst of changes costs one pass. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "agent/client.h"
#include "agent/dhcpd.h"
#include "agent/kernel.h"
#include "agent/metricsd.h"
#include "agent/routers.h"
#include "agent/replica.h"
#include "agent/stats.h"
#include "agent/sync.h"
#include "base/ip4.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"

/* --metrics-listen: where GET /metrics answers; NULL: nowhere. */
static const char *metrics_listen;

static void usage(FILE *f)
{
	fputs("usage: lepton-agent --host NAME --server URL --tunnel-ip IP --tunnel-dev DEV\n"
	      "                    [--token TOKEN] [--mode compute|network]\n"
	      "                    [--physnet PHYSNET:IFACE]... [--netns-prefix PREFIX]\n"
	      "                    [--lease-time SECS] [--heartbeat-interval MS]\n"
	      "                    [--metrics-listen HOST:PORT] [--config FILE] [--debug]\n"
	      "                    [--availability-zone ZONE] [--vxlan-notrack true|false]\n"
	      "                    [--port-hooks auto|netdev|bridge]\n"
	      "                    [--bgp-dev DEV --bgp-nexthop IP [--bgp-nexthop6 IP6]\n"
	      "                     [--bgp-table N] [--bgp-physnet PHYSNET]...]\n"
	      "Keeps this node's kernel state (bridges, VXLAN, router namespaces, nftables)\n"
	      "equal to what lepton-server's model wants, answers DHCP for local ports and\n"
	      "reports their status. Needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN\n"
	      "(network namespaces).\n"
	      "  --host NAME         this node's name, as ports' binding:host_id name it\n"
	      "  --server URL[,URL...]\n"
	      "                      http://HOST:PORT or unix:/path/to/server.sock; with\n"
	      "                      several (servers sharing an etcd store), the agent\n"
	      "                      moves to the next when its server stops answering\n"
	      "  --tunnel-ip IP      this node's VXLAN endpoint address (on --tunnel-dev)\n"
	      "  --tunnel-dev DEV    the underlay interface VXLAN devices use\n"
	      "  --token TOKEN       the agents' credential, the server's agent_token\n"
	      "                      (or the environment's LEPTON_AGENT_TOKEN)\n"
	      "  --mode MODE         compute (default) or network (hosts legacy routers and\n"
	      "                      centralized SNAT)\n"
	      "  --physnet P:IFACE   physical network P is reached through IFACE (flat and\n"
	      "                      VLAN networks, external networks); repeatable\n"
	      "  --netns-prefix PFX  router namespace names start with PFX (default none)\n"
	      "  --lease-time SECS   DHCP lease time (default 86400, at least 60)\n"
	      "  --heartbeat-interval MS\n"
	      "                      milliseconds between heartbeats (200..60000, default\n"
	      "                      5000): the server's agent_down_time must exceed it\n"
	      "  --metrics-listen HOST:PORT\n"
	      "                      serve GET /metrics (Prometheus text format) there, in\n"
	      "                      the agent's network namespace, with no authentication\n"
	      "                      (default: off)\n"
	      "  --availability-zone ZONE\n"
	      "                      the node's availability zone (default nova)\n"
	      "  --port-hooks auto|netdev|bridge\n"
	      "                      where a port's anti-spoofing hooks: its tap's own netdev\n"
	      "                      chains (no bridge-family chain: faster), or the bridges'\n"
	      "                      chains; auto (default): netdev where the kernel hooks\n"
	      "                      chains by device name (Linux 6.16 and later)\n"
	      "  --vxlan-notrack true|false\n"
	      "                      the node's own VXLAN packets (UDP 4789 to or from\n"
	      "                      --tunnel-ip) skip conntrack (default true); false where\n"
	      "                      a host firewall of the node's accepts them by ct state\n"
	      "  --bgp-dev DEV       BGP mode: the node's interface on its external segment;\n"
	      "                      the /32s of its Floating IPs and owned SNAT addresses go\n"
	      "                      to routing table N (--bgp-table, default 76) for BIRD to\n"
	      "                      announce\n"
	      "  --bgp-nexthop IP    the node's address on DEV, next hop of its routers\n"
	      "  --bgp-nexthop6 IP6  the node's IPv6 address on DEV: its routers send IPv6\n"
	      "                      through it, and the /128s of its VMs' IPv6 addresses\n"
	      "                      (no NAT) go to table N too (default: no IPv6 over BGP)\n"
	      "  --bgp-table N       the routing table of the announcements (default 76)\n"
	      "  --bgp-physnet P     BGP mode on physical network P only (repeatable; one of\n"
	      "                      --physnet's): external networks of the others keep ARP\n"
	      "                      ownership; a network whose physical network the node\n"
	      "                      does not map (another rack's segment) plugs into P's\n"
	      "                      interface (default: every physical network is BGP's)\n"
	      "  --config FILE       the same settings as \"key = value\" lines (keys as the\n"
	      "                      options, '_' or '-'; debug = true), '#' comments; the\n"
	      "                      command line wins (see /etc/lepton/lepton-agent.conf)\n"
	      "  --debug             log debug messages too\n"
	      "  --help              this text\n"
	      "Logs go to stderr, one line per event. SIGTERM or SIGINT stops the agent;\n"
	      "the kernel state stays (traffic keeps flowing) and a restart adopts it.\n",
	      f);
}

static const struct option opts[] = {
	{"host", required_argument, NULL, 'H'},
	{"server", required_argument, NULL, 's'},
	{"token", required_argument, NULL, 't'},
	{"mode", required_argument, NULL, 'm'},
	{"tunnel-ip", required_argument, NULL, 'i'},
	{"tunnel-dev", required_argument, NULL, 'd'},
	{"physnet", required_argument, NULL, 'p'},
	{"netns-prefix", required_argument, NULL, 'N'},
	{"debug", no_argument, NULL, 'D'},
	{"lease-time", required_argument, NULL, 'l'},
	{"heartbeat-interval", required_argument, NULL, 'B'},
	{"metrics-listen", required_argument, NULL, 'M'},
	{"config", required_argument, NULL, 'C'},
	{"bgp-dev", required_argument, NULL, 'g'},
	{"bgp-nexthop", required_argument, NULL, 'n'},
	{"bgp-nexthop6", required_argument, NULL, '6'},
	{"bgp-table", required_argument, NULL, 'T'},
	{"bgp-physnet", required_argument, NULL, 'P'},
	{"availability-zone", required_argument, NULL, 'Z'},
	{"vxlan-notrack", required_argument, NULL, 'V'},
	{"port-hooks", required_argument, NULL, 'k'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The settings of a --config file as long options ("key = value" lines,
 * keys spelled as the options with '_' or '-', '#' comments; debug = true),
 * appended to *args. The strings live as long as the process. */
static int load_config(const char *path, char ***args, int *n_args)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned n = 0;

	if (!f) {
		int r = -errno;

		fprintf(stderr, "lepton-agent: %s: %s\n", path, strerror(-r));
		return r;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = strstrip(line), *eq = strchr(s, '='), *key, *value;
		const struct option *o = NULL;

		n++;
		if (*s == '#' || !*s)
			continue;
		if (eq)
			*eq = '\0';
		key = strstrip(s);
		value = eq ? strstrip(eq + 1) : NULL;
		for (char *k = key; *k; k++)
			*k = *k == '_' ? '-' : *k;
		for (size_t i = 0; opts[i].name && !o; i++)
			if (streq(opts[i].name, key) && !streq(key, "config") &&
			    !streq(key, "help"))
				o = &opts[i];
		if (!o || !value ||
		    (o->has_arg == no_argument && !streq(value, "true") &&
		     !streq(value, "false"))) {
			fprintf(stderr, "lepton-agent: %s:%u: unknown setting or bad value\n", path,
				n);
			fclose(f);
			return -EINVAL;
		}
		if ((o->has_arg == no_argument && streq(value, "false")) || !*value)
			continue; /* off, or not set */
		*args = xrealloc(*args, (size_t) (*n_args + 2) * sizeof(**args));
		(*args)[(*n_args)++] = o->has_arg == no_argument ? xasprintf("--%s", key)
								 : xasprintf("--%s=%s", key, value);
	}
	fclose(f);
	return 0;
}

/* The command line, with a --config file's settings first so that the
 * command line wins (--physnet adds to the file's). */
static int expand_config(int argc, char **argv, int *ret_argc, char ***ret_argv)
{
	char **args = xcalloc((size_t) argc + 1, sizeof(*args));
	int n = 1, r;

	args[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (streq(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (startswith(argv[i], "--config="))
			path = argv[i] + strlen("--config=");
		if (!path)
			continue;
		r = load_config(path, &args, &n);
		if (r < 0) {
			free(args);
			return r;
		}
	}
	args = xrealloc(args, (size_t) (n + argc + 1) * sizeof(*args));
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	*ret_argc = n;
	*ret_argv = args;
	return 0;
}

static int parse_args(int argc, char **argv, struct agent_config *cfg)
{
	int c;

	cfg->mode = "compute";
	cfg->physnets = json_object();
	cfg->lease_secs = 86400;
	cfg->heartbeat_ms = AGENT_HEARTBEAT_MS;
	cfg->availability_zone = "nova"; /* Neutron's default zone */
	cfg->vxlan_notrack = true;
	cfg->port_hooks = "auto";
	cfg->token = getenv("LEPTON_AGENT_TOKEN");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			cfg->host = optarg;
			break;
		case 's':
			cfg->server = optarg;
			break;
		case 't':
			cfg->token = optarg;
			break;
		case 'm':
			cfg->mode = optarg;
			break;
		case 'i':
			if (ip4_parse(optarg, &cfg->tunnel_ip) < 0) {
				fprintf(stderr, "lepton-agent: bad --tunnel-ip %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			cfg->tunnel_dev = optarg;
			break;
		case 'p': {
			char *colon = strchr(optarg, ':');

			if (!colon || colon == optarg || !colon[1]) {
				fprintf(stderr, "lepton-agent: --physnet wants PHYSNET:IFACE\n");
				return -EINVAL;
			}
			*colon = '\0';
			json_object_set_new(cfg->physnets, optarg, json_string(colon + 1));
			break;
		}
		case 'l':
			cfg->lease_secs = (uint32_t) strtoul(optarg, NULL, 10);
			if (cfg->lease_secs < 60)
				cfg->lease_secs = 60;
			break;
		case 'N':
			cfg->netns_prefix = optarg;
			break;
		case 'B': {
			char *end;
			unsigned long ms = strtoul(optarg, &end, 10);

			if (*end || ms < 200 || ms > 60000) {
				fprintf(stderr,
					"lepton-agent: --heartbeat-interval takes 200..60000\n");
				return -EINVAL;
			}
			cfg->heartbeat_ms = (uint32_t) ms;
			break;
		}
		case 'Z':
			if (!*optarg || strlen(optarg) > 255) {
				fprintf(stderr, "lepton-agent: --availability-zone takes 1 to 255 "
						"characters\n");
				return -EINVAL;
			}
			cfg->availability_zone = optarg;
			break;
		case 'C':
			break; /* read by expand_config() */
		case 'M':
			if (!strchr(optarg, ':')) {
				fprintf(stderr, "lepton-agent: --metrics-listen wants HOST:PORT\n");
				return -EINVAL;
			}
			metrics_listen = optarg;
			break;
		case 'D':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'V':
			if (!streq(optarg, "true") && !streq(optarg, "false")) {
				fprintf(stderr,
					"lepton-agent: --vxlan-notrack wants true or false\n");
				return -EINVAL;
			}
			cfg->vxlan_notrack = streq(optarg, "true");
			break;
		case 'k':
			if (!streq(optarg, "auto") && !streq(optarg, "netdev") &&
			    !streq(optarg, "bridge")) {
				fprintf(stderr, "lepton-agent: --port-hooks wants auto, netdev or "
						"bridge\n");
				return -EINVAL;
			}
			cfg->port_hooks = optarg;
			break;
		case 'g':
			if (!*optarg || strlen(optarg) >= 16) {
				fprintf(stderr, "lepton-agent: bad --bgp-dev %s\n", optarg);
				return -EINVAL;
			}
			cfg->announce.dev = optarg;
			break;
		case 'n':
			if (ip4_parse(optarg, &cfg->announce.nexthop) < 0 ||
			    !cfg->announce.nexthop) {
				fprintf(stderr, "lepton-agent: bad --bgp-nexthop %s\n", optarg);
				return -EINVAL;
			}
			break;
		case '6': {
			static const uint8_t zero[16];

			if (inet_pton(AF_INET6, optarg, cfg->announce.nexthop6) != 1 ||
			    !memcmp(cfg->announce.nexthop6, zero, 16) ||
			    cfg->announce.nexthop6[0] == 0xff ||
			    (cfg->announce.nexthop6[0] == 0xfe &&
			     (cfg->announce.nexthop6[1] & 0xc0) == 0x80)) {
				fprintf(stderr, "lepton-agent: bad --bgp-nexthop6 %s\n", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'T': {
			char *end;
			unsigned long t = strtoul(optarg, &end, 10);

			/* Not the kernel's own tables (253 default, 254 main,
			 * 255 local) nor unspec. */
			if (*end || t == 0 || (t >= 253 && t <= 255) || t > 0xffffffffUL) {
				fprintf(stderr, "lepton-agent: bad --bgp-table %s\n", optarg);
				return -EINVAL;
			}
			cfg->announce.table = (uint32_t) t;
			break;
		}
		case 'P':
			if (!*optarg || strchr(optarg, ':')) {
				fprintf(stderr, "lepton-agent: bad --bgp-physnet %s\n", optarg);
				return -EINVAL;
			}
			if (!cfg->bgp_physnets)
				cfg->bgp_physnets = json_object();
			json_object_set_new(cfg->bgp_physnets, optarg, json_true());
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!cfg->announce.dev != !cfg->announce.nexthop) {
		fprintf(stderr, "lepton-agent: --bgp-dev and --bgp-nexthop go together\n");
		return -EINVAL;
	}
	if (memcmp(cfg->announce.nexthop6, (uint8_t[16]){0}, 16) && !cfg->announce.dev) {
		fprintf(stderr, "lepton-agent: --bgp-nexthop6 needs --bgp-dev\n");
		return -EINVAL;
	}
	if (cfg->bgp_physnets && !cfg->announce.dev) {
		fprintf(stderr, "lepton-agent: --bgp-physnet needs --bgp-dev\n");
		return -EINVAL;
	}
	{
		const char *p;
		json_t *v;

		json_object_foreach(cfg->bgp_physnets, p, v) {
			if (!json_object_get(cfg->physnets, p)) {
				fprintf(stderr,
					"lepton-agent: --bgp-physnet %s is not a --physnet\n", p);
				return -EINVAL;
			}
		}
	}
	if (cfg->announce.dev) {
		if (!cfg->announce.table)
			cfg->announce.table = ANNOUNCE_TABLE;
		cfg->announce.rule_prio = ANNOUNCE_RULE_PRIO;
	} else {
		cfg->announce.table = 0;
	}
	if (!cfg->host || !cfg->server || !cfg->tunnel_ip || !cfg->tunnel_dev ||
	    (!streq(cfg->mode, "compute") && !streq(cfg->mode, "network"))) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Distributed SNAT: a router namespace running short of ports asks for one
 * more block; not again for the same router while the blocks it had then
 * are all it has, for SNAT_ASK_AGAIN_MS (the block comes by the feed). */
#define SNAT_CHECK_MS	  1000
#define SNAT_ASK_AGAIN_MS 5000

static void snat_check(struct agent *a, json_t *asked, uint64_t now)
{
	for (size_t i = 0; a->desired.routers && i < a->desired.routers->n; i++) {
		const struct d_router *r = &a->desired.routers->r[i];
		json_t *prev = json_object_get(asked, r->id);
		uint64_t flows;

		if (!r->snat_ports || kernel_ns_flows(a->kernel, r->ns, &flows) < 0 ||
		    !routers_snat_short(r, flows))
			continue;
		if (prev && json_integer_value(json_array_get(prev, 0)) == r->snat_ports &&
		    now - (uint64_t) json_integer_value(json_array_get(prev, 1)) <
			    SNAT_ASK_AGAIN_MS)
			continue;
		log_event(LOG_LVL_INFO, "agent.snat_block_wanted", "router=%s flows=%llu ports=%u",
			  r->id, (unsigned long long) flows, r->snat_ports);
		client_snat_block(a->client, r->id);
		json_object_set_new(
			asked, r->id,
			json_pack("[I, I]", (json_int_t) r->snat_ports, (json_int_t) now));
	}
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct agent a = {0};
	struct itimerspec tick = {{0, 200 * 1000000}, {0, 200 * 1000000}};
	uint64_t last_heartbeat = 0, last_resync = 0, last_snat = 0;
	json_t *snat_asked = json_object();
	struct metricsd *metrics = NULL;
	sigset_t sigs;
	int sfd, tfd, r;

	log_set_ident("lepton-agent");
	if (expand_config(argc, argv, &argc, &argv) < 0 || parse_args(argc, argv, &a.cfg) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	timerfd_settime(tfd, 0, &tick, NULL);

	/* First, before the reporter thread logs its registration. */
	{
		char tun[IP4_STRLEN];

		ip4_format(a.cfg.tunnel_ip, tun);
		log_event(LOG_LVL_INFO, "agent.start",
			  "host=%s mode=%s server=%s tunnel_ip=%s tunnel_dev=%s metrics=%s",
			  a.cfg.host, a.cfg.mode, a.cfg.server, tun, a.cfg.tunnel_dev,
			  metrics_listen);
	}
	r = agent_init(&a);
	if (r < 0) {
		log_event(LOG_LVL_ERROR, "agent.start_failed", "err=%s", strerror(-r));
		return 1;
	}
	stats_start(a.client);
	if (metrics_listen) {
		r = metricsd_start(metrics_listen, &metrics);
		if (r < 0) {
			log_event(LOG_LVL_ERROR, "agent.listen_failed", "metrics_listen=%s err=%s",
				  metrics_listen, strerror(-r));
			stats_stop();
			agent_done(&a);
			return 1;
		}
	}
	a.epfd = epoll_create1(EPOLL_CLOEXEC);
	epoll_add(a.epfd, sfd);
	epoll_add(a.epfd, tfd);
	epoll_add(a.epfd, client_watch_fd(a.client));
	epoll_add(a.epfd, kernel_events_fd(a.kernel));

	for (bool running = true; running;) {
		struct epoll_event evs[32];
		int n = epoll_wait(a.epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				running = false;
			} else if (fd == tfd) {
				uint64_t now = time_mono_ms(), v;

				(void) !read(tfd, &v, sizeof(v));
				kernel_tick(a.kernel, now);
				if (now - last_heartbeat >= a.cfg.heartbeat_ms) {
					agent_heartbeat(&a);
					last_heartbeat = now;
				}
				dhcpd_tick(a.dhcpd, &a.desired, now);
				if (now - last_snat >= SNAT_CHECK_MS) {
					snat_check(&a, snat_asked, now);
					last_snat = now;
				}
				/* A periodic pass repairs drift that no event
				 * shows (nftables or FDB entries changed by hand). */
				if (now - last_resync >= AGENT_RESYNC_MS) {
					a.dirty = true;
					a.full_pass = true;
					last_resync = now;
				}
			} else if (fd == client_watch_fd(a.client)) {
				agent_feed(&a);
			} else if (fd == kernel_events_fd(a.kernel)) {
				if (kernel_events(a.kernel) > 0) {
					a.dirty = a.full_pass = true;
					log_event(LOG_LVL_DEBUG, "agent.link_event",
						  "action=full_pass");
				}
			} else if (dhcpd_owns(a.dhcpd, fd)) {
				dhcpd_handle(a.dhcpd, fd, &a.desired);
			}
		}
		if (a.dirty && a.replica.synced) {
			a.dirty = false;
			agent_sync(&a);
		}
	}
	log_event(LOG_LVL_INFO, "agent.stop", NULL);
	metricsd_stop(metrics);
	stats_stop();
	agent_done(&a);
	json_decref(snat_asked);
	close(sfd);
	close(tfd);
	return 0;
}
