// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * pprof profiles (profile.proto), encoded by hand: one sample per flame
 * stack with the values [calls, wall microseconds], one function and one
 * location per distinct frame name, leaf first in each sample. A sample's
 * repeated fields are written unpacked (one key per element), which every
 * protobuf parser accepts, so `protoc --decode_raw` shows them plainly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "export_formats.h"
#include "export_util.h"

/* Field numbers of profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_LOCATION = 4, PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6, PROFILE_DURATION = 10, PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2,
	LOCATION_ID = 1, LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3,
};
enum { WT_VARINT = 0, WT_LEN = 2 };

struct pb {
	unsigned char *p;
	size_t n, cap;
	bool oom;
};

static void pb_raw(struct pb *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		unsigned char *np;

		while (nc < b->n + n)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = v & 0x7f;
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	pb_raw(b, tmp, n);
}

static void pb_tag(struct pb *b, unsigned field, unsigned wt)
{
	pb_varint(b, (uint64_t)field << 3 | wt);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(b, field, WT_VARINT);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *d, size_t n)
{
	pb_tag(b, field, WT_LEN);
	pb_varint(b, n);
	pb_raw(b, d, n);
}

/* Appends sub as an embedded message and empties it for reuse. */
static void pb_msg(struct pb *b, unsigned field, struct pb *sub)
{
	if (sub->oom)
		b->oom = true;
	pb_bytes(b, field, sub->p, sub->n);
	sub->n = 0;
}

/* The string table: interned strings and, per string, its function id. */
struct strtab {
	const char **s;
	uint32_t *fid;
	uint32_t n, cap;
	uint32_t *slot;		/* open addressing: index + 1, 0 free */
	uint32_t nslot;
	bool oom;
};

