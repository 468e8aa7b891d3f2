/* Output like the neutron client's: a Field | Value table for one object, a
 * table of columns for a list; or JSON; or bare values. */
#include <stdio.h>
#include <string.h>
#include "base/strbuf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "cli/cli.h"

/* A cell's text: strings bare, lists one item a line, the rest as JSON. */
static char *cell(json_t *v)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *e;
	size_t i;

	if (!v || json_is_null(v))
		return xstrdup("");
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_true(v))
		return xstrdup("True");
	if (json_is_false(v))
		return xstrdup("False");
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			char *s = json_is_string(e) ? xstrdup(json_string_value(e))
						    : json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);

			strbuf_appendf(&sb, "%s%s", i ? "\n" : "", s);
			free(s);
		}
		return strbuf_steal(&sb);
	}
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

struct table {
	size_t ncols, nrows;
	char **cells; /* row-major, header first */
};

static size_t line_width(const char *s, size_t *ret_lines)
{
	size_t w = 0, cur = 0, lines = 1;

	for (; *s; s++) {
		if (*s == '\n') {
			lines++;
			cur = 0;
			continue;
		}
		if (++cur > w)
			w = cur;
	}
	*ret_lines = lines;
	return w;
}

/* The n-th line of a cell ("" past its end). */
static void nth_line(const char *s, size_t n, const char **start, size_t *len)
{
	while (n-- && s) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (!s) {
		*start = "";
		*len = 0;
		return;
	}
	*start = s;
	*len = strchr(s, '\n') ? (size_t) (strchr(s, '\n') - s) : strlen(s);
}

static void rule(const size_t *w, size_t ncols)
{
	for (size_t c = 0; c < ncols; c++) {
		putchar('+');
		for (size_t i = 0; i < w[c] + 2; i++)
			putchar('-');
	}
	puts("+");
}

static void print_row(struct table *t, size_t r, const size_t *w)
{
	size_t lines = 1;

	for (size_t c = 0; c < t->ncols; c++) {
		size_t l;

		line_width(t->cells[r * t->ncols + c], &l);
		if (l > lines)
			lines = l;
	}
	for (size_t l = 0; l < lines; l++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s;
			size_t len;

			nth_line(t->cells[r * t->ncols + c], l, &s, &len);
			printf("| %.*s%*s ", (int) len, s, (int) (w[c] - len), "");
		}
		puts("|");
	}
}

static void print_table(struct table *t)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t lines, cw = line_width(t->cells[r * t->ncols + c], &lines);

			if (cw > w[c])
				w[c] = cw;
		}
	rule(w, t->ncols);
	print_row(t, 0, w);
	rule(w, t->ncols);
	for (size_t r = 1; r < t->nrows; r++)
		print_row(t, r, w);
	rule(w, t->ncols);
	free(w);
}

static bool wanted(struct cli *c, const char *key)
{
	if (!c->n_columns)
		return true;
	for (size_t i = 0; i < c->n_columns; i++)
		if (streq(c->columns[i], key))
			return true;
	return false;
}

void cli_show(struct cli *c, json_t *obj)
{
	const char **keys;
	size_t n = 0;
	const char *k;
	json_t *v;

	if (streq(c->format, "json")) {
		json_t *o = json_object();

		json_object_foreach(obj, k, v) {
			if (wanted(c, k))
				json_object_set(o, k, v);
		}
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
		puts(s);
		free(s);
		json_decref(o);
		return;
	}
	keys = xcalloc(json_object_size(obj) + 1, sizeof(*keys));
	/* Sorted fields, as the neutron client shows them; -c keeps its order. */
	if (c->n_columns) {
		for (size_t i = 0; i < c->n_columns; i++)
			if (json_object_get(obj, c->columns[i]))
				keys[n++] = c->columns[i];
	} else {
		json_object_foreach(obj, k, v)
			keys[n++] = k;
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
				const char *t = keys[j];

				keys[j] = keys[j - 1];
				keys[j - 1] = t;
			}
	}
	if (streq(c->format, "value")) {
		for (size_t i = 0; i < n; i++) {
			char *s = cell(json_object_get(obj, keys[i]));

			puts(s);
			free(s);
		}
		free(keys);
		return;
	}
	struct table t = {2, n + 1, xcalloc((n + 1) * 2, sizeof(char *))};
	t.cells[0] = xstrdup("Field");
	t.cells[1] = xstrdup("Value");
	for (size_t i = 0; i < n; i++) {
		t.cells[(i + 1) * 2] = xstrdup(keys[i]);
		t.cells[(i + 1) * 2 + 1] = cell(json_object_get(obj, keys[i]));
	}
	print_table(&t);
	for (size_t i = 0; i < t.nrows * t.ncols; i++)
		free(t.cells[i]);
	free(t.cells);
	free(keys);
}

void cli_list(struct cli *c, json_t *arr, const char *default_columns)
{
	const char *cols[64];
	size_t ncols = 0;
	char *copy = xstrdup(default_columns);
	json_t *o;
	size_t i;

	if (streq(c->format, "json")) {
		json_t *out = json_array();

		json_array_foreach(arr, i, o) {
			json_t *x = json_object();
			const char *k;
			json_t *v;

			json_object_foreach(o, k, v) {
				if (wanted(c, k))
					json_object_set(x, k, v);
			}
			json_array_append_new(out, x);
		}
		char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
		puts(s);
		free(s);
		json_decref(out);
		free(copy);
		return;
	}
	if (c->n_columns) {
		for (size_t k = 0; k < c->n_columns && ncols < 64; k++)
			cols[ncols++] = c->columns[k];
	} else {
		for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && ncols < 64;
		     t = strtok_r(NULL, ",", &save))
			cols[ncols++] = t;
	}
	if (streq(c->format, "value")) {
		json_array_foreach(arr, i, o) {
			for (size_t k = 0; k < ncols; k++) {
				char *s = cell(json_object_get(o, cols[k]));

				for (char *p = s; *p; p++)
					if (*p == '\n')
						*p = ' ';
				printf("%s%s", k ? " " : "", s);
				free(s);
			}
			putchar('\n');
		}
		free(copy);
		return;
	}
	struct table t = {ncols, json_array_size(arr) + 1,
			  xcalloc((json_array_size(arr) + 1) * ncols, sizeof(char *))};
	for (size_t k = 0; k < ncols; k++)
		t.cells[k] = xstrdup(cols[k]);
	json_array_foreach(arr, i, o) {
		for (size_t k = 0; k < ncols; k++)
			t.cells[(i + 1) * ncols + k] = cell(json_object_get(o, cols[k]));
	}
	if (json_array_size(arr))
		print_table(&t);
	for (size_t k = 0; k < t.nrows * t.ncols; k++)
		free(t.cells[k]);
	free(t.cells);
	free(copy);
}
