/* The CLI's HTTP client (libcurl): JSON in and out, noauth identity headers,
 * http://HOST:PORT or unix:/path/to/socket. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "cli/cli.h"

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
	strbuf_append_n(userdata, data, size * n);
	return size * n;
}

long cli_http(struct cli *c, const char *method, const char *path, json_t *body, json_t **ret_body)
{
	struct strbuf out = STRBUF_INIT;
	struct curl_slist *h = NULL;
	char *payload = NULL, *url, *hdr;
	long status = -1;
	CURLcode rc;
	CURL *e = curl_easy_init();

	if (!e)
		return -1;
	if (startswith(c->url, "unix:")) {
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->url + 5);
		url = xasprintf("http://localhost%s", path);
	} else {
		size_t n = strlen(c->url);

		url = xasprintf("%.*s%s", (int) (n && c->url[n - 1] == '/' ? n - 1 : n), c->url,
				path);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	if (c->project) {
		hdr = xasprintf("X-Project-Id: %s", c->project);
		h = curl_slist_append(h, hdr);
		free(hdr);
	}
	if (c->roles) {
		hdr = xasprintf("X-Roles: %s", c->roles);
		h = curl_slist_append(h, hdr);
		free(hdr);
	}
	if (c->token) {
		hdr = xasprintf("X-Auth-Token: %s", c->token);
		h = curl_slist_append(h, hdr);
		free(hdr);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		if (ret_body)
			*ret_body = out.len ? json_loads(strbuf_str(&out), 0, NULL) : NULL;
	} else {
		fprintf(stderr, "lepton: cannot reach %s: %s\n", c->url, curl_easy_strerror(rc));
	}
	strbuf_done(&out);
	free(payload);
	free(url);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return status;
}

void cli_print_error(long status, json_t *body)
{
	const char *msg = json_string_value(
		json_object_get(json_object_get(body, "NeutronError"), "message"));

	if (msg)
		fprintf(stderr, "%s\n", msg);
	else if (status > 0)
		fprintf(stderr, "lepton: the server answered HTTP %ld\n", status);
}
