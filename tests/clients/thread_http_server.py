#!/usr/bin/python3
"""A thread-per-request HTTP server over psycopg2, for dblat's tests.

http.server.ThreadingHTTPServer (HTTP/1.0: one connection, and one thread,
per request) with a fixed pool of psycopg2 connections in autocommit mode
(no implicit BEGIN), handed out through a blocking queue. Routes:

  GET /items/<n>    3 statements
  GET /orders/<n>   5 statements
  GET /health       none

Each statement sleeps a little in the server (pg_sleep), so database time
dominates the Python around it. The handler times its own checkout wait
and each cursor.execute() + fetch, and appends one line per request to the
log: "route statements db_us wait_us total_us".

Usage: thread_http_server.py PORT CONNINFO POOL_SIZE LOG
"""

import http.server
import queue
import sys
import threading
import time

import psycopg2

STATEMENTS = {"items": 3, "orders": 5, "health": 0}


def main():
    port, conninfo, size, log_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    pool = queue.Queue()
    for _ in range(size):
        conn = psycopg2.connect(conninfo)
        conn.autocommit = True
        pool.put(conn)
    log = open(log_path, "a", buffering=1)
    log_lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            t0 = time.monotonic_ns()
            route = self.path.strip("/").split("/")[0]
            n = STATEMENTS.get(route)
            if n is None:
                self.send_error(404)
                return
            db_ns = wait_ns = 0
            if n:
                w0 = time.monotonic_ns()
                conn = pool.get()
                wait_ns = time.monotonic_ns() - w0
                try:
                    with conn.cursor() as cur:
                        for i in range(n):
                            s0 = time.monotonic_ns()
                            cur.execute("SELECT pg_sleep(0.005), %s::int AS step", (i,))
                            cur.fetchall()
                            db_ns += time.monotonic_ns() - s0
                finally:
                    pool.put(conn)
            body = b'{"ok":true}\n'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with log_lock:
                log.write("%s %d %d %d %d\n" % (route, n, db_ns // 1000, wait_ns // 1000,
                                                (time.monotonic_ns() - t0) // 1000))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
