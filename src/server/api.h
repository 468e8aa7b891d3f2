/* The API: routes HTTP requests to the resource handlers, renders JSON and
 * Neutron's errors, serves the version documents, the extension list and the
 * change feed (watch). */
#pragma once

#include "server/config.h"
#include "server/http.h"
#include "server/nodeview.h"
#include "server/store.h"

struct keystone;

struct api {
	struct store *store;
	const struct server_config *cfg;
	struct keystone *keystone; /* auth_strategy = keystone; NULL: noauth */
	struct nodeview *view;	   /* per-node feeds (watch?host=) */
};

/* The http_handler_fn of lepton-server; userdata is a struct api. */
void api_handle(void *userdata, const struct http_request *req, struct http_response *resp);
