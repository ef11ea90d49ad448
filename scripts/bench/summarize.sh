#!/usr/bin/env bash
# Summarise scripts/bench-overhead.sh runs: results JSON and a table.
#
# usage: summarize.sh --meta M.json --runs R.jsonl --blocks B.jsonl --tools T.jsonl [--tax X.jsonl] --out OUT.json
#
# summarize.jq computes the results JSON (written to OUT); summarize-table.jq
# lays the table out from it and render.awk prints it. Exit status 1 when no
# dblat session was measured.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
META='' RUNS='' BLOCKS='' TOOLS='' TAX='' OUT=''
while [ $# -gt 0 ]; do
	case "$1" in
	--meta) META=$2 ;;
	--runs) RUNS=$2 ;;
	--blocks) BLOCKS=$2 ;;
	--tools) TOOLS=$2 ;;
	--tax) TAX=$2 ;;
	--out) OUT=$2 ;;
	*) echo "summarize.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
if [ -z "$META" ] || [ -z "$RUNS" ] || [ -z "$BLOCKS" ] || [ -z "$TOOLS" ] || [ -z "$OUT" ]; then
	echo "usage: summarize.sh --meta M --runs R --blocks B --tools T [--tax X] --out OUT" >&2
	exit 2
fi
# A JSONL file that is missing counts as empty.
jsonl() { if [ -n "$1" ] && [ -e "$1" ]; then echo "$1"; else echo /dev/null; fi; }

jq -n --indent 1 --slurpfile meta "$META" --slurpfile runs "$(jsonl "$RUNS")" \
	--slurpfile blocks "$(jsonl "$BLOCKS")" --slurpfile tools "$(jsonl "$TOOLS")" \
	--slurpfile tax "$(jsonl "$TAX")" -f "$HERE/summarize.jq" >"$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
jq -r --arg out "$OUT" -f "$HERE/summarize-table.jq" "$OUT" | awk -f "$HERE/render.awk"
if [ "$(jq '.dblat_sessions | .sessions - .failed_sessions' "$OUT")" -eq 0 ]; then
	echo "bench-overhead: no dblat session was measured" >&2
	exit 1
fi
