#!/usr/bin/env bash
# Install every Debian package dblat's build, tests, benchmarks and demo need.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

PKGS=(
  # build
  make gcc clang llvm libbpf-dev libelf-dev zlib1g-dev libpq-dev pkg-config
  bpftool linux-libc-dev
  # server, clients and loads for tests, benchmarks and the demo
  postgresql-15 postgresql-client-15 postgresql-contrib
  python3 python3-asyncpg python3-sqlalchemy python3-fastapi uvicorn
  python3-psycopg2 wrk pgbouncer
  # inspection and the comparison tracer
  bpftrace iproute2 procps strace jq time curl openssl bc
  # export checks: flame graph and HTML pages in a headless browser, pprof decoding
  chromium protobuf-compiler
)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's postgresql package starts a cluster of its own; dblat's tests and
# demo run private clusters and must not depend on (or collide with) it.
exit 0
