// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>
#include "check.h"
#include "events.h"

void ev_conn_tcp(struct collector *c, uint64_t id, uint32_t tgid, int role, const char *comm,
		 uint16_t lport, uint16_t rport)
{
	struct {
		struct dblat_event ev;
		struct dblat_conn_info ci;
	} e;

	memset(&e, 0, sizeof(e));
	e.ev.kind = DBLAT_EV_CONN;
	e.ev.conn_id = id;
	e.ev.tgid = e.ev.tid = tgid;
	e.ev.fd = (int32_t)id;
	e.ev.role = (uint8_t)role;
	strncpy(e.ev.comm, comm, sizeof(e.ev.comm) - 1);
	e.ci.family = 2;
	e.ci.lport = lport;
	e.ci.rport = rport;
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e)), 0);
}
