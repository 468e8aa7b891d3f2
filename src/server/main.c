/* lepton-server: the API server. Parses the command line and config, opens
 * the store, serves HTTP until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include "base/log.h"
#include "server/api.h"
#include "server/config.h"
#include "server/http.h"
#include "server/keystone.h"
#include "server/snat.h"
#include "server/store.h"
#include "server/telemetry.h"

static void usage(FILE *f)
{
	fputs("usage: lepton-server [--listen HOST:PORT] [--data-dir DIR] [--unix PATH]\n"
	      "                     [--store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]]\n"
	      "                     [--metrics-listen HOST:PORT] [--config FILE] [--debug]\n"
	      "Serves the Neutron v2.0 API and the change feed its agents follow.\n"
	      "  --listen HOST:PORT  address to serve the API on (default 127.0.0.1:9696;\n"
	      "                      IPv6 as [::1]:9696)\n"
	      "  --data-dir DIR      where the SQLite store lives (default\n"
	      "                      $XDG_STATE_HOME/lepton, ~/.local/state/lepton, or\n"
	      "                      /var/lib/lepton without HOME)\n"
	      "  --store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]\n"
	      "                      keep the store in this etcd v3 cluster (keys under\n"
	      "                      PREFIX, default /lepton/) instead of SQLite, shared\n"
	      "                      by every server given the same URL\n"
	      "  --unix PATH         also serve the API on this UNIX socket (agents in other\n"
	      "                      network namespaces)\n"
	      "  --metrics-listen HOST:PORT\n"
	      "                      serve GET /metrics (Prometheus text format) there, with\n"
	      "                      no authentication: bind a management address\n"
	      "  --config FILE       key = value settings, one per line, '#' comments; every\n"
	      "                      key is documented in /etc/lepton/lepton-server.conf\n"
	      "                      and README.md. The command line wins over the file.\n"
	      "  --debug             log debug messages too\n"
	      "  --help              this text\n"
	      "Logs go to stderr, one line per event; requests as event=request lines with\n"
	      "method, path, status, duration_ms and project (request_log = false: none).\n"
	      "SIGTERM or SIGINT stops the server.\n",
	      f);
}

/* Every connection is a descriptor: raise the soft limit (and, as root, the
 * hard one) to what the connection limits may need. */
