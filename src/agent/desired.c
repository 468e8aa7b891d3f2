/* Desired kernel state from the model. */
#include "agent/desired.h"
#include "agent/routers.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/ip4.h"
#include "base/util.h"
#include "base/xalloc.h"

void desired_bridge_name(const char *network_id, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "brq%.11s", network_id);
}

void desired_tap_name(const char *port_id, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "tap%.11s", port_id);
}

void desired_vxlan_name(uint32_t vni, char buf[static D_IFNAMSIZ])
{
	snprintf(buf, D_IFNAMSIZ, "vxlan-%u", vni);
}

int desired_parse_mac(const char *s, uint8_t mac[static 6])
{
	unsigned v[6];
	char tail;

	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char) s[i * 3]) || !isxdigit((unsigned char) s[i * 3 + 1]))
			return -EINVAL;
		mac[i] = (uint8_t) v[i];
	}
	return 0;
}

static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

/* VM ports: the router, DHCP and floating IP ports of the model are not
 * plugged by a hypervisor. */
static bool is_vm_port(json_t *port)
{
	return !startswith(str(port, "device_owner"), "network:");
}

/* Ports that sit on one node, where they are bound: VMs, and the legacy
 * router and centralized SNAT legs on network nodes. (Distributed router
 * interfaces are on every node: never reached over the overlay.) */
static bool is_plugged(json_t *port)
{
	const char *owner = str(port, "device_owner");

	return is_vm_port(port) || streq(owner, "network:router_interface") ||
	       streq(owner, "network:router_centralized_snat");
}

static uint32_t agent_tunnel(struct replica *r, const char *host)
{
	json_t *agents = replica_type(r, "agent"), *a;
	const char *id;
	uint32_t ip = 0;

	json_object_foreach(agents, id, a) {
		if (streq(str(a, "host"), host)) {
			const char *t = json_string_value(json_object_get(
				json_object_get(a, "configurations"), "tunnel_address"));

			if (t && ip4_parse(t, &ip) == 0)
				return ip;
		}
	}
	return 0;
}

#define PUSH(arr, n, cap, item)                                                                    \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap) *2 : 16;                                             \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
		(arr)[(n)++] = (item);                                                             \
	} while (0)

static void fill_dhcp(struct replica *r, json_t *port, json_t *net, struct d_port *p)
{
	json_t *ips = json_object_get(port, "fixed_ips"), *ip;
	size_t i;

	json_array_foreach(ips, i, ip) {
		json_t *sub = replica_get(r, "subnet", str(ip, "subnet_id"));
		struct ip4_cidr c;
		json_t *e;
		size_t j;

		if (!sub || !json_is_true(json_object_get(sub, "enable_dhcp")) ||
		    ip4_cidr_parse(str(sub, "cidr"), false, &c) < 0 ||
		    ip4_parse(str(ip, "ip_address"), &p->dhcp.ip) < 0)
			continue;
		p->dhcp.enabled = true;
		p->dhcp.netmask = ip4_mask(c.len);
		if (ip4_parse(str(sub, "gateway_ip"), &p->dhcp.router) < 0)
			p->dhcp.router = 0;
		/* The server identifies as the gateway (the anycast router
		 * address), or the subnet's last host when it has none. */
		p->dhcp.server_id = p->dhcp.router ? p->dhcp.router : ip4_cidr_last_host(&c);
		json_array_foreach(json_object_get(sub, "dns_nameservers"), j, e) {
			if (p->dhcp.n_dns < D_MAX_DNS &&
			    ip4_parse(json_string_value(e), &p->dhcp.dns[p->dhcp.n_dns]) == 0)
				p->dhcp.n_dns++;
		}
		json_array_foreach(json_object_get(sub, "host_routes"), j, e) {
			struct ip4_cidr d;
			uint32_t gw;

			if (p->dhcp.n_routes < D_MAX_ROUTES &&
			    ip4_cidr_parse(str(e, "destination"), false, &d) == 0 &&
			    ip4_parse(str(e, "nexthop"), &gw) == 0) {
				p->dhcp.routes[p->dhcp.n_routes].dest = d.addr;
				p->dhcp.routes[p->dhcp.n_routes].prefixlen = d.len;
				p->dhcp.routes[p->dhcp.n_routes].gateway = gw;
				p->dhcp.n_routes++;
			}
		}
		p->dhcp.mtu = (uint16_t) json_integer_value(json_object_get(net, "mtu"));
		/* A locally administered MAC per network for the DHCP server. */
		p->dhcp.server_mac[0] = 0x02;
		for (int k = 0; k < 5; k++) {
			unsigned v = 0;

			sscanf(str(net, "id") + k * 2, "%2x", &v);
			p->dhcp.server_mac[k + 1] = (uint8_t) v;
		}
		break; /* DHCP serves one address: the first IPv4 with DHCP on */
	}
}

