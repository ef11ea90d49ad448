// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include "check.h"

#define MAX_TESTS 1024

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int ntests;
int test_failed_checks;

void test_register(const char *name, test_fn fn)
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests].fn = fn;
		ntests++;
	}
}

int main(int argc, char **argv)
{
	int i, passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	for (i = 0; i < ntests; i++) {
		if (only && !strstr(tests[i].name, only))
			continue;
		test_failed_checks = 0;
		tests[i].fn();
		if (test_failed_checks) {
			fprintf(stderr, "FAIL %s\n", tests[i].name);
			failed++;
		} else {
			passed++;
		}
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
