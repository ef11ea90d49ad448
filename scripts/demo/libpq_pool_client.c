/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A threaded libpq client with a fixed connection pool: N connections
 * shared by M worker threads (mutex + condition variable). Each worker does
 * API key lookups, timing its own wait for a pooled connection, the ground
 * truth for a tracer's view of pool queueing in a C client.
 *
 * Build:
 *   cc -O2 -Wall -Wextra -Werror -pthread -I"$(pg_config --includedir)" \
 *      -o scripts/demo/libpq_pool_client scripts/demo/libpq_pool_client.c -lpq
 *
 * Prints one JSON object on stdout at the end: request counts, throughput,
 * wait_us and query_us summaries (count, mean, p50, p99, max) overall and
 * per thread, wait_after_first_us: the waits without each thread's first
 * (which no statement of that thread precedes), and gap_us: from one
 * query's end to the thread's next query's start (handing the connection
 * back, any think time, the wait).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1000
#define MAX_THREADS 1000
#define MAX_SECONDS 3600

static const char usage_text[] =
	"usage: libpq_pool_client [options]\n"
	"  -c CONNINFO   libpq conninfo (default: host=127.0.0.1 port=55432 user=postgres dbname=gateway)\n"
	"  -n N          pooled connections (default 5)\n"
	"  -t M          worker threads (default 16)\n"
	"  -r K          lookups per thread (default 1000; 0 = until -d)\n"
	"  -w K          warm each connection with K lookups before the pause, untimed (default 0)\n"
	"  -d SECONDS    stop after this long (default 60, at most 3600)\n"
	"  -k NKEYS      keys are sk-demo-1 .. sk-demo-NKEYS (default 100000)\n"
	"  -S            hash the key in SQL (encode(sha256(...))) instead of in the client\n"
	"  -P            use a named prepared statement per connection (default: unnamed, PQexecParams)\n"
	"  -z USEC       think time between a thread's lookups (default 0)\n"
	"  -s MSEC       pause after connecting, before the load (lets a tracer attach; SIGUSR1 ends it)\n"
	"  -x USEC       hold the connection this long after each lookup (simulated app work)\n";

static const char *const q_client_hash =
	"SELECT id, user_id FROM api_keys WHERE hashed_key = $1 AND is_active";
static const char *const q_server_hash =
	"SELECT id, user_id FROM api_keys "
	"WHERE hashed_key = encode(sha256(convert_to($1, 'UTF8')), 'hex') AND is_active";

struct opts {
	const char *conninfo;
	int conns;
	int threads;
	long per_thread;
	long warm;
	int seconds;
	long nkeys;
	bool server_hash;
	bool prepared;
	long think_us;
	long start_pause_ms;
	long hold_us;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	PGconn **conns;
	int *free_idx;		/* stack of free connection indexes */
	int nfree;
	int size;
};

struct samples {
	uint32_t *v;
	size_t n, cap;
};

struct worker {
	int id;
	pthread_t th;
	struct pool *pool;
	const struct opts *o;
	uint64_t rng;
	long requests, found, missing, errors;
	struct samples wait_us, query_us;
	struct samples gap_us;	/* one query's end to the next one's start: return, think, wait */
	char err[256];
};

static volatile sig_atomic_t stop_flag;
static struct timespec deadline;

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

struct sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t len;
	size_t nbuf;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
			      sha256_k[i] + w[i];
		uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->nbuf = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->len += n;
	while (n > 0) {
		size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
		memcpy(s->buf + s->nbuf, p, take);
		s->nbuf += take;
		p += take;
		n -= take;
		if (s->nbuf == 64) {
			sha256_block(s, s->buf);
			s->nbuf = 0;
		}
	}
}

