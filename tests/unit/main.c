/* Runner for the unit tests registered with TEST(). */
#include <stdlib.h>
#include "test.h"

static struct test_case *head;
static int current_failed;

void test_register(struct test_case *tc)
{
	struct test_case **p = &head;

	/* Keep registration (file) order. */
	while (*p)
		p = &(*p)->next;
	*p = tc;
}

void test_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, expr);
	current_failed = 1;
}

int test_failed_now(void)
{
	return current_failed;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int passed = 0, failed = 0, found = 0;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (struct test_case *t = head; t; t = t->next)
			printf("%s\n", t->name);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--run") == 0)
		only = argv[2];
	for (struct test_case *t = head; t; t = t->next) {
		if (only && strcmp(only, t->name) != 0)
			continue;
		found++;
		current_failed = 0;
		t->fn();
		if (current_failed) {
			failed++;
			printf("FAIL %s\n", t->name);
		} else {
			passed++;
			printf("ok   %s\n", t->name);
		}
	}
	if (only && !found) {
		fprintf(stderr, "no test named %s\n", only);
		return 2;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
