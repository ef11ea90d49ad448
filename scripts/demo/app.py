"""Demo LLM API gateway: the service dblat is shown on.

FastAPI on uvicorn, SQLAlchemy 1.4 async engine over asyncpg, one
AsyncSession per request (dependency get_db_session). Every authenticated
request looks its API key up by sha256; POST /chat/completions also inserts
a billing event and commits.

Run:  /usr/bin/python3 scripts/demo/app.py
  or  /usr/bin/python3 -m uvicorn --app-dir scripts/demo app:app --host 127.0.0.1 --port 8088

Settings (environment):
  DEMO_DB_URL          postgresql+asyncpg://USER@HOST:PORT/DB; else built from
                       DEMO_PGHOST (127.0.0.1), DEMO_PGPORT (55432),
                       DEMO_PGUSER (postgres), DEMO_PGDATABASE (gateway)
  DEMO_POOL_SIZE       5        DEMO_MAX_OVERFLOW 0
  DEMO_POOL_TIMEOUT    30 (s)   DEMO_POOL_PRE_PING 0/1    DEMO_ECHO 0/1
  DEMO_BILLING_UPDATE  0/1: chat also debits users.credit_balance (row locks)
  DEMO_HTTP_HOST       127.0.0.1   DEMO_HTTP_PORT 8088
  DEMO_LOOP            asyncio (default) or uvloop (if installed)
  DEMO_ACCESS_LOG      0/1
  DEMO_POOL_WAIT_LOG   FILE: one line per request, "ts_ns wait_us status path"
                       (see RequestRecorder), written every second and at shutdown

Errors: a pool checkout timeout (sqlalchemy.exc.TimeoutError) is HTTP 503;
any other database error (server down, connection lost) is HTTP 500.
GET /healthz answers without the database; GET /debug/stats gives the app's
own measurements (pool wait, session create/close times) as JSON.
"""

import asyncio
import contextvars
import hashlib
import logging
import os
import sys
import time
from typing import List, Optional

import asyncpg
import sqlalchemy.exc
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, Numeric, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import declarative_base, sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def env_bool(name, default=False):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return v.lower() in ("1", "true", "yes", "on")


POOL_SIZE = env_int("DEMO_POOL_SIZE", 5)
MAX_OVERFLOW = env_int("DEMO_MAX_OVERFLOW", 0)
POOL_TIMEOUT = env_float("DEMO_POOL_TIMEOUT", 30)
POOL_PRE_PING = env_bool("DEMO_POOL_PRE_PING")
ECHO = env_bool("DEMO_ECHO")
BILLING_UPDATE = env_bool("DEMO_BILLING_UPDATE")
HTTP_HOST = os.environ.get("DEMO_HTTP_HOST", "127.0.0.1")
HTTP_PORT = env_int("DEMO_HTTP_PORT", 8088)
LOOP = os.environ.get("DEMO_LOOP", "asyncio")
ACCESS_LOG = env_bool("DEMO_ACCESS_LOG")
WAIT_LOG = os.environ.get("DEMO_POOL_WAIT_LOG") or None
DB_URL = os.environ.get("DEMO_DB_URL") or "postgresql+asyncpg://{}@{}:{}/{}".format(
    os.environ.get("DEMO_PGUSER", "postgres"),
    os.environ.get("DEMO_PGHOST", "127.0.0.1"),
    os.environ.get("DEMO_PGPORT", "55432"),
    os.environ.get("DEMO_PGDATABASE", "gateway"),
)

log = logging.getLogger("demo-gateway")

MODELS = [
    {"id": "demo-small", "object": "model", "owned_by": "demo"},
    {"id": "demo-large", "object": "model", "owned_by": "demo"},
]

# ---------------------------------------------------------------- models

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(BigInteger, primary_key=True)
    email = Column(Text, nullable=False)
    name = Column(Text, nullable=False)
    is_active = Column(Boolean, nullable=False)
    credit_balance = Column(Numeric(14, 6), nullable=False)
    created_at = Column(DateTime(timezone=True))
    updated_at = Column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(BigInteger, nullable=False)
    hashed_key = Column(Text, nullable=False, index=True)
    name = Column(Text, nullable=False)
    is_active = Column(Boolean, nullable=False)
    created_at = Column(DateTime(timezone=True))


class BillingEvent(Base):
    __tablename__ = "billing_events"
    id = Column(BigInteger, primary_key=True)
    api_key_id = Column(BigInteger, nullable=False)
    user_id = Column(BigInteger, nullable=False)
    model = Column(Text, nullable=False)
    prompt_tokens = Column(Integer, nullable=False)
    completion_tokens = Column(Integer, nullable=False)
    cost = Column(Numeric(12, 6), nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now())


# ------------------------------------------------- per-request measurement

