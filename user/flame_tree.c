// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>
#include "flame_tree.h"

static struct fnode *node_new(const char *name, size_t len)
{
	struct fnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strndup(name, len);
	if (!n->name) {
		free(n);
		return NULL;
	}
	return n;
}

struct fnode *ftree_new(const char *root_name)
{
	return node_new(root_name, strlen(root_name));
}

static struct fnode *child(struct fnode *p, const char *name, size_t len)
{
	struct fnode *k;
	uint32_t i;

	/* Stacks usually come sorted: the last child is the likely match. */
	for (i = p->nkids; i-- > 0;) {
		k = p->kids[i];
		if (strlen(k->name) == len && !memcmp(k->name, name, len))
			return k;
	}
	if (p->nkids == p->cap) {
		uint32_t nc = p->cap ? 2 * p->cap : 4;
		struct fnode **nk = realloc(p->kids, nc * sizeof(*nk));

		if (!nk)
			return NULL;
		p->kids = nk;
		p->cap = nc;
	}
	k = node_new(name, len);
	if (k)
		p->kids[p->nkids++] = k;
	return k;
}

int ftree_add(struct fnode *root, const char *key, int which, uint64_t us, uint64_t calls)
{
	struct fnode *n = root;
	const char *p = key;

	n->us[which] += us;
	n->calls[which] += calls;
	while (*p) {
		size_t len = strcspn(p, ";");

		n = child(n, p, len);
		if (!n)
			return -1;
		n->us[which] += us;
		n->calls[which] += calls;
		p += len;
		if (*p == ';')
			p++;
	}
	return 0;
}

int ftree_add_flame(struct fnode *root, const struct flame *f, int which)
{
	uint32_t i;

	for (i = 0; i < f->n; i++)
		if (ftree_add(root, f->v[i].key, which, f->v[i].us, f->v[i].calls))
			return -1;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct fnode *const *)a)->name, (*(struct fnode *const *)b)->name);
}

void ftree_sort(struct fnode *n)
{
	uint32_t i;

	if (n->nkids > 1)
		qsort(n->kids, n->nkids, sizeof(*n->kids), by_name);
	for (i = 0; i < n->nkids; i++)
		ftree_sort(n->kids[i]);
}

uint32_t ftree_depth(const struct fnode *n)
{
	uint32_t i, d = 0;

	for (i = 0; i < n->nkids; i++) {
		uint32_t k = ftree_depth(n->kids[i]);

		if (k > d)
			d = k;
	}
	return d + 1;
}

void ftree_free(struct fnode *n)
{
	uint32_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		ftree_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n);
}
