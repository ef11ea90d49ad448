/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flame stacks merged into a tree of frames, for drawing. Each node holds
 * two sets of values, [0] and [1]: one profile uses [0]; a differential one
 * puts the baseline (A) in [0] and the comparison (B) in [1].
 */
#ifndef DBLAT_FLAME_TREE_H
#define DBLAT_FLAME_TREE_H

#include <stdint.h>
#include "flame.h"

struct fnode {
	char *name;
	uint64_t us[2], calls[2];	/* inclusive */
	struct fnode **kids;		/* sorted by name once ftree_sort ran */
	uint32_t nkids, cap;
};

struct fnode *ftree_new(const char *root_name);
/* Adds a stack (frames joined by ';') to the root and the path below it. */
int ftree_add(struct fnode *root, const char *key, int which, uint64_t us, uint64_t calls);
/* All of f's stacks, into values [which]. */
int ftree_add_flame(struct fnode *root, const struct flame *f, int which);
void ftree_sort(struct fnode *n);
uint32_t ftree_depth(const struct fnode *n);	/* 1 for a lone root */
void ftree_free(struct fnode *n);

#endif
