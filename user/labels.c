// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Backends labelled by the StartupMessage they received: database, user and
 * application_name. Dump and base-backup sessions (pg_dump, pg_dumpall,
 * pg_basebackup name themselves so) are also marked on the timeline for as
 * long as they last, so latency changes can be laid against them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conn.h"
#include "labels.h"

static void copy_str(char *dst, size_t n, const struct pg_str *s)
{
	size_t i, len = s->n < n - 1 ? s->n : n - 1;

	for (i = 0; i < len; i++)
		dst[i] = s->p[i] >= 0x20 && s->p[i] < 0x7f ? s->p[i] : '?';
	dst[len] = 0;
}

static bool is_backup(const char *app)
{
	return !strcmp(app, "pg_dump") || !strcmp(app, "pg_dumpall") || !strcmp(app, "pg_basebackup");
}

void labels_startup(struct collector *c, struct conn *k, const struct pg_startup *su, uint64_t ts)
{
	struct summary *s = c->sum;
	char db[64], user[64], app[64];
	struct backend_label *l;
	uint32_t i;

	if (k->role != DBLAT_ROLE_SERVER)
		return;
	copy_str(db, sizeof(db), &su->database);
	copy_str(user, sizeof(user), &su->user);
	copy_str(app, sizeof(app), &su->application_name);
	if (!db[0])
		snprintf(db, sizeof(db), "%s", user);	/* the server's own default */
	for (i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[i].database, db) && !strcmp(s->labels[i].user, user) &&
		    !strcmp(s->labels[i].application_name, app))
			break;
	if (i == s->nlabels) {
		l = realloc(s->labels, (s->nlabels + 1) * sizeof(*l));
		if (!l)
			return;
		s->labels = l;
		l = &l[s->nlabels++];
		memset(l, 0, sizeof(*l));
		memcpy(l->database, db, sizeof(db));
		memcpy(l->user, user, sizeof(user));
		memcpy(l->application_name, app, sizeof(app));
	}
	k->label = i + 1;
	s->labels[i].sessions++;
	if (is_backup(app)) {
		char detail[200];

		snprintf(detail, sizeof(detail), "%s on %s by %s", app, db, user);
		summary_timeline_add(s, ts, 0, app, detail);
		k->backup_event = s->ntimeline;
	}
}

void labels_call(struct collector *c, struct conn *k, uint64_t lat_ns, bool error)
{
	struct backend_label *l;

	if (!k->label || k->label > c->sum->nlabels)
		return;
	l = &c->sum->labels[k->label - 1];
	l->calls++;
	l->errors += error;
	l->time_ns += lat_ns;
}

void labels_end(struct collector *c, struct conn *k, uint64_t ts)
{
	if (k->backup_event && k->backup_event <= c->sum->ntimeline)
		c->sum->timeline[k->backup_event - 1].end_ns = ts;
	k->backup_event = 0;
}
