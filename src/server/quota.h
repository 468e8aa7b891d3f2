/* Quotas per project (Neutron's quotas extension): limits on how many
 * networks, subnets, ports, routers, floating IPs and security groups (and
 * rules) a project may own. Defaults come from the config (`quota_network =
 * 100`...); per-project overrides are documents of type "quota" keyed by the
 * project id. -1 means unlimited. */
#pragma once

#include <jansson.h>
#include "server/resource.h"

/* Fails with 409 OverQuota when `project_id` owning `adding` more documents of
 * `type` would exceed its limit for `resource`. Inside a transaction. */
int quota_check(struct api_ctx *ctx, const char *resource, const char *type, const char *project_id,
		int adding);

/* /v2.0/quotas[/{project_id}[/default|/details]]: parts after "quotas". */
int quota_handle(struct api_ctx *ctx, const char *method, char **parts, size_t n, json_t *body,
		 json_t **ret_body);
