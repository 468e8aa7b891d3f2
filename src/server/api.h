/* The API: routes HTTP requests to the resource handlers, renders JSON and
 * Neutron's errors, serves the version documents, the extension list and the
 * change feed (watch). */
#pragma once

#include <jansson.h>
#include "base/ipaddr.h"
#include "server/config.h"
#include "server/http.h"
#include "server/nodeview.h"
#include "server/store.h"
#include "server/watch.h"

struct keystone;

struct api {
	struct store *store;
	const struct server_config *cfg;
	struct keystone *keystone; /* auth_strategy = keystone; NULL: noauth */
	struct nodeview *view;	   /* per-node feeds (watch?host=) */
	struct watch_hub *hub;	   /* the watch streams */
};

/* The http_handler_fn of lepton-server; userdata is a struct api. */
void api_handle(void *userdata, const struct http_request *req, struct http_response *resp);

/* A count that may exceed JSON's int64 integers (an IPv6 pool's size): an
 * integer when it fits, else a string the response renderer writes as a bare
 * JSON integer (as Neutron's Python prints it): "\u0000int:" and its digits,
 * a string no request can hold (the decoder refuses NUL). */
json_t *api_count_json(ipaddr_int n);
/* Rewrites the big counts of a JSON text made by json_dumps() in place. */
void api_unquote_counts(char *text);