static void sha256_hex(const char *msg, char out[65])
{
	static const char hexd[] = "0123456789abcdef";
	struct sha256 s;
	uint64_t bits;
	uint8_t pad = 0x80, zero = 0, lenb[8];
	int i;

	sha256_init(&s);
	sha256_update(&s, msg, strlen(msg));
	bits = s.len * 8;
	sha256_update(&s, &pad, 1);
	while (s.nbuf != 56)
		sha256_update(&s, &zero, 1);
	for (i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(&s, lenb, 8);
	for (i = 0; i < 32; i++) {
		uint8_t byte = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
		out[2 * i] = hexd[byte >> 4];
		out[2 * i + 1] = hexd[byte & 15];
	}
	out[64] = '\0';
}

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool past_deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec > deadline.tv_sec ||
	       (ts.tv_sec == deadline.tv_sec && ts.tv_nsec >= deadline.tv_nsec);
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static volatile sig_atomic_t go_flag;

static void on_go(int sig)
{
	(void)sig;
	go_flag = 1;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stop_flag && !go_flag)
		;
}

static int samples_add(struct samples *s, uint64_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint32_t *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts s in place and prints {"count":..,"mean":..,"p50":..,"p99":..,"max":..}. */
static void print_summary(FILE *f, struct samples *s)
{
	double sum = 0;
	size_t i;

	if (s->n == 0) {
		fprintf(f, "{\"count\":0}");
		return;
	}
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	for (i = 0; i < s->n; i++)
		sum += s->v[i];
	/* nearest-rank percentiles */
	size_t i50 = (s->n * 50 + 99) / 100, i99 = (s->n * 99 + 99) / 100;
	fprintf(f, "{\"count\":%zu,\"mean\":%.1f,\"p50\":%" PRIu32 ",\"p99\":%" PRIu32 ",\"max\":%" PRIu32 "}",
		s->n, sum / (double)s->n, s->v[i50 ? i50 - 1 : 0], s->v[i99 ? i99 - 1 : 0], s->v[s->n - 1]);
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---------------------------------------------------------------- pool */

static PGconn *pool_get(struct pool *p, int *idx)
{
	PGconn *c;

	pthread_mutex_lock(&p->mu);
	while (p->nfree == 0)
		pthread_cond_wait(&p->cv, &p->mu);
	*idx = p->free_idx[--p->nfree];
	c = p->conns[*idx];
	pthread_mutex_unlock(&p->mu);
	return c;
}

static void pool_put(struct pool *p, int idx)
{
	pthread_mutex_lock(&p->mu);
	p->free_idx[p->nfree++] = idx;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- worker */

/* The lookup's parameter for key sk-demo-n: the key itself, or its hash. */
static const char *key_param(const struct opts *o, long n, char key[64], char hex[65])
{
	snprintf(key, 64, "sk-demo-%ld", n);
	if (o->server_hash)
		return key;
	sha256_hex(key, hex);
	return hex;
}

static PGresult *lookup(const struct opts *o, PGconn *c, const char *param)
{
	if (o->prepared)
		return PQexecPrepared(c, "lookup", 1, &param, NULL, NULL, 0);
	return PQexecParams(c, o->server_hash ? q_server_hash : q_client_hash, 1, NULL, &param, NULL, NULL, 0);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	char key[64], hex[65];
	uint64_t prev_end = 0;

	for (long i = 0; (o->per_thread == 0 || i < o->per_thread) && !stop_flag; i++) {
		if (past_deadline())
			break;
		const char *param = key_param(o, 1 + (long)(xorshift64(&w->rng) % (uint64_t)o->nkeys), key, hex);
		int idx;
		uint64_t t0 = now_ns();
		PGconn *c = pool_get(w->pool, &idx);
		uint64_t t1 = now_ns();

		PGresult *r = lookup(o, c, param);
		uint64_t t2 = now_ns();

		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			if (PQntuples(r) == 1)
				w->found++;
			else
				w->missing++;
		} else {
			w->errors++;
			if (!w->err[0])
				snprintf(w->err, sizeof(w->err), "%s", PQerrorMessage(c));
			if (PQstatus(c) == CONNECTION_BAD)
				PQreset(c);
		}
		PQclear(r);
		if (o->hold_us > 0)
			sleep_us(o->hold_us);
		pool_put(w->pool, idx);

		w->requests++;
		if (samples_add(&w->wait_us, (t1 - t0) / 1000) || samples_add(&w->query_us, (t2 - t1) / 1000) ||
		    (prev_end && samples_add(&w->gap_us, (t1 - prev_end) / 1000))) {
			snprintf(w->err, sizeof(w->err), "out of memory");
			break;
		}
		prev_end = t2;
		if (o->think_us > 0)
			sleep_us(o->think_us);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.conninfo = "host=127.0.0.1 port=55432 user=postgres dbname=gateway",
		.conns = 5, .threads = 16, .per_thread = 1000, .seconds = 60, .nkeys = 100000,
	};
	struct pool pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct worker *ws = NULL;
	struct sigaction sa;
	int opt, err = 1, started = 0;
	long v;

	while ((opt = getopt(argc, argv, "c:n:t:r:w:d:k:SPz:s:x:h")) != -1) {
		switch (opt) {
		case 'c': o.conninfo = optarg; break;
		case 'n': if (!parse_long(optarg, 1, MAX_CONNS, &v)) goto bad; o.conns = (int)v; break;
		case 't': if (!parse_long(optarg, 1, MAX_THREADS, &v)) goto bad; o.threads = (int)v; break;
		case 'r': if (!parse_long(optarg, 0, 100000000, &v)) goto bad; o.per_thread = v; break;
		case 'w': if (!parse_long(optarg, 0, 1000000, &v)) goto bad; o.warm = v; break;
		case 'd': if (!parse_long(optarg, 1, MAX_SECONDS, &v)) goto bad; o.seconds = (int)v; break;
		case 'k': if (!parse_long(optarg, 1, 1000000000, &v)) goto bad; o.nkeys = v; break;
		case 'S': o.server_hash = true; break;
		case 'P': o.prepared = true; break;
		case 'z': if (!parse_long(optarg, 0, 10000000, &v)) goto bad; o.think_us = v; break;
		case 's': if (!parse_long(optarg, 0, 600000, &v)) goto bad; o.start_pause_ms = v; break;
		case 'x': if (!parse_long(optarg, 0, 10000000, &v)) goto bad; o.hold_us = v; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	/* Self-check of the hash against a known vector (sha256("abc")). */
	{
		char hex[65];
		sha256_hex("abc", hex);
		if (strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) {
			fprintf(stderr, "libpq_pool_client: sha256 self-test failed\n");
			return 1;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_go;
	sigaction(SIGUSR1, &sa, NULL);

	pool.size = o.conns;
	pool.conns = calloc((size_t)o.conns, sizeof(*pool.conns));
	pool.free_idx = calloc((size_t)o.conns, sizeof(*pool.free_idx));
	ws = calloc((size_t)o.threads, sizeof(*ws));
	if (!pool.conns || !pool.free_idx || !ws) {
		fprintf(stderr, "libpq_pool_client: out of memory\n");
		goto cleanup;
	}

	uint64_t c0 = now_ns();
	for (int i = 0; i < o.conns; i++) {
		PGconn *c = PQconnectdb(o.conninfo);
		pool.conns[i] = c;
		if (PQstatus(c) != CONNECTION_OK) {
			fprintf(stderr, "libpq_pool_client: connection %d: %s", i, PQerrorMessage(c));
			goto cleanup;
		}
		if (o.prepared) {
			PGresult *r = PQprepare(c, "lookup", o.server_hash ? q_server_hash : q_client_hash, 1, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				fprintf(stderr, "libpq_pool_client: prepare: %s", PQerrorMessage(c));
				PQclear(r);
				goto cleanup;
			}
			PQclear(r);
		}
		pool.free_idx[pool.nfree++] = i;
	}
	uint64_t connect_us = (now_ns() - c0) / 1000;
	/* A new backend's first lookups plan and fill its caches: not what a pool's wait is about. */
	for (int i = 0; i < o.conns; i++) {
		for (long k = 0; k < o.warm; k++) {
			char key[64], hex[65];

			PQclear(lookup(&o, pool.conns[i], key_param(&o, k % o.nkeys + 1, key, hex)));
		}
	}

	if (o.start_pause_ms > 0) {
		fprintf(stderr, "libpq_pool_client: pid %d connected (%d connections), starting in %ld ms\n",
			(int)getpid(), o.conns, o.start_pause_ms);
		sleep_us(o.start_pause_ms * 1000);
	}

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += o.seconds;
	uint64_t t0 = now_ns();
	for (int i = 0; i < o.threads; i++) {
		ws[i].id = i;
		ws[i].pool = &pool;
		ws[i].o = &o;
		ws[i].rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0xbf58476d1ce4e5b9ull) ^ (uint64_t)getpid();
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "libpq_pool_client: pthread_create failed\n");
			stop_flag = 1;
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
	double elapsed = (double)(now_ns() - t0) / 1e9;

	struct samples all_wait = { 0 }, later_wait = { 0 }, all_gap = { 0 }, all_query = { 0 };
	long req = 0, found = 0, missing = 0, errors = 0;
	for (int i = 0; i < started; i++) {
		req += ws[i].requests;
		found += ws[i].found;
		missing += ws[i].missing;
		errors += ws[i].errors;
		for (size_t j = 0; j < ws[i].wait_us.n; j++)
			if (samples_add(&all_wait, ws[i].wait_us.v[j]) ||
			    (j > 0 && samples_add(&later_wait, ws[i].wait_us.v[j])) ||
			    samples_add(&all_query, ws[i].query_us.v[j])) {
				fprintf(stderr, "libpq_pool_client: out of memory\n");
				goto cleanup;
			}
		for (size_t j = 0; j < ws[i].gap_us.n; j++)
			if (samples_add(&all_gap, ws[i].gap_us.v[j])) {
				fprintf(stderr, "libpq_pool_client: out of memory\n");
				goto cleanup;
			}
	}

	printf("{\"pid\":%d,\"connections\":%d,\"threads\":%d,\"hash\":\"%s\",\"protocol\":\"%s\","
	       "\"connect_us\":%" PRIu64 ",\"requests\":%ld,\"found\":%ld,\"missing\":%ld,\"errors\":%ld,"
	       "\"elapsed_s\":%.3f,\"rps\":%.1f,\"wait_us\":",
	       (int)getpid(), o.conns, started, o.server_hash ? "server" : "client",
	       o.prepared ? "prepared" : "unnamed", connect_us, req, found, missing, errors,
	       elapsed, elapsed > 0 ? (double)req / elapsed : 0.0);
	print_summary(stdout, &all_wait);
	printf(",\"wait_after_first_us\":");
	print_summary(stdout, &later_wait);
	printf(",\"gap_us\":");
	print_summary(stdout, &all_gap);
	printf(",\"query_us\":");
	print_summary(stdout, &all_query);
	printf(",\"per_thread\":[");
	for (int i = 0; i < started; i++) {
		printf("%s{\"thread\":%d,\"requests\":%ld,\"errors\":%ld,\"wait_us\":", i ? "," : "", i,
		       ws[i].requests, ws[i].errors);
		print_summary(stdout, &ws[i].wait_us);
		printf(",\"query_us\":");
		print_summary(stdout, &ws[i].query_us);
		if (ws[i].err[0]) {
			printf(",\"first_error\":");
			json_str(stdout, ws[i].err);
		}
		printf("}");
	}
	printf("]}\n");
	free(all_wait.v);
	free(later_wait.v);
	free(all_gap.v);
	free(all_query.v);
	err = errors > 0 ? 2 : 0;

cleanup:
	if (ws) {
		for (int i = 0; i < o.threads; i++) {
			free(ws[i].wait_us.v);
			free(ws[i].query_us.v);
			free(ws[i].gap_us.v);
		}
	}
	free(ws);
	if (pool.conns)
		for (int i = 0; i < o.conns; i++)
			if (pool.conns[i])
				PQfinish(pool.conns[i]);
	free(pool.conns);
	free(pool.free_idx);
	return err;

bad:
	fputs(usage_text, stderr);
	return 2;
}
