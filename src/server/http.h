/* HTTP adapter: the only user of libmicrohttpd. It accepts connections on a
 * TCP address and optionally a UNIX socket, collects each request (bounded
 * body), hands it to one handler and sends what the handler answers: a whole
 * body, or a stream produced by a reader callback (chunked).
 *
 * Threads: one polling thread per listener does every connection's I/O with
 * epoll; no connection has a thread of its own. Handlers run on a pool of
 * `workers` threads: a request, once read whole, waits (suspended, without a
 * thread) for a free worker, and its connection goes back to the polling
 * thread with the answer. A stream takes no worker once the handler has
 * answered: its reader never blocks, and a stream with nothing to send
 * sleeps (suspended) until http_stream_wake(). So open streams cost a socket
 * and some memory each, and cannot take the workers that API requests need. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct http_param {
	const char *key;
	const char *value;
};

struct http_request {
	const char *method;
	const char *path;
	const struct http_param *query; /* in request order, repeats kept, decoded */
	size_t query_len;
	const char *body; /* NUL-terminated copy; NULL when none */
	size_t body_size;
	bool body_too_large; /* the body was over the limit and dropped */
	const void *conn;    /* for http_request_header() */
};

/* A request header's value, or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* The adapter's side of a streamed response: what wakes it. */
struct http_stream;

/* Wakes a stream whose read() answered 0: read() is called again soon. Any
 * thread; never after the stream's free_stream() has returned. */
void http_stream_wake(struct http_stream *hs);

struct http_response {
	int status;
	char *body; /* owned by the response; may be NULL */
	const char *content_type;
	/* Streaming: when `read` is set, body is ignored. attach() is called
	 * once, before the first read(), with the handle that wakes the stream.
	 * read() never blocks: it fills buf and returns the byte count, 0 when
	 * it has nothing to send yet (the connection then sleeps until
	 * http_stream_wake()), -1 at the end. free_stream() is called once when
	 * the connection is done (also when attach() was never called).
	 * send_timeout: seconds the client may take none of the stream's bytes
	 * while some wait for it before the connection is cut (0: the
	 * listener's idle timeout). send_buffer: the socket's send buffer in
	 * bytes (0: the kernel's, which grows to megabytes for a client that
	 * does not read). */
	void *stream;
	void (*attach)(void *stream, struct http_stream *hs);
	ssize_t (*read)(void *stream, char *buf, size_t max);
	void (*free_stream)(void *stream);
	unsigned send_timeout;
	int send_buffer;
};

typedef void (*http_handler_fn)(void *userdata, const struct http_request *req,
				struct http_response *resp);

struct http_options {
	const char *listen;    /* "HOST:PORT" (IPv6 as "[::1]:PORT") */
	const char *unix_path; /* also this UNIX socket; NULL: none */
	size_t max_body;
	unsigned max_conns; /* per listener, streams included */
	unsigned workers;   /* threads running the handler */
};

struct http_server;

int http_start(const struct http_options *opt, http_handler_fn handler, void *userdata,
	       struct http_server **ret);
/* Ends every stream (its read() is no longer called), lets the requests
 * being handled finish, then closes every connection. */
void http_stop(struct http_server *srv);
