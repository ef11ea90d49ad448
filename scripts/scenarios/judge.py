"""Verdicts for the seed test plan's scenarios, from the artifacts of a run.

    judge.py ID DIR

prints one line

    ID | expected outcome | PASS / FAIL / NEEDS <capability,...> | measured ...

FAIL: a threshold of the test case is missed by something measured (wrk,
pg_stat_statements, pg_stat_activity, the app's own pool-wait log, or
dblat). NEEDS: nothing measured failed, but a number the case needs comes
from a part of dblat that is missing: the binary itself ("dblat") or a
section of its JSON. No number is ever made up for a missing section.

What is read from dblat's JSON (DIR/PHASE.dblat.json):
  statements[]: {fingerprint (or query), side "client"/"server", calls,
                 errors, latency_us {mean, p50, p90, p99, max, total}}
  pool:         {wait_us {count, mean, p50, p99, max}} or a list of such
                objects (one per client pool); the busiest one is used
  sessions, transactions, timeline: only their presence is checked so far
Artifacts per phase (written by lib.sh): PHASE.wrk.json (WRK_JSON of
scripts/demo/wrk/mix.lua), PHASE.pgss.json, PHASE.activity.jsonl,
PHASE.phase.json (window in CLOCK_MONOTONIC ns, CPU ticks), PHASE.dbstat0/1.json;
per app run LABEL.waitlog ("ts_ns wait_us status path") and LABEL.app.env.
"""

import json
import os
import re
import sys

LOOKUP_RE = r"from\s+api_keys\b.*\bhashed_key\b"
INSERT_RE = r"^\s*insert\s+into\s+billing_events\b"
BEGIN_RE = r"^\s*(begin|start\s+transaction)\b"
COMMIT_RE = r"^\s*(commit|end)\b"
ROLLBACK_RE = r"^\s*rollback\b"


# ------------------------------------------------------------------ reading

