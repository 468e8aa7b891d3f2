/* libmicrohttpd adapter. */
#include "server/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
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

/* Seconds an idle connection (not a stream) is kept: Neutron's
 * client_socket_timeout. Clients that pool connections (Tempest, the SDKs)
 * check a pooled one before reuse, but a close that crosses their next
 * request makes it fail ("Remote end closed connection without
 * response"); the longer the timeout, the rarer that is. */
#define IDLE_TIMEOUT 900

struct http_server {
	struct MHD_Daemon *tcp;
	struct MHD_Daemon *unix_d;
	char *unix_path;
	size_t max_body;
	http_handler_fn handler;
	void *userdata;
	/* Guards the job queue, the streams' states and the flags. Lock order:
	 * a stream's own locks (its owner's), then this, then libmicrohttpd's. */
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct conn_state *jobs_head, *jobs_tail; /* read whole, waiting for a worker */
	pthread_t *workers;
	unsigned n_workers;
	bool workers_quit;
	bool stopping;
	struct http_stream *streams; /* every stream with a queued response */
};

enum conn_phase {
	CONN_READING,  /* the request comes in */
	CONN_QUEUED,   /* suspended, waiting for or in a worker */
	CONN_ANSWERED, /* resumed with resp filled */
};

struct conn_state {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method, *url;
	struct strbuf body;
	bool has_body;
	bool too_large;
	struct http_param *query;
	size_t query_len, query_cap;
	enum conn_phase phase;
	struct http_response resp;
	struct conn_state *next_job;
};

struct http_stream {
	struct http_server *srv;
	struct MHD_Connection *conn;
	void *stream;
	ssize_t (*read)(void *stream, char *buf, size_t max);
	void (*free_stream)(void *stream);
	bool suspended; /* waiting for http_stream_wake() */
	bool woken;	/* woken while not suspended: read again */
	struct http_stream *prev, *next;
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

void http_stream_wake(struct http_stream *hs)
{
	struct http_server *srv = hs->srv;

	pthread_mutex_lock(&srv->lock);
	if (hs->suspended) {
		hs->suspended = false;
		MHD_resume_connection(hs->conn);
	} else {
		hs->woken = true;
	}
	pthread_mutex_unlock(&srv->lock);
}

/* On the polling thread. A stream with nothing to send suspends its
 * connection (no polling, no thread) until it is woken. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *hs = cls;
	struct http_server *srv = hs->srv;
	ssize_t n;

	(void) pos;
	for (;;) {
		pthread_mutex_lock(&srv->lock);
		if (srv->stopping) {
			pthread_mutex_unlock(&srv->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		hs->woken = false;
		pthread_mutex_unlock(&srv->lock);
		n = hs->read(hs->stream, buf, max);
		if (n)
			return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
		pthread_mutex_lock(&srv->lock);
		if (!hs->woken && !srv->stopping) {
			hs->suspended = true;
			MHD_suspend_connection(hs->conn);
			pthread_mutex_unlock(&srv->lock);
			return 0;
		}
		pthread_mutex_unlock(&srv->lock); /* woken meanwhile: read again */
	}
}

static void stream_free(void *cls)
{
	struct http_stream *hs = cls;
	struct http_server *srv = hs->srv;

	/* First the owner's side: once free_stream() returns, nothing wakes
	 * the stream any more. */
	if (hs->free_stream)
		hs->free_stream(hs->stream);
	pthread_mutex_lock(&srv->lock);
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		srv->streams = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	pthread_mutex_unlock(&srv->lock);
	free(hs);
}

static struct MHD_Response *stream_response(struct http_server *srv, struct MHD_Connection *conn,
					    struct http_response *resp)
{
	struct http_stream *hs = xcalloc(1, sizeof(*hs));
	struct MHD_Response *mr;

