/* libcurl client: the feed watcher and the reporter threads. */
#include "agent/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "agent/outbox.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/timeutil.h"
#include "base/util.h"
#include "base/xalloc.h"

#define MAX_LINE (64 * 1024 * 1024)

struct client {
	char *base;	 /* "http://host:port" or "http://localhost" */
	char *unix_path; /* NULL for TCP */
	char *token;

	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_bool connected;
	int efd;
	pthread_mutex_t lock;
	json_t *queue;	 /* complete lines not yet taken */
	int64_t resume;	 /* revision to resume from (watcher thread only) */
	char *feed_host; /* whose feed to follow */
	struct strbuf partial;

	/* The reporter: registration, heartbeats, port status. */
	pthread_t reporter;
	bool reporter_started;
	pthread_mutex_t out_lock;
	pthread_cond_t out_cond; /* work queued, or stop */
	struct outbox outbox;	 /* under out_lock */
	char *host;
	json_t *registration;
	uint64_t last_warn; /* reporter thread only */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int client_new(const char *url, const char *token, struct client **ret)
{
	pthread_condattr_t attr;
	struct client *c;

	if (!url || !*url)
		return -EINVAL;
	pthread_once(&curl_once, curl_init_once);
	c = xcalloc(1, sizeof(*c));
	if (startswith(url, "unix:")) {
		c->unix_path = xstrdup(url + 5);
		c->base = xstrdup("http://localhost");
	} else {
		size_t n = strlen(url);

		c->base = xstrndup(url, n && url[n - 1] == '/' ? n - 1 : n);
	}
	c->token = token ? xstrdup(token) : NULL;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&c->lock, NULL);
	c->queue = json_array();
	pthread_mutex_init(&c->out_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->out_cond, &attr);
	pthread_condattr_destroy(&attr);
	outbox_init(&c->outbox);
	*ret = c;
	return 0;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->out_lock);
	atomic_store(&c->stop, true);
	pthread_cond_broadcast(&c->out_cond);
	pthread_mutex_unlock(&c->out_lock);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	if (c->reporter_started)
		pthread_join(c->reporter, NULL);
	outbox_done(&c->outbox);
	pthread_cond_destroy(&c->out_cond);
	pthread_mutex_destroy(&c->out_lock);
	json_decref(c->registration);
	free(c->host);
	if (c->efd >= 0)
		close(c->efd);
	json_decref(c->queue);
	strbuf_done(&c->partial);
	pthread_mutex_destroy(&c->lock);
	free(c->base);
	free(c->unix_path);
	free(c->token);
	free(c->feed_host);
	free(c);
}

static struct curl_slist *headers(struct client *c)
{
	struct curl_slist *h = NULL;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	if (c->token) {
		char *t = xasprintf("X-Auth-Token: %s", c->token);

		h = curl_slist_append(h, t);
		free(t);
	}
	return h;
}

static CURL *easy(struct client *c, const char *path)
{
	CURL *e = curl_easy_init();
	char *url;

	if (!e)
		return NULL;
	url = xasprintf("%s%s", c->base, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	if (c->unix_path)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	return e;
}

/* Answers to reports are not read: their status says it all. */
static size_t discard(char *data, size_t size, size_t n, void *userdata)
{
	(void) data, (void) userdata;
	return size * n;
}

static int on_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t cc, curl_off_t d)
{
	struct client *c = userdata;

	(void) a, (void) b, (void) cc, (void) d;
	return atomic_load(&c->stop) ? 1 : 0;
}

/* A blocking call with a short timeout, for the reporter thread. Its answer
 * is not read, only its HTTP status (*ret_status). Returns 0, or -errno when
 * the server could not be reached (or the client stops). */
static int client_call(struct client *c, const char *method, const char *path, json_t *body,
		       long *ret_status)
{
	struct curl_slist *h;
	char *payload = NULL;
	CURL *e = easy(c, path);
	CURLcode rc;
	long status = 0;

	if (!e)
		return -ENOMEM;
	h = headers(c);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	/* Stopping the client ends a call waiting on a stalled server. */
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(payload);
	if (rc != CURLE_OK)
		return -ECONNREFUSED;
	*ret_status = status;
	return 0;
}

/* Called by libcurl with stream data: complete lines go to the queue. */
static size_t on_stream(char *data, size_t size, size_t n, void *userdata)
{
	struct client *c = userdata;
	size_t total = size * n;
	bool queued = false;
	char *nl;

	if (atomic_load(&c->stop))
		return 0;
	atomic_store(&c->connected, true);
	if (c->partial.len + total > MAX_LINE)
		return 0;
	strbuf_append_n(&c->partial, data, total);
	while ((nl = memchr(c->partial.buf, '\n', c->partial.len))) {
		size_t len = (size_t) (nl - c->partial.buf);
		json_t *line = json_loadb(c->partial.buf, len, 0, NULL);
		const char *op = json_string_value(json_object_get(line, "op"));

		memmove(c->partial.buf, nl + 1, c->partial.len - len - 1);
		c->partial.len -= len + 1;
		c->partial.buf[c->partial.len] = '\0';
		if (!line || !op)
			continue;
		/* Resume points: a complete snapshot or a change. */
		if (streq(op, "snapshot_end") || streq(op, "create") || streq(op, "update") ||
		    streq(op, "delete"))
			c->resume = json_integer_value(json_object_get(line, "revision"));
		pthread_mutex_lock(&c->lock);
		json_array_append_new(c->queue, line);
		pthread_mutex_unlock(&c->lock);
		queued = true;
	}
	if (queued) {
		uint64_t one = 1;

		(void) !write(c->efd, &one, sizeof(one));
	}
	return total;
}

