/* List queries as Neutron runs them: filters on any attribute (repeated keys
 * mean "any of"), tag filters, fields, sorting on one or more keys, and
 * pagination with limit, marker and page_reverse plus *_links. */
#pragma once

#include <jansson.h>
#include "server/http.h"
#include "server/resource.h"

/* GET /v2.0/{collection}: returns 200 with *ret_body, or < 0 with ctx->err. */
int list_run(struct api_ctx *ctx, const struct resource_def *def, const struct http_param *query,
	     size_t query_len, json_t **ret_body);

/* Pure parts, exposed for the unit tests. */
/* Whether the document's value of attribute `a` matches the query value;
 * -EINVAL when the query value does not fit the attribute's kind. */
int list_value_matches(const struct attr_def *a, json_t *value, const char *query);
/* Orders two JSON scalars: null < false < true < numbers < strings. */
int list_compare_values(json_t *a, json_t *b);
/* Percent-encodes for a query string. Caller frees. */
char *list_urlencode(const char *s);
