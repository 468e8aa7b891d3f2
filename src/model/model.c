/* Typed model: JSON documents parsed once, kept in feed order, indexed. */
#include "model/model.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/hash.h"
#include "base/ipaddr.h"
#include "base/util.h"
#include "base/xalloc.h"

static const char *const type_names[M_NTYPES] = {
	[M_NETWORK] = "network",
	[M_SUBNET] = "subnet",
	[M_PORT] = "port",
	[M_ROUTER] = "router",
	[M_FLOATINGIP] = "floatingip",
	[M_SECURITY_GROUP] = "security_group",
	[M_AGENT] = "agent",
	[M_FIREWALL_GROUP] = "firewall_group",
	[M_FIREWALL_POLICY] = "firewall_policy",
	[M_FIREWALL_RULE] = "firewall_rule",
	[M_SNAT_BLOCK] = "snat_block",
	[M_ADDRESS_GROUP] = "address_group",
};

int model_type(const char *name)
{
	for (int i = 0; i < M_NTYPES; i++)
		if (streq(name, type_names[i]))
			return i;
	return -ENOENT;
}

bool model_valid_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n < M_ID &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int model_parse_mac(const char *s, uint8_t mac[static 6])
{
	unsigned v[6];
	char tail;

	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char) s[i * 3]) ||
		    !isxdigit((unsigned char) s[i * 3 + 1]) || (i < 5 && s[i * 3 + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t) v[i];
	}
	return 0;
}

/* JSON field readers: a missing or mistyped field reads as empty/false. */
static const char *str(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

static void copy_id(char dst[static M_ID], const char *s)
{
	if (model_valid_id(s))
		snprintf(dst, M_ID, "%s", s);
	else
		dst[0] = '\0';
}

/* Host names and physical network names are compared, never put in a
 * kernel name: printable, no spaces, bounded. */
static void copy_name(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	dst[0] = '\0';
	if (n >= size)
		return;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char) s[i]))
			return;
	memcpy(dst, s, n + 1);
}

static uint32_t u32(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 &&
			       json_integer_value(v) <= UINT32_MAX
		       ? (uint32_t) json_integer_value(v)
		       : 0;
}

static uint32_t addr(json_t *doc, const char *key)
{
	uint32_t a;

	return ip4_parse(str(doc, key), &a) == 0 ? a : 0;
}

static size_t parse_routes(json_t *arr, struct m_route **ret)
{
	size_t n = 0, i;
	json_t *e;

	*ret = xcalloc(json_array_size(arr) + 1, sizeof(**ret));
	json_array_foreach(arr, i, e) {
		struct m_route *rt = &(*ret)[n];

		if (ip4_cidr_parse(str(e, "destination"), false, &rt->dst) < 0 ||
		    ip4_parse(str(e, "nexthop"), &rt->nexthop) < 0)
			continue;
		rt->dst.addr = ip4_cidr_network(&rt->dst);
		n++;
	}
	return n;
}

/* An array of ids, invalid ones and repeats left out. */
static size_t parse_ids(json_t *arr, char (**ret)[M_ID])
{
	size_t n = 0, i;
	json_t *e;

	*ret = xcalloc(json_array_size(arr) + 1, sizeof(**ret));
	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		bool seen = false;

		if (!model_valid_id(s))
			continue;
		for (size_t k = 0; k < n && !seen; k++)
			seen = streq((*ret)[k], s);
		if (!seen)
			snprintf((*ret)[n++], M_ID, "%s", s);
	}
	return n;
}

/* A DNS name (or its first label) made only of the characters given, or
 * "" (it reaches DHCP replies). */
