/* The topology page: static files from the tree's web/ directory, embedded
 * at build time (scripts/embed-web.sh), served by lepton-server at /topology
 * with no auth (the page calls the API with the caller's own identity). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "server/http.h"

struct web_asset {
	const char *path; /* "/topology/app.js" */
	const char *content_type;
	const unsigned char *data; /* NUL-terminated text */
	size_t size;		   /* without the NUL */
};

/* The embedded files, ending with an entry whose path is NULL. */
extern const struct web_asset web_assets[];

/* Whether the request is the page's (/topology, /topology/...): then resp
 * holds the file (/topology is index.html), 404 for a file that is not
 * there, 405 for a method other than GET or HEAD. */
bool web_handle(const struct http_request *req, struct http_response *resp);