	*hs = (struct http_stream){.srv = srv,
				   .conn = conn,
				   .stream = resp->stream,
				   .read = resp->read,
				   .free_stream = resp->free_stream};
	mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, hs,
					       stream_free);
	if (!mr) {
		if (hs->free_stream)
			hs->free_stream(hs->stream);
		free(hs);
		return NULL;
	}
	pthread_mutex_lock(&srv->lock);
	hs->next = srv->streams;
	if (srv->streams)
		srv->streams->prev = hs;
	srv->streams = hs;
	pthread_mutex_unlock(&srv->lock);
	if (resp->attach)
		resp->attach(resp->stream, hs);
	if (resp->send_timeout)
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, resp->send_timeout);
	if (resp->send_buffer > 0) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci)
			(void) setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &resp->send_buffer,
					  sizeof(resp->send_buffer));
	}
	return mr;
}

/* On the polling thread: turns the handler's answer into a response. */
static enum MHD_Result answer(struct http_server *srv, struct conn_state *cs)
{
	struct http_response *resp = &cs->resp;
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (resp->read) {
		free(resp->body);
		resp->body = NULL;
		mr = stream_response(srv, cs->conn, resp);
	} else {
		size_t len = resp->body ? strlen(resp->body) : 0;

		mr = MHD_create_response_from_buffer(len, resp->body ? resp->body : (char *) "",
						     resp->body ? MHD_RESPMEM_MUST_FREE
								: MHD_RESPMEM_PERSISTENT);
		if (!mr)
			free(resp->body);
		resp->body = NULL;
	}
	resp->read = NULL; /* the response owns the stream now */
	if (!mr) {
		log_event(LOG_LVL_ERROR, "server.http_error", "method=%s path=%s err=no_memory",
			  cs->method, cs->url);
		return MHD_NO;
	}
	/* A handler that set no valid status would make MHD close the
	 * connection without an answer: the client gets a 500 instead, and
	 * the log says where. */
	if (resp->status < 100 || resp->status > 599) {
		log_event(LOG_LVL_ERROR, "server.http_error",
			  "method=%s path=%s err=bad_status status=%d", cs->method, cs->url,
			  resp->status);
		MHD_destroy_response(mr);
		mr = MHD_create_response_from_buffer(0, (char *) "", MHD_RESPMEM_PERSISTENT);
		resp->status = 500;
		resp->content_type = NULL;
		if (!mr)
			return MHD_NO;
	}
	if (resp->content_type)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	ret = MHD_queue_response(cs->conn, (unsigned) resp->status, mr);
	if (ret != MHD_YES)
		log_event(LOG_LVL_ERROR, "server.http_error", "method=%s path=%s err=not_queued",
			  cs->method, cs->url);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result answer_unavailable(struct MHD_Connection *conn)
{
	static char msg[] = "{\"NeutronError\": {\"type\": \"ServiceUnavailable\", \"message\": "
			    "\"The server is stopping.\", \"detail\": \"\"}}";
	struct MHD_Response *mr =
		MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!mr)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, mr);
	MHD_destroy_response(mr);
	return ret;
}

