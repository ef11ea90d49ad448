/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A small unit-test harness: TEST(name) { ... } registers itself; CHECK*
 * record failures with file:line and keep going, so one run shows them all.
 */
#ifndef DBLAT_CHECK_H
#define DBLAT_CHECK_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern int test_failed_checks;	/* checks failed in the running test */

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void reg_##name(void)	\
	{ test_register(#name, test_##name); }				\
	static void test_##name(void)

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		test_failed_checks++;					\
		fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

#define CHECK_EQ_INT(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	if (_a != _b) {							\
		test_failed_checks++;					\
		fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", \
			__FILE__, __LINE__, #a, _a, #b, _b);		\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *_a = (a), *_b = (b);				\
	if (!_a || !_b || strcmp(_a, _b)) {				\
		test_failed_checks++;					\
		fprintf(stderr, "  %s:%d: %s is \"%s\", expected \"%s\"\n", \
			__FILE__, __LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
	}								\
} while (0)

/* A pg_str against a C string. */
#define CHECK_PGSTR(s, lit) do {					\
	const char *_l = (lit);						\
	if ((s).n != strlen(_l) || memcmp((s).p, _l, (s).n)) {		\
		test_failed_checks++;					\
		fprintf(stderr, "  %s:%d: %s is \"%.*s\", expected \"%s\"\n", \
			__FILE__, __LINE__, #s, (int)(s).n, (s).p ? (s).p : "", _l); \
	}								\
} while (0)

#endif
