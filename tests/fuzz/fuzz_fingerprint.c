// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for dblat_fingerprint and dblat_classify.
 *
 * Input: a flags byte, an output size byte, a cut byte, then the statement.
 * In raw mode the statement is the remaining bytes as they are; in built
 * mode each byte picks either a literal (strings carry the marker "ZQ") or
 * a separator, so that any marker in the output is a
 * literal that leaked. Both modes check that nothing is written past outsz,
 * that the output is NUL-terminated with the returned length, that no '
 * appears outside a double-quoted identifier, and that every digit in the
 * output belongs to a $n or to an identifier.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

static const char *const literals[] = {
	"'ZQ'", "'Z''Q'", "E'Z\\'Q'", "e'ZQ\\\\'", "B'ZQ'", "X'ZQ'", "N'ZQ'", "U&'ZQ'",
	"$$ZQ$$", "$t$Z$$Q$t$", "$_x1$ZQ$_x1$", "98765", "9.8765", ".98765", "98765.",
	"9e8765", "0x98765", "0o7654", "0b1011", "98_765", "-98765", "'ZQ' 'ZQ'", "E'\\\\'",
	"'Z\tQ'",
};
#define NLIT (sizeof(literals) / sizeof(literals[0]))

/*
 * Pieces between literals. None can make a literal part of text that is
 * copied as written: no quotes, and '$' only before a digit (a lone '$' could
 * open a dollar quote that pairs with one inside a literal).
 */
static const char *const seps[] = {
	" ", "\t", "\n", ",", "(", ")", "[", "]", "+", "-", "*", "/", "<", ">", "=", ";",
	":", ".", "&", "|", "a", "b", "e", "E", "u", "U", "n", "N", "x", "X", "t", "_",
	"from", "where", "select", "1", "$1", "$23", "x$1", "::int", "--", "/*", "*/",
};
#define NSEP (sizeof(seps) / sizeof(seps[0]))

static const char *cur_sql;
static size_t cur_n;

static void fail(const char *why, const char *out)
{
	fprintf(stderr, "fingerprint check failed: %s\n  input: \"%.*s\"\n  output: \"%s\"\n", why,
		(int)cur_n, cur_sql, out);
	abort();
}

static void check_output(const char *out, size_t len, size_t outsz, bool built)
{
	bool quoted = false;
	size_t i;

	if (!outsz) {
		if (len)
			fail("output with outsz 0", "");
		return;
	}
	if (len >= outsz || out[len] != '\0' || strlen(out) != len)
		fail("length or NUL", "");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i], p = i ? (unsigned char)out[i - 1] : 0;

		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (c == '\'')
			fail("quote outside an identifier", out);
		if (c >= '0' && c <= '9') {
			bool ident = (p >= 'a' && p <= 'z') || (p >= 'A' && p <= 'Z') || p == '_' ||
				     p == '$' || p >= 0x80 || (p >= '0' && p <= '9');
			if (!ident)
				fail("digit outside $n or an identifier", out);
		}
	}
	/* numbers are covered by the digit rule above ($98 is a placeholder) */
	if (built && (strstr(out, "ZQ") || strstr(out, "Z'") || strstr(out, "Z$")))
		fail("marker of a literal", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[8192];
	size_t n = 0, outsz, len, i;
	bool truncated, built;
	char *sql, *out, *z;

	if (size < 3)
		return 0;
	truncated = data[0] & 1;
	built = data[0] & 2;
	outsz = data[1] & 0x80 ? (size_t)data[1] * 8 : data[1];
	if (built) {
		for (i = 3; i < size && n < sizeof(text) - 32; i++) {
			uint8_t b = data[i];

			if (b < 0x40) {
				const char *lit = literals[b % NLIT];

				text[n++] = ' ';
				memcpy(text + n, lit, strlen(lit));
				n += strlen(lit);
			} else {
				const char *sep = seps[b % NSEP];

				memcpy(text + n, sep, strlen(sep));
				n += strlen(sep);
			}
		}
		if (truncated && n)
			n = n * data[2] / 255;
	} else {
		n = size - 3;
		memcpy(text, data + 3, n < sizeof(text) ? n : sizeof(text));
		if (n > sizeof(text))
			n = sizeof(text);
	}

	/* exact-size copies so that any read or write past them is caught */
	sql = malloc(n ? n : 1);
	out = malloc(outsz ? outsz : 1);
	if (!sql || !out)
		abort();
	memcpy(sql, text, n);
	cur_sql = sql;
	cur_n = n;
	len = dblat_fingerprint(sql, n, truncated, out, outsz);
	check_output(out, len, outsz, built);
	if (outsz) {
		enum stmt_class c = dblat_classify(out);

		if ((unsigned)c >= STMT_NCLASS || !dblat_class_name(c))
			abort();
	}
	free(out);

	/* classify raw text too: it must cope with anything NUL-terminated */
	z = malloc(n + 1);
	if (!z)
		abort();
	memcpy(z, sql, n);
	z[n] = '\0';
	if ((unsigned)dblat_classify(z) >= STMT_NCLASS)
		abort();
	free(z);
	free(sql);
	return 0;
}
