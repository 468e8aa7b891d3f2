/* Service providers (service-type): the drivers behind the services this
 * server offers, as GET /v2.0/service-providers lists them: Lepton's own
 * for routers (L3_ROUTER_NAT) and firewalls (FIREWALL_V2). Read-only. */
#include "server/resources.h"

static const struct attr_def provider_attrs[] = {
	{"service_type", AK_STRING, 0, NULL, 0},
	{"default", AK_BOOL, 0, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

static json_t *providers_load(struct api_ctx *ctx)
{
	(void) ctx;
	return json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "service_type", "L3_ROUTER_NAT",
			 "name", "lepton", "default", 1, "service_type", "FIREWALL_V2", "name",
			 "lepton", "default", 1);
}

static bool provider_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) ctx, (void) doc;
	return true;
}

const struct resource_def service_provider_def = {
	.type = "service_provider",
	.collection = "service-providers",
	.json_key = "service_providers",
	.title = "Service provider",
	.not_found = "ServiceProviderNotFound",
	.attrs = provider_attrs,
	.visible = provider_visible,
	.load_all = providers_load,
};
