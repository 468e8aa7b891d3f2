/* libcurl client and feed watcher. */
#include "agent/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "base/strbuf.h"
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
	json_t *queue;	/* complete lines not yet taken */
	int64_t resume; /* revision to resume from (watcher thread only) */
	char *host;	/* whose feed to follow */
	struct strbuf partial;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int client_new(const char *url, const char *token, struct client **ret)
{
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
	*ret = c;
	return 0;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		atomic_store(&c->stop, true);
		pthread_join(c->thread, NULL);
	}
	if (c->efd >= 0)
		close(c->efd);
	json_decref(c->queue);
	strbuf_done(&c->partial);
	pthread_mutex_destroy(&c->lock);
	free(c->base);
	free(c->unix_path);
	free(c->token);
	free(c->host);
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

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
	struct strbuf *sb = userdata;

	if (sb->len + size * n > MAX_LINE)
		return 0;
	strbuf_append_n(sb, data, size * n);
	return size * n;
}

int client_call(struct client *c, const char *method, const char *path, json_t *body,
		long *ret_status, json_t **ret_body)
{
	struct strbuf out = STRBUF_INIT;
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
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(payload);
	if (rc != CURLE_OK) {
		strbuf_done(&out);
		return -ECONNREFUSED;
	}
	if (ret_status)
		*ret_status = status;
	if (ret_body)
		*ret_body = out.len ? json_loads(strbuf_str(&out), 0, NULL) : NULL;
	strbuf_done(&out);
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

static int on_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t cc, curl_off_t d)
{
	struct client *c = userdata;

	(void) a, (void) b, (void) cc, (void) d;
	return atomic_load(&c->stop) ? 1 : 0;
}

static void *watch_thread(void *userdata)
{
	struct client *c = userdata;

	while (!atomic_load(&c->stop)) {
		char path[192];
		struct curl_slist *h = headers(c);
		CURL *e;

		snprintf(path, sizeof(path), "/v2.0/lepton/watch?since=%lld&host=%s",
			 (long long) c->resume, c->host);
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
	c->host = xstrdup(host);
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
