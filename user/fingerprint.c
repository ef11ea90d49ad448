// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Statement fingerprints and statement classes.
 *
 * The fingerprint is built by one lexer over the statement text (PostgreSQL
 * lexical rules, standard_conforming_strings on): constants become $n,
 * comments and white space fold to single spaces, everything else is copied
 * as written. Placeholders are numbered after the highest $k the statement
 * already uses; finding that number takes a first lexing pass, run only when
 * the text contains a '$' at all. Nothing is allocated: the output buffer is
 * the only memory written.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fingerprint.h"

enum tok {
	T_END,
	T_SPACE,	/* white space or a comment */
	T_IDENT,	/* identifier or key word */
	T_QIDENT,	/* "quoted identifier" */
	T_CONST,	/* string, dollar-quoted string or number */
	T_PARAM,	/* $k */
	T_OPEN,		/* ( or [ */
	T_CLOSE,	/* ) or ] */
	T_COMMA,
	T_SEMI,
	T_OP,		/* one operator character */
	T_OTHER,	/* any other single character */
};

struct lexer {
	const char *s;
	size_t n;
	size_t i;		/* next byte to read */
	/* the token just lexed */
	enum tok kind;
	size_t start, end;
	bool open;		/* string, quoted identifier or comment left open at the end */
	uint32_t param;		/* the k of a T_PARAM (saturating) */
	/* the last token that was not space, for telling a sign from a minus */
	enum tok prev;
	size_t pstart, pend;
};

enum { C_SPACE = 1, C_DIGIT = 2, C_IDSTART = 4, C_DOLLAR = 8, C_OP = 16 };

static const uint8_t cclass[256] = {
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\r'] = C_SPACE,
	['\f'] = C_SPACE, ['\v'] = C_SPACE,
	['0' ... '9'] = C_DIGIT,
	['a' ... 'z'] = C_IDSTART, ['A' ... 'Z'] = C_IDSTART, ['_'] = C_IDSTART,
	[0x80 ... 0xff] = C_IDSTART,
	['$'] = C_DOLLAR,
	['+'] = C_OP, ['-'] = C_OP, ['*'] = C_OP, ['/'] = C_OP, ['<'] = C_OP, ['>'] = C_OP,
	['='] = C_OP, ['~'] = C_OP, ['!'] = C_OP, ['@'] = C_OP, ['#'] = C_OP, ['%'] = C_OP,
	['^'] = C_OP, ['&'] = C_OP, ['|'] = C_OP, ['`'] = C_OP, ['?'] = C_OP,
};

static inline bool is_space(unsigned char c)
{
	return cclass[c] & C_SPACE;
}

static inline bool is_digit(unsigned char c)
{
	return cclass[c] & C_DIGIT;
}

static inline bool is_ident_start(unsigned char c)
{
	return cclass[c] & C_IDSTART;
}

static inline bool is_ident_cont(unsigned char c)
{
	return cclass[c] & (C_IDSTART | C_DIGIT | C_DOLLAR);
}

static inline bool is_op_char(unsigned char c)
{
	return cclass[c] & C_OP;
}

static inline unsigned char at(const struct lexer *l, size_t i)
{
	return i < l->n ? (unsigned char)l->s[i] : 0;
}

static bool digit_in_base(unsigned char c, int base)
{
	switch (base) {
	case 16:
		return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	case 8:
		return c >= '0' && c <= '7';
	case 2:
		return c == '0' || c == '1';
	default:
		return is_digit(c);
	}
}

/* Digits of one base with single underscores between them, from i. */
static size_t scan_digits(const struct lexer *l, size_t i, int base)
{
	while (i < l->n) {
		if (digit_in_base(at(l, i), base))
			i++;
		else if (at(l, i) == '_' && digit_in_base(at(l, i + 1), base) && i > 0 &&
			 digit_in_base(at(l, i - 1), base))
			i += 2;
		else
			break;
	}
	return i;
}

