// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flame.h"
#include "export_util.h"

static int push(struct flame *f, const char *const *frames, int depth, uint64_t us, uint64_t calls)
{
	size_t len = 0, o = 0;
	char *key;
	int i;

	if (!us && !calls)
		return 0;
	for (i = 0; i < depth; i++)
		len += strlen(frames[i]) + 1;
	key = malloc(len ? len : 1);
	if (!key)
		return -1;
	for (i = 0; i < depth; i++) {
		size_t k = strlen(frames[i]);

		if (i)
			key[o++] = ';';
		memcpy(key + o, frames[i], k);
		o += k;
	}
	key[o] = 0;
	if (f->n == f->cap) {
		uint32_t nc = f->cap ? 2 * f->cap : 64;
		struct flame_stack *nv = realloc(f->v, nc * sizeof(*nv));

		if (!nv) {
			free(key);
			return -1;
		}
		f->v = nv;
		f->cap = nc;
	}
	f->v[f->n].key = key;
	f->v[f->n].us = us;
	f->v[f->n].calls = calls;
	f->n++;
	return 0;
}

static uint64_t ns_to_us(uint64_t ns)
{
	return (ns + 500) / 1000;
}

static bool inside_server(int k)
{
	return k != STAGE_QUEUE && k != STAGE_SERVER && k != STAGE_REPLY;
}

/*
 * A statement's own stacks carry the calls not bound to a request (those
 * are drawn under their request); its stages are scaled to that share.
 */
static uint64_t unbound_share(const struct stmt_stats *st, uint64_t ns)
{
	uint64_t own = st->lat.sum > st->bound_ns ? st->lat.sum - st->bound_ns : 0;

	if (!st->bound_ns || !st->lat.sum)
		return ns;
	return (uint64_t)((unsigned __int128)ns * own / st->lat.sum);
}

static char *statement_frame(const struct summary *s, const struct stmt_stats *st)
{
	char *text = text_clean(summary_fp_text(s, st->fp), true);

	if (text && !*text) {
		free(text);
		text = strdup("(empty statement)");
	}
	return text;
}

static int statement(struct flame *f, const struct summary *s, const struct stmt_stats *st)
{
	char root[DBLAT_COMM_LEN + 8], *comm, *text;
	const char *fr[5];
	uint64_t lat_ns = unbound_share(st, st->lat.sum), total = ns_to_us(lat_ns);
	uint64_t stage_ns = 0, stage_us[STAGE_N] = {}, sum_us = 0, sum_ns[STAGE_N];
	bool nest;
	int k, err = -1;

	comm = text_clean(st->comm, true);
	text = statement_frame(s, st);
	if (!comm || !text)
		goto out;
	for (k = 0; k < STAGE_N; k++)
		sum_ns[k] = unbound_share(st, st->stage[k].sum);
	snprintf(root, sizeof(root), "%s:%s", side_name(st->side), comm);
	fr[0] = root;
	fr[1] = stmt_phase_name(stmt_class_of(s, st));
	fr[2] = text;
	/*
	 * queue, server and reply split the client's time; the backend's own
	 * stages (parse ... buffer reads) happen inside "server" and nest under
	 * it when it is there.
	 */
	nest = st->stage[STAGE_SERVER].count > 0;
	for (k = 0; k < STAGE_N; k++)
		if (!nest || !inside_server(k))
			stage_ns += sum_ns[k];
	for (k = 0; k < STAGE_N; k++) {
		if (nest && inside_server(k))
			continue;
		if (stage_ns > lat_ns)
			stage_us[k] = (uint64_t)((unsigned __int128)sum_ns[k] * total / stage_ns);
		else
			stage_us[k] = sum_ns[k] / 1000;
		sum_us += stage_us[k];
	}
	for (k = 0; k < STAGE_N; k++) {
		if (!st->stage[k].count || (nest && inside_server(k)))
			continue;
		fr[3] = stage_name(k);
		if (nest && k == STAGE_SERVER) {
			uint64_t in_us = 0, w;
			int j;

			for (j = 0; j < STAGE_N; j++) {
				if (!inside_server(j) || !st->stage[j].count)
					continue;
				w = sum_ns[j] / 1000;
				if (in_us + w > stage_us[k])
					w = stage_us[k] - in_us;
				in_us += w;
				fr[4] = stage_name(j);
				if (push(f, fr, 5, w, 0))
					goto out;
			}
			if (push(f, fr, 4, stage_us[k] - in_us, 0))
				goto out;
			continue;
		}
		if (push(f, fr, 4, stage_us[k], 0))
			goto out;
	}
	if (push(f, fr, 3, total > sum_us ? total - sum_us : 0, st->calls - st->bound_calls))
		goto out;
	err = 0;
out:
	free(comm);
	free(text);
	return err;
}

/*
 * server:comm ; METHOD route ; pool wait | phase ; statement | app
 *                            | after response ; phase ; statement
 */