class Run:
    def __init__(self, sid, d):
        self.id = sid
        self.dir = d
        self.no_dblat = os.path.exists(os.path.join(d, "no-dblat"))

    def path(self, name):
        return os.path.join(self.dir, name)

    def json(self, name, default=None):
        try:
            with open(self.path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return default

    def jsonl(self, name):
        out = []
        try:
            with open(self.path(name)) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            out.append(json.loads(line))
                        except ValueError:
                            pass
        except OSError:
            pass
        return out

    def text(self, name):
        try:
            with open(self.path(name)) as f:
                return f.read()
        except OSError:
            return ""

    def wrk(self, phase):
        return self.json(phase + ".wrk.json", {}) or {}

    def phase(self, phase):
        return self.json(phase + ".phase.json", {}) or {}

    def pgss(self, phase):
        return self.json(phase + ".pgss.json", []) or []

    def activity(self, phase):
        return [s for s in self.jsonl(phase + ".activity.jsonl") if not s.get("down")]

    def end(self, phase):
        """pg_stat_activity a second after the phase's load stopped."""
        d = self.json(phase + ".end.json", {}) or {}
        return {} if d.get("down") else d

    def app_env(self, label):
        env = {}
        for line in self.text(label + ".app.env").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
        return env

    def pool_limit(self, label):
        env = self.app_env(label)
        return int(env.get("DEMO_POOL_SIZE", 5)), int(env.get("DEMO_MAX_OVERFLOW", 0))

    def waitlog(self, label, t0=None, t1=None):
        """[(ts_ns, wait_us, status, path)] of the app run LABEL, within [t0, t1)."""
        out = []
        try:
            with open(self.path(label + ".waitlog")) as f:
                for line in f:
                    p = line.split()
                    if len(p) != 4:
                        continue
                    ts, w, st = int(p[0]), int(p[1]), int(p[2])
                    if (t0 is None or ts >= t0) and (t1 is None or ts < t1):
                        out.append((ts, w, st, p[3]))
        except OSError:
            pass
        return out

    def phase_waits(self, phase):
        ph = self.phase(phase)
        if not ph:
            return []
        return [r for r in self.waitlog(ph["app_label"], ph["t0_ns"], ph["t1_ns"])
                if r[3] in ("/models", "/chat/completions")]


def pct(vals, p):
    if not vals:
        return None
    s = sorted(vals)
    i = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[i]


def mean(vals):
    return sum(vals) / len(vals) if vals else None


def fmt(v, unit="", nd=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return ("%." + str(nd) + "f%s") % (v, unit)
    return "%s%s" % (v, unit)


def pgss_find(rows, regex):
    """The pg_stat_statements row matching regex with the most calls."""
    best = None
    for r in rows:
        if re.search(regex, r.get("query", ""), re.I | re.S):
            if best is None or r.get("calls", 0) > best.get("calls", 0):
                best = r
    return best


def stmt_text(s):
    for k in ("fingerprint", "query", "statement", "sql", "text"):
        if isinstance(s.get(k), str):
            return s[k]
    return ""


def lat(s, field):
    """A latency field of a dblat statement in microseconds, or None."""
    if not s:
        return None
    l = s.get("latency_us") or {}
    v = l.get(field)
    return float(v) if isinstance(v, (int, float)) else None


# ------------------------------------------------------------------ verdicts

class Verdict:
    def __init__(self, run, expected):
        self.run = run
        self.expected = expected
        self.measured = []
        self.failed = []
        self.needs = []

    def note(self, text):
        if text not in self.measured:
            self.measured.append(text)

    def check(self, ok, text):
        """ok: True/False, or None when the value could not be measured (counts as failed)."""
        self.measured.append(text)
        if not ok:
            self.failed.append(text)

    def need(self, cap):
        if cap not in self.needs:
            self.needs.append(cap)

    def dblat(self, phase):
        """dblat's JSON for phase, or None (and a NEEDS) when there is none."""
        if self.run.no_dblat:
            self.need("dblat")
            return None
        if os.path.exists(self.run.path(phase + ".untraced")):
            return None
        d = self.run.json(phase + ".dblat.json")
        if not isinstance(d, dict):
            err = self.run.text(phase + ".dblat.err").strip().splitlines()
            self.need("dblat")
            self.note("dblat gave no JSON in %s%s" % (phase, (": " + err[-1][:120]) if err else ""))
            return None
        return d

    def section(self, phase, name):
        d = self.dblat(phase)
        if d is None:
            return None
        sec = d.get(name)
        if sec is None and name in ("sessions", "transactions"):
            # dblat/1 keeps these per process: processes[].sessions / .transactions
            sec = [dict(p[name], pid=p.get("pid"), side=p.get("side"), comm=p.get("comm"))
                   for p in d.get("processes") or [] if isinstance(p.get(name), dict)]
        if sec in (None, [], {}):
            self.need(name)
            return None
        return sec

    def stmt(self, phase, side, regex):
        """The busiest dblat statement of this side whose fingerprint matches."""
        sts = self.section(phase, "statements")
        if sts is None:
            return None
        best = None
        for s in sts:
            if s.get("side") != side or not re.search(regex, stmt_text(s), re.I | re.S):
                continue
            if best is None or s.get("calls", 0) > best.get("calls", 0):
                best = s
        return best

    def stmt_or_need(self, phase, side, regex, what):
        """stmt(), and when dblat has no text for it because its Parse came
        before dblat attached (a cached prepared statement), a NEEDS."""
        st = self.stmt(phase, side, regex)
        if st is None:
            sts = self.run.json(phase + ".dblat.json", {}) or {}
            if any(stmt_text(x).startswith("<prepared statement") for x in sts.get("statements") or []
                   if x.get("side") == side):
                self.need("prepared_text")
                self.note("dblat shows the %s %s only as <prepared statement: Parse not seen> (parsed before attach)" % (side, what))
        return st

    def pool_wait(self, phase):
        sec = self.section(phase, "pool")
        if sec is None:
            return None
        cands = sec if isinstance(sec, list) else [sec]
        best = None
        for c in cands:
            if not isinstance(c, dict):
                continue
            w = c.get("wait_us") or c.get("queue_wait_us")
            if isinstance(w, dict) and (best is None or w.get("count", 0) > best.get("count", 0)):
                best = w
        if best is None:
            self.need("pool (no wait_us in the pool section)")
        return best

    def line(self):
        if self.failed:
            status = "FAIL"
        elif self.needs:
            status = "NEEDS " + ",".join(self.needs)
        else:
            status = "PASS"
        measured = "; ".join(m.replace("|", "/") for m in self.measured)
        if self.failed:
            measured += "  [failed: " + "; ".join(f.split(" (")[0] for f in self.failed) + "]"
        return "%s | %s | %s | %s" % (self.run.id, self.expected, status, measured)


def wrk_ok(w):
    return bool(w) and "requests" in w


def success_share(w):
    st = w.get("status", {})
    ok = sum(v for k, v in st.items() if 200 <= int(k) < 300)
    total = w.get("requests", 0) + w.get("errors", {}).get("timeout", 0)
    return ok / total if total else None


def non2xx_by_status(w):
    return {k: v for k, v in w.get("status", {}).items() if not 200 <= int(k) < 300}


def transport_errors(w):
    e = w.get("errors", {})
    return e.get("connect", 0) + e.get("read", 0) + e.get("write", 0) + e.get("timeout", 0)


def wrk_summary(name, w):
    l = w.get("latency_us", {})
    return "%s: %s rps, p50 %s ms, p99 %s ms, non2xx %s" % (
        name, fmt(w.get("rps")), fmt(l.get("p50", 0) / 1000.0, nd=2), fmt(l.get("p99", 0) / 1000.0, nd=1),
        non2xx_by_status(w) or 0)


def require_wrk(v, *phases):
    ok = True
    for p in phases:
        if not wrk_ok(v.run.wrk(p)):
            v.check(False, "no wrk result for phase %s" % p)
            ok = False
    return ok


def lookup_server_ms(v, phase):
    """(pg_stat_statements mean ms, dblat server-side mean ms) of the key lookup."""
    row = pgss_find(v.run.pgss(phase), LOOKUP_RE)
    s = v.stmt_or_need(phase, "server", LOOKUP_RE, "lookup")
    return (row["mean_ms"] if row else None), (lat(s, "mean") / 1000.0 if lat(s, "mean") is not None else None)


def max_sample(samples, key):
    vals = [s.get(key, 0) for s in samples]
    return max(vals) if vals else None


def db_cpu_per_kreq(run, phase):
    ph, w = run.phase(phase), run.wrk(phase)
    if not ph or not wrk_ok(w) or not w.get("requests"):
        return None
    ticks = ph["cpu1"][0] - ph["cpu0"][0]
    return ticks / float(ph.get("clk_tck", 100)) / (w["requests"] / 1000.0)


def app_cpu_per_kreq(run, phase):
    ph, w = run.phase(phase), run.wrk(phase)
    if not ph or not wrk_ok(w) or not w.get("requests"):
        return None
    ticks = ph["cpu1"][1] - ph["cpu0"][1]
    return ticks / float(ph.get("clk_tck", 100)) / (w["requests"] / 1000.0)


# ---------------------------------------------------------------- scenarios

def pool_exhaustion(v):
    r = v.run
    if not require_wrk(v, "baseline", "exhaust"):
        return
    size, over = r.pool_limit("app")
    b, x = r.wrk("baseline"), r.wrk("exhaust")
    v.note(wrk_summary("baseline", b))
    v.note(wrk_summary("exhaust", x))
    v.check(r.phase("exhaust").get("app_alive") is True, "app alive after the load: %s" % r.phase("exhaust").get("app_alive"))
    share = success_share(x)
    v.check(share is not None and share >= 0.95, "success %s (>= 95%%)" % fmt(share * 100 if share is not None else None, "%"))
    other = {k: n for k, n in non2xx_by_status(x).items() if k not in ("503", "504")}
    sock = transport_errors(x) - x.get("errors", {}).get("timeout", 0)
    v.check(not other and sock == 0, "errors other than 503/504: %s, socket errors %d" % (other or 0, sock))
    bp99, xp99 = b["latency_us"]["p99"], x["latency_us"]["p99"]
    v.check(xp99 > bp99, "p99 rose %sx (queueing shows)" % fmt(xp99 / bp99 if bp99 else None, nd=1))
    m = max_sample(r.activity("exhaust"), "app_total")
    v.check(m is not None and m <= size + over, "app DB connections max %s (<= pool %d+%d)" % (m, size, over))
    act = max_sample(r.activity("exhaust"), "active")
    v.note("pg active max %s" % act)
    pg_ms, dbl_ms = lookup_server_ms(v, "exhaust")
    v.check(pg_ms is not None and pg_ms < 2.0, "lookup server mean %s (pgss, < 2 ms)" % fmt(pg_ms, " ms", 3))
    if dbl_ms is not None:
        v.check(dbl_ms < 2.0, "lookup server mean %s (dblat, < 2 ms)" % fmt(dbl_ms, " ms", 3))
    waits = [w for _, w, st, _ in r.phase_waits("exhaust") if w >= 0]
    if waits:
        mw = mean(waits) / 1000.0
        v.note("app pool wait mean %s, p99 %s ms, %s of mean latency" % (
            fmt(mw, " ms"), fmt(pct(waits, 99) / 1000.0), fmt(100 * mw / (x["latency_us"]["mean"] / 1000.0), "%", 0)))
    pw = v.pool_wait("exhaust")
    if pw:
        v.note("dblat pool wait mean %s ms, p99 %s ms" % (fmt(pw.get("mean", 0) / 1000.0), fmt(pw.get("p99", 0) / 1000.0)))
    cl = v.stmt("exhaust", "client", LOOKUP_RE)
    if cl:
        v.note("dblat client lookups %s, mean %s ms" % (cl.get("calls"), fmt(lat(cl, "mean") / 1000.0, nd=2)))


def pool_recovery(v):
    r = v.run
    phases = ["baseline", "stress", "recover", "outage", "after"]
    if not require_wrk(v, *phases):
        return
    size, over = r.pool_limit("app")
    base = r.wrk("baseline")
    bmean = base["latency_us"]["mean"] / 1000.0
    for p in phases:
        v.note(wrk_summary(p, r.wrk(p)))
    for p in ("recover", "after"):
        w = r.wrk(p)
        m = w["latency_us"]["mean"] / 1000.0
        v.check(m <= 1.5 * bmean + 2.0, "%s mean latency %s vs baseline %s ms (<= 1.5x + 2 ms)" % (p, fmt(m, " ms"), fmt(bmean)))
        v.check(not non2xx_by_status(w) and transport_errors(w) == 0,
                "%s errors %s (none)" % (p, non2xx_by_status(w) or transport_errors(w) or 0))
    last = r.end("after")
    v.check(last.get("app_total") is not None and last["app_total"] <= size + over and not last.get("app_idle_in_xact"),
            "app DB connections at rest %s, idle in transaction %s (<= %d, 0)" % (
                last.get("app_total"), last.get("app_idle_in_xact"), size + over))
    v.check(max_sample(r.activity("after"), "max_xact_age_ms") is not None and
            max_sample(r.activity("after"), "max_xact_age_ms") < 5000,
            "longest open transaction after recovery %s ms (< 5000)" % fmt(max_sample(r.activity("after"), "max_xact_age_ms"), nd=0))
    pg_b, dbl_b = lookup_server_ms(v, "baseline")
    pg_a, dbl_a = lookup_server_ms(v, "after")
    v.note("lookup server mean baseline %s, after %s ms (pgss)" % (fmt(pg_b, nd=3), fmt(pg_a, nd=3)))
    if dbl_b is not None and dbl_a is not None:
        v.note("dblat lookup server mean baseline %s, after %s ms" % (fmt(dbl_b, nd=3), fmt(dbl_a, nd=3)))
    v.section("after", "sessions")


def auth_key_lookup(v):
    r = v.run
    if not require_wrk(v, "load"):
        return
    w = r.wrk("load")
    v.note(wrk_summary("load", w))
    plan = r.text("explain.txt")
    n = plan.count("Index Scan using ix_api_keys_hashed_key")
    v.check(n >= 2, "plan uses ix_api_keys_hashed_key (generic and custom): %s" % ("yes" if n >= 2 else "no"))
    row = pgss_find(r.pgss("load"), LOOKUP_RE)
    v.check(row is not None and row["mean_ms"] < 2.0,
            "pgss lookup mean %s ms over %s calls (< 2 ms)" % (fmt(row and row["mean_ms"], nd=3), row and row["calls"]))
    v.check(transport_errors(w) == 0 and not non2xx_by_status(w), "request errors %s" % (non2xx_by_status(w) or transport_errors(w) or 0))
    s = v.stmt_or_need("load", "server", LOOKUP_RE, "lookup")
    c = v.stmt("load", "client", LOOKUP_RE)
    if s:
        v.check(lat(s, "mean") < 2000, "dblat server lookup mean %s ms, p99 %s ms (< 2 ms)" % (
            fmt(lat(s, "mean") / 1000.0, nd=3), fmt((lat(s, "p99") or 0) / 1000.0, nd=3)))
        if row:
            v.note("dblat/pgss calls %s/%s" % (s.get("calls"), row["calls"]))
    elif v.run.json("load.dblat.json") and not v.needs:
        v.check(False, "dblat saw no server-side lookup")
    if c:
        v.note("dblat client lookup mean %s ms, p99 %s ms" % (fmt(lat(c, "mean") / 1000.0, nd=3), fmt((lat(c, "p99") or 0) / 1000.0, nd=3)))


def billing_write(v):
    r = v.run
    if not require_wrk(v, "reads", "writes"):
        return
    for p in ("reads", "writes"):
        v.note(wrk_summary(p, r.wrk(p)))
    pr, dr = lookup_server_ms(v, "reads")
    pw, dw = lookup_server_ms(v, "writes")
    v.check(pr is not None and pw is not None and pw <= 1.5 * pr + 0.05 and pw < 2.0,
            "pgss lookup mean reads-only %s ms, with writes %s ms (<= 1.5x, < 2 ms)" % (fmt(pr, nd=3), fmt(pw, nd=3)))
    if dr is not None and dw is not None:
        v.check(dw <= 1.5 * dr + 0.05 and dw < 2.0, "dblat lookup server mean %s -> %s ms" % (fmt(dr, nd=3), fmt(dw, nd=3)))
    ins = pgss_find(r.pgss("writes"), INSERT_RE)
    v.note("pgss insert mean %s ms over %s calls" % (fmt(ins and ins["mean_ms"], nd=3), ins and ins["calls"]))
    lw = max_sample(r.activity("writes"), "lock_waiting")
    v.check(lw == 0, "backends waiting on locks, max %s (0)" % lw)
    age = max_sample(r.activity("writes"), "max_xact_age_ms")
    v.check(age is not None and age < 1000, "longest transaction seen %s ms (< 1000)" % fmt(age, nd=0))
    w = r.wrk("writes")
    v.check(not non2xx_by_status(w) and transport_errors(w) == 0, "request errors %s" % (non2xx_by_status(w) or transport_errors(w) or 0))
    cm = v.stmt("writes", "client", COMMIT_RE)
    if cm:
        v.note("dblat client COMMIT mean %s ms, p99 %s ms" % (fmt(lat(cm, "mean") / 1000.0, nd=2), fmt((lat(cm, "p99") or 0) / 1000.0, nd=2)))
    v.section("writes", "transactions")


SESSION_OVERHEAD_MS = 3.0


def session_overhead(v):
    r = v.run
    if not require_wrk(v, "load"):
        return
    v.note(wrk_summary("load", r.wrk("load")))
    st = r.json("app.appstats.json", {}) or {}
    cr, cl = st.get("session_create_us", {}), st.get("session_close_us", {})
    if cr.get("count") and cl.get("count"):
        tot = (cr["mean"] + cl["mean"]) / 1000.0
        v.check(tot < SESSION_OVERHEAD_MS, "app: session create %s + close %s ms = %s ms per request (< %g ms)" % (
            fmt(cr["mean"] / 1000.0, nd=3), fmt(cl["mean"] / 1000.0, nd=3), fmt(tot, nd=3), SESSION_OVERHEAD_MS))
    else:
        v.check(False, "no app session timings (app.appstats.json)")
    b, rb = v.stmt("load", "client", BEGIN_RE), v.stmt("load", "client", ROLLBACK_RE)
    if b and rb:
        v.note("dblat client BEGIN %s ms + ROLLBACK %s ms" % (fmt(lat(b, "mean") / 1000.0, nd=3), fmt(lat(rb, "mean") / 1000.0, nd=3)))
    v.section("load", "sessions")


def echo_logging(v):
    r = v.run
    # off1, on1 always; off2, on2 unless the run was a quick one
    offs = [p for p in ("off1", "off2") if p == "off1" or os.path.exists(r.path(p + ".wrk.json"))]
    ons = [p for p in ("on1", "on2") if p == "on1" or os.path.exists(r.path(p + ".wrk.json"))]
    if not require_wrk(v, *(offs + ons)):
        return
    for p in ("off1", "on1", "off2", "on2"):
        if p in offs or p in ons:
            v.note(wrk_summary(p, r.wrk(p)))
    cfg = (r.json("off1.appstats.json", {}) or {}).get("config", {})
    v.check(cfg.get("echo") is False, "echo off by default: %s" % (cfg.get("echo") is False))
    rps_off = mean([r.wrk(p)["rps"] for p in offs])
    rps_on = mean([r.wrk(p)["rps"] for p in ons])
    p50_off = mean([r.wrk(p)["latency_us"]["p50"] for p in offs])
    p50_on = mean([r.wrk(p)["latency_us"]["p50"] for p in ons])
    drop = 1 - rps_on / rps_off
    rise = p50_on / p50_off - 1
    v.check(drop >= 0.10 or rise >= 0.10, "echo on: rps %s%%, p50 %+.0f%% (expected >= 10%% worse)" % (
        fmt(-100 * drop, nd=0), 100 * rise))
    cpu_off = mean([x for x in (app_cpu_per_kreq(r, p) for p in offs) if x is not None])
    cpu_on = mean([x for x in (app_cpu_per_kreq(r, p) for p in ons) if x is not None])
    v.note("app CPU per 1000 requests off %s s, on %s s" % (fmt(cpu_off, nd=3), fmt(cpu_on, nd=3)))
    dbl = {p: lookup_server_ms(v, p)[1] for p in offs + ons}
    off = [dbl[p] for p in offs if dbl[p] is not None]
    on = [dbl[p] for p in ons if dbl[p] is not None]
    if off and on:
        off, on = mean(off), mean(on)
        # a note, not a threshold: on a small machine the app's extra CPU
        # also slows the backends it shares the cores with
        v.note("dblat server lookup mean off %s ms, on %s ms" % (fmt(off, nd=3), fmt(on, nd=3)))


def resilience_failover(v):
    r = v.run
    if not require_wrk(v, "run"):
        return
    w = r.wrk("run")
    v.note(wrk_summary("run", w))
    size, over = r.pool_limit("app")
    ev = r.json("outage.json", {}) or {}
    if "restored_ns" not in ev:
        v.check(False, "no outage timestamps (outage.json)")
        return
    down, up = ev["down_ns"], ev["restored_ns"]
    v.note("outage %s s" % fmt((up - down) / 1e9))
    reqs = r.phase_waits("run")
    before = [x for x in reqs if x[0] < down]
    ok_before = sum(1 for x in before if x[2] == 200)
    v.check(before and ok_before / len(before) > 0.99, "success before the outage %s" % fmt(
        100.0 * ok_before / len(before) if before else None, "%"))
    after = [x for x in reqs if x[0] >= up]
    first_ok = next((x[0] for x in after if x[2] == 200), None)
    rec = (first_ok - up) / 1e9 if first_ok is not None else None
    v.check(rec is not None and rec <= 30, "first success %s s after restore (<= 30 s)" % fmt(rec, nd=2))
    # seconds from restore after which every 1 s bucket is > 99% successful
    buckets = {}
    for ts, _, st, _ in after:
        b = buckets.setdefault((ts - up) // 1_000_000_000, [0, 0])
        b[0] += 1
        b[1] += st == 200
    ks = sorted(buckets)
    rec99 = None
    for i, k in enumerate(ks):
        if all(buckets[j][1] > 0.99 * buckets[j][0] for j in ks[i:]):
            rec99 = k
            break
    v.check(rec99 is not None and rec99 < 60 and len(ks) - ks.index(rec99) >= 3,
            ">99%% success from %s s after restore on (< 60 s)" % fmt(rec99))
    errs = sum(1 for x in reqs if x[2] != 200)
    v.note("failed requests %d of %d (%s)" % (errs, len(reqs), dict(sorted(
        {str(st): sum(1 for x in reqs if x[2] == st) for st in set(x[2] for x in reqs) if st != 200}.items()))))
    last = r.end("run")
    v.check(last.get("app_total") is not None and last["app_total"] <= size + over,
            "app DB connections at rest %s (<= %d, no leak)" % (last.get("app_total"), size + over))
    v.section("run", "sessions")
    v.section("run", "timeline")


def query_optimization(v):
    r = v.run
    if not require_wrk(v, "noindex", "index"):
        return
    for p in ("noindex", "index"):
        v.note(wrk_summary(p, r.wrk(p)))
    v.check("Seq Scan" in r.text("explain-noindex.txt") and
            "Index Scan using ix_api_keys_hashed_key" in r.text("explain-index.txt"),
            "plan: Seq Scan without, Index Scan with the index")
    pn, dn = lookup_server_ms(v, "noindex")
    pi, di = lookup_server_ms(v, "index")
    imp = 1 - pi / pn if pn and pi is not None else None
    v.check(imp is not None and imp >= 0.5, "pgss lookup mean %s -> %s ms, %s better (>= 50%%)" % (
        fmt(pn, nd=3), fmt(pi, nd=3), fmt(imp * 100 if imp is not None else None, "%", 1)))
    if dn is not None and di is not None:
        v.check(1 - di / dn >= 0.5, "dblat server lookup mean %s -> %s ms" % (fmt(dn, nd=3), fmt(di, nd=3)))
    a, b = r.wrk("noindex")["latency_us"]["mean"], r.wrk("index")["latency_us"]["mean"]
    v.check(b < a, "API mean latency %s -> %s ms" % (fmt(a / 1000.0), fmt(b / 1000.0)))
    ca, cb = db_cpu_per_kreq(r, "noindex"), db_cpu_per_kreq(r, "index")
    v.check(ca is not None and cb is not None and cb < ca, "DB CPU per 1000 requests %s -> %s s" % (fmt(ca, nd=3), fmt(cb, nd=3)))


BURST_WAIT_MS = 100.0


def connection_burst(v):
    r = v.run
    if not require_wrk(v, "calm1", "burst", "calm2"):
        return
    size, over = r.pool_limit("app")
    for p in ("calm1", "burst", "calm2"):
        v.note(wrk_summary(p, r.wrk(p)))
    b = r.wrk("burst")
    v.check(not non2xx_by_status(b) and transport_errors(b) == 0,
            "burst errors %s (no exhaustion)" % (non2xx_by_status(b) or transport_errors(b) or 0))
    waits = [w for _, w, _, _ in r.phase_waits("burst") if w >= 0]
    p99 = pct(waits, 99) / 1000.0 if waits else None
    v.check(p99 is not None and p99 < BURST_WAIT_MS, "app: pool wait in the burst mean %s ms, p99 %s ms (< %g ms)" % (
        fmt(mean(waits) / 1000.0 if waits else None), fmt(p99), BURST_WAIT_MS))
    mx = max_sample(r.activity("burst"), "app_total")
    v.check(mx is not None and size < mx <= size + over, "app DB connections in the burst max %s (grows past %d, <= %d)" % (mx, size, size + over))
    calm = r.activity("calm2")
    v.note("app DB connections in calm2 max %s" % max_sample(calm, "app_total"))
    last = r.end("calm2")
    v.check(last.get("app_total") is not None and last["app_total"] <= size,
            "at rest after the burst %s (shrinks back to <= %d)" % (last.get("app_total"), size))
    pw = v.pool_wait("burst")
    if pw:
        v.check(pw.get("p99", 1e12) / 1000.0 < BURST_WAIT_MS, "dblat pool wait p99 %s ms" % fmt(pw.get("p99", 0) / 1000.0))
    v.section("burst", "sessions")


COMMIT_P99_MS = 50.0
LOCK_IMPACT_MS = 5.0
DEBIT_RE = r"^\s*update\s+users\s+set\s+credit_balance\s*=\s*\(users\.credit_balance"


def pgbench_numbers(text):
    out = {}
    for key, rx in (("tps", r"tps = ([\d.]+)"), ("latency_ms", r"latency average = ([\d.]+) ms"),
                    ("failed", r"number of failed transactions: (\d+)"),
                    ("serialization", r"number of serialization failures: (\d+)"),
                    ("deadlock", r"number of deadlock failures: (\d+)"),
                    ("processed", r"number of transactions actually processed: (\d+)")):
        m = re.search(rx, text)
        if m:
            out[key] = float(m.group(1))
    return out


def transaction_performance(v):
    r = v.run
    phases = ["baseline", "rc", "rr"]
    if not require_wrk(v, *phases):
        return
    for p in phases:
        v.note(wrk_summary(p, r.wrk(p)))
    for p in ("rc", "rr"):
        pb = pgbench_numbers(r.text(p + ".pgbench.txt"))
        v.note("%s pgbench: %s tps, latency %s ms, failed %s (serialization %s, deadlock %s)" % (
            p, fmt(pb.get("tps")), fmt(pb.get("latency_ms"), nd=2), fmt(pb.get("failed"), nd=0),
            fmt(pb.get("serialization"), nd=0), fmt(pb.get("deadlock"), nd=0)))
        d0, d1 = r.json(p + ".dbstat0.json", {}) or {}, r.json(p + ".dbstat1.json", {}) or {}
        if d0 and d1:
            dl = d1["deadlocks"] - d0["deadlocks"]
            xc = (d1["xact_commit"] - d0["xact_commit"]) + (d1["xact_rollback"] - d0["xact_rollback"])
            share = dl / xc if xc else None
            v.check(share is not None and share < 0.001, "%s deadlocks %d of %d transactions (< 0.1%%)" % (p, dl, xc))
        else:
            v.check(False, "%s: no pg_stat_database counters" % p)
        v.note("%s lock waiters max %s" % (p, max_sample(r.activity(p), "lock_waiting")))
        for side in ("server", "client"):
            c = v.stmt(p, side, COMMIT_RE)
            if c:
                v.check(lat(c, "p99") / 1000.0 < COMMIT_P99_MS, "%s dblat %s COMMIT p99 %s ms (< %g ms)" % (
                    p, side, fmt(lat(c, "p99") / 1000.0, nd=2), COMMIT_P99_MS))
                break
    base = r.wrk("baseline")["rps"]
    v.note("app rps rc %s, rr %s of baseline (pgbench shares the CPUs)" % (
        fmt(100.0 * r.wrk("rc")["rps"] / base, "%", 0), fmt(100.0 * r.wrk("rr")["rps"] / base, "%", 0)))
    # The app's own debit UPDATE: its server time includes any lock wait.
    ub = pgss_find(r.pgss("baseline"), DEBIT_RE)
    for p in ("rc", "rr"):
        u = pgss_find(r.pgss(p), DEBIT_RE)
        v.check(u is not None and u["mean_ms"] < LOCK_IMPACT_MS,
                "%s app debit UPDATE mean %s ms, baseline %s ms (< %g ms incl. lock waits)" % (
                    p, fmt(u and u["mean_ms"], nd=3), fmt(ub and ub["mean_ms"], nd=3), LOCK_IMPACT_MS))
    for p in phases:
        w = r.wrk(p)
        if non2xx_by_status(w) or transport_errors(w):
            v.check(False, "%s request errors %s" % (p, non2xx_by_status(w) or transport_errors(w)))
    v.section("rc", "transactions")


MAINT_DEGRADATION = 0.20


def backup_maintenance(v):
    r = v.run
    if not require_wrk(v, "baseline", "maint"):
        return
    b, m = r.wrk("baseline"), r.wrk("maint")
    v.note(wrk_summary("baseline", b))
    v.note(wrk_summary("maint", m))
    ops = r.jsonl("ops.jsonl")
    bad = [o["op"] for o in ops if o.get("rc") != 0]
    names = {}
    for o in ops:
        names.setdefault(o["op"], []).append(o["s"])
    v.check(ops and not bad, "operations %s%s" % (
        ", ".join("%s %sx %.1fs" % (k, len(t), max(t)) for k, t in names.items()) or "none",
        (" failed: " + ",".join(bad)) if bad else ""))
    drop = 1 - m["rps"] / b["rps"]
    rise = m["latency_us"]["mean"] / b["latency_us"]["mean"] - 1
    v.check(drop < MAINT_DEGRADATION, "rps %s%% during maintenance (< 20%% drop)" % fmt(-100 * drop, nd=0))
    v.check(rise < MAINT_DEGRADATION, "mean latency %+.0f%% (< 20%%)" % (100 * rise))
    v.check(not non2xx_by_status(m) and transport_errors(m) == 0, "request errors/timeouts %s" % (
        non2xx_by_status(m) or transport_errors(m) or 0))
    pb, db = lookup_server_ms(v, "baseline")
    pm, dm = lookup_server_ms(v, "maint")
    v.check(pm is not None and pm < 2.0, "pgss lookup mean %s -> %s ms (responsive: < 2 ms)" % (fmt(pb, nd=3), fmt(pm, nd=3)))
    if db is not None and dm is not None:
        v.note("dblat server lookup mean %s -> %s ms" % (fmt(db, nd=3), fmt(dm, nd=3)))


def scaling_capacity(v):
    r = v.run
    steps = r.jsonl("ramp.steps.jsonl")
    if not steps:
        v.check(False, "no ramp steps")
        return
    rows = []
    for s in steps:
        w = s["wrk"]
        if not wrk_ok(w):
            v.check(False, "step c=%s has no wrk result" % s["conns"])
            return
        rows.append("c%d %.0f rps %.1f ms" % (s["conns"], w["rps"], w["latency_us"]["mean"] / 1000.0))
    v.note("steps: " + ", ".join(rows))
    # The knee: the first step within 10% of the best throughput. The limit is
    # found when at least one more step follows it (throughput stopped growing).
    cap = max(s["wrk"]["rps"] for s in steps)
    kn = next(s["conns"] for s in steps if s["wrk"]["rps"] >= 0.9 * cap)
    past = [s for s in steps if s["conns"] > kn]
    v.check(bool(past), "capacity knee at c=%s, max %s rps (%s)" % (
        kn, fmt(cap, nd=0), "saturated" if past else "still growing at the last step"))
    low = min((s["wrk"]["rps"] for s in past), default=None)
    v.check(low is not None and low >= 0.8 * cap, "past the knee throughput stays >= %s rps (>= 80%% of max: no collapse)" % fmt(low, nd=0))
    worst = max(abs(s["wrk"]["rps"] * s["wrk"]["latency_us"]["mean"] / 1e6 / s["conns"] - 1) for s in steps)
    v.note("Little's law rps x mean latency / conns off by <= %s%%" % fmt(100 * worst, nd=0))
    below = [s for s in steps if kn is None or s["conns"] <= kn]
    errs = sum(sum(non2xx_by_status(s["wrk"]).values()) + transport_errors(s["wrk"]) for s in below)
    v.check(errs == 0, "errors up to the knee %d" % errs)
    d = v.dblat("ramp")
    if d is not None and d.get("statements"):
        tot = sum((s.get("latency_us") or {}).get("total", 0) for s in d["statements"] if s.get("side") == "client")
        reqs = sum(s["wrk"]["requests"] for s in steps)
        lat_ms = mean([s["wrk"]["latency_us"]["mean"] for s in steps]) / 1000.0
        v.note("dblat client DB time %s ms per request (mean request %s ms)" % (fmt(tot / 1000.0 / reqs, nd=2), fmt(lat_ms)))
    v.section("ramp", "timeline")


SCENARIOS = {
    "PERF_DB_POOL_EXHAUSTION_001": (
        "pool 5 vs 100 connections: requests queue (p99 up), app stays up, >= 95% succeed, only 503/504 errors,"
        " app DB connections <= pool+overflow, lookup server time < 2 ms", pool_exhaustion),
    "PERF_DB_POOL_RECOVERY_002": (
        "after stress and after a DB outage: latency back to baseline (mean <= 1.5x + 2 ms), no errors,"
        " no leaked or stuck connections", pool_recovery),
    "PERF_DB_QUERY_AUTH_KEY_LOOKUP_001": (
        "API key lookup mean < 2 ms under load (pg_stat_statements, dblat server side),"
        " plan uses ix_api_keys_hashed_key", auth_key_lookup),
    "PERF_DB_QUERY_BILLING_WRITE_002": (
        "50% billable writes do not slow auth lookups (<= 1.5x, < 2 ms), no lock waits,"
        " no transaction > 1 s", billing_write),
    "PERF_DB_SESSION_OVERHEAD_001": (
        "per-request session overhead (create + close incl. ROLLBACK) < %g ms" % SESSION_OVERHEAD_MS, session_overhead),
    "PERF_DB_CONFIG_ECHO_LOGGING_001": (
        "echo=True costs >= 10% rps or p50, echo off by default", echo_logging),
    "PERF_DB_RESILIENCE_FAILOVER_001": (
        "DB down under load: first success <= 30 s after restore, > 99% success within 60 s,"
        " no connection leak", resilience_failover),
    "PERF_DB_QUERY_OPTIMIZATION_002": (
        "with ix_api_keys_hashed_key vs without: lookup time >= 50% better, API latency and DB CPU"
        " per request lower", query_optimization),
    "PERF_DB_CONNECTION_BURST_003": (
        "burst 8 -> 100 connections, pool 10+10: no exhaustion, queue wait p99 < %g ms, pool grows"
        " then shrinks back" % BURST_WAIT_MS, connection_burst),
    "PERF_DB_TRANSACTION_PERFORMANCE_004": (
        "concurrent billing/key updates (RC and RR): COMMIT p99 < %g ms, deadlocks < 0.1%%, the app's"
        " debit UPDATE < %g ms mean incl. lock waits" % (COMMIT_P99_MS, LOCK_IMPACT_MS), transaction_performance),
    "PERF_DB_BACKUP_MAINTENANCE_005": (
        "VACUUM/ANALYZE, CHECKPOINT, REINDEX CONCURRENTLY, pg_dump, pg_basebackup under load: rps and"
        " latency < 20% worse, no request errors, DB responsive", backup_maintenance),
    "PERF_DB_SCALING_CAPACITY_006": (
        "stepped ramp 4..128 connections: capacity knee found, throughput past it >= 80% of max"
        " (no collapse), no errors up to the knee", scaling_capacity),
}


def judge(sid, d):
    if sid not in SCENARIOS:
        sys.exit("judge.py: unknown scenario %s" % sid)
    expected, fn = SCENARIOS[sid]
    v = Verdict(Run(sid, d), expected)
    try:
        fn(v)
    except Exception as e:  # a broken artifact must not hide the other scenarios
        v.check(False, "judge error: %s: %s" % (type(e).__name__, e))
    return v.line()


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: judge.py ID DIR")
    print(judge(argv[0], argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