static void *watch_thread(void *userdata)
{
	struct client *c = userdata;

	while (!atomic_load(&c->stop)) {
		char path[192];
		struct curl_slist *h = headers(c);
		CURL *e;

		snprintf(path, sizeof(path), "/v2.0/lepton/watch?since=%lld&host=%s",
			 (long long) c->resume, c->feed_host);
		e = easy(c, path);
		if (!e) {
			curl_slist_free_all(h);
			sleep(1);
			continue;
		}
		strbuf_done(&c->partial);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
		/* The server pings idle streams every few seconds: silence for
		 * longer means the stream is dead. */
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
		curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
		(void) curl_easy_perform(e);
		curl_easy_cleanup(e);
		curl_slist_free_all(h);
		atomic_store(&c->connected, false);
		/* Back off a little before reconnecting. */
		for (int i = 0; i < 5 && !atomic_load(&c->stop); i++)
			usleep(100 * 1000);
	}
	return NULL;
}

int client_watch_start(struct client *c, const char *host, int64_t since)
{
	int r;

	if (c->thread_started)
		return -EALREADY;
	c->resume = since;
	c->feed_host = xstrdup(host);
	r = -pthread_create(&c->thread, NULL, watch_thread, c);
	if (r == 0)
		c->thread_started = true;
	return r;
}

int client_watch_fd(struct client *c)
{
	return c->efd;
}

json_t *client_watch_take(struct client *c)
{
	json_t *lines;
	uint64_t v;

	(void) !read(c->efd, &v, sizeof(v));
	pthread_mutex_lock(&c->lock);
	lines = c->queue;
	c->queue = json_array();
	pthread_mutex_unlock(&c->lock);
	return lines;
}

bool client_watch_connected(struct client *c)
{
	return atomic_load(&c->connected);
}

/* One item to the server; what became of it, and the HTTP status (0: no
 * answer). */
static enum outbox_result deliver(struct client *c, const struct outbox_item *it, long *ret_status)
{
	json_t *body = NULL;
	const char *method = "POST", *path;
	char buf[160];
	long status = 0;
	int r;

	switch (it->kind) {
	case OUTBOX_REGISTER:
		path = "/v2.0/lepton/agents/register";
		body = json_incref(c->registration);
		break;
	case OUTBOX_HEARTBEAT:
		path = "/v2.0/lepton/agents/heartbeat";
		body = json_pack("{s:s}", "host", c->host);
		break;
	case OUTBOX_SNAT_BLOCK:
		path = "/v2.0/lepton/snat_blocks";
		body = json_pack("{s:{s:s, s:s}}", "snat_block", "router_id", it->router_id, "host",
				 c->host);
		break;
	case OUTBOX_STATUS:
	default:
		if ((size_t) snprintf(buf, sizeof(buf), "/v2.0/lepton/ports/%s/status",
				      it->port_id) >= sizeof(buf)) {
			*ret_status = 0;
			return OUTBOX_REFUSED;
		}
		method = "PUT";
		path = buf;
		body = json_pack("{s:s, s:s}", "status", it->status, "host", c->host);
		break;
	}
	r = client_call(c, method, path, body, &status);
	json_decref(body);
	*ret_status = r < 0 ? 0 : status;
	if (r < 0 || status / 100 == 5 || status == 408 || status == 429 || status == 0)
		return OUTBOX_RETRY;
	if (status / 100 == 2)
		return OUTBOX_SENT;
	if (it->kind == OUTBOX_HEARTBEAT && status == 404)
		return OUTBOX_UNKNOWN_AGENT;
	return OUTBOX_REFUSED;
}

/* What the reporter says about one delivery: its outcome when it matters,
 * when the server stops taking reports (then every half minute while it
 * does not, with the queue depth), and when it takes them again. `before`
 * and `after` are the outbox's streak of failed deliveries before and after
 * this one. */
