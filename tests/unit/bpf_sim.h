/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A reference model in plain C of the events dblat's BPF side emits for the
 * buffers of one PostgreSQL connection: the copied prefix, skip_in, the
 * records of messages whose headers lie past the copy, the DataRow counts
 * and the flags, with BPF's framing state kept per stream across buffers.
 */
#ifndef DBLAT_BPF_SIM_H
#define DBLAT_BPF_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "dblat.h"

struct bpf_sim_stream {
	uint32_t skip;		/* body bytes owed to the current message */
	uint8_t part[8];	/* a header split across buffers */
	uint8_t part_n;
	bool untyped;		/* frontend startup phase */
	bool lost;
	bool started;
};

struct bpf_sim {
	struct bpf_sim_stream st[2];
	bool tls;
	bool be_expect_answer;
	/*
	 * Model a BPF that only counts a backend DataRow whose header was
	 * split across buffers, instead of recording it.
	 */
	bool count_split_rows;
	uint64_t conn_id;
};

/* Largest event bpf_sim_feed writes. */
#define BPF_SIM_EVENT_MAX (sizeof(struct dblat_event) + DBLAT_CAP_MAX + \
			   DBLAT_TAIL_RECS * sizeof(struct dblat_tail_rec))

/*
 * A stream's first buffer is where the connection was adopted: it always
 * starts framing, in the frontend startup phase when the caller set
 * st[DBLAT_STREAM_FE].untyped before it. Later restarts classify the bytes.
 */
void bpf_sim_init(struct bpf_sim *s, uint64_t conn_id);

/*
 * One read/write of len bytes on stream (DBLAT_STREAM_FE or _BE), of which
 * the first cap are copied. Writes the event (header, data padded to 8,
 * records) to out, which must be 8-byte aligned. Returns its size, or 0
 * when it does not fit in outsz.
 */
size_t bpf_sim_feed(struct bpf_sim *s, int stream, const uint8_t *buf, uint32_t len,
		    uint32_t cap, uint64_t ts, uint8_t *out, size_t outsz);

/* The pieces of an event bpf_sim_feed wrote. */
static inline const uint8_t *bpf_sim_data(const struct dblat_event *ev)
{
	return (const uint8_t *)(ev + 1);
}

static inline const struct dblat_tail_rec *bpf_sim_recs(const struct dblat_event *ev)
{
	return (const struct dblat_tail_rec *)((const uint8_t *)(ev + 1) + dblat_data_pad(ev->cap_len));
}

#endif