static void copy_dns(char *dst, size_t size, const char *s, const char *chars, bool first_label)
{
	size_t n = first_label ? strcspn(s, ".") : strlen(s);

	if (!first_label && n && s[n - 1] == '.')
		n--;
	dst[0] = '\0';
	if (n >= size || strspn(s, chars) < n)
		return;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

#define DNS_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

static void parse_network(struct m_network *n, json_t *doc)
{
	const char *type = str(doc, "provider:network_type");

	n->type = streq(type, "vxlan")	? M_NET_VXLAN
		  : streq(type, "vlan") ? M_NET_VLAN
		  : streq(type, "flat") ? M_NET_FLAT
					: M_NET_OTHER;
	copy_name(n->physnet, sizeof(n->physnet), str(doc, "provider:physical_network"));
	n->segmentation_id = u32(doc, "provider:segmentation_id");
	n->mtu = u32(doc, "mtu");
	n->central_dhcp = streq(str(doc, "lepton:dhcp"), "centralized");
	copy_dns(n->dns_domain, sizeof(n->dns_domain), str(doc, "dns_domain"), DNS_CHARS ".",
		 false);
}

static enum m_v6_mode v6_mode(const char *s)
{
	return streq(s, "slaac")	      ? M_V6_SLAAC
	       : streq(s, "dhcpv6-stateful")  ? M_V6_STATEFUL
	       : streq(s, "dhcpv6-stateless") ? M_V6_STATELESS
					      : M_V6_NONE;
}

/* An IPv6 subnet: its prefix (host bits cleared), gateway, modes and DNS
 * servers; is_v6 stays false when the CIDR does not parse. */
static void parse_subnet6(struct m_subnet *s, json_t *doc)
{
	char buf[64];
	const char *cidr = str(doc, "cidr"), *slash = strchr(cidr, '/');
	unsigned len;
	json_t *e;
	size_t i;

	if (!slash || (size_t) (slash - cidr) >= sizeof(buf) ||
	    sscanf(slash + 1, "%u", &len) != 1 || len > 128 ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return;
	snprintf(buf, sizeof(buf), "%.*s", (int) (slash - cidr), cidr);
	if (inet_pton(AF_INET6, buf, s->cidr6) != 1)
		return;
	for (unsigned b = len; b < 128; b++)
		s->cidr6[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	s->len6 = (uint8_t) len;
	s->is_v6 = true;
	s->has_gateway6 = inet_pton(AF_INET6, str(doc, "gateway_ip"), s->gateway6) == 1;
	s->ra_mode = v6_mode(str(doc, "ipv6_ra_mode"));
	s->address_mode = v6_mode(str(doc, "ipv6_address_mode"));
	json_array_foreach(json_object_get(doc, "dns_nameservers"), i, e) {
		const char *v = json_string_value(e) ? json_string_value(e) : "";

		if (s->n_dns6 < ARRAY_SIZE(s->dns6) &&
		    inet_pton(AF_INET6, v, s->dns6[s->n_dns6]) == 1)
			s->n_dns6++;
	}
}

static void parse_subnet(struct m_subnet *s, json_t *doc)
{
	json_t *e;
	size_t i;

	copy_id(s->network_id, str(doc, "network_id"));
	s->is_v4 = ip4_cidr_parse(str(doc, "cidr"), false, &s->cidr) == 0;
	s->gateway = addr(doc, "gateway_ip");
	s->enable_dhcp = json_is_true(json_object_get(doc, "enable_dhcp"));
	json_array_foreach(json_object_get(doc, "dns_nameservers"), i, e) {
		if (s->n_dns < ARRAY_SIZE(s->dns) &&
		    ip4_parse(json_string_value(e) ? json_string_value(e) : "",
			      &s->dns[s->n_dns]) == 0)
			s->n_dns++;
	}
	s->n_host_routes = parse_routes(json_object_get(doc, "host_routes"), &s->host_routes);
	if (!s->is_v4)
		parse_subnet6(s, doc);
}

static enum m_owner owner(const char *s)
{
	if (!startswith(s, "network:"))
		return M_OWNER_VM;
	if (startswith(s, "network:router_interface"))
		return M_OWNER_ROUTER_IF;
	if (streq(s, "network:router_gateway"))
		return M_OWNER_ROUTER_GW;
	if (streq(s, "network:router_centralized_snat"))
		return M_OWNER_CSNAT;
	return M_OWNER_NETWORK;
}

static void parse_port(struct m_port *p, json_t *doc)
{
	json_t *ips = json_object_get(doc, "fixed_ips"), *pairs, *opts, *e;
	size_t i;

	copy_id(p->network_id, str(doc, "network_id"));
	copy_id(p->device_id, str(doc, "device_id"));
	copy_name(p->host, sizeof(p->host), str(doc, "binding:host_id"));
	p->owner = owner(str(doc, "device_owner"));
	p->has_mac = model_parse_mac(str(doc, "mac_address"), p->mac) == 0;
	p->admin_up = json_is_true(json_object_get(doc, "admin_state_up"));
	p->port_security = json_is_true(json_object_get(doc, "port_security_enabled"));
	copy_name(p->status, sizeof(p->status), str(doc, "status"));
	copy_dns(p->dns_name, sizeof(p->dns_name), str(doc, "dns_name"), DNS_CHARS, true);
	p->ips = xcalloc(json_array_size(ips) + 1, sizeof(*p->ips));
	json_array_foreach(ips, i, e) {
		struct m_fixed_ip *f = &p->ips[p->n_ips];

		copy_id(f->subnet_id, str(e, "subnet_id"));
		f->is_v4 = ip4_parse(str(e, "ip_address"), &f->ip) == 0;
		if (f->is_v4 || inet_pton(AF_INET6, str(e, "ip_address"), f->ip6) == 1)
			p->n_ips++;
	}
	p->n_sgs = parse_ids(json_object_get(doc, "security_groups"), &p->sgs);
	pairs = json_object_get(doc, "allowed_address_pairs");
	p->pairs = xcalloc(json_array_size(pairs) + 1, sizeof(*p->pairs));
	p->pairs6 = xcalloc(json_array_size(pairs) + 1, sizeof(*p->pairs6));
	json_array_foreach(pairs, i, e) {
		struct m_pair *pr = &p->pairs[p->n_pairs];
		struct m_pair6 *p6 = &p->pairs6[p->n_pairs6];

		if (ip6_prefix_parse(str(e, "ip_address"), p6->ip6, &p6->len) == 0) {
			p6->has_mac = model_parse_mac(str(e, "mac_address"), p6->mac) == 0;
			p->n_pairs6++;
			continue;
		}
		if (ip4_cidr_parse(str(e, "ip_address"), true, &pr->cidr) < 0)
			continue;
		pr->cidr.addr = ip4_cidr_network(&pr->cidr);
		pr->has_mac = model_parse_mac(str(e, "mac_address"), pr->mac) == 0;
		p->n_pairs++;
	}
	opts = json_object_get(doc, "extra_dhcp_opts");
	p->dhcp_opts = xcalloc(json_array_size(opts) + 1, sizeof(*p->dhcp_opts));
	json_array_foreach(opts, i, e) {
		struct m_dhcp_opt *o = &p->dhcp_opts[p->n_dhcp_opts];
		json_int_t version = json_integer_value(json_object_get(e, "ip_version"));

		if ((version != 4 && version != 0) || !*str(e, "opt_name") ||
		    strlen(str(e, "opt_name")) >= sizeof(o->name) ||
		    strlen(str(e, "opt_value")) >= sizeof(o->value))
			continue;
		snprintf(o->name, sizeof(o->name), "%s", str(e, "opt_name"));
		snprintf(o->value, sizeof(o->value), "%s", str(e, "opt_value"));
		p->n_dhcp_opts++;
	}
}

/* {ip: host}: invalid entries left out. */
static size_t parse_owners(json_t *obj, struct m_snat_owner **ret)
{
	size_t n = 0;
	const char *k;
	json_t *v;

	*ret = xcalloc(json_object_size(obj) + 1, sizeof(**ret));
	json_object_foreach(obj, k, v) {
		struct m_snat_owner *o = &(*ret)[n];
		const char *host = json_string_value(v);

		if (ip4_parse(k, &o->ip) < 0 || !host || !*host || strlen(host) >= sizeof(o->host))
			continue;
		copy_name(o->host, sizeof(o->host), host);
		n++;
	}
	return n;
}

const char *model_snat_owner(const struct m_router *r, uint32_t ip)
{
	if (!r->n_owners)
		return r->snat_owner;
	for (size_t i = 0; i < r->n_owners; i++)
		if (r->owners[i].ip == ip)
			return r->owners[i].host;
	return "";
}

static void parse_router(struct m_router *r, json_t *doc)
{
	r->admin_up = json_is_true(json_object_get(doc, "admin_state_up"));
	r->distributed = json_is_true(json_object_get(doc, "distributed"));
	copy_name(r->l3_host, sizeof(r->l3_host), str(doc, "lepton:l3_host"));
	r->snat_mode = streq(str(doc, "snat_mode"), "centralized")   ? M_SNAT_CENTRALIZED
		       : streq(str(doc, "snat_mode"), "distributed") ? M_SNAT_DISTRIBUTED
								     : M_SNAT_OTHER;
	copy_name(r->snat_owner, sizeof(r->snat_owner), str(doc, "lepton:snat_owner"));
	r->enable_snat = !json_is_false(
		json_object_get(json_object_get(doc, "external_gateway_info"), "enable_snat"));
	r->n_routes = parse_routes(json_object_get(doc, "routes"), &r->routes);
	r->n_owners = parse_owners(json_object_get(doc, "lepton:snat_owners"), &r->owners);
}

static void parse_floatingip(struct m_floatingip *f, json_t *doc)
{
	copy_id(f->router_id, str(doc, "router_id"));
	copy_id(f->port_id, str(doc, "port_id"));
	f->is_associated = ip4_parse(str(doc, "floating_ip_address"), &f->floating_ip) == 0 &&
			   ip4_parse(str(doc, "fixed_ip_address"), &f->fixed_ip) == 0 &&
			   *f->router_id && *f->port_id;
}

/* A port of a SNAT block: an integer 1024..65535, else -1. */
static int block_port(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	return json_is_integer(v) && json_integer_value(v) >= 1024 && json_integer_value(v) <= 65535
		       ? (int) json_integer_value(v)
		       : -1;
}

static void parse_snat_block(struct m_snat_block *b, json_t *doc)
{
	const char *status = str(doc, "status");
	int lo = block_port(doc, "port_min"), hi = block_port(doc, "port_max");

	copy_id(b->router_id, str(doc, "router_id"));
	copy_name(b->host, sizeof(b->host), str(doc, "host"));
	b->is_active = streq(status, "ACTIVE");
	b->usable = *b->router_id && *b->host && ip4_parse(str(doc, "ip_address"), &b->ip) == 0 &&
		    b->ip && lo > 0 && hi >= lo && (b->is_active || streq(status, "GRACE"));
	if (b->usable) {
		b->port_min = (uint16_t) lo;
		b->port_max = (uint16_t) hi;
	}
}

/* A remote prefix, IPv4 or IPv6, as "addr/len" or "addr". */
static bool valid_prefix(const char *s)
{
	char a[64];
	unsigned char buf[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t) (slash - s) : strlen(s);
	int af = strchr(s, ':') ? AF_INET6 : AF_INET;
	int max = af == AF_INET6 ? 128 : 32;

	if (n == 0 || n >= sizeof(a))
		return false;
	memcpy(a, s, n);
	a[n] = '\0';
	if (inet_pton(af, a, buf) != 1)
		return false;
	if (slash) {
		const char *l = slash + 1;
		size_t ln = strlen(l);

		if (ln == 0 || ln > 3 || strspn(l, "0123456789") != ln || atoi(l) > max)
			return false;
	}
	return true;
}

static bool parse_sg_rule(struct m_sg_rule *ru, json_t *rule)
{
	json_t *proto = json_object_get(rule, "protocol");
	const char *prefix = str(rule, "remote_ip_prefix");
	const char *group = str(rule, "remote_group_id");
	const char *agroup = str(rule, "remote_address_group_id");

	ru->ingress = streq(str(rule, "direction"), "ingress");
	ru->ipv6 = streq(str(rule, "ethertype"), "IPv6");
	if (json_is_integer(proto)) {
		if (json_integer_value(proto) < 0 || json_integer_value(proto) > 255)
			return false;
		snprintf(ru->proto, sizeof(ru->proto), "%lld",
			 (long long) json_integer_value(proto));
	} else if (json_is_string(proto)) {
		const char *p = json_string_value(proto);

		if (strlen(p) >= sizeof(ru->proto) ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(p))
			return false;
		snprintf(ru->proto, sizeof(ru->proto), "%s", p);
	} else if (proto && !json_is_null(proto)) {
		return false;
	}
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(rule, i ? "port_range_max" : "port_range_min");
		int *out = i ? &ru->pmax : &ru->pmin;

		*out = -1;
		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 65535)
			return false;
		*out = (int) json_integer_value(v);
	}
	if (*prefix) {
		if (strlen(prefix) >= sizeof(ru->remote_prefix) || !valid_prefix(prefix))
			return false;
		snprintf(ru->remote_prefix, sizeof(ru->remote_prefix), "%s", prefix);
	}
	if (*group) {
		if (!model_valid_id(group))
			return false;
		snprintf(ru->remote_group, sizeof(ru->remote_group), "%s", group);
	}
	if (*agroup) {
		if (!model_valid_id(agroup))
			return false;
		snprintf(ru->remote_address_group, sizeof(ru->remote_address_group), "%s", agroup);
	}
	return true;
}

static void parse_address_group(struct m_address_group *g, json_t *doc)
{
	json_t *list = json_object_get(doc, "addresses"), *e;
	size_t i;

	g->prefixes = xcalloc(json_array_size(list) + 1, sizeof(*g->prefixes));
	g->prefixes6 = xcalloc(json_array_size(list) + 1, sizeof(*g->prefixes6));
	json_array_foreach(list, i, e) {
		struct m_cidr6 *c6 = &g->prefixes6[g->n_prefixes6];
		struct ip4_cidr c;
		bool inside = false;

		if (ip6_prefix_parse(json_string_value(e), c6->ip6, &c6->len) == 0) {
			g->n_prefixes6++;
			continue;
		}
		if (!json_is_string(e) || ip4_cidr_parse(json_string_value(e), true, &c) < 0)
			continue; /* not an address */
		c.addr = ip4_cidr_network(&c);
		/* Keep the outermost prefixes only: two prefixes either nest
		 * or do not meet. */
		for (size_t j = 0; j < g->n_prefixes && !inside; j++)
			inside = g->prefixes[j].len <= c.len &&
				 ip4_cidr_contains(&g->prefixes[j], c.addr);
		if (inside)
			continue;
		for (size_t j = 0; j < g->n_prefixes; j++)
			if (c.len < g->prefixes[j].len &&
			    ip4_cidr_contains(&c, g->prefixes[j].addr))
				g->prefixes[j--] = g->prefixes[--g->n_prefixes];
		g->prefixes[g->n_prefixes++] = c;
	}
}

static void parse_security_group(struct m_security_group *g, json_t *doc)
{
	json_t *rules = json_object_get(doc, "security_group_rules"), *e;
	size_t i;

	g->rules = xcalloc(json_array_size(rules) + 1, sizeof(*g->rules));
	json_array_foreach(rules, i, e) {
		/* A rule that does not parse is left out: it could only have
		 * allowed more. */
		if (parse_sg_rule(&g->rules[g->n_rules], e))
			g->n_rules++;
		else
			g->rules[g->n_rules] = (struct m_sg_rule){0};
	}
}

static void parse_agent(struct m_agent *a, json_t *doc)
{
	json_t *conf = json_object_get(doc, "configurations");

	copy_name(a->host, sizeof(a->host), str(doc, "host"));
	a->network_mode = streq(str(conf, "mode"), "network");
	a->tunnel_ip = addr(conf, "tunnel_address");
}

static void parse_firewall_group(struct m_firewall_group *g, json_t *doc)
{
	g->admin_up = json_is_true(json_object_get(doc, "admin_state_up"));
	copy_id(g->ingress_policy, str(doc, "ingress_firewall_policy_id"));
	copy_id(g->egress_policy, str(doc, "egress_firewall_policy_id"));
	g->n_ports = parse_ids(json_object_get(doc, "ports"), &g->ports);
}

static void parse_firewall_policy(struct m_firewall_policy *p, json_t *doc)
{
	json_t *rules = json_object_get(doc, "firewall_rules"), *e;
	size_t i;

	/* Order matters and a rule may not repeat in a policy: kept as is. */
	p->rules = xcalloc(json_array_size(rules) + 1, sizeof(*p->rules));
	json_array_foreach(rules, i, e) {
		if (model_valid_id(json_string_value(e)))
			snprintf(p->rules[p->n_rules++], M_ID, "%s", json_string_value(e));
	}
}

/* An address or prefix of the rule's family, canonical (host bits
 * cleared; an address without its /32 or /128). */
static bool fw_addr(const char *s, bool v6, char out[static IPNET_STRLEN])
{
	struct ipnet n;

	if (ipnet_parse(s, true, &n) < 0 || n.addr.version != (v6 ? 6 : 4))
		return false;
	if (n.len == ipaddr_bits(n.addr.version))
		ipaddr_format(&n.addr, out);
	else
		ipnet_format(&n, out);
	return true;
}

static bool fw_port(json_t *v, char out[static 24])
{
	unsigned lo, hi;
	char tail;
	const char *s = json_string_value(v);

	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 65536) {
		snprintf(out, 24, "%lld", (long long) json_integer_value(v));
		return true;
	}
	if (!s)
		return false;
	if (sscanf(s, "%5u:%5u%c", &lo, &hi, &tail) == 2 && lo && lo <= hi && hi < 65536) {
		snprintf(out, 24, "%u-%u", lo, hi);
		return true;
	}
	if (sscanf(s, "%5u%c", &lo, &tail) == 1 && lo && lo < 65536) {
		snprintf(out, 24, "%u", lo);
		return true;
	}
	return false;
}

