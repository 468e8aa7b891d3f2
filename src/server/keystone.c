/* Keystone token validation with a cache (see keystone.h). */
#include "server/keystone.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"

#define CACHE_SLOTS    1024
#define TOKEN_MAX      8192 /* longer X-Auth-Tokens are refused unasked */
#define SERVICE_MARGIN 60   /* renew the service token this long before it expires */

struct cache_entry {
	char *token; /* NULL: empty slot */
	time_t expires;
	struct keystone_identity id;
};

struct keystone {
	char *url; /* ".../v3" */
	char *username, *password, *project_name;
	unsigned cache_secs;
	pthread_mutex_t lock; /* guards everything below */
	char *service_token;
	time_t service_expires;
	struct cache_entry cache[CACHE_SLOTS];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct keystone *keystone_new(const char *url, const char *username, const char *password,
			      const char *project_name, unsigned cache_secs)
{
	struct keystone *ks = xcalloc(1, sizeof(*ks));
	size_t n = strlen(url);

	pthread_once(&curl_once, curl_init_once);
	while (n && url[n - 1] == '/')
		n--;
	if (n >= 3 && strncmp(url + n - 3, "/v3", 3) == 0)
		ks->url = xasprintf("%.*s", (int) n, url);
	else
		ks->url = xasprintf("%.*s/v3", (int) n, url);
	ks->username = xstrdup(username);
	ks->password = xstrdup(password);
	ks->project_name = xstrdup(project_name);
	ks->cache_secs = cache_secs;
	pthread_mutex_init(&ks->lock, NULL);
	return ks;
}

void keystone_free(struct keystone *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		free(ks->cache[i].token);
	free(ks->service_token);
	free(ks->url);
	free(ks->username);
	free(ks->password);
	free(ks->project_name);
	pthread_mutex_destroy(&ks->lock);
	free(ks);
}

/* "2026-12-01T16:29:09.000000Z" -> seconds since the epoch; 0 if unreadable. */
static time_t parse_expiry(const char *s)
{
	struct tm tm = {0};
	int n = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n == 0)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

struct reply {
	struct strbuf body;
	char *subject_token; /* the X-Subject-Token header */
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct reply *r = userdata;

	if (r->body.len + size * n > 4 * 1024 * 1024)
		return 0; /* a token document is never this big */
	strbuf_append_n(&r->body, data, size * n);
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct reply *r = userdata;
	size_t len = size * n;
	static const char name[] = "x-subject-token:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		size_t a = sizeof(name) - 1, b = len;

		while (a < b && (data[a] == ' ' || data[a] == '\t'))
			a++;
		while (b > a && (data[b - 1] == '\r' || data[b - 1] == '\n' || data[b - 1] == ' '))
			b--;
		free(r->subject_token);
		r->subject_token = xasprintf("%.*s", (int) (b - a), data + a);
	}
	return len;
}

/* One request to Keystone; the HTTP status, or -EIO when it could not be made. */
static long request(struct keystone *ks, const char *method, const char *path,
		    const char *auth_token, const char *subject_token, const char *payload,
		    struct reply *ret)
{
	struct curl_slist *h = NULL;
	_cleanup_free_ char *url = xasprintf("%s%s", ks->url, path);
	long status = -EIO;
	CURL *e = curl_easy_init();

	if (!e)
		return -EIO;
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	if (auth_token) {
		_cleanup_free_ char *hdr = xasprintf("X-Auth-Token: %s", auth_token);
		h = curl_slist_append(h, hdr);
	}
	if (subject_token) {
		_cleanup_free_ char *hdr = xasprintf("X-Subject-Token: %s", subject_token);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	if (payload)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, ret);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, ret);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return status;
}

static void reply_done(struct reply *r)
{
	strbuf_done(&r->body);
	free(r->subject_token);
}

/* A fresh service token (new string), or NULL when Keystone refuses. */
static char *service_login(struct keystone *ks, time_t *ret_expires)
{
	struct reply r = {STRBUF_INIT, NULL};
	json_t *req = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:{s:s},s:s}}},s:{s:{s:s,s:{s:s}}}}}",
				"auth", "identity", "methods", "password", "password", "user",
				"name", ks->username, "domain", "name", "Default", "password",
				ks->password, "scope", "project", "name", ks->project_name,
				"domain", "name", "Default");
	_cleanup_free_ char *payload = json_dumps(req, JSON_COMPACT);
	char *token = NULL;
	long st;

	json_decref(req);
	st = request(ks, "POST", "/auth/tokens", NULL, NULL, payload, &r);
	if (st == 201 && r.subject_token) {
		json_t *doc = json_loads(strbuf_str(&r.body), 0, NULL);

		*ret_expires = parse_expiry(json_string_value(
			json_object_get(json_object_get(doc, "token"), "expires_at")));
		json_decref(doc);
		token = TAKE_PTR(r.subject_token);
	}
	reply_done(&r);
	return token;
}

