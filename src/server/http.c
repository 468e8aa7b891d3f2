/* libmicrohttpd adapter. */
#include "server/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "base/listen.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

struct http_server {
	struct MHD_Daemon *tcp;
	struct MHD_Daemon *unix_d;
	char *unix_path;
	size_t max_body;
	http_handler_fn handler;
	void *userdata;
};

struct conn_state {
	struct strbuf body;
	bool has_body;
	bool too_large;
	struct http_param *query;
	size_t query_len, query_cap;
};

const char *http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *) req->conn, MHD_HEADER_KIND,
					   name);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct conn_state *cs = cls;

	(void) kind;
	if (cs->query_len >= 1024)
		return MHD_NO; /* bound the work a URL can cause */
	if (cs->query_len == cs->query_cap) {
		cs->query_cap = cs->query_cap ? cs->query_cap * 2 : 8;
		cs->query = xrealloc(cs->query, cs->query_cap * sizeof(*cs->query));
	}
	cs->query[cs->query_len++] = (struct http_param){key, value ? value : ""};
	return MHD_YES;
}

struct stream_ctx {
	void *stream;
	ssize_t (*read)(void *stream, char *buf, size_t max);
	void (*free_stream)(void *stream);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_ctx *sc = cls;
	ssize_t n;

	(void) pos;
	n = sc->read(sc->stream, buf, max);
	return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls)
{
	struct stream_ctx *sc = cls;

	if (sc->free_stream)
		sc->free_stream(sc->stream);
	free(sc);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct conn_state *cs = *con_cls;
	struct http_response resp = {0};
	struct MHD_Response *mr;
	enum MHD_Result ret;

	(void) version;
	if (!cs) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		cs = xcalloc(1, sizeof(*cs));
		if (cl && strtoull(cl, NULL, 10) > srv->max_body)
			cs->too_large = true;
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_data_size) {
		cs->has_body = true;
		if (!cs->too_large && cs->body.len + *upload_data_size > srv->max_body) {
			cs->too_large = true;
			strbuf_done(&cs->body);
		}
		if (!cs->too_large)
			strbuf_append_n(&cs->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, cs);
	struct http_request req = {
		.method = method,
		.path = url,
		.query = cs->query,
		.query_len = cs->query_len,
		.body = cs->has_body && !cs->too_large ? strbuf_str(&cs->body) : NULL,
		.body_size = cs->too_large ? 0 : cs->body.len,
		.body_too_large = cs->too_large,
		.conn = conn,
	};
	srv->handler(srv->userdata, &req, &resp);

	if (resp.read) {
		struct stream_ctx *sc = xmalloc(sizeof(*sc));

		*sc = (struct stream_ctx){resp.stream, resp.read, resp.free_stream};
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, sc,
						       stream_free);
		free(resp.body);
	} else {
		size_t len = resp.body ? strlen(resp.body) : 0;

		mr = MHD_create_response_from_buffer(len, resp.body ? resp.body : (char *) "",
						     resp.body ? MHD_RESPMEM_MUST_FREE
							       : MHD_RESPMEM_PERSISTENT);
	}
	if (!mr) {
		log_event(LOG_LVL_ERROR, "server.http_error", "method=%s path=%s err=no_memory",
			  method, url);
		return MHD_NO;
	}
	/* A handler that set no valid status would make MHD close the
	 * connection without an answer: the client gets a 500 instead, and
	 * the log says where. */
	if (resp.status < 100 || resp.status > 599) {
		log_event(LOG_LVL_ERROR, "server.http_error",
			  "method=%s path=%s err=bad_status status=%d", method, url, resp.status);
		MHD_destroy_response(mr);
		mr = MHD_create_response_from_buffer(0, (char *) "", MHD_RESPMEM_PERSISTENT);
		resp.status = 500;
		resp.content_type = NULL;
		if (!mr)
			return MHD_NO;
	}
	if (resp.content_type)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
	ret = MHD_queue_response(conn, (unsigned) resp.status, mr);
	if (ret != MHD_YES)
		log_event(LOG_LVL_ERROR, "server.http_error", "method=%s path=%s err=not_queued",
			  method, url);
	MHD_destroy_response(mr);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_state *cs = *con_cls;

	(void) cls, (void) conn, (void) toe;
	if (!cs)
		return;
	strbuf_done(&cs->body);
	free(cs->query);
	free(cs);
	*con_cls = NULL;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void) unlink(path);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* What libmicrohttpd reports (a connection refused at the limit, a thread
 * that could not start...) goes to our log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void) cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_event(LOG_LVL_WARN, "server.http_warning", "msg=%s", buf);
}

static struct MHD_Daemon *start_daemon(struct http_server *srv, int fd, unsigned max_conns)
{
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_POLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
				NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, max_conns,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 120, MHD_OPTION_END);
}

int http_start(const char *listen_addr, const char *unix_path, size_t max_body, unsigned max_conns,
	       http_handler_fn handler, void *userdata, struct http_server **ret)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	int fd;

	srv->max_body = max_body;
	srv->handler = handler;
	srv->userdata = userdata;
	fd = listen_tcp(listen_addr);
	if (fd < 0) {
		free(srv);
		return fd;
	}
	srv->tcp = start_daemon(srv, fd, max_conns);
	if (!srv->tcp) {
		close(fd);
		free(srv);
		return -EIO;
	}
	if (unix_path) {
		fd = listen_unix(unix_path);
		if (fd < 0) {
			http_stop(srv);
			return fd;
		}
		srv->unix_path = xstrdup(unix_path);
		srv->unix_d = start_daemon(srv, fd, max_conns);
		if (!srv->unix_d) {
			close(fd);
			http_stop(srv);
			return -EIO;
		}
	}
	*ret = srv;
	return 0;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->tcp)
		MHD_stop_daemon(srv->tcp);
	if (srv->unix_d)
		MHD_stop_daemon(srv->unix_d);
	if (srv->unix_path)
		(void) unlink(srv->unix_path);
	free(srv->unix_path);
	free(srv);
}