/* A numeric literal starting at i (a digit, or '.' and a digit); returns its end. */
static size_t scan_number(const struct lexer *l, size_t i)
{
	unsigned char c = at(l, i + 1) | 0x20;

	if (at(l, i) == '0' && (c == 'x' || c == 'o' || c == 'b')) {
		int base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
		size_t j = i + 2;

		if (at(l, j) == '_')
			j++;
		if (digit_in_base(at(l, j), base))
			return scan_digits(l, j, base);
	}
	if (at(l, i) != '.')
		i = scan_digits(l, i, 10);
	/* "1..5" is 1 followed by "..": the dot belongs to the range */
	if (at(l, i) == '.' && at(l, i + 1) != '.') {
		i++;
		if (is_digit(at(l, i)))
			i = scan_digits(l, i, 10);
	}
	if ((at(l, i) | 0x20) == 'e') {
		size_t j = i + 1;

		if (at(l, j) == '+' || at(l, j) == '-')
			j++;
		if (is_digit(at(l, j)))
			i = scan_digits(l, j, 10);
	}
	return i;
}

/* A quoted string whose opening quote is at i; backslash escapes if esc. */
static size_t scan_quoted(struct lexer *l, size_t i, char q, bool esc)
{
	for (i++; i < l->n; i++) {
		char c = l->s[i];

		if (esc && c == '\\') {
			i++;
			continue;
		}
		if (c == q) {
			if (at(l, i + 1) == (unsigned char)q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	l->open = true;
	return l->n;
}

/* After the '$' at i: the end of a "$tag$" opener, or 0 if there is none. */
static size_t dollar_tag_end(const struct lexer *l, size_t i)
{
	size_t j = i + 1;

	if (is_ident_start(at(l, j))) {
		j++;
		while (j < l->n && is_ident_cont(at(l, j)) && at(l, j) != '$')
			j++;
	}
	return at(l, j) == '$' ? j + 1 : 0;
}

static size_t scan_dollar_string(struct lexer *l, size_t i, size_t body)
{
	size_t taglen = body - i, j;

	for (j = body; j + taglen <= l->n; j++) {
		if (l->s[j] == '$' && !memcmp(l->s + j, l->s + i, taglen))
			return j + taglen;
	}
	l->open = true;
	return l->n;
}

static size_t scan_comment(struct lexer *l, size_t i)
{
	unsigned depth = 0;

	while (i < l->n) {
		if (l->s[i] == '/' && at(l, i + 1) == '*') {
			depth++;
			i += 2;
		} else if (l->s[i] == '*' && at(l, i + 1) == '/') {
			i += 2;
			if (--depth == 0)
				return i;
		} else {
			i++;
		}
	}
	l->open = true;
	return l->n;
}

/* Key words after which an expression starts, so '-' there is a sign. */
static bool starts_expression(const char *s, size_t n)
{
#define W(w) { w, sizeof(w) - 1 }
	static const struct {
		char w[10];
		size_t n;
	} words[] = {
		W("all"), W("and"), W("any"), W("array"), W("between"), W("by"), W("case"),
		W("default"), W("distinct"), W("do"), W("else"), W("escape"), W("fetch"),
		W("first"), W("for"), W("from"), W("having"), W("ilike"), W("in"), W("is"),
		W("like"), W("limit"), W("next"), W("not"), W("offset"), W("on"), W("or"),
		W("return"), W("returning"), W("row"), W("rows"), W("select"), W("set"),
		W("similar"), W("some"), W("then"), W("to"), W("using"), W("values"), W("when"),
		W("where"), W("with"),
	};
#undef W
	char low[10];
	size_t i;

	if (n < 2 || n > 9)
		return false;
	for (i = 0; i < n; i++)
		low[i] = (char)(s[i] | 0x20);	/* only letters can match */
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (words[i].n == n && words[i].w[0] == low[0] && !memcmp(words[i].w, low, n))
			return true;
	}
	return false;
}

/*
 * Whether a '-' now is a sign: after an operator, '(', '[', ',', ';', ':',
 * a key word that starts an expression, or at the start.
 */
static bool sign_ok(const struct lexer *l)
{
	switch (l->prev) {
	case T_END:
	case T_OP:
	case T_OPEN:
	case T_COMMA:
	case T_SEMI:
		return true;
	case T_OTHER:
		return l->s[l->pstart] == ':';
	case T_IDENT:
		return starts_expression(l->s + l->pstart, l->pend - l->pstart);
	default:
		return false;
	}
}

/* Lexes the next token. */
static enum tok lex(struct lexer *l)
{
	size_t i = l->i;
	unsigned char c = at(l, i), d = at(l, i + 1);
	enum tok k;

	l->open = false;
	l->start = i;
	if (i >= l->n)
		return l->kind = T_END, l->end = i, T_END;

	if (is_space(c)) {
		while (i < l->n && is_space(at(l, i)))
			i++;
		k = T_SPACE;
	} else if (c == '-' && d == '-') {
		const char *nl = memchr(l->s + i, '\n', l->n - i);

		i = nl ? (size_t)(nl - l->s) + 1 : l->n;
		k = T_SPACE;
	} else if (c == '/' && d == '*') {
		i = scan_comment(l, i);
		k = T_SPACE;
	} else if (c == '\'') {
		i = scan_quoted(l, i, '\'', false);
		k = T_CONST;
	} else if ((c | 0x20) == 'e' && d == '\'') {
		i = scan_quoted(l, i + 1, '\'', true);
		k = T_CONST;
	} else if (((c | 0x20) == 'b' || (c | 0x20) == 'x' || (c | 0x20) == 'n') && d == '\'') {
		i = scan_quoted(l, i + 1, '\'', false);
		k = T_CONST;
	} else if ((c | 0x20) == 'u' && d == '&' && at(l, i + 2) == '\'') {
		i = scan_quoted(l, i + 2, '\'', false);
		k = T_CONST;
	} else if (is_ident_start(c)) {
		while (i < l->n && is_ident_cont(at(l, i)))
			i++;
		k = T_IDENT;
	} else if (c == '"') {
		i = scan_quoted(l, i, '"', false);
		k = T_QIDENT;
	} else if (is_digit(c) || (c == '.' && is_digit(d))) {
		i = scan_number(l, i);
		k = T_CONST;
	} else if (c == '-' && (is_digit(d) || (d == '.' && is_digit(at(l, i + 2)))) && sign_ok(l)) {
		i = scan_number(l, i + 1);
		k = T_CONST;
	} else if (c == '$' && is_digit(d)) {
		uint32_t v = 0;

		for (i++; i < l->n && is_digit(at(l, i)); i++)
			v = v > (UINT32_MAX - 9) / 10 ? UINT32_MAX : v * 10 + (at(l, i) - '0');
		l->param = v;
		k = T_PARAM;
	} else if (c == '$' && dollar_tag_end(l, i)) {
		i = scan_dollar_string(l, i, dollar_tag_end(l, i));
		k = T_CONST;
	} else {
		i++;
		k = c == '(' || c == '[' ? T_OPEN : c == ')' || c == ']' ? T_CLOSE :
		    c == ',' ? T_COMMA : c == ';' ? T_SEMI : is_op_char(c) ? T_OP : T_OTHER;
	}
	l->i = l->end = i;
	return l->kind = k;
}

struct writer {
	char *out;
	size_t cap;		/* bytes usable: outsz - 1 */
	size_t len;
	size_t kept;		/* length up to the last token that is not ';' */
	size_t ends[4];		/* ends of the last tokens written, for cutting */
	unsigned nends;
	bool full;
};

static void put(struct writer *w, const char *p, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->out + w->len, p, n);
	w->len += n;
}

static void put_char(struct writer *w, char c)
{
	put(w, &c, 1);
}

/* The output could not hold everything: cut at a token end and add "...". */
static void cut(struct writer *w, size_t at)
{
	size_t room = w->cap < 3 ? 0 : w->cap - 3, best = 0;
	unsigned k;

	if (at <= room) {
		best = at;
	} else {
		for (k = 0; k < 4 && k < w->nends; k++) {
			size_t e = w->ends[(w->nends - 1 - k) % 4];

			if (e <= room) {
				best = e;
				break;
			}
		}
	}
	w->len = best;
	w->full = false;
	put(w, "...", w->cap < 3 ? w->cap : 3);
}

static size_t put_uint(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static uint32_t max_param(const char *sql, size_t n)
{
	struct lexer l = { .s = sql, .n = n };
	uint32_t max = 0;

	if (!memchr(sql, '$', n))
		return 0;
	while (lex(&l) != T_END) {
		if (l.kind == T_PARAM && l.param > max)
			max = l.param;
	}
	return max;
}

size_t dblat_fingerprint(const char *sql, size_t n, bool truncated, char *out, size_t outsz)
{
	struct lexer l;
	struct writer w = { .out = out };
	bool space = false, dropped = false, overflow = false;
	uint64_t next;
	size_t tok_at = 0;

	if (!outsz)
		return 0;
	w.cap = outsz - 1;
	if (!sql) {
		sql = "";
		n = 0;
	}
	/* the wire text ends at its NUL */
	if (n) {
		const char *z = memchr(sql, '\0', n);

		if (z)
			n = (size_t)(z - sql);
	}
	next = (uint64_t)max_param(sql, n) + 1;
	l = (struct lexer){ .s = sql, .n = n };

	while (lex(&l) != T_END) {
		enum tok k = l.kind;

		if (k == T_SPACE) {
			space = true;
			continue;
		}
		/* A cut statement's last token may be incomplete: leave it out. */
		if (truncated && l.end == n) {
			dropped = true;
			break;
		}
		/* no closing quote: nothing after it is safe to show */
		if (k == T_QIDENT && l.open) {
			dropped = true;
			break;
		}
		if (w.full && k != T_SEMI) {
			/* what did not fit were ';' after the last token */
			tok_at = w.kept;
			overflow = true;
			break;
		}
		if (space && w.len)
			put_char(&w, ' ');
		space = false;
		tok_at = w.len;
		if (k == T_CONST) {
			char buf[24];

			buf[0] = '$';
			put(&w, buf, 1 + put_uint(buf + 1, next++));
		} else if (k == T_OTHER && ((unsigned char)sql[l.start] < 0x20 || sql[l.start] == 0x7f)) {
			put_char(&w, '?');
		} else {
			put(&w, sql + l.start, l.end - l.start);
		}
		if (k != T_SEMI) {
			if (w.full) {
				overflow = true;
				break;
			}
			w.kept = w.len;
			w.ends[w.nends++ % 4] = w.len;
		}
		l.prev = k;
		l.pstart = l.start;
		l.pend = l.end;
	}

	if (overflow) {
		cut(&w, tok_at);
	} else if (truncated || dropped) {
		if (w.full) {
			cut(&w, w.kept);
		} else {
			if (space && w.len)
				put_char(&w, ' ');
			put(&w, "...", 3);
			if (w.full)
				cut(&w, w.len);
		}
	} else {
		/* no trailing ';' or space */
		w.len = w.kept;
	}
	out[w.len] = '\0';
	return w.len;
}

/* Classification: a few words of the fingerprint, case-insensitively. */

struct words {
	const char *p;
};

static inline bool word_char(unsigned char c)
{
	return is_ident_cont(c);
}

static void skip_space(struct words *r)
{
	while (is_space((unsigned char)*r->p))
		r->p++;
}

/* The next word is w (whole word, any case): step over it and the spaces after. */
static bool take(struct words *r, const char *w)
{
	size_t n = strlen(w);

	if (strncasecmp(r->p, w, n) || word_char((unsigned char)r->p[n]))
		return false;
	r->p += n;
	skip_space(r);
	return true;
}

/* Step over one punctuation character c and the spaces after it. */
static bool take_char(struct words *r, char c)
{
	if (*r->p != c)
		return false;
	r->p++;
	skip_space(r);
	return true;
}

static bool take_word(struct words *r)
{
	const char *p = r->p;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			;
		if (!*p)
			return false;
		r->p = p + 1;
	} else if (is_ident_start((unsigned char)*p)) {
		while (word_char((unsigned char)*p))
			p++;
		r->p = p;
	} else {
		return false;
	}
	skip_space(r);
	return true;
}

/* Nothing but ')' and ';' left. */
static bool at_end(struct words *r)
{
	while (take_char(r, ')') || take_char(r, ';'))
		;
	return !*r->p;
}

/* "fn()" or "pg_catalog.fn()" and nothing after. */
static bool only_call(struct words r, const char *fn)
{
	if (take(&r, "pg_catalog") && !take_char(&r, '.'))
		return false;
	return take(&r, fn) && take_char(&r, '(') && take_char(&r, ')') && at_end(&r);
}

/* A select list of constants only: "$1", "$1 AS x, $2::int". */
static bool only_constants(struct words r)
{
	do {
		if (!take_char(&r, '$') || !is_digit((unsigned char)*r.p))
			return false;
		while (is_digit((unsigned char)*r.p))
			r.p++;
		skip_space(&r);
		while (r.p[0] == ':' && r.p[1] == ':') {
			r.p += 2;
			skip_space(&r);
			if (!take_word(&r))
				return false;
		}
		if (take(&r, "as") && !take_word(&r))
			return false;
	} while (take_char(&r, ','));
	return at_end(&r);
}

/* A catalog relation named after FROM or JOIN. */
static bool reads_catalog(const char *p)
{
	static const char *const rels[] = { "pg_type", "pg_attribute", "pg_namespace", "pg_class" };
	bool from = false;
	size_t i;

	while (*p) {
		const char *w = p;

		if (*p == '"') {	/* a quoted name is never one of these */
			for (p++; *p && *p != '"'; p++)
				;
			if (*p)
				p++;
			continue;
		}
		if (!is_ident_start((unsigned char)*p)) {
			p++;
			continue;
		}
		while (word_char((unsigned char)*p))
			p++;
		if ((p - w == 4 && !strncasecmp(w, "from", 4)) || (p - w == 4 && !strncasecmp(w, "join", 4))) {
			from = true;
			continue;
		}
		if (!from)
			continue;
		if (p - w == 10 && !strncasecmp(w, "pg_catalog", 10) && *p == '.')
			return true;
		for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
			if ((size_t)(p - w) == strlen(rels[i]) && !strncasecmp(w, rels[i], p - w))
				return true;
		}
	}
	return false;
}

