/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* CPU lists as the kernel prints them (/sys/devices/system/cpu/online: "0-3,8,10-11"). */
#ifndef DBLAT_CPULIST_H
#define DBLAT_CPULIST_H

#include <stdbool.h>

/*
 * Marks in set[0..n) the CPUs the list names (those at n or above are
 * ignored) and returns how many it marked, or -1 if the list is malformed.
 */
int cpulist_parse(const char *s, bool *set, int n);

#endif
