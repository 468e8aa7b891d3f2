/* The caller's share of the change feed as server-sent events. */
#include "server/changes.h"

#include <jansson.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "server/api.h"
#include "server/config.h"
#include "server/resources.h"
#include "server/store.h"
#include "server/watch.h"

struct changes_stream {
	struct watch_stream *watch;
	struct store *store;
	const struct server_config *cfg;
	char *project_id;
	bool is_admin;
	bool ready;	   /* "ready" sent */
	json_t *was;	   /* not admin: {"type/id": true} the caller may see */
	struct strbuf in;  /* from the watch, not yet a whole line */
	struct strbuf out; /* events not yet sent */
	bool ended;	   /* the watch ended */
};

static const struct resource_def *def_of(const char *type)
{
	for (size_t i = 0; all_resources[i]; i++)
		if (!all_resources[i]->load_all && streq(all_resources[i]->type, type))
			return all_resources[i];
	return NULL;
}

static bool may_see(struct changes_stream *c, const char *type, json_t *doc)
{
	const struct resource_def *def;
	struct api_ctx ctx = {.store = c->store, .cfg = c->cfg, .project_id = c->project_id};
	bool yes;

	if (c->is_admin)
		return true;
	def = def_of(type);
	if (!def || !json_is_object(doc))
		return false; /* internal documents are the admins' */
	store_lock(c->store);
	yes = resource_is_visible(&ctx, def, doc);
	store_unlock(c->store);
	api_error_done(&ctx.err);
	return yes;
}

static void event(struct changes_stream *c, const char *name, json_t *data, int64_t rev)
{
	char *s = json_dumps(data, JSON_COMPACT);

	if (rev > 0)
		strbuf_appendf(&c->out, "id: %lld\n", (long long) rev);
	strbuf_appendf(&c->out, "event: %s\ndata: %s\n\n", name, s ? s : "{}");
	free(s);
	json_decref(data);
}

/* A change the caller may see now (after it; before it for a delete), or
 * could see before it (an update that hid it: the page must drop it). */
static bool concerns(struct changes_stream *c, const char *op, const char *type, const char *id,
		     json_t *doc)
{
	char *key;
	bool now, before;

	if (c->is_admin)
		return true;
	key = xasprintf("%s/%s", type, id);
	now = may_see(c, type, doc);
	before = json_object_get(c->was, key) != NULL;
	if (now && !streq(op, "delete"))
		json_object_set_new(c->was, key, json_true());
	else
		json_object_del(c->was, key);
	free(key);
	return now || before;
}

/* One line of the watch stream. */
static void take(struct changes_stream *c, const char *text)
{
	json_t *line = json_loads(text, 0, NULL);
	const char *op = json_string_value(json_object_get(line, "op"));
	const char *type = json_string_value(json_object_get(line, "type"));
	const char *id = json_string_value(json_object_get(line, "id"));
	json_t *doc = json_object_get(line, "object");
	json_int_t rev = json_integer_value(json_object_get(line, "revision"));

	if (!op) {
		/* Not a line of ours: skip it. */
	} else if (streq(op, "ping")) {
		strbuf_appendf(&c->out, ": ping %lld\n\n", (long long) rev);
	} else if (streq(op, "snapshot_begin")) {
		json_object_clear(c->was);
	} else if (streq(op, "snapshot")) {
		if (type && id)
			concerns(c, op, type, id, doc);
	} else if (streq(op, "snapshot_end")) {
		/* The first: what the caller may see is known. A later one: the
		 * stream fell behind and started over. */
		event(c, c->ready ? "reset" : "ready", json_pack("{s:I}", "revision", rev), rev);
		c->ready = true;
	} else if (type && id && concerns(c, op, type, id, doc)) {
		event(c, "change",
		      json_pack("{s:I, s:s, s:s, s:s}", "revision", rev, "op", op, "type", type,
				"id", id),
		      rev);
	}
	json_decref(line);
}

/* Drops the first n bytes of sb. */
static void consume(struct strbuf *sb, size_t n)
{
	memmove(sb->buf, sb->buf + n, sb->len - n);
	sb->len -= n;
	sb->buf[sb->len] = '\0';
}

static ssize_t changes_read(void *stream, char *buf, size_t max)
{
	struct changes_stream *c = stream;
	char chunk[16384];
	size_t n;
	char *nl;

	/* Events to send, or the watch's next lines (none yet: 0, and the
	 * watch wakes the connection when it has some). */
	while (!c->out.len) {
		ssize_t got;

		if (c->ended)
			return -1;
		got = watch_read(c->watch, chunk, sizeof(chunk));
		if (got == 0)
			return 0; /* a watch_read that does not block: nothing yet */
		if (got < 0) {
			c->ended = true;
			continue;
		}
		strbuf_append_n(&c->in, chunk, (size_t) got);
		while (c->in.len && (nl = memchr(c->in.buf, '\n', c->in.len))) {
			*nl = '\0';
			take(c, c->in.buf);
			consume(&c->in, (size_t) (nl - c->in.buf) + 1);
		}
	}
	n = c->out.len < max ? c->out.len : max;
	memcpy(buf, c->out.buf, n);
	consume(&c->out, n);
	return (ssize_t) n;
}

/* The watch wakes the connection when it has lines. */
static void changes_attach(void *stream, struct http_stream *hs)
{
	struct changes_stream *c = stream;

	watch_attach(c->watch, hs);
}

static void changes_free(void *stream)
{
	struct changes_stream *c = stream;

	if (!c)
		return;
	watch_free(c->watch);
	strbuf_done(&c->in);
	strbuf_done(&c->out);
	json_decref(c->was);
	free(c->project_id);
	free(c);
}

int changes_open(struct api_ctx *ctx, struct watch_hub *hub, struct http_response *resp)
{
	struct changes_stream *c;
	int64_t rev;

	if (!ctx->is_admin && !ctx->project_id)
		return api_forbidden(&ctx->err, "The changes stream is for projects and admins.");
	c = xcalloc(1, sizeof(*c));
	c->store = ctx->store;
	c->cfg = ctx->cfg;
	c->is_admin = ctx->is_admin;
	c->project_id = ctx->project_id ? xstrdup(ctx->project_id) : NULL;
	c->was = json_object();
	strbuf_appendf(&c->out, "retry: 2000\n");
	if (c->is_admin) {
		/* From the revision now: what the page reads after "ready"
		 * holds it. */
		store_lock(ctx->store);
		rev = store_revision(ctx->store);
		store_unlock(ctx->store);
		event(c, "ready", json_pack("{s:I}", "revision", (json_int_t) rev), rev);
		c->ready = true;
	} else {
		/* From a snapshot, which tells what the caller may see now (to
		 * know when a later change hides it); "ready" at its end. */
		rev = 0;
	}
	c->watch = watch_new(hub, NULL, rev, true);
	if (!c->watch) {
		changes_free(c);
		return api_fail(&ctx->err, 503, "ServiceUnavailable",
				"Too many watch streams are open (watch_max_streams = %u).",
				ctx->cfg->watch_max_streams);
	}
	resp->status = 200;
	resp->content_type = "text/event-stream";
	resp->stream = c;
	resp->attach = changes_attach;
	resp->read = changes_read;
	resp->free_stream = changes_free;
	resp->send_timeout = ctx->cfg->watch_send_timeout;
	return 200;
}