/* Reads a token document into an identity; its expiry, or 0 when it is not a
 * token document. */
static time_t read_token(json_t *doc, struct keystone_identity *id)
{
	json_t *tok = json_object_get(doc, "token");
	const char *user = json_string_value(json_object_get(json_object_get(tok, "user"), "id"));
	const char *project =
		json_string_value(json_object_get(json_object_get(tok, "project"), "id"));
	json_t *roles = json_object_get(tok, "roles");
	json_t *role;
	size_t i;

	if (!user || strlen(user) > KEYSTONE_ID_MAX ||
	    (project && strlen(project) > KEYSTONE_ID_MAX))
		return 0;
	*id = (struct keystone_identity){0};
	strcpy(id->user_id, user);
	if (project)
		strcpy(id->project_id, project);
	json_array_foreach(roles, i, role) {
		const char *name = json_string_value(json_object_get(role, "name"));

		if (!name)
			continue;
		if (strcasecmp(name, "admin") == 0)
			id->is_admin = true;
		else if (strcasecmp(name, "member") == 0)
			id->is_member = true;
		else if (strcasecmp(name, "reader") == 0)
			id->is_reader = true;
	}
	return parse_expiry(json_string_value(json_object_get(tok, "expires_at")));
}

static size_t slot_of(const char *token)
{
	return (size_t) (fnv_str(FNV_OFFSET, token) % CACHE_SLOTS);
}

static bool cache_lookup(struct keystone *ks, const char *token, struct keystone_identity *ret)
{
	struct cache_entry *c = &ks->cache[slot_of(token)];
	bool hit = false;

	pthread_mutex_lock(&ks->lock);
	if (c->token && streq(c->token, token) && c->expires > time(NULL)) {
		*ret = c->id;
		hit = true;
	}
	pthread_mutex_unlock(&ks->lock);
	return hit;
}

static void cache_store(struct keystone *ks, const char *token, time_t expires,
			const struct keystone_identity *id)
{
	struct cache_entry *c = &ks->cache[slot_of(token)];
	time_t cap = time(NULL) + (time_t) ks->cache_secs;

	pthread_mutex_lock(&ks->lock);
	free(c->token);
	c->token = xstrdup(token);
	c->expires = expires < cap ? expires : cap;
	c->id = *id;
	pthread_mutex_unlock(&ks->lock);
}

/* The service token (new string), logging in when there is none or it is
 * about to expire, or when `renew` says Keystone refused the current one. */
static char *service_token(struct keystone *ks, bool renew)
{
	char *tok = NULL;
	time_t exp = 0;

	pthread_mutex_lock(&ks->lock);
	if (!renew && ks->service_token && ks->service_expires > time(NULL) + SERVICE_MARGIN)
		tok = xstrdup(ks->service_token);
	pthread_mutex_unlock(&ks->lock);
	if (tok)
		return tok;
	tok = service_login(ks, &exp);
	if (!tok)
		return NULL;
	pthread_mutex_lock(&ks->lock);
	free(ks->service_token);
	ks->service_token = xstrdup(tok);
	ks->service_expires = exp;
	pthread_mutex_unlock(&ks->lock);
	return tok;
}

int keystone_validate(struct keystone *ks, const char *token, struct keystone_identity *ret)
{
	struct keystone_identity id;
	time_t expires;

	if (!token || !*token || strlen(token) > TOKEN_MAX || strpbrk(token, "\r\n"))
		return -EACCES;
	if (cache_lookup(ks, token, ret))
		return 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		_cleanup_free_ char *svc = service_token(ks, attempt > 0);
		struct reply r = {STRBUF_INIT, NULL};
		json_t *doc;
		long st;

		if (!svc)
			return -EIO;
		st = request(ks, "GET", "/auth/tokens", svc, token, NULL, &r);
		if (st == 401 && attempt == 0) {
			/* Our own token was refused (expired, revoked): log in again. */
			reply_done(&r);
			continue;
		}
		if (st == 404 || st == 401 || st == 400) {
			reply_done(&r);
			return -EACCES;
		}
		if (st != 200) {
			reply_done(&r);
			return -EIO;
		}
		doc = json_loads(strbuf_str(&r.body), 0, NULL);
		reply_done(&r);
		expires = read_token(doc, &id);
		json_decref(doc);
		if (expires == 0)
			return -EIO;
		if (expires <= time(NULL))
			return -EACCES;
		cache_store(ks, token, expires, &id);
		*ret = id;
		return 0;
	}
	return -EIO;
}