static void raise_nofile(const struct server_config *cfg)
{
	unsigned listeners = cfg->unix_path ? 2 : 1;
	rlim_t want =
		(rlim_t) (cfg->watch_max_streams + cfg->api_max_connections) * listeners + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		struct rlimit more = {want, want};

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return;
		log_event(LOG_LVL_WARN, "server.open_files_limited",
			  "limit=%llu wanted=%llu "
			  "err=\"fewer connections than watch_max_streams + api_max_connections\"",
			  (unsigned long long) rl.rlim_max, (unsigned long long) want);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	(void) setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"data-dir", required_argument, NULL, 'd'},
		{"unix", required_argument, NULL, 'u'},
		{"config", required_argument, NULL, 'c'},
		{"metrics-listen", required_argument, NULL, 'M'},
		{"store", required_argument, NULL, 'S'},
		{"debug", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct server_config cfg;
	const char *listen_arg = NULL, *data_arg = NULL, *unix_arg = NULL, *config_arg = NULL;
	const char *metrics_arg = NULL, *store_arg = NULL;
	struct store *store = NULL;
	struct http_server *http = NULL, *metrics_http = NULL;
	sigset_t sigs;
	int c, sig, r;

	log_set_ident("lepton-server");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'd':
			data_arg = optarg;
			break;
		case 'u':
			unix_arg = optarg;
			break;
		case 'c':
			config_arg = optarg;
			break;
		case 'M':
			metrics_arg = optarg;
			break;
		case 'S':
			store_arg = optarg;
			break;
		case 'D':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	config_defaults(&cfg);
	if (config_arg) {
		unsigned line = 0;

		r = config_load(&cfg, config_arg, &line);
		if (r < 0) {
			log_event(LOG_LVL_ERROR, "server.config_error", "file=%s line=%u err=%s",
				  config_arg, line,
				  r == -EINVAL ? "unknown setting or bad value" : strerror(-r));
			config_done(&cfg);
			return 2;
		}
	}
	/* The command line wins over the config file. */
	if (listen_arg)
		config_set(&cfg, "listen", listen_arg);
	if (data_arg)
		config_set(&cfg, "data_dir", data_arg);
	if (unix_arg)
		config_set(&cfg, "unix", unix_arg);
	if (store_arg && config_set(&cfg, "store", store_arg) < 0) {
		log_event(
			LOG_LVL_ERROR, "server.bad_option",
			"option=--store value=%s expected=etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
			store_arg);
		config_done(&cfg);
		return 2;
	}
	if (metrics_arg && config_set(&cfg, "metrics_listen", metrics_arg) < 0) {
		log_event(LOG_LVL_ERROR, "server.config_error",
			  "option=--metrics-listen value=%s err=\"HOST:PORT expected\"",
			  metrics_arg);
		config_done(&cfg);
		return 2;
	}

	/* Signals are taken synchronously by the main thread; every other thread
	 * inherits the blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cfg.store)
		r = store_open_etcd(cfg.store, cfg.feed_retention, &store);
	else
		r = store_open(cfg.data_dir, cfg.sync_full, cfg.feed_retention, &store);
	if (r < 0) {
		log_event(LOG_LVL_ERROR, "server.store_failed", "store=%s err=%s",
			  cfg.store ? cfg.store : cfg.data_dir, strerror(-r));
		config_done(&cfg);
		return 1;
	}
	raise_nofile(&cfg);
	struct api api = {.store = store, .cfg = &cfg, .view = nodeview_new()};
	r = watch_hub_new(store, api.view, cfg.watch_ping_secs, cfg.watch_max_streams, &api.hub);
	if (r < 0) {
		log_event(LOG_LVL_ERROR, "server.watch_feeder_failed", "err=%s", strerror(-r));
		nodeview_free(api.view);
		store_free(store);
		config_done(&cfg);
		return 1;
	}
	if (cfg.auth_keystone) {
		if (!cfg.keystone_url || !cfg.keystone_password) {
			log_event(LOG_LVL_ERROR, "server.config_error",
				  "key=auth_strategy err=\"keystone needs keystone_url and "
				  "keystone_password\"");
			watch_hub_free(api.hub);
			nodeview_free(api.view);
			store_free(store);
			config_done(&cfg);
			return 2;
		}
		api.keystone =
			keystone_new(cfg.keystone_url, cfg.keystone_username, cfg.keystone_password,
				     cfg.keystone_project_name, cfg.keystone_cache_secs);
	}
	telemetry_start(&api);
	struct http_options api_http = {
		.listen = cfg.listen,
		.unix_path = cfg.unix_path,
		.max_body = cfg.max_body_size,
		.max_conns = cfg.watch_max_streams + cfg.api_max_connections,
		.workers = cfg.api_workers,
	};
	r = http_start(&api_http, api_handle, &api, &http);
	if (r >= 0 && cfg.metrics_listen) {
		struct http_options metrics_opt = {.listen = cfg.metrics_listen,
						   .max_body = 1024,
						   .max_conns = 16,
						   .workers = 1};

		r = http_start(&metrics_opt, telemetry_metrics_handle, NULL, &metrics_http);
		if (r < 0) {
			log_event(LOG_LVL_ERROR, "server.listen_failed", "metrics_listen=%s err=%s",
				  cfg.metrics_listen, strerror(-r));
			http_stop(http);
		}
	} else if (r < 0) {
		log_event(LOG_LVL_ERROR, "server.listen_failed", "listen=%s unix=%s err=%s",
			  cfg.listen, cfg.unix_path, strerror(-r));
	}
	if (r < 0) {
		telemetry_stop(&api);
		keystone_free(api.keystone);
		watch_hub_free(api.hub);
		nodeview_free(api.view);
		store_free(store);
		config_done(&cfg);
		return 1;
	}
	struct snat_sweeper *sweeper = snat_sweeper_start(store, &cfg);
	if (!sweeper)
		log_event(LOG_LVL_ERROR, "server.snat_sweeper_failed",
			  "err=\"blocks will not expire\"");
	log_event(LOG_LVL_INFO, "server.start",
		  "listen=%s unix=%s metrics=%s store=%s revision=%lld auth=%s", cfg.listen,
		  cfg.unix_path, cfg.metrics_listen, cfg.store ? cfg.store : cfg.data_dir,
		  (long long) store_revision(store), cfg.auth_keystone ? "keystone" : "noauth");
	sig = 0;
	sigwait(&sigs, &sig);
	log_event(LOG_LVL_INFO, "server.stop", "signal=%s", sigabbrev_np(sig));
	store_shutdown(store);
	http_stop(metrics_http);
	http_stop(http);
	telemetry_stop(&api);
	snat_sweeper_stop(sweeper);
	watch_hub_free(api.hub);
	nodeview_free(api.view);
	store_free(store);
	keystone_free(api.keystone);
	config_done(&cfg);
	return 0;
}
