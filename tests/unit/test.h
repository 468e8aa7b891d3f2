/* A minimal unit-test harness. TEST(name) registers a case; CHECK() records a
 * failure and carries on; REQUIRE() stops the case. The runner (main.c) runs
 * all cases or one (--run NAME), lists them (--list), and closes with
 * "N passed, N failed". */
#pragma once

#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *expr);
int test_failed_now(void);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	static struct test_case tc_##name = {#name, test_##name, NULL};                            \
	__attribute__((constructor)) static void reg_##name(void)                                  \
	{                                                                                          \
		test_register(&tc_##name);                                                         \
	}                                                                                          \
	static void test_##name(void)

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if (!(expr))                                                                       \
			test_fail(__FILE__, __LINE__, #expr);                                      \
	} while (0)

#define REQUIRE(expr)                                                                              \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			test_fail(__FILE__, __LINE__, #expr);                                      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			fprintf(stderr, "  \"%s\" != \"%s\"\n", _a ? _a : "(null)",                \
				_b ? _b : "(null)");                                               \
			test_fail(__FILE__, __LINE__, #a " == " #b);                               \
		}                                                                                  \
	} while (0)