static void parse_firewall_rule(struct m_firewall_rule *r, json_t *doc)
{
	const char *proto = str(doc, "protocol"), *action = str(doc, "action");
	bool l4;

	r->usable = !json_is_false(json_object_get(doc, "enabled"));
	r->v6 = json_integer_value(json_object_get(doc, "ip_version")) == 6;
	if (streq(proto, "icmp"))
		r->proto = M_FW_ICMP;
	else if (streq(proto, "tcp"))
		r->proto = M_FW_TCP;
	else if (streq(proto, "udp"))
		r->proto = M_FW_UDP;
	else if (!*proto || streq(proto, "any"))
		r->proto = M_FW_ANY;
	else
		r->usable = false;
	l4 = r->proto == M_FW_TCP || r->proto == M_FW_UDP;
	r->action = streq(action, "allow")    ? M_FW_ALLOW
		    : streq(action, "reject") ? M_FW_REJECT
					      : M_FW_DENY;
	if (*str(doc, "source_ip_address") &&
	    !fw_addr(str(doc, "source_ip_address"), r->v6, r->src))
		r->usable = false;
	if (*str(doc, "destination_ip_address") &&
	    !fw_addr(str(doc, "destination_ip_address"), r->v6, r->dst))
		r->usable = false;
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(doc, i ? "destination_port" : "source_port");

		if (!v || json_is_null(v))
			continue;
		if (!l4 || !fw_port(v, i ? r->dport : r->sport))
			r->usable = false;
	}
}

