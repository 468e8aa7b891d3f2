/* lepton-server's request labels: a bounded set whatever the path holds. */
#include "server/telemetry.h"
#include "test.h"

TEST(telemetry_resource_labels_are_bounded)
{
	static const char *const cases[][2] = {
		{"/", "versions"},
		{"/v2.0", "resources"},
		{"/v2.0/", "resources"},
		{"/v2.0/networks", "networks"},
		{"/v2.0/networks.json", "networks"},
		{"/v2.0/networks/0b9e3c8e-1111-2222-3333-444455556666", "networks"},
		{"/v2.0/ports/0b9e3c8e-1111-2222-3333-444455556666/tags/x", "ports"},
		{"/v2.0/floatingip-pools", "floatingip_pools"},
		{"/v2.0/fwaas/firewall_groups/abc", "firewall_groups"},
		{"/v2.0/fwaas", "other"},
		{"/v2.0/extensions/router", "extensions"},
		{"/v2.0/quotas/p1/details", "quotas"},
		{"/v2.0/lepton/watch", "lepton/watch"},
		{"/v2.0/lepton/agents/register", "lepton/agents"},
		{"/v2.0/lepton/snat_blocks", "lepton/snat_blocks"},
		{"/v2.0/lepton/whatever", "other"},
		{"/v2.0/nonsense-0b9e3c8e", "other"},
		{"/v3/networks", "other"},
		{"/metrics", "other"},
		{"/topology/app.js", "topology"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STREQ(telemetry_resource(cases[i][0]), cases[i][1]);
}
