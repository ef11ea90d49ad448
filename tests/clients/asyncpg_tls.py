#!/usr/bin/python3
"""Many asyncpg connections over TLS on one event loop, each with statements of its own.

asyncio runs TLS over memory BIOs: the library never sees the socket, and
one thread reads and writes every connection. Connection i runs, N times
each, statements whose text (and fingerprint) no other connection uses:

  * extended protocol (a cached prepared statement):
      SELECT g AS c<i> FROM generate_series($1::int, $2::int) g   -> i + 1 rows
  * simple protocol:
      SELECT current_database() AS q<i>                            -> 1 row

so a statement counted on the wrong connection shows as a wrong row count,
a wrong backend pid or an unmatched response. Each connection first checks
that it is encrypted (pg_stat_ssl). With --https-port, the same loop also
fetches a page over HTTPS again and again while the statements run: another
TLS connection of the same thread, whose bytes must go nowhere.

Output JSON:
  {"pid": N, "comm": "...", "connections": K, "iterations": N,
   "backend_pids": {"<i>": pid}, "ssl": {"<i>": true},
   "calls": {"<sql>": count}, "rows": {"<sql>": rows per call},
   "https_requests": N}
"""

import argparse
import asyncio
import collections
import json
import os
import ssl
import sys
import time

import asyncpg

SQL_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def ext_sql(i):
    return f"SELECT g AS c{i} FROM generate_series($1::int, $2::int) g"


def simple_sql(i):
    return f"SELECT current_database() AS q{i}"


async def worker(i, args, ctx, go, out):
    conn = await asyncpg.connect(host=args.host, port=args.port, user=args.user,
                                 database=args.database, ssl=ctx, timeout=30)
    try:
        out["backend_pids"][str(i)] = conn.get_server_pid()
        out["ssl"][str(i)] = bool(await conn.fetchval(SQL_SSL))
        out["calls"][SQL_SSL] += 1
        await go.wait()
        for _ in range(args.iterations):
            rows = await conn.fetch(ext_sql(i), 1, i + 1)
            if len(rows) != i + 1:
                raise RuntimeError(f"connection {i}: {len(rows)} rows")
            out["calls"][ext_sql(i)] += 1
            await conn.execute(simple_sql(i))
            out["calls"][simple_sql(i)] += 1
    finally:
        await conn.close()


async def https_loop(args, ctx, done, out):
    while not done.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", args.https_port, ssl=ctx)
        writer.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        body = await reader.read()
        writer.close()
        if not body.startswith(b"HTTP/1."):
            raise RuntimeError("https: no HTTP response")
        out["https_requests"] += 1


async def main_async(args):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {"backend_pids": {}, "ssl": {}, "calls": collections.Counter(), "https_requests": 0}
    go = asyncio.Event()
    done = asyncio.Event()
    tasks = [asyncio.create_task(worker(i, args, ctx, go, out)) for i in range(args.connections)]
    # Every connection is up before any of them starts its statements: they interleave.
    while len(out["ssl"]) < args.connections and not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    https = asyncio.create_task(https_loop(args, ctx, done, out)) if args.https_port else None
    go.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        done.set()
        if https:
            await https
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--database", default="postgres")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--wait-file", help="connect only once this file exists")
    ap.add_argument("--https-port", type=int, help="also fetch https://127.0.0.1:PORT/ meanwhile")
    args = ap.parse_args()

    if args.wait_file:
        deadline = time.monotonic() + 60
        while not os.path.exists(args.wait_file):
            if time.monotonic() > deadline:
                sys.exit("asyncpg_tls.py: the wait file never appeared")
            time.sleep(0.05)
    t0 = time.monotonic()
    out = asyncio.run(main_async(args))
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    res = {
        "pid": os.getpid(),
        "comm": comm,
        "asyncpg_version": asyncpg.__version__,
        "connections": args.connections,
        "iterations": args.iterations,
        "backend_pids": out["backend_pids"],
        "ssl": out["ssl"],
        "calls": dict(out["calls"]),
        "rows": {ext_sql(i): i + 1 for i in range(args.connections)},
        "https_requests": out["https_requests"],
        "elapsed_s": round(time.monotonic() - t0, 3),
    }
    with open(args.json_out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
