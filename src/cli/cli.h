/* The lepton CLI: shared state and helpers of the verbs. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cli {
	const char *url;
	const char *project;
	const char *roles;
	const char *token;
	const char *format; /* "table", "json", "value" */
	const char *columns[64];
	size_t n_columns;
};

/* HTTP: returns the status (or -1 when the server could not be reached,
 * after printing why); *ret_body gets the parsed answer (may be NULL). */
long cli_http(struct cli *c, const char *method, const char *path, json_t *body, json_t **ret_body);
/* Prints a NeutronError's message (or the status) to stderr. */
void cli_print_error(long status, json_t *body);

/* Output of one object (Field | Value) or a list (columns). */
void cli_show(struct cli *c, json_t *obj);
void cli_list(struct cli *c, json_t *arr, const char *default_columns);
