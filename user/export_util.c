// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "export_util.h"
#include "fingerprint.h"

FILE *export_open(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

int export_close(FILE *f, const char *path)
{
	int err = 0, e = 0;

	if (fflush(f) || ferror(f)) {
		err = -1;
		e = errno ? errno : EIO;
	}
	if (fclose(f) && !err) {
		err = -1;
		e = errno ? errno : EIO;
	}
	if (err)
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(e));
	return err;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static int utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		       (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

char *text_clean(const char *s, bool frame)
{
	size_t n = strlen(s), i = 0, o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	while (i < n) {
		const unsigned char *p = (const unsigned char *)s + i;
		int k = utf8_len(p);

		if (k == 0) {
			out[o++] = '?';
			i++;
		} else if (k > 1) {
			memcpy(out + o, p, k);
			o += k;
			i += k;
		} else {
			char c = (char)*p;

			if (*p < 0x20 || *p == 0x7f)
				c = ' ';
			else if (frame && c == ';')
				c = ',';
			out[o++] = c;
			i++;
		}
	}
	out[o] = 0;
	return out;
}

void xml_escape(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

const char *stmt_phase_name(unsigned cls)
{
	static const char *const n[STMT_NCLASS] = {
		[STMT_WORK] = "query",
		[STMT_TXN] = "transaction control",
		[STMT_SETUP] = "setup",
		[STMT_RESET] = "reset",
		[STMT_PING] = "ping",
		[STMT_MAINT] = "maintenance",
	};

	return cls < STMT_NCLASS ? n[cls] : "query";
}

unsigned stmt_class_of(const struct summary *s, const struct stmt_stats *st)
{
	return st->fp < s->nfps ? s->fps[st->fp]->cls : STMT_WORK;
}

struct proc_group *proc_groups(const struct summary *s, uint32_t *n)
{
	struct proc_group *g = NULL;
	uint32_t i, j, ng = 0;
	int k;

	*n = 0;
	if (!s->nprocs)
		return NULL;
	g = calloc(s->nprocs, sizeof(*g));
	if (!g)
		return NULL;
	for (i = 0; i < s->nprocs; i++) {
		const struct proc_stats *p = s->procs[i];
		struct proc_group *x = NULL;

		for (j = 0; j < ng; j++)
			if (g[j].side == p->side && !strcmp(g[j].comm, p->comm)) {
				x = &g[j];
				break;
			}
		if (!x) {
			x = &g[ng++];
			x->side = p->side;
			memcpy(x->comm, p->comm, sizeof(x->comm));
		}
		x->nprocs++;
		x->opened += p->opened;
		x->closed += p->closed;
		for (k = 0; k < FAIL_N; k++)
			x->failed[k] += p->failed[k];
		x->txns += p->txns;
		x->aborted += p->aborted;
		x->open_now += p->open_now;
		x->busy_now += p->busy_now;
		x->max_open += p->max_open;
		x->max_busy += p->max_busy;
		for (k = 0; k < SESS_PHASE_N; k++)
			hist_merge(&x->phase[k], &p->phase[k]);
		hist_merge(&x->txn_dur, &p->txn_dur);
		hist_merge(&x->idle_in_txn, &p->idle_in_txn);
	}
	*n = ng;
	return g;
}

void proc_groups_free(struct proc_group *g, uint32_t n)
{
	uint32_t i;
	int k;

	for (i = 0; g && i < n; i++) {
		for (k = 0; k < SESS_PHASE_N; k++)
			hist_free(&g[i].phase[k]);
		hist_free(&g[i].txn_dur);
		hist_free(&g[i].idle_in_txn);
	}
	free(g);
}

void fmt_duration(char *buf, size_t n, double ns)
{
	double us = ns / 1000.0;

	if (us < 1000)
		snprintf(buf, n, "%.1fus", us);
	else if (us < 1e6)
		snprintf(buf, n, "%.2fms", us / 1000);
	else
		snprintf(buf, n, "%.2fs", us / 1e6);
}
