/* Serving the embedded topology page. */
#include "server/web.h"

#include <string.h>
#include "base/util.h"
#include "base/xalloc.h"

#define PAGE "/topology"

bool web_handle(const struct http_request *req, struct http_response *resp)
{
	const char *path = req->path;

	if (!startswith(path, PAGE) || (path[strlen(PAGE)] && path[strlen(PAGE)] != '/'))
		return false;
	if (streq(path, PAGE) || streq(path, PAGE "/"))
		path = PAGE "/index.html";
	resp->content_type = "text/plain; charset=utf-8";
	if (!streq(req->method, "GET") && !streq(req->method, "HEAD")) {
		resp->status = 405;
		resp->body = xstrdup("Method not allowed.\n");
		return true;
	}
	for (const struct web_asset *a = web_assets; a->path; a++) {
		if (streq(a->path, path)) {
			resp->status = 200;
			resp->content_type = a->content_type;
			resp->body = xstrndup((const char *) a->data, a->size);
			return true;
		}
	}
	resp->status = 404;
	resp->body = xstrdup("Not found.\n");
	return true;
}
