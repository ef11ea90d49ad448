#!/usr/bin/python3
"""Latency percentiles from pgbench per-transaction logs (pgbench -l).

usage: pct.py LOGFILE...   prints one JSON object on stdout

Each line of a pgbench -l log is
    client_id transaction_no time script_no time_epoch time_us [schedule_lag]
where time is the transaction's latency in microseconds. Under --rate it is
counted from the transaction's scheduled start, so it includes schedule_lag:
the latency an open-loop client sees at that arrival rate. "service" is
time - schedule_lag, the latency from the actual send. Skipped transactions
(time "skipped", only with --latency-limit) are counted apart.
"""
import json
import sys


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    # nearest rank
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def main():
    total, service = [], []
    skipped = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                a = line.split()
                if len(a) < 6:
                    continue
                if a[2] == "skipped":
                    skipped += 1
                    continue
                t = float(a[2])
                total.append(t)
                service.append(t - float(a[6]) if len(a) >= 7 else t)
    total.sort()
    service.sort()
    out = {"n": len(total), "skipped": skipped}
    for name, vals in (("total", total), ("service", service)):
        out[name] = {
            "mean_us": (sum(vals) / len(vals)) if vals else None,
            "p50_us": pct(vals, 50),
            "p90_us": pct(vals, 90),
            "p99_us": pct(vals, 99),
            "p999_us": pct(vals, 99.9),
            "max_us": vals[-1] if vals else None,
        }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
