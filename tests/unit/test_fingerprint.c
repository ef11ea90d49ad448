// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "fingerprint.h"

static char fpbuf[4096];

/* The fingerprint of a whole C string, into a large buffer. */
static const char *fp(const char *sql)
{
	size_t n = dblat_fingerprint(sql, strlen(sql), false, fpbuf, sizeof(fpbuf));

	if (n != strlen(fpbuf))
		return "(length mismatch)";
	return fpbuf;
}

static const char *fp_cut(const char *sql)
{
	size_t n = dblat_fingerprint(sql, strlen(sql), true, fpbuf, sizeof(fpbuf));

	if (n != strlen(fpbuf))
		return "(length mismatch)";
	return fpbuf;
}

static const char *fp_small(const char *sql, size_t outsz)
{
	size_t n = dblat_fingerprint(sql, strlen(sql), false, fpbuf, outsz);

	if (n != strlen(fpbuf) || n >= outsz)
		return "(length mismatch)";
	return fpbuf;
}

static const char *cls(const char *fingerprint)
{
	return dblat_class_name(dblat_classify(fingerprint));
}

TEST(fp_brief_examples)
{
	CHECK_STR(fp("select * from t where a = 17 and b='x''y'"), "select * from t where a = $1 and b=$2");
	CHECK_STR(fp("SELECT abalance FROM pgbench_accounts WHERE aid = $1;"),
		  "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	CHECK_STR(fp("UPDATE pgbench_accounts SET abalance = abalance + -42 WHERE aid = 7;"),
		  "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2");
	CHECK_STR(fp("INSERT INTO t VALUES (1, 'a'), (2, E'b\\'c')"), "INSERT INTO t VALUES ($1, $2), ($3, $4)");
	CHECK_STR(fp("SELECT $1, 5"), "SELECT $1, $2");
	CHECK_STR(fp("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"),
		  "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	CHECK_STR(fp("select 1"), "select $1");
}

TEST(fp_empty_and_blank)
{
	CHECK_STR(fp(""), "");
	CHECK_STR(fp("   \t\n "), "");
	CHECK_STR(fp(";"), "");
	CHECK_STR(fp(" ; ;; "), "");
	CHECK_STR(fp("-- only a comment"), "");
	CHECK_EQ_INT(dblat_fingerprint(NULL, 0, false, fpbuf, sizeof(fpbuf)), 0);
}

TEST(fp_whitespace_folds)
{
	CHECK_STR(fp("  select\t\ta ,\n\n  b\r\nfrom   t  "), "select a , b from t");
	CHECK_STR(fp("select 1 ;  "), "select $1");
	CHECK_STR(fp("select 1; select 2;"), "select $1; select $2");
}

TEST(fp_comments)
{
	CHECK_STR(fp("select /* c */ 1 -- tail"), "select $1");
	CHECK_STR(fp("select a/**/from t"), "select a from t");
	CHECK_STR(fp("select /* a /* nested */ still comment */ x"), "select x");
	CHECK_STR(fp("select x -- 42\n, y"), "select x , y");
	CHECK_STR(fp("select 1 /* unterminated"), "select $1");
}

TEST(fp_numbering_after_params)
{
	CHECK_STR(fp("select $3, 1, $1, 'a'"), "select $3, $4, $1, $5");
	/* a $k inside a string or a comment is not a parameter */
	CHECK_STR(fp("select '$9', 1 /* $7 */"), "select $1, $2");
	CHECK_STR(fp("select $2 -- $5\n"), "select $2");
}

TEST(fp_numbers)
{
	CHECK_STR(fp("select 1.5, .5, 1., 1e-5, 2E+10, 3e4"), "select $1, $2, $3, $4, $5, $6");
	CHECK_STR(fp("select 0x1F, 0o17, 0b101, 1_000_000, 0x_ff"), "select $1, $2, $3, $4, $5");
	CHECK_STR(fp("select a[1:2] from t"), "select a[$1:$2] from t");
	CHECK_STR(fp("select 1::int, '5'::numeric(10,2)"), "select $1::int, $2::numeric($3,$4)");
}

TEST(fp_identifiers_with_digits)
{
	CHECK_STR(fp("select t1.col_2, x1y, a$1 from t1"), "select t1.col_2, x1y, a$1 from t1");
	CHECK_STR(fp("select \"col 1\", \"a'b\" from \"T2\" where c3 = 3"),
		  "select \"col 1\", \"a'b\" from \"T2\" where c3 = $1");
	CHECK_STR(fp("select \"a\"\"b\", 1"), "select \"a\"\"b\", $1");
	CHECK_STR(fp("select U&\"d\\0061t\" from t"), "select U&\"d\\0061t\" from t");
}

TEST(fp_unary_minus)
{
	CHECK_STR(fp("select -5"), "select $1");
	CHECK_STR(fp("where a = -5"), "where a = $1");
	CHECK_STR(fp("where a=-5"), "where a=$1");
	CHECK_STR(fp("select a - 5, a-5, a -5"), "select a - $1, a-$2, a -$3");
	CHECK_STR(fp("select f(-1, -2.5), (-.5)"), "select f($1, $2), ($3)");
	CHECK_STR(fp("select x*-1, 3-2"), "select x*$1, $2-$3");
	CHECK_STR(fp("select array[-1,-2]"), "select array[$1,$2]");
	CHECK_STR(fp("select a from t where b between -1 and -2"), "select a from t where b between $1 and $2");
	CHECK_STR(fp("select (a) -1"), "select (a) -$1");
}

TEST(fp_prefixed_strings)
{
	CHECK_STR(fp("select B'101', X'ff', N'nat', U&'d\\0061t', e'x\\ny'"), "select $1, $2, $3, $4, $5");
	CHECK_STR(fp("select E'it\\'s', 'it''s', E'a''b'"), "select $1, $2, $3");
	CHECK_STR(fp("select U&'!0061' UESCAPE '!'"), "select $1 UESCAPE $2");
	/* a prefix letter inside a word is part of the identifier */
	CHECK_STR(fp("select type'x'"), "select type$1");
}

TEST(fp_casts_kept)
{
	CHECK_STR(fp("select 'x'::text, $1::int, CAST('2' AS bigint)"), "select $2::text, $1::int, CAST($3 AS bigint)");
	CHECK_STR(fp("select interval '1 day', date '2024-01-01'"), "select interval $1, date $2");
}

TEST(fp_dollar_quotes)
{
	CHECK_STR(fp("select $$it's $1$$, $1"), "select $2, $1");
	CHECK_STR(fp("select $fn$ body $$ inner $$ $fn$ || $x$y$x$"), "select $1 || $2");
	CHECK_STR(fp("select $tag$ unterminated"), "select $1");
	CHECK_STR(fp("select $ , 1"), "select $ , $1");
	CHECK_STR(fp("do $$begin perform 1; end$$ language plpgsql"), "do $1 language plpgsql");
}

TEST(fp_in_list_not_collapsed)
{
	CHECK_STR(fp("select * from t where id in (1, 2, 3)"), "select * from t where id in ($1, $2, $3)");
}

TEST(fp_unterminated)
{
	/* whole statement but an open string: still a constant */
	CHECK_STR(fp("select 'abc"), "select $1");
	CHECK_STR(fp("select E'abc\\'"), "select $1");
	/* an open quoted identifier hides the rest */
	CHECK_STR(fp("select \"abc 'x' 5"), "select ...");
}

TEST(fp_truncated)
{
	CHECK_STR(fp_cut("select * from t where a = 'secr"), "select * from t where a = ...");
	CHECK_STR(fp_cut("select * from t where a='secr"), "select * from t where a=...");
	CHECK_STR(fp_cut("select 1, 'a'"), "select $1, ...");	/* 'a' could go on as 'a''... */
	CHECK_STR(fp_cut("select abc"), "select ...");
	CHECK_STR(fp_cut("select a, 12"), "select a, ...");
	CHECK_STR(fp_cut("select a "), "select a ...");
	CHECK_STR(fp_cut("select $$ab"), "select ...");
	CHECK_STR(fp_cut("select a /* comm"), "select a ...");
	CHECK_STR(fp_cut(""), "...");
}

TEST(fp_tiny_output)
{
	const char *q = "select col from t where a = 1";

	CHECK_EQ_INT(dblat_fingerprint(q, strlen(q), false, fpbuf, 0), 0);
	CHECK_STR(fp_small(q, 1), "");
	CHECK_STR(fp_small(q, 2), ".");
	CHECK_STR(fp_small(q, 4), "...");
	CHECK_STR(fp_small(q, 5), "...");
	CHECK_STR(fp_small(q, 10), "select...");
	CHECK_STR(fp_small(q, 14), "select col...");
	/* exactly fits */
	CHECK_STR(fp_small(q, 31), "select col from t where a = $1");
	CHECK_STR(fp_small(q, 30), "select col from t where a...");
	CHECK_STR(fp_small(q, 29), "select col from t where a...");
	/* a placeholder is never cut in two */
	CHECK_STR(fp_small("select 'x', 'y'", 13), "select $1...");
	/* trailing ';' that do not fit are dropped anyway */
	CHECK_STR(fp_small("select 1;;;;;;;", 10), "select $1");
}

TEST(fp_long_input)
{
	static char q[200000];
	static char out[1024];
	size_t i, n = 0, len;

	n += (size_t)sprintf(q, "insert into t values ");
	for (i = 0; n < sizeof(q) - 64; i++)
		n += (size_t)sprintf(q + n, "(%zu, 'v%zu'), ", i, i);
	n += (size_t)sprintf(q + n, "(0, '')");
	len = dblat_fingerprint(q, n, false, out, sizeof(out));
	CHECK(len < sizeof(out));
	CHECK_EQ_INT(len, strlen(out));
	CHECK(len >= 3 && !strcmp(out + len - 3, "..."));
	CHECK(!strncmp(out, "insert into t values ($1, $2), ($3, $4)", 39));
	CHECK(!strchr(out, '\''));

	/* a long comment and long white space */
	memset(q, ' ', sizeof(q));
	memcpy(q, "select /*", 9);
	memcpy(q + sizeof(q) - 12, "*/ 1       ", 11);
	CHECK_STR(fp_small("", 1), "");
	len = dblat_fingerprint(q, sizeof(q) - 1, false, out, sizeof(out));
	CHECK_STR(out, "select $1");
	CHECK_EQ_INT(len, 9);
}

TEST(fp_stops_at_nul_and_bounds)
{
	const char q[] = "select 1\0 'secret'";
	/* n cuts the text short of its end: nothing past n is read */
	const char r[] = "select 12345678";

	CHECK_STR(fpbuf + 0 * dblat_fingerprint(q, sizeof(q) - 1, false, fpbuf, sizeof(fpbuf)), "select $1");
	dblat_fingerprint(r, 9, false, fpbuf, sizeof(fpbuf));
	CHECK_STR(fpbuf, "select $1");
	dblat_fingerprint("select a\x1b[31m", 13, false, fpbuf, sizeof(fpbuf));
	CHECK_STR(fpbuf, "select a?[$1m");
}

TEST(class_txn)
{
	CHECK_STR(cls("BEGIN"), "txn");
	CHECK_STR(cls("begin isolation level read committed"), "txn");
	CHECK_STR(cls("BEGIN ISOLATION LEVEL READ COMMITTED"), "txn");
	CHECK_STR(cls("START TRANSACTION READ ONLY"), "txn");
	CHECK_STR(cls("commit"), "txn");
	CHECK_STR(cls("END"), "txn");
	CHECK_STR(cls("ROLLBACK"), "txn");
	CHECK_STR(cls("ROLLBACK TO SAVEPOINT sp1"), "txn");
	CHECK_STR(cls("abort"), "txn");
	CHECK_STR(cls("SAVEPOINT sp1"), "txn");
	CHECK_STR(cls("RELEASE SAVEPOINT sp1"), "txn");
	CHECK_STR(cls("PREPARE TRANSACTION $1"), "txn");
	CHECK_STR(cls("COMMIT PREPARED $1"), "txn");
	CHECK_STR(cls("ROLLBACK PREPARED $1"), "txn");
	CHECK_STR(cls("PREPARE q AS SELECT $1"), "work");
	CHECK_STR(cls("ending"), "work");
}

TEST(class_setup)
{
	CHECK_STR(cls("SET search_path = public"), "setup");
	CHECK_STR(cls("show standard_conforming_strings"), "setup");
	CHECK_STR(cls("RESET search_path"), "setup");
	CHECK_STR(cls("select pg_catalog.version()"), "setup");
	CHECK_STR(cls("SELECT version()"), "setup");
	CHECK_STR(cls("select current_schema()"), "setup");
	CHECK_STR(cls("SELECT t.oid, t.typname FROM pg_catalog.pg_type AS t WHERE t.oid = $1"), "setup");
	CHECK_STR(cls("select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid"), "setup");
	CHECK_STR(cls("WITH RECURSIVE typeinfo_tree(oid) AS (SELECT ti.oid FROM pg_type ti) SELECT * FROM typeinfo_tree"),
		  "setup");
	CHECK_STR(cls("select n.nspname from PG_NAMESPACE n"), "setup");
	/* mentioned, but not read from */
	CHECK_STR(cls("select pg_type from t"), "work");
	CHECK_STR(cls("select version() from t"), "work");
	CHECK_STR(cls("select * from \"pg_type\"x"), "work");
}

TEST(class_reset)
{
	CHECK_STR(cls("DISCARD ALL"), "reset");
	CHECK_STR(cls("discard plans"), "reset");
	CHECK_STR(cls("RESET ALL"), "reset");
	CHECK_STR(cls("DEALLOCATE ALL"), "reset");
	CHECK_STR(cls("deallocate pdo_stmt_1"), "reset");
	CHECK_STR(cls("UNLISTEN *"), "reset");
	CHECK_STR(cls("UNLISTEN chan"), "work");
	CHECK_STR(cls("CLOSE ALL"), "reset");
	CHECK_STR(cls("close cur"), "work");
	CHECK_STR(cls("SELECT pg_advisory_unlock_all()"), "reset");
	CHECK_STR(cls("select pg_catalog.pg_advisory_unlock_all()"), "reset");
}

TEST(class_ping)
{
	CHECK_STR(cls(""), "ping");
	CHECK_STR(cls(";"), "ping");
	CHECK_STR(cls("  "), "ping");
	CHECK_STR(cls("SELECT $1"), "ping");
	CHECK_STR(cls(fp("SELECT 1")), "ping");
	CHECK_STR(cls(fp(";")), "ping");
	CHECK_STR(cls("select $1 as ok"), "ping");
	CHECK_STR(cls("select $1, $2::text AS \"x\""), "ping");
	CHECK_STR(cls("(SELECT $1)"), "ping");
	CHECK_STR(cls("SELECT $1 FROM t"), "work");
	CHECK_STR(cls("SELECT $1 + a"), "work");
	CHECK_STR(cls("SELECT $1 as"), "work");
}

TEST(class_maint)
{
	CHECK_STR(cls("VACUUM ANALYZE t"), "maint");
	CHECK_STR(cls("analyze t"), "maint");
	CHECK_STR(cls("CREATE INDEX i ON t (a)"), "maint");
	CHECK_STR(cls("create index concurrently i on t (a)"), "maint");
	CHECK_STR(cls("CREATE UNIQUE INDEX i ON t (a)"), "maint");
	CHECK_STR(cls("REINDEX TABLE t"), "maint");
	CHECK_STR(cls("CLUSTER t"), "maint");
	CHECK_STR(cls("CHECKPOINT"), "maint");
	CHECK_STR(cls("REFRESH MATERIALIZED VIEW CONCURRENTLY mv"), "maint");
	CHECK_STR(cls("CREATE TABLE t (a int)"), "work");
	CHECK_STR(cls("EXPLAIN ANALYZE SELECT $1"), "work");
}

TEST(class_work)
{
	CHECK_STR(cls("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), "work");
	CHECK_STR(cls("INSERT INTO t VALUES ($1)"), "work");
	CHECK_STR(cls("update t set a = $1"), "work");
	CHECK_STR(cls("DELETE FROM t"), "work");
	CHECK_STR(cls("WITH x AS (SELECT $1) SELECT * FROM x"), "work");
	CHECK_STR(cls("COPY t FROM STDIN"), "work");
	CHECK_STR(cls("  ((select a from t))"), "work");
	CHECK_STR(cls("settings"), "work");
}

TEST(class_names)
{
	CHECK_STR(dblat_class_name(STMT_WORK), "work");
	CHECK_STR(dblat_class_name(STMT_TXN), "txn");
	CHECK_STR(dblat_class_name(STMT_SETUP), "setup");
	CHECK_STR(dblat_class_name(STMT_RESET), "reset");
	CHECK_STR(dblat_class_name(STMT_PING), "ping");
	CHECK_STR(dblat_class_name(STMT_MAINT), "maint");
	CHECK_STR(dblat_class_name(STMT_NCLASS), "unknown");
	CHECK_STR(cls(NULL), "ping");
}

TEST(fp_slice_and_colon)
{
	CHECK_STR(fp("select a[1:-2], b[:3] from t"), "select a[$1:$2], b[:$3] from t");
	CHECK_STR(fp("select a::int-1"), "select a::int-$1");
}

TEST(fp_case_and_keywords_kept)
{
	CHECK_STR(fp("SeLeCt CASE WHEN x THEN -1 ELSE 'n' END FROM \"MyTab\""),
		  "SeLeCt CASE WHEN x THEN $1 ELSE $2 END FROM \"MyTab\"");
	CHECK_STR(fp("select * from t limit 10 offset 20"), "select * from t limit $1 offset $2");
	CHECK_STR(fp("select count(*) from t where a is not null and b <> 'z' or c >= 1.5e3"),
		  "select count(*) from t where a is not null and b <> $1 or c >= $2");
}

TEST(fp_then_classify)
{
	/* client texts as sent, through the fingerprint, to the class */
	CHECK_STR(cls(fp("SELECT 1")), "ping");
	CHECK_STR(cls(fp("select pg_catalog.version()")), "setup");
	CHECK_STR(cls(fp("show standard_conforming_strings")), "setup");
	CHECK_STR(cls(fp("select current_schema()")), "setup");
	CHECK_STR(cls(fp("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;")), "setup");
	CHECK_STR(cls(fp("/* app */ BEGIN;")), "txn");
	CHECK_STR(cls(fp("SELECT pg_advisory_unlock_all();")), "reset");
	CHECK_STR(cls(fp("CLOSE ALL;\nUNLISTEN *;")), "reset");
	CHECK_STR(cls(fp("vacuum pgbench_branches")), "maint");
	CHECK_STR(cls(fp("UPDATE pgbench_tellers SET tbalance = tbalance + -4711 WHERE tid = 3;")), "work");
	CHECK_STR(cls(fp("SELECT 'hello' AS greeting")), "ping");
}

TEST(fp_no_literal_survives)
{
	static const char *const qs[] = {
		"select 'sec''ret', E'sec\\'ret', $q$sec'ret$q$, 31337, -31337, 3.1337e3",
		"insert into users(name, pin) values ('bob', 1234), (N'al''ice', 0x4d2)",
		"update t set v = B'1010', w = X'BEEF' where k = U&'\\0041'",
	};
	size_t i;

	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		const char *o = fp(qs[i]);

		CHECK(!strchr(o, '\''));
		CHECK(!strstr(o, "sec") && !strstr(o, "bob") && !strstr(o, "ice") && !strstr(o, "BEEF"));
		CHECK(!strstr(o, "1337") && !strstr(o, "1234") && !strstr(o, "4d2") && !strstr(o, "1010"));
	}
}