static void log_delivery(struct client *c, const struct outbox_item *it, enum outbox_result res,
			 long status, unsigned before, unsigned after, uint64_t now,
			 uint64_t down_since, size_t depth)
{
	if (after && !before) {
		if (res == OUTBOX_RETRY && status)
			log_event(LOG_LVL_WARN, "agent.server_failing", "status=%ld queued=%zu",
				  status, depth);
		else if (res == OUTBOX_RETRY)
			log_event(LOG_LVL_WARN, "agent.server_unreachable", "queued=%zu", depth);
		c->last_warn = now;
	} else if (after && now - c->last_warn >= 30000) {
		log_event(LOG_LVL_WARN, "agent.server_down", "secs=%llu queued=%zu",
			  (unsigned long long) (now - down_since) / 1000, depth);
		c->last_warn = now;
	} else if (!after && before) {
		log_event(LOG_LVL_INFO, "agent.server_back", "down_ms=%llu queued=%zu",
			  (unsigned long long) (now - down_since), depth);
	}
	if (it->kind == OUTBOX_REGISTER && res == OUTBOX_SENT)
		log_event(LOG_LVL_INFO, "agent.registered", "host=%s", c->host);
	else if (it->kind == OUTBOX_REGISTER && res == OUTBOX_REFUSED && !before)
		log_event(LOG_LVL_ERROR, "agent.register_refused", "status=%ld", status);
	else if (it->kind == OUTBOX_HEARTBEAT && res == OUTBOX_UNKNOWN_AGENT)
		log_event(LOG_LVL_WARN, "agent.unknown_host", "host=%s action=register", c->host);
	else if (it->kind == OUTBOX_STATUS && res == OUTBOX_SENT)
		log_event(LOG_LVL_INFO, "agent.port_status", "port=%s status=%s", it->port_id,
			  it->status);
	else if (it->kind == OUTBOX_SNAT_BLOCK && res == OUTBOX_SENT)
		log_event(LOG_LVL_INFO, "agent.snat_block", "router=%s", it->router_id);
	else if (it->kind == OUTBOX_SNAT_BLOCK && res == OUTBOX_REFUSED)
		log_event(LOG_LVL_WARN, "agent.snat_block_refused", "router=%s status=%ld",
			  it->router_id, status);
	else if (it->kind == OUTBOX_STATUS && res == OUTBOX_REFUSED)
		log_event(LOG_LVL_WARN, "agent.port_status_refused",
			  "port=%s port_status=%s status=%ld action=dropped", it->port_id,
			  it->status, status);
}

/* Waits (out_lock held) for work, a due retry, or stop. */
static void reporter_wait(struct client *c, uint64_t wait_ms)
{
	struct timespec ts;

	if (wait_ms == UINT64_MAX) {
		pthread_cond_wait(&c->out_cond, &c->out_lock);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t) (wait_ms / 1000);
	ts.tv_nsec += (long) (wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void) pthread_cond_timedwait(&c->out_cond, &c->out_lock, &ts);
}

static void *report_thread(void *userdata)
{
	struct client *c = userdata;

	pthread_mutex_lock(&c->out_lock);
	while (!atomic_load(&c->stop)) {
		struct outbox_item it;
		enum outbox_result res;
		uint64_t wait, now, down_since;
		unsigned before, after;
		size_t depth;
		long status;

		if (!outbox_next(&c->outbox, time_mono_ms(), &it, &wait)) {
			reporter_wait(c, wait);
			continue;
		}
		/* The item's strings stay put until the next outbox_next(),
		 * which only this thread calls: the network is used, and the
		 * outcome logged, without the lock. */
		pthread_mutex_unlock(&c->out_lock);
		res = deliver(c, &it, &status);
		pthread_mutex_lock(&c->out_lock);
		if (atomic_load(&c->stop))
			break;
		before = c->outbox.failures;
		now = time_mono_ms();
		outbox_complete(&c->outbox, res, now);
		after = c->outbox.failures;
		down_since = c->outbox.down_since;
		depth = outbox_depth(&c->outbox);
		pthread_mutex_unlock(&c->out_lock);
		log_delivery(c, &it, res, status, before, after, now, down_since, depth);
		pthread_mutex_lock(&c->out_lock);
	}
	pthread_mutex_unlock(&c->out_lock);
	return NULL;
}

int client_reports_start(struct client *c, const char *host, json_t *registration)
{
	int r;

	if (c->reporter_started) {
		json_decref(registration);
		return -EALREADY;
	}
	c->host = xstrdup(host);
	c->registration = registration;
	outbox_register(&c->outbox);
	r = -pthread_create(&c->reporter, NULL, report_thread, c);
	if (r == 0)
		c->reporter_started = true;
	return r;
}

void client_heartbeat(struct client *c)
{
	pthread_mutex_lock(&c->out_lock);
	outbox_heartbeat(&c->outbox);
	pthread_cond_signal(&c->out_cond);
	pthread_mutex_unlock(&c->out_lock);
}

void client_snat_block(struct client *c, const char *router_id)
{
	pthread_mutex_lock(&c->out_lock);
	if (outbox_snat_block(&c->outbox, router_id))
		pthread_cond_signal(&c->out_cond);
	pthread_mutex_unlock(&c->out_lock);
}

void client_report_port(struct client *c, const char *port_id, const char *status,
			const char *model_status)
{
	pthread_mutex_lock(&c->out_lock);
	if (outbox_report(&c->outbox, port_id, status, model_status, time_mono_ms()))
		pthread_cond_signal(&c->out_cond);
	pthread_mutex_unlock(&c->out_lock);
}