static const size_t type_size[M_NTYPES] = {
	[M_NETWORK] = sizeof(struct m_network),
	[M_SUBNET] = sizeof(struct m_subnet),
	[M_PORT] = sizeof(struct m_port),
	[M_ROUTER] = sizeof(struct m_router),
	[M_FLOATINGIP] = sizeof(struct m_floatingip),
	[M_SECURITY_GROUP] = sizeof(struct m_security_group),
	[M_AGENT] = sizeof(struct m_agent),
	[M_FIREWALL_GROUP] = sizeof(struct m_firewall_group),
	[M_FIREWALL_POLICY] = sizeof(struct m_firewall_policy),
	[M_FIREWALL_RULE] = sizeof(struct m_firewall_rule),
	[M_SNAT_BLOCK] = sizeof(struct m_snat_block),
	[M_ADDRESS_GROUP] = sizeof(struct m_address_group),
};

static struct m_obj *parse(enum m_type type, const char *id, json_t *doc)
{
	struct m_obj *o = xcalloc(1, type_size[type]);

	o->type = type;
	snprintf(o->id, sizeof(o->id), "%s", id);
	switch (type) {
	case M_NETWORK:
		parse_network((struct m_network *) o, doc);
		break;
	case M_SUBNET:
		parse_subnet((struct m_subnet *) o, doc);
		break;
	case M_PORT:
		parse_port((struct m_port *) o, doc);
		break;
	case M_ROUTER:
		parse_router((struct m_router *) o, doc);
		break;
	case M_FLOATINGIP:
		parse_floatingip((struct m_floatingip *) o, doc);
		break;
	case M_SECURITY_GROUP:
		parse_security_group((struct m_security_group *) o, doc);
		break;
	case M_AGENT:
		parse_agent((struct m_agent *) o, doc);
		break;
	case M_FIREWALL_GROUP:
		parse_firewall_group((struct m_firewall_group *) o, doc);
		break;
	case M_FIREWALL_POLICY:
		parse_firewall_policy((struct m_firewall_policy *) o, doc);
		break;
	case M_FIREWALL_RULE:
		parse_firewall_rule((struct m_firewall_rule *) o, doc);
		break;
	case M_SNAT_BLOCK:
		parse_snat_block((struct m_snat_block *) o, doc);
		break;
	case M_ADDRESS_GROUP:
		parse_address_group((struct m_address_group *) o, doc);
		break;
	case M_NTYPES:
		break;
	}
	return o;
}

