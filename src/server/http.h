/* HTTP adapter: the only user of libmicrohttpd. It accepts connections on a
 * TCP address and optionally a UNIX socket, collects each request (bounded
 * body), hands it to one handler and sends what the handler answers: a whole
 * body, or a stream produced by a reader callback (chunked). One thread per
 * connection, so a stream's reader may block. */
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

struct http_response {
	int status;
	char *body; /* owned by the response; may be NULL */
	const char *content_type;
	/* Streaming: when `read` is set, body is ignored. read() fills buf and
	 * returns the byte count, 0 to wait-and-call-again is not allowed: it
	 * must block until it has data, and return -1 at the end. free_stream()
	 * is called once when the connection is done. */
	void *stream;
	ssize_t (*read)(void *stream, char *buf, size_t max);
	void (*free_stream)(void *stream);
};

typedef void (*http_handler_fn)(void *userdata, const struct http_request *req,
				struct http_response *resp);

struct http_server;

/* listen: "HOST:PORT" (IPv6 as "[::1]:PORT"). */
int http_start(const char *listen, const char *unix_path, size_t max_body, unsigned max_conns,
	       http_handler_fn handler, void *userdata, struct http_server **ret);
void http_stop(struct http_server *srv);