static int request(struct flame *f, const struct summary *s, const struct route_stats *r)
{
	char root[DBLAT_COMM_LEN + 8], name[sizeof(r->method) + sizeof(r->route) + 1];
	char *comm = text_clean(r->comm, true), *route;
	const char *fr[5];
	uint64_t n = 0;
	uint32_t i;
	int m, err = -1;

	for (m = 0; m < BIND_N; m++)
		n += r->attributed[m];
	snprintf(name, sizeof(name), "%s %s", r->method, r->route);
	route = text_clean(name, true);
	if (!comm || !route)
		goto out;
	snprintf(root, sizeof(root), "%s:%s", side_name(SIDE_SERVER), comm);
	fr[0] = root;
	fr[1] = route;
	fr[2] = FLAME_POOL_WAIT;
	if (n && push(f, fr, 3, ns_to_us(r->pool_wait.sum), 0))
		goto out;
	for (i = 0; i < r->nper_stmt; i++) {
		const struct route_stmt *rs = &r->per_stmt[i];
		const char *phase = stmt_phase_name(stmt_class_of(s, rs->st));
		char *text = statement_frame(s, rs->st);
		int e = 0;

		if (!text)
			goto out;
		fr[2] = phase;
		fr[3] = text;
		if (rs->ns > rs->after_ns)
			e = push(f, fr, 4, ns_to_us(rs->ns - rs->after_ns), rs->calls - rs->after_calls);
		fr[2] = FLAME_AFTER_RESPONSE;
		fr[3] = phase;
		fr[4] = text;
		if (!e && rs->after_ns)
			e = push(f, fr, 5, ns_to_us(rs->after_ns), rs->after_calls);
		free(text);
		if (e)
			goto out;
	}
	fr[2] = FLAME_APP;
	if (n && push(f, fr, 3, ns_to_us(r->app.sum), n))
		goto out;
	err = 0;
out:
	free(comm);
	free(route);
	return err;
}

static int process(struct flame *f, const struct proc_group *g)
{
	char root[DBLAT_COMM_LEN + 8], *comm = text_clean(g->comm, true);
	const char *fr[3];
	int k;

	if (!comm)
		return -1;
	snprintf(root, sizeof(root), "%s:%s", side_name(g->side), comm);
	free(comm);
	fr[0] = root;
	fr[1] = FLAME_SESSION_SETUP;
	for (k = 0; k < SESS_PHASE_N; k++) {
		if (k == SESS_READY || !g->phase[k].count)
			continue;
		fr[2] = sess_phase_name(k);
		if (push(f, fr, 3, ns_to_us(g->phase[k].sum), g->phase[k].count))
			return -1;
	}
	if (g->idle_in_txn.sum) {
		fr[1] = FLAME_IDLE_IN_TXN;
		if (push(f, fr, 2, ns_to_us(g->idle_in_txn.sum), g->idle_in_txn.count))
			return -1;
	}
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct flame_stack *)a)->key, ((const struct flame_stack *)b)->key);
}

/* Sorts and merges the stacks that have the same frames (same name on one side). */
static void merge(struct flame *f)
{
	uint32_t i, o = 0;

	if (!f->n)
		return;
	qsort(f->v, f->n, sizeof(*f->v), by_key);
	for (i = 1; i < f->n; i++) {
		if (!strcmp(f->v[o].key, f->v[i].key)) {
			f->v[o].us += f->v[i].us;
			f->v[o].calls += f->v[i].calls;
			free(f->v[i].key);
		} else {
			f->v[++o] = f->v[i];
		}
	}
	f->n = o + 1;
}

int flame_from_summary(struct flame *f, const struct summary *s)
{
	struct proc_group *g;
	uint32_t i, ng;
	int err = 0;

	for (i = 0; i < s->nstmts && !err; i++)
		err = statement(f, s, s->stmts[i]);
	for (i = 0; i < s->nroutes && !err; i++)
		err = request(f, s, &s->routes[i]);
	g = proc_groups(s, &ng);
	if (!g && s->nprocs)
		err = -1;
	for (i = 0; i < ng && !err; i++)
		err = process(f, &g[i]);
	proc_groups_free(g, ng);
	if (err) {
		flame_free(f);
		return -1;
	}
	merge(f);
	return 0;
}

void flame_free(struct flame *f)
{
	uint32_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i].key);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

uint64_t flame_weight(const struct flame_stack *st, enum flame_weight w)
{
	return w == FLAME_CALLS ? st->calls : st->us;
}

uint64_t flame_total(const struct flame *f, enum flame_weight w)
{
	uint64_t t = 0;
	uint32_t i;

	for (i = 0; i < f->n; i++)
		t += flame_weight(&f->v[i], w);
	return t;
}

int flame_weight_parse(const char *s)
{
	if (!strcmp(s, "calls") || !strcmp(s, "count"))
		return FLAME_CALLS;
	if (!strcmp(s, "wall") || !strcmp(s, "time") || !strcmp(s, "us"))
		return FLAME_WALL_US;
	return -1;
}

const char *flame_weight_unit(enum flame_weight w)
{
	return w == FLAME_CALLS ? "calls" : "us";
}