static void obj_free(struct m_obj *o)
{
	if (!o)
		return;
	switch (o->type) {
	case M_SUBNET:
		free(((struct m_subnet *) o)->host_routes);
		break;
	case M_PORT: {
		struct m_port *p = (struct m_port *) o;

		free(p->ips);
		free(p->sgs);
		free(p->pairs);
		free(p->pairs6);
		free(p->dhcp_opts);
		break;
	}
	case M_ROUTER:
		free(((struct m_router *) o)->routes);
		free(((struct m_router *) o)->owners);
		break;
	case M_SECURITY_GROUP:
		free(((struct m_security_group *) o)->rules);
		break;
	case M_FIREWALL_GROUP:
		free(((struct m_firewall_group *) o)->ports);
		break;
	case M_FIREWALL_POLICY:
		free(((struct m_firewall_policy *) o)->rules);
		break;
	case M_ADDRESS_GROUP:
		free(((struct m_address_group *) o)->prefixes);
		free(((struct m_address_group *) o)->prefixes6);
		break;
	default:
		break;
	}
	free(o);
}

static void index_clear(struct m_index *x)
{
	struct hmap *maps[] = {&x->ports_by_network, &x->ports_by_host,	   &x->ports_by_device,
			       &x->fips_by_router,   &x->blocks_by_router, &x->sg_members};

	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		const char *k;
		void *v;

		for (size_t pos = 0; hmap_next(maps[i], &pos, &k, &v);) {
			free(((struct m_vec *) v)->v);
			free(v);
		}
		hmap_done(maps[i]);
	}
	hmap_done(&x->agents_by_host);
	free(x->network_agents.v);
	*x = (struct m_index){0};
}

