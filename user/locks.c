// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>
#include "locks.h"
#include "report.h"

/* The names pg_locks uses (PostgreSQL 15 has eleven lock tag types). */
const char *locktag_name(uint32_t t)
{
	static const char *const n[] = { "relation", "extend", "frozenid", "page", "tuple", "transactionid",
					 "virtualxid", "spectoken", "object", "userlock", "advisory",
					 "applytransaction" };

	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "unknown";
}

const char *lock_mode_name(uint32_t m)
{
	static const char *const n[] = { "NoLock", "AccessShareLock", "RowShareLock", "RowExclusiveLock",
					 "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
					 "ExclusiveLock", "AccessExclusiveLock" };

	return m < sizeof(n) / sizeof(n[0]) ? n[m] : "unknown";
}

static bool names_relation(uint32_t t)
{
	return t == 0 || t == 1 || t == 3 || t == 4;	/* relation, extend, page, tuple */
}

static void wait_add(struct wait_total *w, uint64_t ns)
{
	w->count++;
	w->total_ns += ns;
	if (ns > w->max_ns)
		w->max_ns = ns;
}

static void lock_wait(struct server_waits *w, const struct dblat_stage *st, uint64_t ns)
{
	uint32_t relid = names_relation(st->count) ? st->relid : 0, i;
	struct lock_wait_group *g;

	for (i = 0; i < w->nlocks; i++) {
		g = &w->locks[i];
		if (g->locktag == st->count && g->mode == st->lock_mode && g->relid == relid) {
			wait_add(&g->w, ns);
			return;
		}
	}
	if (w->nlocks == LOCK_GROUPS_MAX) {
		wait_add(&w->locks_other, ns);
		return;
	}
	g = &w->locks[w->nlocks++];
	g->locktag = st->count;
	g->mode = st->lock_mode;
	g->relid = relid;
	wait_add(&g->w, ns);
}

static void lwlock_wait(struct server_waits *w, const struct dblat_stage *st, uint64_t ns)
{
	char name[sizeof(st->name)];
	uint32_t i;

	memcpy(name, st->name, sizeof(name));
	name[sizeof(name) - 1] = 0;
	for (i = 0; i < w->nlwlocks; i++)
		if (!strcmp(w->lwlocks[i].tranche, name)) {
			wait_add(&w->lwlocks[i].w, ns);
			return;
		}
	if (w->nlwlocks == LWLOCK_GROUPS_MAX) {
		wait_add(&w->lwlocks_other, ns);
		return;
	}
	memcpy(w->lwlocks[w->nlwlocks].tranche, name, sizeof(name));
	wait_add(&w->lwlocks[w->nlwlocks++].w, ns);
}

void locks_on_stage(struct server_waits *w, const struct dblat_stage *st)
{
	uint64_t ns = st->end_ns > st->start_ns ? st->end_ns - st->start_ns : 0;

	w->seen = true;
	switch (st->kind) {
	case DBLAT_STAGE_PARSE:
	case DBLAT_STAGE_PLAN:
	case DBLAT_STAGE_EXECUTE:
	case DBLAT_STAGE_WAL_INSERT:
		w->wal_inserts += st->count;
		break;
	case DBLAT_STAGE_LOCK_WAIT:
		lock_wait(w, st, ns);
		break;
	case DBLAT_STAGE_DEADLOCK:
		w->deadlocks++;
		break;
	case DBLAT_STAGE_LWLOCK_WAIT:
		lwlock_wait(w, st, ns);
		break;
	case DBLAT_STAGE_BUFFER_READ:
		wait_add(&w->reads, ns);
		break;
	case DBLAT_STAGE_CHECKPOINT:
		w->checkpoints++;
		break;
	default:
		break;
	}
}

static void wait_json(FILE *out, const struct wait_total *w)
{
	fprintf(out, "\"count\":%llu,\"total_us\":%.3f,\"mean_us\":%.3f,\"max_us\":%.3f",
		(unsigned long long)w->count, w->total_ns / 1e3,
		w->count ? w->total_ns / 1e3 / w->count : 0.0, w->max_ns / 1e3);
}

static int longer_first(const struct wait_total *x, const struct wait_total *y)
{
	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static int lock_cmp(const void *a, const void *b)
{
	return longer_first(&((const struct lock_wait_group *)a)->w, &((const struct lock_wait_group *)b)->w);
}

static int lwlock_cmp(const void *a, const void *b)
{
	return longer_first(&((const struct lwlock_wait_group *)a)->w, &((const struct lwlock_wait_group *)b)->w);
}

/* A copy of n groups, sorted with cmp (NULL when empty or out of memory). */
static void *sorted(const void *groups, size_t size, uint32_t n, int (*cmp)(const void *, const void *))
{
	void *v = n ? malloc(n * size) : NULL;

	if (v) {
		memcpy(v, groups, n * size);
		qsort(v, n, size, cmp);
	}
	return v;
}

void locks_json(FILE *out, const struct summary *s)
{
	const struct server_waits *w = &s->locks;
	struct lock_wait_group *lk;
	struct lwlock_wait_group *lw;
	uint32_t i, n = 0;

	if (!w->seen)
		return;
	fputs("\"locks\":{\"waits\":[", out);
	lk = sorted(w->locks, sizeof(*lk), w->nlocks, lock_cmp);
	for (i = 0; lk && i < w->nlocks; i++) {
		fprintf(out, "%s\n {\"locktag\":\"%s\",\"mode\":\"%s\",\"relid\":", n++ ? "," : "",
			locktag_name(lk[i].locktag), lock_mode_name(lk[i].mode));
		if (names_relation(lk[i].locktag))
			fprintf(out, "%u,", lk[i].relid);
		else
			fputs("null,", out);
		wait_json(out, &lk[i].w);
		fputc('}', out);
	}
	free(lk);
	if (w->locks_other.count) {
		fprintf(out, "%s\n {\"locktag\":\"other\",\"mode\":null,\"relid\":null,", n++ ? "," : "");
		wait_json(out, &w->locks_other);
		fputc('}', out);
	}
	fprintf(out, "],\"deadlocks\":%llu,\"lwlock_waits\":[", (unsigned long long)w->deadlocks);
	n = 0;
	lw = sorted(w->lwlocks, sizeof(*lw), w->nlwlocks, lwlock_cmp);
	for (i = 0; lw && i < w->nlwlocks; i++) {
		fprintf(out, "%s\n {\"tranche\":", n++ ? "," : "");
		json_str(out, lw[i].tranche);
		fputc(',', out);
		wait_json(out, &lw[i].w);
		fputc('}', out);
	}
	free(lw);
	if (w->lwlocks_other.count) {
		fprintf(out, "%s\n {\"tranche\":null,", n++ ? "," : "");
		wait_json(out, &w->lwlocks_other);
		fputc('}', out);
	}
	fputs("]},\n\"server_io\":{\"buffer_reads\":{", out);
	wait_json(out, &w->reads);
	fprintf(out, "},\"wal_inserts\":%llu,\"checkpoints\":%llu},\n", (unsigned long long)w->wal_inserts,
		(unsigned long long)w->checkpoints);
}