static uint32_t str_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int strtab_grow(struct strtab *t)
{
	uint32_t ns = t->nslot ? 2 * t->nslot : 1024, i;
	uint32_t *slot = calloc(ns, sizeof(*slot));

	if (!slot)
		return -1;
	for (i = 0; i < t->n; i++) {
		uint32_t h = str_hash(t->s[i], strlen(t->s[i])) & (ns - 1);

		while (slot[h])
			h = (h + 1) & (ns - 1);
		slot[h] = i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = ns;
	return 0;
}

/* Index of s[0..len) in the table; the text must outlive the table. */
static uint32_t intern(struct strtab *t, const char *s, size_t len)
{
	uint32_t h, i;

	if (t->oom)
		return 0;
	if (2 * (t->n + 1) > t->nslot && strtab_grow(t))
		goto oom;
	h = str_hash(s, len) & (t->nslot - 1);
	for (; (i = t->slot[h]); h = (h + 1) & (t->nslot - 1))
		if (strlen(t->s[i - 1]) == len && !memcmp(t->s[i - 1], s, len))
			return i - 1;
	if (t->n == t->cap) {
		uint32_t nc = t->cap ? 2 * t->cap : 256;
		const char **ns = realloc(t->s, nc * sizeof(*ns));
		uint32_t *nf;

		if (!ns)
			goto oom;
		t->s = ns;
		nf = realloc(t->fid, nc * sizeof(*nf));
		if (!nf)
			goto oom;
		t->fid = nf;
		t->cap = nc;
	}
	t->s[t->n] = s;
	t->fid[t->n] = 0;
	t->slot[h] = t->n + 1;
	return t->n++;
oom:
	t->oom = true;
	return 0;
}

static void value_type(struct pb *b, struct pb *sub, unsigned field, uint32_t type, uint32_t unit)
{
	pb_uint(sub, VALUETYPE_TYPE, type);
	pb_uint(sub, VALUETYPE_UNIT, unit);
	pb_msg(b, field, sub);
}

/* Frames of a key, split in place by the caller's copy; leaf first. */
static uint32_t split_frames(char *key, char **frames, uint32_t max)
{
	uint32_t n = 0;
	char *p = key, *semi;

	while (n < max) {
		frames[n++] = p;
		semi = strchr(p, ';');
		if (!semi)
			break;
		*semi = 0;
		p = semi + 1;
	}
	return n;
}

#define MAX_FRAMES 16

int pprof_encode(const struct flame *f, double duration_s, unsigned char **buf, size_t *len)
{
	struct pb prof = {}, sub = {}, ids = {}, vals = {};
	struct strtab t = {};
	char *keys = NULL, *frames[MAX_FRAMES];
	uint32_t i, nfunc = 0, wall, calls, us, count;
	size_t klen = 0, o = 0;
	int err = -1;

	*buf = NULL;
	*len = 0;
	/* The split keys, kept for the string table. */
	for (i = 0; i < f->n; i++)
		klen += strlen(f->v[i].key) + 1;
	keys = malloc(klen ? klen : 1);
	if (!keys)
		goto out;
	intern(&t, "", 0);
	calls = intern(&t, "calls", 5);
	count = intern(&t, "count", 5);
	wall = intern(&t, "wall", 4);
	us = intern(&t, "microseconds", 12);
	value_type(&prof, &sub, PROFILE_SAMPLE_TYPE, calls, count);
	value_type(&prof, &sub, PROFILE_SAMPLE_TYPE, wall, us);
	for (i = 0; i < f->n; i++) {
		const struct flame_stack *st = &f->v[i];
		char *key = keys + o;
		uint32_t nf, k;

		o += strlen(st->key) + 1;
		if (!st->us && !st->calls)
			continue;
		memcpy(key, st->key, strlen(st->key) + 1);
		nf = split_frames(key, frames, MAX_FRAMES);
		for (k = nf; k-- > 0;) {
			uint32_t si = intern(&t, frames[k], strlen(frames[k]));

			if (t.oom)
				goto out;
			if (!t.fid[si]) {
				t.fid[si] = ++nfunc;
				pb_uint(&sub, FUNCTION_ID, nfunc);
				pb_uint(&sub, FUNCTION_NAME, si);
				pb_uint(&sub, FUNCTION_SYSTEM_NAME, si);
				pb_msg(&prof, PROFILE_FUNCTION, &sub);
				/* Location k has function k, on line 0. */
				pb_uint(&sub, LOCATION_ID, nfunc);
				pb_uint(&vals, LINE_FUNCTION_ID, nfunc);
				pb_msg(&sub, LOCATION_LINE, &vals);
				pb_msg(&prof, PROFILE_LOCATION, &sub);
			}
			pb_tag(&ids, SAMPLE_LOCATION_ID, WT_VARINT);
			pb_varint(&ids, t.fid[si]);
		}
		if (ids.n)
			pb_raw(&sub, ids.p, ids.n);
		ids.n = 0;
		/* Values are written even when zero: there must be one per sample type. */
		pb_tag(&sub, SAMPLE_VALUE, WT_VARINT);
		pb_varint(&sub, st->calls);
		pb_tag(&sub, SAMPLE_VALUE, WT_VARINT);
		pb_varint(&sub, st->us);
		pb_msg(&prof, PROFILE_SAMPLE, &sub);
	}
	if (t.oom)
		goto out;
	for (i = 0; i < t.n; i++)
		pb_bytes(&prof, PROFILE_STRING_TABLE, t.s[i], strlen(t.s[i]));
	pb_uint(&prof, PROFILE_DURATION, duration_s > 0 ? (uint64_t)(duration_s * 1e9) : 0);
	value_type(&prof, &sub, PROFILE_PERIOD_TYPE, wall, us);
	pb_uint(&prof, PROFILE_PERIOD, 1);
	pb_uint(&prof, PROFILE_DEFAULT_SAMPLE_TYPE, wall);
	if (prof.oom || sub.oom || ids.oom || vals.oom)
		goto out;
	*buf = prof.p;
	*len = prof.n;
	prof.p = NULL;
	err = 0;
out:
	free(prof.p);
	free(sub.p);
	free(ids.p);
	free(vals.p);
	free(t.s);
	free(t.fid);
	free(t.slot);
	free(keys);
	return err;
}

static int gzip_buf(const unsigned char *in, size_t n, unsigned char **out, size_t *outlen)
{
	z_stream z = {};
	uLong bound;
	int rc;

	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&z, n) + 64;
	*out = malloc(bound);
	if (!*out) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = n;
	z.next_out = *out;
	z.avail_out = bound;
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int pprof_file(const char *path, const struct flame *f, double duration_s)
{
	unsigned char *raw = NULL, *gz = NULL;
	size_t rawlen = 0, gzlen = 0;
	FILE *out;
	int err;

	if (pprof_encode(f, duration_s, &raw, &rawlen) || gzip_buf(raw, rawlen, &gz, &gzlen)) {
		free(raw);
		fprintf(stderr, "dblat: cannot write %s: out of memory\n", path);
		return -1;
	}
	free(raw);
	out = export_open(path);
	if (!out) {
		free(gz);
		return -1;
	}
	fwrite(gz, 1, gzlen, out);
	free(gz);
	err = export_close(out, path);
	return err;
}
