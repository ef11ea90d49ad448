// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Recordings: what is written is what is replayed, and older versions still read. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "recording.h"
#include "summary.h"
#include "window_event.h"

struct seen {
	unsigned n;
	struct window_event last;
};

static int keep_window(void *ctx, void *data, size_t size)
{
	struct seen *s = ctx;

	s->n++;
	if (size == sizeof(s->last))
		memcpy(&s->last, data, size);
	return 0;
}

static int temp_path(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/dblat-unit-rec.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* A recording as dblat of version `version` wrote it: one budget declaration, then the trailer. */
static int write_by_hand(const char *path, uint32_t version, uint32_t budget)
{
	gzFile gz = gzopen(path, "wb");
	uint32_t hdr[2] = { version, 0 }, size, mark = 0xffffffff;
	uint64_t start = 1000;
	struct window_event e;
	struct rec_trailer t = { .duration_s = 2.5, .start_ns = 1000, .end_ns = 2500001000ull };

	if (!gz)
		return -1;
	window_event_budget(&e, budget, 4000);
	size = sizeof(e);
	gzwrite(gz, REC_MAGIC, 8);
	gzwrite(gz, hdr, sizeof(hdr));
	gzwrite(gz, &start, 8);
	gzwrite(gz, &size, 4);
	gzwrite(gz, &e, size);
	gzwrite(gz, &mark, 4);
	gzwrite(gz, &t, sizeof(t));
	return gzclose(gz) == Z_OK ? 0 : -1;
}

TEST(recording_round_trip_keeps_the_budget)
{
	struct summary *s = summary_new();
	struct seen seen = {};
	struct window_event e;
	struct recorder *r;
	char path[64];

	CHECK(s != NULL && !temp_path(path, sizeof(path)));
	if (!s)
		return;
	r = recorder_open(path, 1000);
	CHECK(r != NULL);
	window_event_budget(&e, 5000, 4000);
	CHECK_EQ_INT(recorder_write(r, &e, sizeof(e)), 0);
	s->duration_s = 1.5;
	CHECK_EQ_INT(recorder_close(r, s), 0);
	CHECK_EQ_INT(recording_replay(path, keep_window, &seen, s), 0);
	CHECK_EQ_INT(seen.n, 1);
	CHECK_EQ_INT(seen.last.w.budget_ppm, 5000);
	CHECK_EQ_INT(seen.last.w.period_ms, 4000);
	CHECK(s->duration_s > 1.49 && s->duration_s < 1.51);
	unlink(path);
	summary_free(s);
}

/* Writes a recording of that version by hand and replays it: replay's status. */
static int replay_by_hand(uint32_t version, uint32_t budget, struct seen *seen, double *duration_s)
{
	struct summary *s = summary_new();
	char path[64];
	int rc = -2;

	if (s && !temp_path(path, sizeof(path))) {
		if (!write_by_hand(path, version, budget))
			rc = recording_replay(path, keep_window, seen, s);
		*duration_s = s->duration_s;
		unlink(path);
	}
	summary_free(s);
	return rc;
}

TEST(recording_version_1_budget_in_percent_is_read_in_millionths)
{
	struct seen seen = {};
	double duration_s = 0;

	CHECK_EQ_INT(replay_by_hand(1, 1, &seen, &duration_s), 0);
	CHECK_EQ_INT(seen.n, 1);
	CHECK_EQ_INT(seen.last.w.budget_ppm, 10000);
	CHECK(duration_s > 2.49 && duration_s < 2.51);
}

TEST(recording_of_an_unknown_version_is_refused)
{
	struct seen seen = {};
	double duration_s = 0;

	CHECK_EQ_INT(replay_by_hand(REC_VERSION + 1, 5000, &seen, &duration_s), -1);
	CHECK_EQ_INT(seen.n, 0);
}