static void *worker_main(void *arg)
{
	struct http_server *srv = arg;

	for (;;) {
		struct conn_state *cs;

		pthread_mutex_lock(&srv->lock);
		while (!srv->jobs_head && !srv->workers_quit)
			pthread_cond_wait(&srv->work, &srv->lock);
		cs = srv->jobs_head;
		if (!cs) {
			pthread_mutex_unlock(&srv->lock);
			return NULL;
		}
		srv->jobs_head = cs->next_job;
		if (!srv->jobs_head)
			srv->jobs_tail = NULL;
		pthread_mutex_unlock(&srv->lock);

		struct http_request req = {
			.method = cs->method,
			.path = cs->url,
			.query = cs->query,
			.query_len = cs->query_len,
			.body = cs->has_body && !cs->too_large ? strbuf_str(&cs->body) : NULL,
			.body_size = cs->too_large ? 0 : cs->body.len,
			.body_too_large = cs->too_large,
			.conn = cs->conn,
		};
		srv->handler(srv->userdata, &req, &cs->resp);
		cs->phase = CONN_ANSWERED;
		MHD_resume_connection(cs->conn);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct conn_state *cs = *con_cls;
	bool stopping;

	(void) version, (void) upload_data;
	if (!cs) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		cs = xcalloc(1, sizeof(*cs));
		cs->srv = srv;
		cs->conn = conn;
		cs->method = method;
		cs->url = url;
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
	if (cs->phase == CONN_ANSWERED)
		return answer(srv, cs);
	if (cs->phase == CONN_QUEUED)
		return MHD_YES; /* not expected: a queued connection is suspended */

	/* The request is whole: to a worker, the connection asleep meanwhile. */
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, cs);
	pthread_mutex_lock(&srv->lock);
	stopping = srv->stopping;
	if (!stopping) {
		cs->phase = CONN_QUEUED;
		MHD_suspend_connection(conn);
		if (srv->jobs_tail)
			srv->jobs_tail->next_job = cs;
		else
			srv->jobs_head = cs;
		srv->jobs_tail = cs;
		pthread_cond_signal(&srv->work);
	}
	pthread_mutex_unlock(&srv->lock);
	return stopping ? answer_unavailable(conn) : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_state *cs = *con_cls;

	(void) cls, (void) conn, (void) toe;
	if (!cs)
		return;
	/* An answer never queued (the connection closed first). */
	if (cs->resp.read && cs->resp.free_stream)
		cs->resp.free_stream(cs->resp.stream);
	free(cs->resp.body);
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
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* What libmicrohttpd reports (a connection refused at the limit...) goes to
 * our log. */
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
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
					MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
				NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, max_conns,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) IDLE_TIMEOUT,
				MHD_OPTION_END);
}

int http_start(const struct http_options *opt, http_handler_fn handler, void *userdata,
	       struct http_server **ret)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	unsigned workers = opt->workers ? opt->workers : 1;
	int fd, r;

	srv->max_body = opt->max_body;
	srv->handler = handler;
	srv->userdata = userdata;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	srv->workers = xcalloc(workers, sizeof(*srv->workers));
	for (; srv->n_workers < workers; srv->n_workers++) {
		r = -pthread_create(&srv->workers[srv->n_workers], NULL, worker_main, srv);
		if (r < 0) {
			http_stop(srv);
			return r;
		}
	}
	fd = listen_tcp(opt->listen);
	if (fd < 0) {
		http_stop(srv);
		return fd;
	}
	srv->tcp = start_daemon(srv, fd, opt->max_conns);
	if (!srv->tcp) {
		close(fd);
		http_stop(srv);
		return -EIO;
	}
	if (opt->unix_path) {
		fd = listen_unix(opt->unix_path);
		if (fd < 0) {
			http_stop(srv);
			return fd;
		}
		srv->unix_path = xstrdup(opt->unix_path);
		srv->unix_d = start_daemon(srv, fd, opt->max_conns);
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
	/* libmicrohttpd must not stop with a connection suspended: streams
	 * end (their reader answers the end from now on), requests being
	 * handled finish and resume, new ones get 503. */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	srv->workers_quit = true;
	for (struct http_stream *hs = srv->streams; hs; hs = hs->next) {
		if (hs->suspended) {
			hs->suspended = false;
			MHD_resume_connection(hs->conn);
		}
	}
	pthread_cond_broadcast(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		pthread_join(srv->workers[i], NULL);
	if (srv->tcp)
		MHD_stop_daemon(srv->tcp);
	if (srv->unix_d)
		MHD_stop_daemon(srv->unix_d);
	if (srv->unix_path)
		(void) unlink(srv->unix_path);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->work);
	free(srv->workers);
	free(srv->unix_path);
	free(srv);
}
