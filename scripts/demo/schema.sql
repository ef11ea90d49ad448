-- Schema of the demo LLM API gateway: users, their API keys (looked up by
-- the sha256 of the presented key on every request) and billing events
-- (one insert per chat completion).

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL UNIQUE,
    name           text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    credit_balance numeric(14, 6) NOT NULL DEFAULT 1000,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    hashed_key   text NOT NULL,
    name         text NOT NULL,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
-- ix_api_keys_hashed_key is created by data.sql after the bulk load.

CREATE TABLE billing_events (
    id                bigserial PRIMARY KEY,
    api_key_id        bigint NOT NULL REFERENCES api_keys (id),
    user_id           bigint NOT NULL,
    model             text NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    cost              numeric(12, 6) NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_billing_events_user_id_created_at ON billing_events (user_id, created_at);