void model_init(struct model *m)
{
	static uint64_t serial;

	*m = (struct model){0};
	m->serial = __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
}

uint64_t model_stamp(const struct model *m, unsigned types)
{
	uint64_t h = FNV_OFFSET ^ m->serial;

	for (int t = 0; t < M_NTYPES; t++)
		if (types & (1u << t))
			h = fnv_mix(h, m->changed[t]);
	return h;
}

void model_done(struct model *m)
{
	for (int t = 0; t < M_NTYPES; t++) {
		struct m_obj *o = m->t[t].head;

		while (o) {
			struct m_obj *next = o->next;

			obj_free(o);
			o = next;
		}
		hmap_done(&m->t[t].by_id);
	}
	index_clear(&m->idx);
	*m = (struct model){0};
}

int model_put(struct model *m, const char *type, const char *id, json_t *doc)
{
	int t = model_type(type);
	struct m_list *l;
	struct m_obj *o, *old;

	if (t < 0)
		return t;
	if (!model_valid_id(id) || !json_is_object(doc))
		return -EINVAL;
	l = &m->t[t];
	o = parse((enum m_type) t, id, doc);
	old = hmap_put(&l->by_id, o->id, o);
	if (old) {
		/* In place: the document keeps its position. */
		o->prev = old->prev;
		o->next = old->next;
		if (o->prev)
			o->prev->next = o;
		else
			l->head = o;
		if (o->next)
			o->next->prev = o;
		else
			l->tail = o;
		obj_free(old);
	} else {
		o->prev = l->tail;
		if (l->tail)
			l->tail->next = o;
		else
			l->head = o;
		l->tail = o;
		l->len++;
	}
	m->changed[t] = ++m->generation;
	o->gen = m->generation;
	return 0;
}

