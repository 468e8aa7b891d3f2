/* libmicrohttpd serving the metrics registry. */
#include "agent/metricsd.h"

#include <errno.h>
#include <microhttpd.h>
#include <string.h>
#include <unistd.h>
#include "base/listen.h"
#include "base/metrics.h"
#include "base/util.h"
#include "base/xalloc.h"

struct metricsd {
	struct MHD_Daemon *daemon;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;
	const char *type = METRICS_CONTENT_TYPE;
	char *body;
	enum MHD_Result r;

	(void) cls, (void) version, (void) upload_data;
	if (!*con_cls) { /* headers only so far */
		*con_cls = conn;
		return MHD_YES;
	}
	if (*upload_data_size) { /* a body: not wanted, dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!streq(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		body = xstrdup("Not found: this listener serves GET /metrics only.\n");
	} else if (!streq(method, "GET") && !streq(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		body = xstrdup("Method not allowed.\n");
	} else {
		body = metrics_render();
	}
	if (status != MHD_HTTP_OK)
		type = "text/plain; charset=utf-8";
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

int metricsd_start(const char *listen, struct metricsd **ret)
{
	struct metricsd *m;
	int fd = listen_tcp(listen);

	if (fd < 0)
		return fd;
	m = xcalloc(1, sizeof(*m));
	m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
				     answer, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned) 16,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30, MHD_OPTION_END);
	if (!m->daemon) {
		close(fd);
		free(m);
		return -EIO;
	}
	*ret = m;
	return 0;
}

void metricsd_stop(struct metricsd *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}
