/* The agent's model replica. */
#include "agent/replica.h"

#include <errno.h>
#include <string.h>
#include "base/util.h"
#include "base/xalloc.h"

static struct model *model_new(void)
{
	struct model *m = xcalloc(1, sizeof(*m));

	model_init(m);
	return m;
}

static void model_free(struct model *m)
{
	if (!m)
		return;
	model_done(m);
	free(m);
}

void replica_init(struct replica *r)
{
	*r = (struct replica){.live = model_new()};
}

void replica_done(struct replica *r)
{
	model_free(r->live);
	model_free(r->staging);
	*r = (struct replica){0};
}

static int put(struct replica *r, struct model *m, const char *type, const char *id, json_t *obj)
{
	int ret = model_put(m, type, id, obj);

	if (ret == -ENOENT)
		return 0; /* a type the agent does not use */
	if (ret == -EINVAL)
		r->n_refused++;
	return ret < 0 ? ret : 1;
}

int replica_apply(struct replica *r, json_t *line)
{
	const char *op = json_string_value(json_object_get(line, "op"));
	json_t *jrev = json_object_get(line, "revision");
	const char *type = json_string_value(json_object_get(line, "type"));
	const char *id = json_string_value(json_object_get(line, "id"));
	json_t *obj = json_object_get(line, "object");
	int64_t rev;
	int ret;

	if (!op || !json_is_integer(jrev))
		return -EBADMSG;
	rev = json_integer_value(jrev);
	if (streq(op, "ping"))
		return 0;
	if (streq(op, "snapshot_begin")) {
		model_free(r->staging);
		r->staging = model_new();
		return 0;
	}
	if (streq(op, "snapshot")) {
		if (!r->staging || !type || !id || !json_is_object(obj))
			return -EBADMSG;
		ret = put(r, r->staging, type, id, obj);
		return ret < 0 ? ret : 0;
	}
	if (streq(op, "snapshot_end")) {
		if (!r->staging)
			return -EBADMSG;
		model_free(r->live);
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
	model_free(r->staging);
	r->staging = NULL;
	if (rev <= r->revision)
		return 0; /* already applied */
	if (streq(op, "delete")) {
		r->revision = rev;
		return model_del(r->live, type, id);
	}
	if (!json_is_object(obj))
		return -EBADMSG;
	ret = put(r, r->live, type, id, obj);
	if (ret >= 0 || ret == -EINVAL)
		r->revision = rev; /* a refused document is still a change applied */
	return ret;
}
