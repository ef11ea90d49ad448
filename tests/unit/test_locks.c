// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include "check.h"
#include "collector.h"
#include "locks.h"

struct stage_ev {
	struct dblat_event ev;
	struct dblat_stage st;
};

static void feed(struct collector *c, uint32_t kind, uint64_t start, uint64_t end, uint32_t mode,
		 uint32_t relid, uint32_t count, const char *name)
{
	struct stage_ev e = {};

	e.ev.kind = DBLAT_EV_STAGE;
	e.ev.ts_ns = end;
	e.ev.tgid = e.ev.tid = 4242;
	strcpy(e.ev.comm, "postgres");
	e.st.kind = kind;
	e.st.start_ns = start;
	e.st.end_ns = end;
	e.st.lock_mode = mode;
	e.st.relid = relid;
	e.st.count = count;
	if (name)
		strcpy(e.st.name, name);
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e)), 0);
}

/* Inlined, it trips GCC 12's -Wdangling-pointer on open_memstream's buffer. */
static __attribute__((noinline)) char *render(const struct summary *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	locks_json(f, s);
	fclose(f);
	return buf;
}

static long pos(const char *s, const char *needle)
{
	const char *p = strstr(s, needle);

	return p ? p - s : -1;
}

TEST(locks_group_waits_by_tag_mode_and_relation)
{
	struct summary *s = summary_new();
	struct collector *c = collector_new(s, NULL, NULL);
	const struct server_waits *w = &s->locks;
	char *js;

	js = render(s);
	CHECK_STR(js, "");		/* no stage event: no section */
	free(js);
	/* tuple lock on relation 16384, RowExclusiveLock: twice */
	feed(c, DBLAT_STAGE_LOCK_WAIT, 1000, 3000, 3, 16384, 4, NULL);
	feed(c, DBLAT_STAGE_LOCK_WAIT, 5000, 10000, 3, 16384, 4, NULL);
	/* transactionid: field2 is no relation, whatever BPF passed */
	feed(c, DBLAT_STAGE_LOCK_WAIT, 0, 2000000, 5, 77, 5, NULL);
	feed(c, DBLAT_STAGE_LOCK_WAIT, 0, 1000000, 5, 78, 5, NULL);
	feed(c, DBLAT_STAGE_DEADLOCK, 9, 9, 0, 0, 0, NULL);
	feed(c, DBLAT_STAGE_LWLOCK_WAIT, 0, 500, 0, 0, 0, "WALWrite");
	feed(c, DBLAT_STAGE_LWLOCK_WAIT, 0, 700, 0, 0, 0, "WALWrite");
	feed(c, DBLAT_STAGE_BUFFER_READ, 100, 300, 0, 1259, 1, NULL);
	feed(c, DBLAT_STAGE_EXECUTE, 0, 50, 0, 0, 3, NULL);
	feed(c, DBLAT_STAGE_WAL_INSERT, 60, 60, 0, 0, 2, NULL);
	feed(c, DBLAT_STAGE_CHECKPOINT, 0, 1000, 0, 0, 0, NULL);

	CHECK_EQ_INT(w->nlocks, 2);
	CHECK_EQ_INT(w->locks[0].w.count, 2);
	CHECK_EQ_INT(w->locks[0].w.total_ns, 7000);
	CHECK_EQ_INT(w->locks[0].w.max_ns, 5000);
	CHECK_EQ_INT(w->locks[1].relid, 0);
	CHECK_EQ_INT(w->locks[1].w.count, 2);
	CHECK_EQ_INT(w->deadlocks, 1);
	CHECK_EQ_INT(w->nlwlocks, 1);
	CHECK_EQ_INT(w->lwlocks[0].w.total_ns, 1200);
	CHECK_EQ_INT(w->reads.count, 1);
	CHECK_EQ_INT(w->wal_inserts, 5);
	CHECK_EQ_INT(w->checkpoints, 1);
	/* the deadlock and the checkpoint are on the timeline */
	CHECK_EQ_INT(s->ntimeline, 2);

	js = render(s);
	/* longest total first; relid null for a transactionid */
	CHECK(strstr(js, "{\"locktag\":\"transactionid\",\"mode\":\"ShareLock\",\"relid\":null,\"count\":2,"
			 "\"total_us\":3000.000,\"mean_us\":1500.000,\"max_us\":2000.000}") != NULL);
	CHECK(strstr(js, "{\"locktag\":\"tuple\",\"mode\":\"RowExclusiveLock\",\"relid\":16384,\"count\":2,") != NULL);
	CHECK(pos(js, "transactionid") >= 0 && pos(js, "transactionid") < pos(js, "\"tuple\""));
	CHECK(strstr(js, "\"deadlocks\":1,") != NULL);
	CHECK(strstr(js, "{\"tranche\":\"WALWrite\",\"count\":2,") != NULL);
	CHECK(strstr(js, "\"wal_inserts\":5,\"checkpoints\":1}") != NULL);
	free(js);
	collector_free(c);
	summary_free(s);
}

TEST(locks_overflow_goes_to_other)
{
	struct summary *s = summary_new();
	struct collector *c = collector_new(s, NULL, NULL);
	char *js;
	uint32_t i;

	for (i = 0; i < LOCK_GROUPS_MAX + 3; i++)
		feed(c, DBLAT_STAGE_LOCK_WAIT, 0, 10, 1, 1000 + i, 0, NULL);
	CHECK_EQ_INT(s->locks.nlocks, LOCK_GROUPS_MAX);
	CHECK_EQ_INT(s->locks.locks_other.count, 3);
	js = render(s);
	CHECK(strstr(js, "{\"locktag\":\"other\",\"mode\":null,\"relid\":null,\"count\":3,") != NULL);
	free(js);
	collector_free(c);
	summary_free(s);
}
