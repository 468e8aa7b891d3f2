/* Generic resources: each API resource is described by a table of attributes
 * (kind, whether POST/PUT may set it, admin-only to set or to see, default),
 * Neutron's RESOURCE_ATTRIBUTE_MAP in C. The generic code parses and checks
 * request bodies against the table, adds the standard attributes, enforces
 * project scoping and runs list queries; the hooks of each resource add its
 * own semantics (IPAM, segmentation, cascades) inside the request's store
 * transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "server/config.h"
#include "server/error.h"
#include "server/store.h"

enum attr_kind {
	AK_STRING,
	AK_BOOL,
	AK_INT,
	AK_UUID,
	AK_LIST,
	AK_OBJECT,
	AK_ANY,
};

enum {
	AF_POST = 1 << 0,	/* may be given on create */
	AF_PUT = 1 << 1,	/* may be given on update */
	AF_REQUIRED = 1 << 2,	/* must be given on create */
	AF_NULLABLE = 1 << 3,	/* JSON null is a valid value */
	AF_ADMIN_SET = 1 << 4,	/* only admin may give it */
	AF_ADMIN_VIEW = 1 << 5, /* only admin sees it */
	AF_NULL_EMPTY = 1 << 6, /* JSON null means the empty list (routes) */
	AF_FILTER = 1 << 7,	/* not stored nor shown: a filter def->filter_value computes */
	AF_RW = AF_POST | AF_PUT,
};

struct attr_def {
	const char *name;
	enum attr_kind kind;
	unsigned flags;
	const char *default_json; /* NULL: absent unless a hook sets it */
	size_t max_len;		  /* strings; 0: 255 */
};

/* The context of one API request. */
struct api_ctx {
	struct store *store;
	const struct server_config *cfg;
	const char *project_id; /* NULL only for admin without a project */
	bool is_admin;
	bool is_agent;	      /* authenticated with the agents' credential */
	const char *base_url; /* "http://host:port" for links */
	const char *if_match; /* If-Match: "revision_number=N" constrains PUT and DELETE */
	struct api_error err;
};

struct resource_def {
	const char *type;	 /* "network": JSON key, feed type */
	const char *collection;	 /* "networks" */
	const char *path_prefix; /* NULL, or "fwaas": served at /v2.0/fwaas/{collection} */
	const char *json_key;	 /* the list's JSON key when not the collection's name */
	const char *title;	 /* "Network": for messages */
	const char *not_found;	 /* "NetworkNotFound" */
	bool has_no_name;	 /* no standard `name` (floating IPs, as Neutron) */
	/* A caller who sees the document (shared to it) but does not own it is
	 * answered 404 rather than 403 when it changes or deletes it: Neutron
	 * does so for resources whose sharing no attribute of theirs shows
	 * (address groups), its policy engine then not seeing them either. */
	bool hides_from_non_owners;
	/* Only admins see, make, change or delete it (network segment ranges);
	 * its project may be "" (not any project's). */
	bool admin_only;
	const char *id_key; /* computed collections: the key GET /{collection}/{id} reads */
	const struct attr_def *attrs; /* terminated by a NULL name */
	/* Semantic checks and side effects of a create; doc carries the checked
	 * attributes with defaults and the standard attributes. The generic code
	 * stores doc afterwards. */
	int (*create)(struct api_ctx *ctx, json_t *doc);
	/* doc is the old document with `changes` already merged. */
	int (*update)(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes);
	/* Cascades before the document itself is deleted. */
	int (*remove)(struct api_ctx *ctx, json_t *doc);
	/* Visibility beyond admin and owner (e.g. shared networks). */
	bool (*visible)(struct api_ctx *ctx, json_t *doc);
	/* Who besides the owner may delete it (a port: its network's owner). */
	bool (*may_delete)(struct api_ctx *ctx, json_t *doc);
	/* The quota this resource counts against ("network"...), or NULL. */
	const char *quota;
	/* Collections computed rather than stored (read-only), e.g. floating IP
	 * pools: the documents to list. New reference. */
	json_t *(*load_all)(struct api_ctx *ctx);
	/* Runs in its own transaction before a list is read (e.g. to make a
	 * project's default security group on first use). */
	int (*before_list)(struct api_ctx *ctx);
	/* The value an AF_FILTER attribute has for a document (new reference),
	 * e.g. a subnet's `shared`, its network's. */
	json_t *(*filter_value)(struct api_ctx *ctx, json_t *doc, const char *name);
	/* Adds computed attributes to a view (e.g. an agent's liveness); runs
	 * with the store lock held. */
	void (*decorate)(struct api_ctx *ctx, json_t *view);
	/* Member actions: PUT /{collection}/{id}/{action}. */
	int (*action)(struct api_ctx *ctx, json_t *doc, const char *action, json_t *body,
		      json_t **ret_body);
};