int model_del(struct model *m, const char *type, const char *id)
{
	int t = model_type(type);
	struct m_list *l;
	struct m_obj *o;

	if (t < 0)
		return 0;
	l = &m->t[t];
	o = hmap_del(&l->by_id, id);
	if (!o)
		return 0;
	if (o->prev)
		o->prev->next = o->next;
	else
		l->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		l->tail = o->prev;
	l->len--;
	obj_free(o);
	m->changed[t] = ++m->generation;
	return 1;
}

size_t model_count(const struct model *m)
{
	size_t n = 0;

	for (int t = 0; t < M_NTYPES; t++)
		n += m->t[t].len;
	return n;
}

/* Dependencies. */

static void record(struct m_deps *d, enum m_dep_kind kind, int type, const char *key,
		   uint64_t stamp)
{
	struct m_dep *e;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	e = &d->v[d->n++];
	e->kind = (uint8_t) kind;
	e->type = (uint8_t) type;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	e->stamp = stamp;
}

static uint64_t vec_stamp(const struct m_vec *v)
{
	uint64_t h = FNV_OFFSET ^ v->len;

	for (size_t i = 0; i < v->len; i++)
		h = fnv_mix(h, ((const struct m_obj *) v->v[i])->gen);
	return h;
}

void model_track(struct model *m, struct m_deps *d)
{
	m->track = d;
	if (d) {
		d->n = 0;
		d->serial = m->serial;
	}
}

void model_track_type(const struct model *m, enum m_type type)
{
	if (m->track)
		record(m->track, M_DEP_TYPE, type, NULL, m->changed[type]);
}

void model_deps_done(struct m_deps *d)
{
	free(d->v);
	*d = (struct m_deps){0};
}

static const void *get(const struct model *m, enum m_type type, const char *id)
{
	return id ? hmap_get(&m->t[type].by_id, id) : NULL;
}

const void *model_get(const struct model *m, enum m_type type, const char *id)
{
	const struct m_obj *o = get(m, type, id);

	if (m->track)
		record(m->track, M_DEP_DOC, type, id, o ? o->gen : 0);
	return o;
}

static void vec_push(struct m_vec *v, void *p)
{
	if (v->len == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->len++] = p;
}

static void index_add(struct hmap *map, const char *key, void *p)
{
	struct m_vec *v;

	if (!*key)
		return;
	v = hmap_get(map, key);
	if (!v) {
		v = xcalloc(1, sizeof(*v));
		hmap_put(map, key, v);
	}
	vec_push(v, p);
}

static struct m_index *index_get(struct model *m)
{
	struct m_index *x = &m->idx;

