// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"
#include "fingerprint.h"

void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void latency(FILE *out, const struct hist *h)
{
	fprintf(out, "{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"total\":%.3f}",
		hist_mean(h) / 1e3, hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.9) / 1e3,
		hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, h->max / 1e3,
		h->sum / 1e3);
}

int report_json(const char *path, const struct summary *s)
{
	FILE *out = fopen(path, "we");
	uint32_t n, i, j;
	struct stmt_stats **v;
	const struct tracer_counters *c = &s->ctr;

	if (!out) {
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	v = summary_sorted(s, &n);
	fprintf(out, "{\"schema\":\"%s\",\"duration_s\":%.3f,\n", DBLAT_JSON_SCHEMA, s->duration_s);
	fprintf(out, "\"events\":{\"received\":%llu,\"dropped\":%llu,\"lost_sync\":%llu,\"tail_overflow\":%llu,\"resyncs\":%llu,\"unmatched\":%llu},\n",
		(unsigned long long)c->received, (unsigned long long)c->dropped,
		(unsigned long long)c->lost_sync, (unsigned long long)c->tail_overflow,
		(unsigned long long)c->resyncs, (unsigned long long)c->unmatched);
	fprintf(out, "\"connections\":{\"adopted\":%llu,\"not_postgres\":%llu},\n",
		(unsigned long long)c->conns_adopted, (unsigned long long)c->conns_not_pg);
	fputs("\"statements\":[", out);
	for (i = 0; v && i < n; i++) {
		const struct stmt_stats *st = v[i];
		const char *q = summary_fp_text(s, st->fp);

		fputs(i ? ",\n {" : "\n {", out);
		fputs("\"query\":", out);
		json_str(out, q);
		fprintf(out, ",\"class\":\"%s\",\"side\":\"%s\",\"comm\":", dblat_class_name(dblat_classify(q)),
			side_name(st->side));
		json_str(out, st->comm);
		fputs(",\"pids\":[", out);
		for (j = 0; j < st->npids; j++)
			fprintf(out, "%s%u", j ? "," : "", st->pids[j]);
		fprintf(out, "],\"calls\":%llu,\"errors\":%llu,\"rows\":%llu,\"sqlstates\":{",
			(unsigned long long)st->calls, (unsigned long long)st->errors,
			(unsigned long long)st->rows);
		for (j = 0; j < st->nstates; j++) {
			fputs(j ? "," : "", out);
			json_str(out, st->states[j].code);
			fprintf(out, ":%llu", (unsigned long long)st->states[j].n);
		}
		fputs("},\"latency_us\":", out);
		latency(out, &st->lat);
		fputc('}', out);
	}
	fputs("\n]}\n", out);
	free(v);
	if (fclose(out)) {
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
