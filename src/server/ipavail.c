/* Network IP availability (network-ip-availability, admin): per network and
 * per subnet, the addresses its allocation pools hold (total_ips) and those
 * ports use (used_ips), computed from the store on every read. */
#include <string.h>
#include "base/ipaddr.h"
#include "server/api.h"
#include "server/resources.h"

static const struct attr_def ipavail_attrs[] = {
	{"network_id", AK_UUID, 0, NULL, 0},
	{"network_name", AK_STRING, 0, NULL, 0},
	{"total_ips", AK_INT, 0, NULL, 0},
	{"used_ips", AK_INT, 0, NULL, 0},
	{"subnet_ip_availability", AK_LIST, 0, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

/* Sums of pool sizes; an IPv6 network's can pass 2^64 (its sum saturates
 * at 2^128-1, beyond any real network's). */
static ipaddr_int add_sat(ipaddr_int a, ipaddr_int b)
{
	return a + b < a ? ~(ipaddr_int) 0 : a + b;
}

static ipaddr_int pool_size(json_t *subnet)
{
	ipaddr_int total = 0;
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(subnet, "allocation_pools"), i, p) {
		struct ipaddr a, b;

		if (ipaddr_parse(doc_str(p, "start"), &a) < 0 ||
		    ipaddr_parse(doc_str(p, "end"), &b) < 0 || b.v < a.v)
			continue;
		total = add_sat(total, add_sat(b.v - a.v, 1));
	}
	return total;
}

static json_int_t used_on(json_t *ports, const char *subnet_id)
{
	json_int_t used = 0;
	json_t *port, *ip;
	size_t i, j;

	json_array_foreach(ports, i, port) {
		json_array_foreach(json_object_get(port, "fixed_ips"), j, ip)
			used += streq(doc_str(ip, "subnet_id"), subnet_id);
	}
	return used;
}

static json_t *ipavail_load(struct api_ctx *ctx)
{
	json_t *nets = store_list(ctx->store, "network"), *out = json_array(), *net;
	json_t *subnets = store_list(ctx->store, "subnet"), *ports = store_list(ctx->store, "port");
	size_t i, j;

	json_array_foreach(nets, i, net) {
		json_t *per = json_array(), *s;
		ipaddr_int total = 0;
		json_int_t used = 0;

		json_array_foreach(subnets, j, s) {
			ipaddr_int t;
			json_int_t u;

			if (!streq(doc_str(s, "network_id"), doc_str(net, "id")))
				continue;
			t = pool_size(s);
			u = used_on(ports, doc_str(s, "id"));
			total = add_sat(total, t);
			used += u;
			json_array_append_new(
				per, json_pack("{s:s, s:s, s:s, s:O, s:o, s:I}", "subnet_id",
					       doc_str(s, "id"), "subnet_name", doc_str(s, "name"),
					       "cidr", doc_str(s, "cidr"), "ip_version",
					       json_object_get(s, "ip_version"), "total_ips",
					       api_count_json(t), "used_ips", u));
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:o}",
						     "network_id", doc_str(net, "id"),
						     "network_name", doc_str(net, "name"),
						     "project_id", doc_str(net, "project_id"),
						     "tenant_id", doc_str(net, "project_id"),
						     "total_ips", api_count_json(total), "used_ips",
						     used, "subnet_ip_availability", per));
	}
	json_decref(nets);
	json_decref(subnets);
	json_decref(ports);
	return out;
}

static bool ipavail_visible(struct api_ctx *ctx, json_t *doc)
{
	(void) doc;
	return ctx->is_admin; /* Neutron's policy: admin only */
}

const struct resource_def network_ip_availability_def = {
	.type = "network_ip_availability",
	.collection = "network_ip_availabilities",
	.id_key = "network_id",
	.title = "Network",
	.not_found = "NetworkNotFound",
	.attrs = ipavail_attrs,
	.visible = ipavail_visible,
	.load_all = ipavail_load,
};
