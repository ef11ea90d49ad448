#!/usr/bin/python3
"""A known asyncpg workload for dblat's end-to-end tests.

Runs a fixed mix of statements on its own table (dblat_t) over K
connections and writes, as JSON, exactly how many times each SQL text was
executed, as the text was sent to the server. The mix covers:

  * simple-protocol statements (conn.execute without arguments), some with
    literals that change on every call;
  * an explicit prepared statement (conn.prepare) executed many times;
  * conn.fetch / conn.fetchval / conn.execute with arguments, which asyncpg
    turns into cached named prepared statements;
  * transactions, both explicit ("BEGIN"/"ROLLBACK") and through
    conn.transaction(), which sends "BEGIN;" and "COMMIT;";
  * executemany, which pipelines Bind/Execute pairs under one Sync.

Only executions count (Parse/Describe round trips are not executions).

Output JSON:
  {"client": "asyncpg", "asyncpg_version": "...", "pid": N, "comm": "python3",
   "backend_pids": [...], "iterations": N, "concurrency": K,
   "calls": {"<sql text>": count, ...},
   "protocol": {"<sql text>": "simple" | "extended", ...},
   "elapsed_s": 1.23}
"""

import argparse
import asyncio
import collections
import json
import os
import sys
import time

import asyncpg

# The statements, as sent. Fingerprints (what dblat and pg_stat_statements
# show) are in tests/e2e/core_asyncpg.sh.
SQL_DROP = "DROP TABLE IF EXISTS dblat_t"
SQL_CREATE = "CREATE TABLE dblat_t (id int PRIMARY KEY, v text)"
SQL_INSERT = "INSERT INTO dblat_t (id, v) VALUES ($1, $2)"
SQL_POINT = "SELECT v FROM dblat_t WHERE id = $1"                     # conn.prepare
SQL_RANGE = "SELECT id, v FROM dblat_t WHERE id >= $1 ORDER BY id LIMIT 5"
SQL_UPDATE = "UPDATE dblat_t SET v = 'u{i}' WHERE id = {id}"          # simple, literals
SQL_COUNT = "SELECT count(*) FROM dblat_t WHERE v LIKE 'u%'"           # extended, no args
SQL_DELETE = "DELETE FROM dblat_t WHERE id = $1"
SQL_UPSERT = "INSERT INTO dblat_t (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
SQL_SUM = "SELECT sum(id) FROM dblat_t WHERE id BETWEEN $1 AND $2"    # inside conn.transaction()

POINT_PER_ITER = 3      # ps.fetchval calls per iteration
TXN_EVERY = 10          # one explicit BEGIN/DELETE/ROLLBACK every this many iterations
XACT_EVERY = 5          # one conn.transaction() block every this many iterations
MANY_EVERY = 20         # one executemany every this many iterations
MANY_ROWS = 4           # rows per executemany


class Counter:
    def __init__(self):
        self.calls = collections.Counter()
        self.protocol = {}

    def add(self, sql, protocol, n=1):
        self.calls[sql] += n
        self.protocol[sql] = protocol


async def connect(a):
    return await asyncpg.connect(host=a.host, port=a.port, user=a.user,
                                 database=a.database, ssl=False,
                                 timeout=a.connect_timeout)


async def worker(a, w, c, pids):
    conn = await connect(a)
    try:
        pids.append(conn.get_server_pid())
        ps = await conn.prepare(SQL_POINT)
        base = w * a.iterations
        for i in range(a.iterations):
            rid = base + i + 1
            await conn.execute(SQL_INSERT, rid, "v%d" % rid)
            c.add(SQL_INSERT, "extended")

            for _ in range(POINT_PER_ITER):
                v = await ps.fetchval(rid)
                if v is None:
                    raise RuntimeError("row %d missing" % rid)
                c.add(SQL_POINT, "extended")

            await conn.fetch(SQL_RANGE, rid)
            c.add(SQL_RANGE, "extended")

            upd = SQL_UPDATE.format(i=i, id=rid)
            await conn.execute(upd)
            c.add(upd, "simple")

            await conn.fetchval(SQL_COUNT)
            c.add(SQL_COUNT, "extended")

            if i % TXN_EVERY == 0:
                await conn.execute("BEGIN")
                c.add("BEGIN", "simple")
                await conn.execute(SQL_DELETE, rid)
                c.add(SQL_DELETE, "extended")
                await conn.execute("ROLLBACK")
                c.add("ROLLBACK", "simple")

            if i % XACT_EVERY == 0:
                async with conn.transaction():
                    await conn.fetchval(SQL_SUM, base, rid)
                # asyncpg 0.27 sends exactly these texts (transaction.py).
                c.add("BEGIN;", "simple")
                c.add(SQL_SUM, "extended")
                c.add("COMMIT;", "simple")

            if i % MANY_EVERY == 0:
                rows = [(10_000_000 + rid * MANY_ROWS + k, "m") for k in range(MANY_ROWS)]
                await conn.executemany(SQL_UPSERT, rows)
                c.add(SQL_UPSERT, "extended", len(rows))
    finally:
        await conn.close(timeout=10)


async def wait_for_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit("asyncpg_mix: %s did not appear within %.0f s" % (path, timeout))
        await asyncio.sleep(0.05)


async def main(a):
    if a.wait_file:
        await wait_for_file(a.wait_file, a.timeout)
    c = Counter()
    conn = await connect(a)
    try:
        await conn.execute(SQL_DROP)
        c.add(SQL_DROP, "simple")
        await conn.execute(SQL_CREATE)
        c.add(SQL_CREATE, "simple")
    finally:
        await conn.close(timeout=10)

    pids = []
    t0 = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(*(worker(a, w, c, pids) for w in range(a.concurrency))),
        timeout=a.timeout)
    elapsed = time.monotonic() - t0

    try:
        with open("/proc/self/comm") as f:
            comm = f.read().strip()
    except OSError:
        comm = ""
    return {
        "client": "asyncpg",
        "asyncpg_version": asyncpg.__version__,
        "pid": os.getpid(),
        "comm": comm,
        "backend_pids": sorted(pids),
        "iterations": a.iterations,
        "concurrency": a.concurrency,
        "calls": dict(sorted(c.calls.items())),
        "protocol": dict(sorted(c.protocol.items())),
        "elapsed_s": round(elapsed, 3),
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    p.add_argument("--database", default="postgres")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--json-out", default="-", help="file for the JSON (default stdout)")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds for the whole run")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--wait-file", help="connect only once this file exists "
                   "(lets a tracer attach to this process first)")
    a = p.parse_args()
    if a.iterations < 1 or a.concurrency < 1:
        p.error("--iterations and --concurrency must be >= 1")
    return a


if __name__ == "__main__":
    args = parse_args()
    result = asyncio.run(main(args))
    text = json.dumps(result, indent=1) + "\n"
    if args.json_out == "-":
        sys.stdout.write(text)
    else:
        with open(args.json_out, "w") as f:
            f.write(text)