enum stmt_class dblat_classify(const char *fp)
{
	struct words r = { fp ? fp : "" };

	skip_space(&r);
	while (take_char(&r, '(') || take_char(&r, ';'))
		;
	if (!*r.p)
		return STMT_PING;

	if (take(&r, "begin") || take(&r, "start") || take(&r, "commit") || take(&r, "end") ||
	    take(&r, "rollback") || take(&r, "abort") || take(&r, "savepoint") || take(&r, "release"))
		return STMT_TXN;
	if (take(&r, "prepare"))
		return take(&r, "transaction") ? STMT_TXN : STMT_WORK;

	if (take(&r, "set") || take(&r, "show"))
		return STMT_SETUP;
	if (take(&r, "reset"))
		return take(&r, "all") ? STMT_RESET : STMT_SETUP;
	if (take(&r, "discard") || take(&r, "deallocate"))
		return STMT_RESET;
	if (take(&r, "unlisten"))
		return take_char(&r, '*') ? STMT_RESET : STMT_WORK;
	if (take(&r, "close"))
		return take(&r, "all") ? STMT_RESET : STMT_WORK;

	if (take(&r, "vacuum") || take(&r, "analyze") || take(&r, "analyse") || take(&r, "reindex") ||
	    take(&r, "cluster") || take(&r, "checkpoint"))
		return STMT_MAINT;
	if (take(&r, "create")) {
		take(&r, "unique");
		return take(&r, "index") ? STMT_MAINT : STMT_WORK;
	}
	if (take(&r, "refresh"))
		return take(&r, "materialized") ? STMT_MAINT : STMT_WORK;

	if (take(&r, "select")) {
		if (only_constants(r))
			return STMT_PING;
		if (only_call(r, "pg_advisory_unlock_all"))
			return STMT_RESET;
		if (only_call(r, "version") || only_call(r, "current_schema"))
			return STMT_SETUP;
		return reads_catalog(r.p) ? STMT_SETUP : STMT_WORK;
	}
	if (take(&r, "with"))
		return reads_catalog(r.p) ? STMT_SETUP : STMT_WORK;
	return STMT_WORK;
}

const char *dblat_class_name(enum stmt_class c)
{
	static const char *const names[STMT_NCLASS] = {
		[STMT_WORK] = "work",
		[STMT_TXN] = "txn",
		[STMT_SETUP] = "setup",
		[STMT_RESET] = "reset",
		[STMT_PING] = "ping",
		[STMT_MAINT] = "maint",
	};

	return (unsigned)c < STMT_NCLASS ? names[c] : "unknown";
}
