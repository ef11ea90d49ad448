/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Interactive flame graphs as self-contained SVG: one rectangle per frame,
 * root at the bottom, widths proportional to the weight; a tooltip per
 * frame, click to zoom, a search box. A differential graph takes widths
 * from B (values [1]) and colours each frame by its change from A (values
 * [0]): slower red, faster blue.
 */
#ifndef DBLAT_FLAME_SVG_H
#define DBLAT_FLAME_SVG_H

#include <stdbool.h>
#include <stdio.h>
#include "flame_tree.h"

struct svg_opts {
	const char *title;
	const char *subtitle;		/* may be NULL */
	enum flame_weight weight;
	bool diff;
	bool embedded;			/* inline in HTML: no XML prolog */
};

void flame_svg(FILE *out, const struct fnode *root, const struct svg_opts *o);

/* The flame graph of one profile, written to path; 0 or -1 (reported). */
int flame_svg_file(const char *path, const struct flame *f, const struct svg_opts *o);
/* n flames into one tree (flame i gives the tree's value i: A and B of a diff). */
int flame_svg_write(const char *path, const struct flame *f, int n, const struct svg_opts *o);

extern const char flame_svg_script[];

#endif
