/* The agent's model replica. */
#include "agent/replica.h"

#include <errno.h>
#include <string.h>
#include "base/util.h"

void replica_init(struct replica *r)
{
	*r = (struct replica){.live = json_object()};
}

void replica_done(struct replica *r)
{
	json_decref(r->live);
	json_decref(r->staging);
	*r = (struct replica){0};
}

static void put(json_t *model, const char *type, const char *id, json_t *doc)
{
	json_t *t = json_object_get(model, type);

	if (!t) {
		t = json_object();
		json_object_set_new(model, type, t);
	}
	json_object_set(t, id, doc);
}

static void del(json_t *model, const char *type, const char *id)
{
	json_object_del(json_object_get(model, type), id);
}

int replica_apply(struct replica *r, json_t *line)
{
	const char *op = json_string_value(json_object_get(line, "op"));
	json_t *jrev = json_object_get(line, "revision");
	const char *type = json_string_value(json_object_get(line, "type"));
	const char *id = json_string_value(json_object_get(line, "id"));
	json_t *obj = json_object_get(line, "object");
	int64_t rev;

	if (!op || !json_is_integer(jrev))
		return -EBADMSG;
	rev = json_integer_value(jrev);
	if (streq(op, "ping"))
		return 0;
	if (streq(op, "snapshot_begin")) {
		json_decref(r->staging);
		r->staging = json_object();
		return 0;
	}
	if (streq(op, "snapshot")) {
		if (!r->staging || !type || !id || !json_is_object(obj))
			return -EBADMSG;
		put(r->staging, type, id, obj);
		return 0;
	}
	if (streq(op, "snapshot_end")) {
		if (!r->staging)
			return -EBADMSG;
		json_decref(r->live);
		r->live = r->staging;
		r->staging = NULL;
		r->revision = rev;
		r->synced = true;
		return 1;
	}
	if (!streq(op, "create") && !streq(op, "update") && !streq(op, "delete"))
		return -EBADMSG;
	if (!type || !id)
		return -EBADMSG;
	/* A snapshot interrupted by a reconnect that resumed with changes. */
	json_decref(r->staging);
	r->staging = NULL;
	if (rev <= r->revision)
		return 0; /* already applied */
	if (streq(op, "delete"))
		del(r->live, type, id);
	else if (json_is_object(obj))
		put(r->live, type, id, obj);
	else
		return -EBADMSG;
	r->revision = rev;
	return 1;
}

json_t *replica_type(struct replica *r, const char *type)
{
	static json_t *empty;
	json_t *t = json_object_get(r->live, type);

	if (t)
		return t;
	if (!empty)
		empty = json_object();
	return empty;
}

json_t *replica_get(struct replica *r, const char *type, const char *id)
{
	return json_object_get(json_object_get(r->live, type), id);
}
