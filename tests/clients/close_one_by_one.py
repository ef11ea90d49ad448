"""Open 10 connections, query on each every 20 ms, then close them one by
one 300 ms apart (the others go on), and stay alive a while: a tracer must
see the closes, whenever they come.

usage: close_one_by_one.py HOST PORT [LINGER_S]
"""
import sys
import time

import psycopg2

host, port = sys.argv[1], sys.argv[2]
linger = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
conns = []
for _ in range(10):
    c = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    c.autocommit = True
    conns.append(c)


def tick():
    for o in conns:
        if not o.closed:
            cur = o.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
    time.sleep(0.02)


t0 = time.time()
while time.time() - t0 < 2:
    tick()
for c in conns:
    c.close()
    t = time.time() + 0.3
    while time.time() < t:
        tick()
print("closed all", flush=True)
time.sleep(linger)