const struct attr_def *resource_attr(const struct resource_def *def, const char *name);

/* Whether ctx may see / change the document. */
bool resource_is_visible(struct api_ctx *ctx, const struct resource_def *def, json_t *doc);
bool resource_is_owner(struct api_ctx *ctx, json_t *doc);

/* Loads a document the caller may see, or fails with the resource's 404. */
json_t *resource_get_visible(struct api_ctx *ctx, const struct resource_def *def, const char *id);

/* The handlers. Each returns the HTTP status and sets *ret_body (a new
 * reference) on success, or returns < 0 with ctx->err set. They take the store
 * lock themselves. */
int resource_create(struct api_ctx *ctx, const struct resource_def *def, json_t *body,
		    json_t **ret_body);
int resource_update(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		    json_t *body, json_t **ret_body);
int resource_delete(struct api_ctx *ctx, const struct resource_def *def, const char *id);
int resource_show(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		  const char *const *fields, size_t fields_len, json_t **ret_body);
int resource_member_action(struct api_ctx *ctx, const struct resource_def *def, const char *id,
			   const char *action, json_t *body, json_t **ret_body);

/* The document as ctx may see it (admin-only attributes dropped), restricted
 * to `fields` when given. New reference. */
json_t *resource_view(struct api_ctx *ctx, const struct resource_def *def, json_t *doc,
		      const char *const *fields, size_t fields_len);

/* Writes an updated document: bumps revision_number and updated_at. */
int resource_save(struct api_ctx *ctx, const struct resource_def *def, json_t *doc);
/* Creates a document on behalf of the server itself (e.g. a DHCP port):
 * standard attributes are filled in, the create hook runs. Inside a txn. */
int resource_insert(struct api_ctx *ctx, const struct resource_def *def, json_t *doc);

/* The two halves of resource_insert, for documents the server makes itself
 * without the create hook: fill in the standard attributes; store. */
int resource_prepare(struct api_ctx *ctx, const struct resource_def *def, json_t *doc);
int resource_store_new(struct api_ctx *ctx, const struct resource_def *def, json_t *doc);

/* Tags sub-resource: method on /{collection}/{id}/tags[/{tag}]. */
int resource_tags(struct api_ctx *ctx, const struct resource_def *def, const char *id,
		  const char *method, const char *tag, json_t *body, json_t **ret_body);

/* Checks one value against an attribute's kind (converting "true"/"false"
 * strings for booleans, as Neutron does) and returns the value to store (new
 * reference) or NULL with ctx->err set. */
json_t *resource_check_value(struct api_ctx *ctx, const struct attr_def *a, json_t *v);

/* Helpers for hooks. */
const char *doc_str(json_t *doc, const char *key); /* "" when absent or not a string */
bool doc_bool(json_t *doc, const char *key);
/* Whether the array holds a value equal to v. */
bool json_array_has(json_t *arr, json_t *v);
/* Whether a fixed_ips list has an address on the subnet. */
bool fixed_ips_on_subnet(json_t *fixed_ips, const char *subnet_id);
