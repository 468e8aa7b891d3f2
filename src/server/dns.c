/* DNS names of ports and networks (dns-integration, dns-domain-ports): a
 * port's dns_name (a host name, or an FQDN ending in a dot), the dns_domain
 * of a network and of a port, checked as RFC 1123 names; a port's
 * dns_assignment, computed from its fixed IPs: the host name it has on each
 * address (dns_name, else host-<address with dashes>, as Neutron names
 * them) and that name within the server's dns_domain. The agents give the
 * same host name to the VM by DHCP (option 12). */
#include <stdio.h>
#include <string.h>
#include "server/resources.h"

/* RFC 1123 section 2.1 labels: 1..63 of [A-Za-z0-9-], no dash at either
 * end; the whole name at most 255 octets; a dot may end it. A last label
 * all of digits would read as an address (RFC 3696 section 2). */
static bool valid_dns(const char *s)
{
	size_t len = strlen(s), n = len;
	const char *p = s, *last = s;

	if (len == 0 || len > 255)
		return false;
	if (s[n - 1] == '.')
		n--; /* an absolute name */
	while (p < s + n) {
		size_t label = strcspn(p, ".");

		if (p + label > s + n)
			label = (size_t) (s + n - p);
		if (label == 0 || label > 63 || p[0] == '-' || p[label - 1] == '-')
			return false;
		for (size_t i = 0; i < label; i++) {
			char c = p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-'))
				return false;
		}
		last = p;
		p += label + 1;
	}
	if (n == 0)
		return false;
	/* The last label all of digits would read as an address. */
	return strspn(last, "0123456789") < (size_t) (s + n - last);
}

int dns_check(struct api_ctx *ctx, json_t *doc, const char *attr)
{
	const char *v = doc_str(doc, attr);

	if (!*v || valid_dns(v))
		return 0;
	return api_bad_request(&ctx->err,
			       "Invalid input for %s. Reason: '%s' is not a valid DNS %s: labels "
			       "of 1 to 63 letters, digits and dashes (not at either end), "
			       "separated by dots, at most 255 characters, not ending in a number.",
			       attr, v, strcmp(attr, "dns_name") == 0 ? "name" : "domain");
}

void dns_hostname(json_t *port, const char *address, char *buf, size_t size)
{
	const char *name = doc_str(port, "dns_name");

	if (*name) {
		/* The first label: the host's own name. */
		snprintf(buf, size, "%.*s", (int) strcspn(name, "."), name);
		return;
	}
	snprintf(buf, size, "host-%s", address);
	for (char *c = buf; *c; c++)
		if (*c == '.' || *c == ':')
			*c = '-';
}

json_t *dns_assignment(struct api_ctx *ctx, json_t *port)
{
	const char *domain = ctx->cfg->dns_domain ? ctx->cfg->dns_domain : "";
	const char *name = doc_str(port, "dns_name");
	json_t *out = json_array(), *ip;
	size_t i;

	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip) {
		const char *addr = doc_str(ip, "ip_address");
		char host[300], fqdn[600];

		dns_hostname(port, addr, host, sizeof(host));
		if (*name && name[strlen(name) - 1] == '.')
			snprintf(fqdn, sizeof(fqdn), "%s", name); /* an FQDN already */
		else if (*name)
			snprintf(fqdn, sizeof(fqdn), "%s%s%s", name, *domain ? "." : "", domain);
		else
			snprintf(fqdn, sizeof(fqdn), "%s%s%s", host, *domain ? "." : "", domain);
		json_t *one = json_object();

		/* Without json_pack's format parsing: lists render this for
		 * every port. */
		json_object_set_new_nocheck(one, "hostname", json_string_nocheck(host));
		json_object_set_new_nocheck(one, "ip_address", json_string(addr));
		json_object_set_new_nocheck(one, "fqdn", json_string(fqdn));
		json_array_append_new(out, one);
	}
	return out;
}
