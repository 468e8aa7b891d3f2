/* Keystone token validation (auth_strategy = keystone): what keystonemiddleware
 * does in front of Neutron. A caller's X-Auth-Token is checked against Keystone
 * v3 (GET /v3/auth/tokens with the service's own token), the answer gives the
 * request's project, user and roles, and is cached until the token expires or
 * for cache_secs, whichever comes first. The only user of libcurl in the
 * server. */
#pragma once

#include <stdbool.h>

#define KEYSTONE_ID_MAX 64

struct keystone;

struct keystone_identity {
	char project_id[KEYSTONE_ID_MAX + 1]; /* "" for an unscoped token */
	char user_id[KEYSTONE_ID_MAX + 1];
	bool is_admin, is_member, is_reader; /* roles "admin", "member", "reader" */
};

/* url: Keystone's base ("http://127.0.0.1:5000", with or without "/v3");
 * the service user authenticates with a project-scoped password token in
 * the "Default" domain. Copies every string. */
struct keystone *keystone_new(const char *url, const char *username, const char *password,
			      const char *project_name, unsigned cache_secs);
void keystone_free(struct keystone *ks);

/* Validates a user's token. 0 and *ret filled when Keystone accepts it;
 * -EACCES when Keystone rejects it (missing, invalid, expired, revoked);
 * -EIO when Keystone cannot be asked (unreachable, service credentials
 * refused, unreadable answer). Thread-safe. */
int keystone_validate(struct keystone *ks, const char *token, struct keystone_identity *ret);