static void add_network(struct desired *out, size_t *cap, json_t *net);

static bool is_central(json_t *net)
{
	return streq(str(net, "lepton:dhcp"), "centralized");
}

/* Tunnel addresses of the network-mode agents. */
static size_t network_vteps(struct replica *r, uint32_t *out, size_t max)
{
	json_t *agents = replica_type(r, "agent"), *a;
	const char *id;
	size_t n = 0;

	json_object_foreach(agents, id, a) {
		json_t *conf = json_object_get(a, "configurations");
		uint32_t ip;

		if (n < max && streq(str(conf, "mode"), "network") &&
		    ip4_parse(str(conf, "tunnel_address"), &ip) == 0)
			out[n++] = ip;
	}
	return n;
}

void desired_add_network(struct desired *out, json_t *net, const char *phys)
{
	size_t before = out->n_nets, cap = out->n_nets; /* at least that is allocated */
	struct d_network *n;

	add_network(out, &cap, net);
	if (out->n_nets == before || !*phys)
		return; /* known already, or a VXLAN network */
	n = &out->nets[out->n_nets - 1];
	n->vxlan[0] = '\0';
	n->vni = 0;
	snprintf(n->phys, D_IFNAMSIZ, "%s", phys);
	if (streq(str(net, "provider:network_type"), "vlan")) {
		json_int_t vid =
			json_integer_value(json_object_get(net, "provider:segmentation_id"));

		n->vlan = vid > 0 && vid < 4095 ? (uint16_t) vid : 0;
		snprintf(n->phys_base, D_IFNAMSIZ, "%s", phys);
		snprintf(n->phys, D_IFNAMSIZ, "%.9s.%u", phys, n->vlan);
	}
}

static void add_network(struct desired *out, size_t *cap, json_t *net)
{
	struct d_network n = {0};
	uint32_t vni =
		(uint32_t) json_integer_value(json_object_get(net, "provider:segmentation_id"));

	for (size_t i = 0; i < out->n_nets; i++)
		if (streq(out->nets[i].id, str(net, "id")))
			return;
	snprintf(n.id, sizeof(n.id), "%s", str(net, "id"));
	desired_bridge_name(n.id, n.bridge);
	desired_vxlan_name(vni, n.vxlan);
	n.vni = vni;
	n.mtu = (uint32_t) json_integer_value(json_object_get(net, "mtu"));
	n.zone = (uint16_t) (vni & 0xffff) ? (uint16_t) (vni & 0xffff) : 1;
	n.central_dhcp = is_central(net);
	if (out->n_nets == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		out->nets = xrealloc(out->nets, *cap * sizeof(*out->nets));
	}
	out->nets[out->n_nets++] = n;
}

static void desired_compute_node_(struct replica *r, const struct d_node *node, bool routers,
				  struct desired *out);

