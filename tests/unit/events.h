/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Ring-buffer records the collector tests feed in, made the way BPF makes them. */
#ifndef DBLAT_TEST_EVENTS_H
#define DBLAT_TEST_EVENTS_H

#include <stdint.h>
#include "collector.h"

/* EV_CONN of a TCP connection over loopback; fd = id, pid = tid = tgid. */
void ev_conn_tcp(struct collector *c, uint64_t id, uint32_t tgid, int role, const char *comm,
		 uint16_t lport, uint16_t rport);

#endif
