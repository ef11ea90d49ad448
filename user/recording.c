// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "recording.h"
#include "window_event.h"

#define TRAILER_MARK 0xffffffffu
#define MAX_RECORD (1u << 20)

struct recorder {
	gzFile gz;
	const char *path;
	int err;
};

struct recorder *recorder_open(const char *path, uint64_t start_ns)
{
	struct recorder *r = calloc(1, sizeof(*r));
	uint32_t hdr[2] = { REC_VERSION, 0 };

	if (!r)
		return NULL;
	r->path = path;
	r->gz = gzopen(path, "wb1");
	if (!r->gz) {
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno ? errno : EIO));
		free(r);
		return NULL;
	}
	gzbuffer(r->gz, 1 << 18);
	if (gzwrite(r->gz, REC_MAGIC, 8) != 8 || gzwrite(r->gz, hdr, sizeof(hdr)) != sizeof(hdr) ||
	    gzwrite(r->gz, &start_ns, 8) != 8)
		r->err = 1;
	return r;
}

int recorder_write(struct recorder *r, const void *data, uint32_t size)
{
	if (r->err)
		return -1;
	if (gzwrite(r->gz, &size, 4) != 4 || gzwrite(r->gz, data, size) != (int)size) {
		r->err = 1;
		return -1;
	}
	return 0;
}

int recorder_close(struct recorder *r, const struct summary *s)
{
	uint32_t mark = TRAILER_MARK;
	struct rec_trailer t = {
		.duration_s = s->duration_s,
		.dropped = s->ctr.dropped,
		.lost_sync = s->ctr.lost_sync,
		.tail_overflow = s->ctr.tail_overflow,
		.start_ns = s->start_ns,
		.end_ns = s->end_ns,
	};
	int err;

	if (!r)
		return 0;
	if (!r->err && (gzwrite(r->gz, &mark, 4) != 4 || gzwrite(r->gz, &t, sizeof(t)) != sizeof(t)))
		r->err = 1;
	err = gzclose(r->gz) != Z_OK || r->err;
	if (err)
		fprintf(stderr, "dblat: writing %s failed\n", r->path);
	free(r);
	return err ? -1 : 0;
}

/* A version 1 window record: its budget was in whole percent. */
static void budget_in_ppm(void *buf, uint32_t size)
{
	struct window_event *e = buf;

	if (size >= sizeof(*e) && e->ev.kind == DBLAT_EV_WINDOW)
		e->w.budget_ppm *= 10000;
}

int recording_replay(const char *path, replay_fn fn, void *ctx, struct summary *s)
{
	gzFile gz = gzopen(path, "rb");
	char magic[8];
	uint32_t hdr[2], size;
	uint64_t start_ns;
	uint8_t *buf = NULL;
	int err = -1;

	if (!gz) {
		fprintf(stderr, "dblat: cannot read %s: %s\n", path, strerror(errno ? errno : EIO));
		return -1;
	}
	if (gzread(gz, magic, 8) != 8 || memcmp(magic, REC_MAGIC, 8) ||
	    gzread(gz, hdr, sizeof(hdr)) != sizeof(hdr)) {
		fprintf(stderr, "dblat: %s is not a dblat recording\n", path);
		goto out;
	}
	if (hdr[0] != REC_VERSION && hdr[0] != 1) {
		fprintf(stderr, "dblat: %s has recording version %u; this dblat reads versions 1 to %u\n",
			path, hdr[0], REC_VERSION);
		goto out;
	}
	if (gzread(gz, &start_ns, 8) != 8) {
		fprintf(stderr, "dblat: %s is cut short\n", path);
		goto out;
	}
	s->start_ns = start_ns;
	buf = malloc(MAX_RECORD);
	if (!buf)
		goto out;
	for (;;) {
		if (gzread(gz, &size, 4) != 4) {
			fprintf(stderr, "dblat: %s is cut short (no trailer): was the recording interrupted?\n", path);
			goto out;
		}
		if (size == TRAILER_MARK) {
			struct rec_trailer t;

			if (gzread(gz, &t, sizeof(t)) != sizeof(t)) {
				fprintf(stderr, "dblat: %s has a damaged trailer\n", path);
				goto out;
			}
			s->duration_s = t.duration_s;
			s->ctr.dropped = t.dropped;
			s->ctr.lost_sync = t.lost_sync;
			s->ctr.tail_overflow = t.tail_overflow;
			s->start_ns = t.start_ns;
			s->end_ns = t.end_ns;
			break;
		}
		if (size > MAX_RECORD || gzread(gz, buf, size) != (int)size) {
			fprintf(stderr, "dblat: %s is damaged (bad record)\n", path);
			goto out;
		}
		if (hdr[0] == 1)
			budget_in_ppm(buf, size);
		fn(ctx, buf, size);
	}
	err = 0;
out:
	free(buf);
	gzclose(gz);
	return err;
}
