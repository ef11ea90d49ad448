/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef DBLAT_WIRE_BPF_H
#define DBLAT_WIRE_BPF_H

#ifndef barrier_var
/* Hide a value from clang so the verifier sees the bounds check we wrote. */
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

#endif