static bool has_u32(const uint32_t *a, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

void desired_compute(struct replica *r, const char *host, uint32_t tunnel_ip, bool network_node,
		     struct desired *out)
{
	struct d_node node = {host, tunnel_ip, network_node, "", NULL};

	desired_compute_node_(r, &node, false, out);
}

void desired_compute_node(struct replica *r, const struct d_node *node, struct desired *out)
{
	desired_compute_node_(r, node, true, out);
}

static void desired_compute_node_(struct replica *r, const struct d_node *node, bool routers,
				  struct desired *out)
{
	const char *host = node->host;
	uint32_t tunnel_ip = node->tunnel_ip;
	bool network_node = node->network_node;
	json_t *ports = replica_type(r, "port"), *port, *net;
	size_t cap_nets = 0, cap_ports = 0, cap_fdb = 0, cap_neigh = 0, cap_central = 0;
	uint32_t netnodes[16];
	size_t n_netnodes = network_vteps(r, netnodes, ARRAY_SIZE(netnodes));
	const char *id;

	*out = (struct desired){0};
	/* Local ports, and the networks they need. */
	json_object_foreach(ports, id, port) {
		struct d_port p = {0};
		json_t *ip;
		size_t i;

		if (!streq(str(port, "binding:host_id"), host) || !is_vm_port(port))
			continue;
		net = replica_get(r, "network", str(port, "network_id"));
		if (!net || !streq(str(net, "provider:network_type"), "vxlan") ||
		    desired_parse_mac(str(port, "mac_address"), p.mac) < 0)
			continue;
		snprintf(p.id, sizeof(p.id), "%s", id);
		snprintf(p.network_id, sizeof(p.network_id), "%s", str(net, "id"));
		desired_tap_name(id, p.tap);
		desired_bridge_name(p.network_id, p.bridge);
		p.admin_up = json_is_true(json_object_get(port, "admin_state_up"));
		p.port_security = json_is_true(json_object_get(port, "port_security_enabled"));
		json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
			if (p.n_ips < D_MAX_IPS &&
			    ip4_parse(str(ip, "ip_address"), &p.ips[p.n_ips]) == 0)
				p.n_ips++;
		}
		fill_dhcp(r, port, net, &p);
		if (is_central(net)) {
			/* A network node answers; this node bridges the requests. */
			p.dhcp_central = true;
			p.dhcp.enabled = false;
		}
		PUSH(out->ports, out->n_ports, cap_ports, p);
		add_network(out, &cap_nets, net);
		/* The bridge knows the port's MAC from the model: a VM that has
		 * not spoken yet is never flooded to other nodes. */
		struct d_fdb f = {.master = true};
		snprintf(f.dev, sizeof(f.dev), "%s", p.tap);
		memcpy(f.mac, p.mac, 6);
		PUSH(out->fdb, out->n_fdb, cap_fdb, f);
	}
	/* A network node serves centralized DHCP for every port of the
	 * networks that ask for it, on nodes anywhere. */
	json_object_foreach(ports, id, port) {
		struct d_port p = {0};

		if (!network_node || !is_vm_port(port) || !*str(port, "binding:host_id"))
			continue;
		net = replica_get(r, "network", str(port, "network_id"));
		if (!net || !is_central(net) ||
		    !streq(str(net, "provider:network_type"), "vxlan") ||
		    desired_parse_mac(str(port, "mac_address"), p.mac) < 0)
			continue;
		snprintf(p.id, sizeof(p.id), "%s", id);
		snprintf(p.network_id, sizeof(p.network_id), "%s", str(net, "id"));
		desired_bridge_name(p.network_id, p.bridge);
		fill_dhcp(r, port, net, &p);
		PUSH(out->central, out->n_central, cap_central, p);
		add_network(out, &cap_nets, net);
	}
	if (routers) {
		struct r_node rn = {host, node->ns_prefix ? node->ns_prefix : "", node->physnets};

		out->routers = xcalloc(1, sizeof(*out->routers));
		routers_compute(r, &rn, out, out->routers);
	}
	/* Remote ports on those networks: FDB and flood entries; every port's
	 * addresses: neighbour entries for ARP suppression. */
	json_t *by_net = json_object(), *arr;

	json_object_foreach(ports, id, port) {
		arr = json_object_get(by_net, str(port, "network_id"));
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_net, str(port, "network_id"), arr);
		}
		json_array_append(arr, port);
	}
	for (size_t k = 0; k < out->n_nets; k++) {
		struct d_network *n = &out->nets[k];
		uint32_t vteps[256];
		size_t n_vteps = 0, pi;

		if (n->phys[0])
			continue; /* a provider network: no overlay, no ARP suppression */

		json_array_foreach(json_object_get(by_net, n->id), pi, port) {
			uint8_t mac[6];
			json_t *ip;
			size_t i;

			if (desired_parse_mac(str(port, "mac_address"), mac) < 0)
				continue;
			json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
				struct d_neigh ne = {0};

				if (ip4_parse(str(ip, "ip_address"), &ne.ip) < 0)
					continue;
				snprintf(ne.dev, sizeof(ne.dev), "%s", n->bridge);
				memcpy(ne.mac, mac, 6);
				PUSH(out->neigh, out->n_neigh, cap_neigh, ne);
			}
			const char *h = str(port, "binding:host_id");
			if (!*h || streq(h, host) || !is_plugged(port))
				continue;
			uint32_t vtep = agent_tunnel(r, h);
			if (!vtep || vtep == tunnel_ip)
				continue;
			struct d_fdb f = {0};
			snprintf(f.dev, sizeof(f.dev), "%s", n->vxlan);
			memcpy(f.mac, mac, 6);
			f.dst = vtep;
			PUSH(out->fdb, out->n_fdb, cap_fdb, f);
			f.dst = 0;
			f.master = true;
			PUSH(out->fdb, out->n_fdb, cap_fdb, f);
			if (!has_u32(vteps, n_vteps, vtep) && n_vteps < ARRAY_SIZE(vteps))
				vteps[n_vteps++] = vtep;
		}
		/* Centralized DHCP: broadcasts must reach the network nodes. */
		for (size_t i = 0; n->central_dhcp && i < n_netnodes; i++)
			if (netnodes[i] != tunnel_ip && !has_u32(vteps, n_vteps, netnodes[i]) &&
			    n_vteps < ARRAY_SIZE(vteps))
				vteps[n_vteps++] = netnodes[i];
		for (size_t i = 0; i < n_vteps; i++) {
			struct d_fdb f = {0};

			snprintf(f.dev, sizeof(f.dev), "%s", n->vxlan);
			f.dst = vteps[i];
			PUSH(out->fdb, out->n_fdb, cap_fdb, f);
		}
	}
	json_decref(by_net);
	/* DHCP's server identifier is the subnet's gateway address: while no
	 * router port holds it, the bridge answers ARP for it with the DHCP
	 * server's MAC, so that unicast renewals (RFC 2131 4.4.5) reach us. */
	for (size_t k = 0; k < out->n_ports; k++) {
		const struct d_port *p = &out->ports[k];
		bool known = false;

		if (!p->dhcp.enabled || !p->dhcp.router)
			continue;
		for (size_t i = 0; i < out->n_neigh && !known; i++)
			known = streq(out->neigh[i].dev, p->bridge) &&
				out->neigh[i].ip == p->dhcp.router;
		if (!known) {
			struct d_neigh ne = {0};

			snprintf(ne.dev, sizeof(ne.dev), "%s", p->bridge);
			ne.ip = p->dhcp.router;
			memcpy(ne.mac, p->dhcp.server_mac, 6);
			PUSH(out->neigh, out->n_neigh, cap_neigh, ne);
		}
	}
}

void desired_done(struct desired *d)
{
	free(d->nets);
	free(d->ports);
	free(d->fdb);
	free(d->neigh);
	free(d->central);
	if (d->routers) {
		routers_done(d->routers);
		free(d->routers);
	}
	*d = (struct desired){0};
}

const struct d_port *desired_port_by_mac(const struct desired *d, const uint8_t mac[static 6])
{
	for (size_t i = 0; i < d->n_ports; i++)
		if (memcmp(d->ports[i].mac, mac, 6) == 0)
			return &d->ports[i];
	return NULL;
}

const struct d_port *desired_port_by_tap(const struct desired *d, const char *tap)
{
	for (size_t i = 0; i < d->n_ports; i++)
		if (streq(d->ports[i].tap, tap))
			return &d->ports[i];
	return NULL;
}

const struct d_port *desired_central_port(const struct desired *d, const char *bridge,
					  const uint8_t mac[static 6])
{
	for (size_t i = 0; i < d->n_central; i++)
		if (streq(d->central[i].bridge, bridge) && memcmp(d->central[i].mac, mac, 6) == 0)
			return &d->central[i];
	return NULL;
}