# The record of the request being served. Set by RequestRecorder for the
# request's task; SQLAlchemy runs pool code in a greenlet that inherits the
# task's contextvars, so TimedQueuePool sees the same record.
_current = contextvars.ContextVar("demo_request", default=None)


class TimedQueuePool(AsyncAdaptedQueuePool):
    """AsyncAdaptedQueuePool that times each checkout.

    The pool wait of a request is the time spent in QueuePool._do_get: from
    the request for a connection until the pool hands one over. It is the
    asyncio queue wait when all connections are busy, plus the connect time
    when the pool opens a new connection (first use, overflow, after an
    invalidation). Pre-ping (when enabled) runs after _do_get and is not
    included. Several checkouts in one request add up.
    """

    def _do_get(self):
        rec = _current.get()
        if rec is None or rec["in_get"]:
            return super()._do_get()
        rec["in_get"] = True
        t0 = time.monotonic_ns()
        try:
            return super()._do_get()
        finally:
            rec["in_get"] = False
            rec["wait_ns"] = (rec["wait_ns"] or 0) + time.monotonic_ns() - t0


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


class Stats:
    MAX_SAMPLES = 2_000_000

    def __init__(self):
        self.started_ns = time.monotonic_ns()
        self.requests = 0
        self.by_status = {}
        self.waits_us = []
        self.create_us = []
        self.close_us = []
        self.total_us = []
        self.errors = {}
        self.pending = []
        self.log_file = None

    def record(self, rec, path):
        self.requests += 1
        st = rec["status"]
        self.by_status[st] = self.by_status.get(st, 0) + 1
        wait_us = -1 if rec["wait_ns"] is None else rec["wait_ns"] // 1000
        if len(self.total_us) < self.MAX_SAMPLES:
            self.total_us.append((time.monotonic_ns() - rec["t0"]) // 1000)
            if wait_us >= 0:
                self.waits_us.append(wait_us)
            if rec["create_ns"] is not None:
                self.create_us.append(rec["create_ns"] / 1000.0)
            if rec["close_ns"] is not None:
                self.close_us.append(rec["close_ns"] / 1000.0)
        if self.log_file is not None:
            self.pending.append("%d %d %d %s\n" % (rec["t0"], wait_us, st, path))

    def flush(self):
        if self.log_file is not None and self.pending:
            lines, self.pending = self.pending, []
            self.log_file.write("".join(lines))
            self.log_file.flush()

    def error(self, kind):
        n = self.errors.get(kind, 0) + 1
        self.errors[kind] = n
        return n

    @staticmethod
    def summary(vals):
        if not vals:
            return {"count": 0}
        s = sorted(vals)
        return {
            "count": len(s),
            "mean": round(sum(s) / len(s), 1),
            "p50": percentile(s, 50),
            "p90": percentile(s, 90),
            "p99": percentile(s, 99),
            "max": s[-1],
        }

    def as_dict(self):
        return {
            "pid": os.getpid(),
            "uptime_s": round((time.monotonic_ns() - self.started_ns) / 1e9, 1),
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "errors": self.errors,
            "pool_wait_us": self.summary(self.waits_us),
            "session_create_us": self.summary(self.create_us),
            "session_close_us": self.summary(self.close_us),
            "request_us": self.summary(self.total_us),
            "pool": engine.pool.status(),
            "config": {
                "pool_size": POOL_SIZE,
                "max_overflow": MAX_OVERFLOW,
                "pool_timeout": POOL_TIMEOUT,
                "pool_pre_ping": POOL_PRE_PING,
                "echo": ECHO,
                "billing_update": BILLING_UPDATE,
                "loop": LOOP,
            },
        }


stats = Stats()


class RequestRecorder:
    """Pure ASGI middleware: one record per HTTP request.

    ts_ns is time.monotonic_ns() (CLOCK_MONOTONIC, the clock of dblat's
    events) when the request reaches the application, after uvicorn has read
    and parsed it. wait_us is TimedQueuePool's checkout time in whole
    microseconds, -1 when the request never asked the pool for a connection
    (e.g. 401 without a key). status is the HTTP status sent.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rec = {"t0": time.monotonic_ns(), "wait_ns": None, "in_get": False,
               "status": 0, "create_ns": None, "close_ns": None}
        token = _current.set(rec)

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                rec["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            if rec["status"] == 0:
                rec["status"] = 500
            raise
        finally:
            _current.reset(token)
            stats.record(rec, scope.get("path", "?"))


# -------------------------------------------------------------- database

engine = create_async_engine(
    DB_URL,
    poolclass=TimedQueuePool,
    pool_size=POOL_SIZE,
    max_overflow=MAX_OVERFLOW,
    pool_timeout=POOL_TIMEOUT,
    pool_pre_ping=POOL_PRE_PING,
    echo=ECHO,
    connect_args={"server_settings": {"application_name": "demo-gateway"}},
)
SessionLocal = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_db_session():
    """One AsyncSession per request, closed when the request is done.

    With FastAPI 0.92 the code after `yield` runs once the response has
    been sent, so a read-only request's ROLLBACK (the session's reset on
    close) goes out after its HTTP response; a chat request commits before.
    """
    rec = _current.get()
    t0 = time.monotonic_ns()
    session = SessionLocal()
    if rec is not None:
        rec["create_ns"] = time.monotonic_ns() - t0
    try:
        yield session
    finally:
        t1 = time.monotonic_ns()
        await session.close()
        if rec is not None:
            rec["close_ns"] = time.monotonic_ns() - t1


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def authenticate(authorization: Optional[str] = Header(None),
                       session: AsyncSession = Depends(get_db_session)) -> ApiKey:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(status_code=401, detail="missing bearer token")
    hashed = hash_key(authorization[7:].strip())
    result = await session.execute(
        select(ApiKey).where(ApiKey.hashed_key == hashed, ApiKey.is_active))
    key = result.scalar_one_or_none()
    if key is None:
        raise HTTPException(status_code=401, detail="invalid API key")
    return key


# ------------------------------------------------------------------- app

app = FastAPI(title="dblat demo gateway", docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(RequestRecorder)


class ChatRequest(BaseModel):
    model: str = "demo-small"
    messages: List[dict] = []
    max_tokens: int = 16


@app.get("/healthz")
async def healthz():
    return {"ok": True}


@app.get("/debug/stats")
async def debug_stats():
    return stats.as_dict()


@app.get("/models")
async def list_models(key: ApiKey = Depends(authenticate)):
    return {"object": "list", "data": MODELS}


@app.post("/chat/completions")
async def chat_completions(req: ChatRequest,
                           key: ApiKey = Depends(authenticate),
                           session: AsyncSession = Depends(get_db_session)):
    prompt_tokens = 1 + sum(len(str(m.get("content", ""))) for m in req.messages) // 4
    completion_tokens = max(1, min(req.max_tokens, 16))
    cost = (prompt_tokens + completion_tokens) * 0.000002
    session.add(BillingEvent(api_key_id=key.id, user_id=key.user_id, model=req.model,
                             prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                             cost=cost))
    if BILLING_UPDATE:
        await session.execute(
            update(User).where(User.id == key.user_id)
            .values(credit_balance=User.credit_balance - cost, updated_at=func.now()))
    await session.commit()
    return {
        "id": "chatcmpl-demo-%d" % time.monotonic_ns(),
        "object": "chat.completion",
        "model": req.model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "This is a demo completion."}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _error_response(kind, status, exc):
    n = stats.error(kind)
    if n <= 3 or n % 1000 == 0:
        log.warning("%s #%d: %s: %s", kind, n, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return JSONResponse(status_code=status, content={"detail": kind})


@app.exception_handler(sqlalchemy.exc.TimeoutError)
async def pool_timeout_handler(request, exc):
    return _error_response("database pool timeout", 503, exc)


@app.exception_handler(sqlalchemy.exc.SQLAlchemyError)
@app.exception_handler(asyncpg.exceptions.PostgresError)
@app.exception_handler(asyncpg.exceptions.InterfaceError)
@app.exception_handler(OSError)
async def database_error_handler(request, exc):
    return _error_response("database error", 500, exc)


async def _flusher():
    while True:
        await asyncio.sleep(1.0)
        stats.flush()


@app.on_event("startup")
async def on_startup():
    if WAIT_LOG:
        stats.log_file = open(WAIT_LOG, "a", buffering=1 << 16)
        app.state.flusher = asyncio.get_running_loop().create_task(_flusher())
    log.warning("demo gateway pid %d: pool_size=%d max_overflow=%d pool_timeout=%g pre_ping=%s echo=%s db=%s",
                os.getpid(), POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT, POOL_PRE_PING, ECHO,
                DB_URL.split("@")[-1])


@app.on_event("shutdown")
async def on_shutdown():
    flusher = getattr(app.state, "flusher", None)
    if flusher is not None:
        flusher.cancel()
    stats.flush()
    if stats.log_file is not None:
        stats.log_file.close()
        stats.log_file = None
    await engine.dispose()


def main():
    import uvicorn

    # Only this logger: a root handler would also print every echo line
    # (SQLAlchemy's echo writes to stdout and propagates).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    uvicorn.run(app, host=HTTP_HOST, port=HTTP_PORT, workers=1, loop=LOOP,
                access_log=ACCESS_LOG, log_level="info")


if __name__ == "__main__":
    main()
