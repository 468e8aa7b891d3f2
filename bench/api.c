/* bench/api: throughput and latency of the API on the SQLite store.
 *
 * Drives a running lepton-server over HTTP with keep-alive connections (one
 * per thread) and prints, per operation, requests/s and p50/p99 latency, with
 * GET / (a constant document: the HTTP and routing floor) as the baseline
 * measured in the same run. Operations: port create, port get, listing all
 * ports once 5,000 exist, and bulk port create ({"ports": [50 ports]} per
 * request, all-or-nothing), whose ports per second are printed against
 * single creates' in the same run.
 *
 *   bench-api URL [THREADS] [PORTS]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct buf {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static const char *base;

/* One request on a reused handle; returns the status, fills out. */
static long call(CURL *c, const char *method, const char *path, const char *body, struct buf *out)
{
	char url[512];
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	out->len = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (!body)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L),
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static CURL *handle(void)
{
	static struct curl_slist *h;
	CURL *c = curl_easy_init();

	if (!h) {
		h = curl_slist_append(h, "Content-Type: application/json");
		h = curl_slist_append(h, "X-Project-Id: bench");
		h = curl_slist_append(h, "X-Roles: admin");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	return c;
}

enum op { OP_ROOT, OP_CREATE, OP_GET, OP_LIST, OP_BULK };

#define BULK_PORTS 50 /* ports per bulk create request */

struct worker {
	pthread_t t;
	enum op op;
	int n;
	double *lat;
	const char *net;
	char (*ids)[40];
	int nids;
	int failures;
	int seed;
};

static void *run(void *ud)
{
	struct worker *w = ud;
	CURL *c = handle();
	struct buf out = {0};
	char body[BULK_PORTS * 64 + 64], path[128];

	for (int i = 0; i < w->n; i++) {
		double t0 = now_ms();
		long st = 0;

		switch (w->op) {
		case OP_ROOT:
			st = call(c, "GET", "/", NULL, &out);
			break;
		case OP_CREATE:
			snprintf(body, sizeof(body), "{\"port\": {\"network_id\": \"%s\"}}",
				 w->net);
			st = call(c, "POST", "/v2.0/ports", body, &out);
			if (st == 201 && w->ids) {
				json_t *j = json_loads(out.data, 0, NULL);
				const char *id = json_string_value(
					json_object_get(json_object_get(j, "port"), "id"));

				if (id && w->nids < w->n)
					snprintf(w->ids[w->nids++], 40, "%s", id);
				json_decref(j);
			}
			break;
		case OP_GET:
			snprintf(path, sizeof(path), "/v2.0/ports/%s",
				 w->ids[(unsigned) (w->seed = w->seed * 1103515245 + 12345) %
					(unsigned) w->nids]);
			st = call(c, "GET", path, NULL, &out);
			break;
		case OP_LIST:
			st = call(c, "GET", "/v2.0/ports", NULL, &out);
			break;
		case OP_BULK: {
			size_t used = (size_t) snprintf(body, sizeof(body), "{\"ports\": [");

			for (int k = 0; k < BULK_PORTS; k++)
				used += (size_t) snprintf(body + used, sizeof(body) - used,
							  "%s{\"network_id\": \"%s\"}",
							  k ? ", " : "", w->net);
			snprintf(body + used, sizeof(body) - used, "]}");
			st = call(c, "POST", "/v2.0/ports", body, &out);
			break;
		}
		}
		w->lat[i] = now_ms() - t0;
		if (st / 100 != 2)
			w->failures++;
	}
	free(out.data);
	curl_easy_cleanup(c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

struct result {
	double rps, p50, p99;
	int failures;
};

static struct result measure(enum op op, int threads, int total, const char *net, char (*ids)[40],
			     int nids, char (*ret_ids)[40])
{
	struct worker w[64];
	double *all = calloc((size_t) total, sizeof(double));
	int per = total / threads, k = 0;
	double t0 = now_ms(), elapsed;
	struct result r = {0};

	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){.op = op,
				       .n = per,
				       .lat = calloc((size_t) per, sizeof(double)),
				       .net = net,
				       .ids = ret_ids ? NULL : ids,
				       .nids = nids,
				       .seed = i + 1};
		if (ret_ids)
			w[i].ids = calloc((size_t) per, 40);
		pthread_create(&w[i].t, NULL, run, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		memcpy(all + k, w[i].lat, sizeof(double) * (size_t) per);
		k += per;
		r.failures += w[i].failures;
		if (ret_ids) {
			for (int j = 0; j < w[i].nids; j++)
				memcpy(ret_ids[(size_t) (i * per + j)], w[i].ids[j], 40);
			free(w[i].ids);
		}
		free(w[i].lat);
	}
	elapsed = now_ms() - t0;
	qsort(all, (size_t) k, sizeof(double), cmp);
	r.rps = k / (elapsed / 1e3);
	r.p50 = all[k / 2];
	r.p99 = all[(size_t) (k * 99 / 100)];
	free(all);
	return r;
}

static void row(const char *name, struct result r, struct result base_r)
{
	printf("%-28s %10.0f %9.3f %9.3f %9.1fx %6d\n", name, r.rps, r.p50, r.p99,
	       r.p50 / base_r.p50, r.failures);
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 4, ports = argc > 3 ? atoi(argv[3]) : 5000;
	struct buf out = {0};
	char(*ids)[40];
	char net[40] = "", sub[256];
	struct result root, create, get, list, bulk;
	CURL *c;
	json_t *j;

	if (argc < 2 || threads < 1 || threads > 64 || ports < threads) {
		fprintf(stderr, "usage: bench-api URL [THREADS<=64] [PORTS]\n");
		return 2;
	}
	base = argv[1];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = handle();
	if (call(c, "POST", "/v2.0/networks", "{\"network\": {\"name\": \"bench\"}}", &out) !=
	    201) {
		fprintf(stderr, "cannot create the network: %s\n", out.data ? out.data : "");
		return 1;
	}
	j = json_loads(out.data, 0, NULL);
	snprintf(net, sizeof(net), "%s",
		 json_string_value(json_object_get(json_object_get(j, "network"), "id")));
	json_decref(j);
	snprintf(sub, sizeof(sub),
		 "{\"subnet\": {\"network_id\": \"%s\", \"cidr\": \"10.128.0.0/16\", "
		 "\"ip_version\": 4}}",
		 net);
	if (call(c, "POST", "/v2.0/subnets", sub, &out) != 201) {
		fprintf(stderr, "cannot create the subnet: %s\n", out.data ? out.data : "");
		return 1;
	}
	ids = calloc((size_t) ports, 40);
	root = measure(OP_ROOT, threads, 2000, net, NULL, 0, NULL);
	create = measure(OP_CREATE, threads, ports, net, NULL, 0, ids);
	get = measure(OP_GET, threads, 4000, net, ids, ports - ports % threads, NULL);
	list = measure(OP_LIST, 1, 20, net, NULL, 0, NULL);
	bulk = measure(OP_BULK, threads, (ports / BULK_PORTS / threads + 1) * threads, net, NULL, 0,
		       NULL);
	printf("lepton-server API on SQLite: %d threads, %d ports\n", threads, ports);
	printf("%-28s %10s %9s %9s %10s %6s\n", "operation", "req/s", "p50 ms", "p99 ms",
	       "p50/base", "errors");
	row("GET / (baseline)", root, root);
	row("port create", create, root);
	row("port get", get, root);
	char name[64];
	snprintf(name, sizeof(name), "list %d ports", ports);
	row(name, list, root);
	snprintf(name, sizeof(name), "port bulk create (%d/req)", BULK_PORTS);
	row(name, bulk, root);
	printf("ports created per second: single %.0f, bulk %.0f (%.2fx single)\n", create.rps,
	       bulk.rps * BULK_PORTS, bulk.rps * BULK_PORTS / create.rps);
	free(ids);
	free(out.data);
	curl_easy_cleanup(c);
	return create.failures + get.failures + list.failures + bulk.failures ? 1 : 0;
}