	if (m->indexed == m->generation && m->generation)
		return x;
	index_clear(x);
	MODEL_FOREACH(m, M_PORT, struct m_port, p)
	{
		index_add(&x->ports_by_network, p->network_id, p);
		index_add(&x->ports_by_host, p->host, p);
		if (p->owner != M_OWNER_VM)
			index_add(&x->ports_by_device, p->device_id, p);
		for (size_t i = 0; i < p->n_sgs; i++)
			index_add(&x->sg_members, p->sgs[i], p);
	}
	MODEL_FOREACH(m, M_FLOATINGIP, struct m_floatingip, f)
	{
		index_add(&x->fips_by_router, f->router_id, f);
	}
	MODEL_FOREACH(m, M_SNAT_BLOCK, struct m_snat_block, b)
	{
		if (b->usable)
			index_add(&x->blocks_by_router, b->router_id, b);
	}
	MODEL_FOREACH(m, M_AGENT, struct m_agent, a)
	{
		const struct m_agent *seen = hmap_get(&x->agents_by_host, a->host);

		/* The first agent of the host that has a tunnel address. */
		if (*a->host && (!seen || (!seen->tunnel_ip && a->tunnel_ip)))
			hmap_put(&x->agents_by_host, a->host, a);
		if (a->network_mode)
			vec_push(&x->network_agents, a);
	}
	m->indexed = m->generation;
	return x;
}

static const struct m_vec *lookup(const struct hmap *map, const char *key)
{
	static const struct m_vec empty;
	const struct m_vec *v = key ? hmap_get(map, key) : NULL;

	return v ? v : &empty;
}

/* An index lookup of kind for key, without recording it. */
static const struct m_vec *index_lookup(struct model *m, enum m_dep_kind kind, const char *key)
{
	struct m_index *x = index_get(m);

	switch (kind) {
	case M_DEP_PORTS_ON_NET:
		return lookup(&x->ports_by_network, key);
	case M_DEP_PORTS_ON_HOST:
		return lookup(&x->ports_by_host, key);
	case M_DEP_PORTS_OF_DEV:
		return lookup(&x->ports_by_device, key);
	case M_DEP_FIPS_OF_ROUTER:
		return lookup(&x->fips_by_router, key);
	case M_DEP_BLOCKS_OF_ROUTER:
		return lookup(&x->blocks_by_router, key);
	case M_DEP_SG_MEMBERS:
		return lookup(&x->sg_members, key);
	default:
		return &x->network_agents;
	}
}

static const struct m_vec *tracked(struct model *m, enum m_dep_kind kind, const char *key)
{
	const struct m_vec *v = index_lookup(m, kind, key);

	if (m->track)
		record(m->track, kind, 0, key, vec_stamp(v));
	return v;
}

const struct m_vec *model_ports_on_network(struct model *m, const char *network_id)
{
	return tracked(m, M_DEP_PORTS_ON_NET, network_id);
}

const struct m_vec *model_ports_on_host(struct model *m, const char *host)
{
	return tracked(m, M_DEP_PORTS_ON_HOST, host);
}

const struct m_vec *model_ports_of_device(struct model *m, const char *device_id)
{
	return tracked(m, M_DEP_PORTS_OF_DEV, device_id);
}

const struct m_vec *model_fips_of_router(struct model *m, const char *router_id)
{
	return tracked(m, M_DEP_FIPS_OF_ROUTER, router_id);
}

const struct m_vec *model_snat_blocks_of_router(struct model *m, const char *router_id)
{
	return tracked(m, M_DEP_BLOCKS_OF_ROUTER, router_id);
}

const struct m_vec *model_sg_members(struct model *m, const char *sg_id)
{
	return tracked(m, M_DEP_SG_MEMBERS, sg_id);
}

const struct m_vec *model_network_agents(struct model *m)
{
	return tracked(m, M_DEP_NETWORK_AGENTS, NULL);
}

static const struct m_agent *agent_on(struct model *m, const char *host)
{
	return host ? hmap_get(&index_get(m)->agents_by_host, host) : NULL;
}

const struct m_agent *model_agent_on(struct model *m, const char *host)
{
	const struct m_agent *a = agent_on(m, host);

	if (m->track)
		record(m->track, M_DEP_AGENT_ON, 0, host, a ? a->o.gen : 0);
	return a;
}

bool model_deps_valid(struct model *m, const struct m_deps *d)
{
	if (d->serial != m->serial)
		return false;
	for (size_t i = 0; i < d->n; i++) {
		const struct m_dep *e = &d->v[i];
		const struct m_obj *o;
		uint64_t now;

		switch (e->kind) {
		case M_DEP_DOC:
			o = get(m, (enum m_type) e->type, e->key);
			now = o ? o->gen : 0;
			break;
		case M_DEP_TYPE:
			now = m->changed[e->type];
			break;
		case M_DEP_AGENT_ON: {
			const struct m_agent *a = agent_on(m, e->key);

			now = a ? a->o.gen : 0;
			break;
		}
		default:
			now = vec_stamp(index_lookup(m, (enum m_dep_kind) e->kind, e->key));
			break;
		}
		if (now != e->stamp)
			return false;
	}
	return true;
}
