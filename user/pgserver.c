// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Finding a PostgreSQL server's per-backend status entry from outside:
 * MyBEEntry is an exported global of the postgres binary (in .dynsym even
 * when the static symbols are stripped); its PgBackendStatus holds the text
 * of the statement the backend is running. Offsets are per major version and
 * checked against a live backend before they are trusted.
 */
#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "pgserver.h"

struct layout {
	int major;
	uint32_t off_procpid, off_activity;
};

/* PgBackendStatus (src/include/utils/backend_status.h) on x86-64. */
static const struct layout layouts[] = {
	{ 15, 4, 248 },
};

static int exe_of(pid_t pid, char *buf, size_t n)
{
	char path[64];
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	len = readlink(path, buf, n - 1);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	return 0;
}

static bool is_postgres_exe(const char *exe)
{
	const char *b = strrchr(exe, '/');

	return b && !strcmp(b + 1, "postgres");
}

pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	}
	fclose(f);
	return ppid;
}

/* The major version, from the "postgres (PostgreSQL) 15.x" string in the binary. */
static int major_of(const char *exe)
{
	static const char tag[] = "(PostgreSQL) ";
	FILE *f = fopen(exe, "re");
	char *buf;
	size_t n, i;
	int major = -1;

	if (!f)
		return -1;
	buf = malloc(1 << 20);
	while (buf && major < 0 && (n = fread(buf, 1, 1 << 20, f)) > 0) {
		for (i = 0; i + sizeof(tag) + 2 < n; i++)
			if (buf[i] == '(' && !memcmp(buf + i, tag, sizeof(tag) - 1) &&
			    buf[i + sizeof(tag) - 1] >= '1' && buf[i + sizeof(tag) - 1] <= '9') {
				major = atoi(buf + i + sizeof(tag) - 1);
				break;
			}
		if (n == 1 << 20)
			fseek(f, -64, SEEK_CUR);	/* the tag may straddle two reads */
	}
	free(buf);
	fclose(f);
	return major;
}

/* st_value of a .dynsym symbol, and the vaddr of the segment mapped at file offset 0. */
static int dynsym(const char *exe, const char *name, uint64_t *value, uint64_t *base_vaddr)
{
	int fd = open(exe, O_RDONLY | O_CLOEXEC), err = -1;
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	size_t i, nph;

	if (fd < 0)
		return -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		goto out;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getphdrnum(e, &nph))
		goto out;
	*base_vaddr = 0;
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0) {
			*base_vaddr = ph.p_vaddr;
			break;
		}
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t k, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		n = sh.sh_size / sh.sh_entsize;
		for (k = 0; d && k < n; k++) {
			GElf_Sym sym;
			const char *nm;

			if (!gelf_getsym(d, k, &sym))
				continue;
			nm = elf_strptr(e, sh.sh_link, sym.st_name);
			if (nm && !strcmp(nm, name)) {
				*value = sym.st_value;
				err = 0;
				goto out;
			}
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

/* Where the executable is mapped in pid (the mapping of file offset 0). */
static int load_base(pid_t pid, const char *exe, uint64_t *base)
{
	char path[64], line[4096];
	FILE *f;
	int err = -1;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, off;
		char *file = strchr(line, '/');

		if (!file || sscanf(line, "%llx-%*[0-9a-f] %*s %llx", &start, &off) != 2)
			continue;
		file[strcspn(file, "\n")] = 0;
		if (off == 0 && !strcmp(file, exe)) {
			*base = start;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

static int peek(pid_t pid, uint64_t addr, void *dst, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)(uintptr_t)addr, n };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* A live child of the postmaster whose status entry names it: proof of the layout. */
static int verify(pid_t postmaster, const struct dblat_be_entry *be)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int checked = 0, ok = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && checked < 8) {
		pid_t pid = atoi(de->d_name);
		uint64_t entry = 0;
		int32_t procpid = 0;

		if (pid <= 0 || proc_ppid(pid) != postmaster)
			continue;
		if (peek(pid, be->addr, &entry, sizeof(entry)) || !entry)
			continue;
		checked++;
		if (!peek(pid, entry + be->off_procpid, &procpid, sizeof(procpid)) && procpid == pid)
			ok++;
	}
	closedir(d);
	/* No child to check against yet: the BPF side checks st_procpid on every read. */
	return checked == 0 || ok > 0 ? 0 : -1;
}

int pgserver_resolve(pid_t postmaster, struct dblat_be_entry *out, char *why, size_t whylen)
{
	char exe[4096];
	uint64_t sym = 0, base = 0, vaddr = 0;
	int major;
	size_t i;

	if (exe_of(postmaster, exe, sizeof(exe)) || !is_postgres_exe(exe)) {
		snprintf(why, whylen, "pid %d is not a postgres server", postmaster);
		return -1;
	}
	major = major_of(exe);
	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].major == major)
			break;
	if (i == sizeof(layouts) / sizeof(layouts[0])) {
		snprintf(why, whylen, "PostgreSQL %d: backend status layout not known (known: 15)", major);
		return -1;
	}
	if (dynsym(exe, "MyBEEntry", &sym, &vaddr) || load_base(postmaster, exe, &base)) {
		snprintf(why, whylen, "MyBEEntry not found in %s", exe);
		return -1;
	}
	out->addr = base + sym - vaddr;
	out->off_procpid = layouts[i].off_procpid;
	out->off_activity = layouts[i].off_activity;
	if (verify(postmaster, out)) {
		snprintf(why, whylen, "the status entries of pid %d's backends do not match PostgreSQL %d's layout",
			 postmaster, major);
		return -1;
	}
	return 0;
}

int pgserver_postmasters(pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char exe[4096];
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		pid_t pid = atoi(de->d_name), pp;

		if (pid <= 0 || exe_of(pid, exe, sizeof(exe)) || !is_postgres_exe(exe))
			continue;
		pp = proc_ppid(pid);
		if (pp > 0 && !exe_of(pp, exe, sizeof(exe)) && is_postgres_exe(exe))
			continue;	/* a backend or helper process */
		out[n++] = pid;
	}
	closedir(d);
	return n;
}
