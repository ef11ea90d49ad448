// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Inflate a dblat recording (one gzip stream) with zlib and count the bytes.
 *
 * usage: scripts/bench/inflate FILE     prints the number of uncompressed bytes
 *
 * Timing this shows how much of `dblat report` is zlib's share: the same
 * library does the work, with no decoding behind it. It stops at the end of
 * the first gzip member; trailing bytes are ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (1u << 16)

int main(int argc, char **argv)
{
	/* Small output pieces, reused: a big buffer would go through mmap/munmap
	 * and charge page faults (sys time) that zlib itself does not cost. */
	static unsigned char in[CHUNK], out[CHUNK];
	z_stream zs;
	uint64_t n = 0;
	int rc = Z_OK;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	memset(&zs, 0, sizeof(zs));
	/* 32 + 15: gzip or zlib header (detected), largest window */
	if (inflateInit2(&zs, 47) != Z_OK) {
		fprintf(stderr, "%s: inflateInit2 failed\n", argv[0]);
		fclose(f);
		return 1;
	}
	while (rc != Z_STREAM_END) {
		size_t got = fread(in, 1, CHUNK, f);

		if (got == 0)
			break;
		zs.next_in = in;
		zs.avail_in = (uInt)got;
		do {
			zs.next_out = out;
			zs.avail_out = CHUNK;
			rc = inflate(&zs, Z_NO_FLUSH);
			if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
				fprintf(stderr, "%s: %s: inflate: %s\n", argv[0], argv[1],
					zs.msg ? zs.msg : "error");
				inflateEnd(&zs);
				fclose(f);
				return 1;
			}
			n += CHUNK - zs.avail_out;
		} while (rc != Z_STREAM_END && (zs.avail_in > 0 || zs.avail_out == 0));
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: %s: read error\n", argv[0], argv[1]);
		inflateEnd(&zs);
		fclose(f);
		return 1;
	}
	if (rc != Z_STREAM_END)
		fprintf(stderr, "%s: %s: truncated gzip stream (counted what inflated)\n",
			argv[0], argv[1]);
	inflateEnd(&zs);
	fclose(f);
	printf("%" PRIu64 "\n", n);
	return 0;
}
