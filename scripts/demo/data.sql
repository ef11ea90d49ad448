-- Bulk data for the demo gateway. psql variables: nkeys (100000), nusers (10000).
-- Key n is the string 'sk-demo-<n>' (n in 1..nkeys); the table holds only its
-- sha256 in hex, so a load generator computes the hash of the key it presents.
\if :{?nkeys}
\else
\set nkeys 100000
\endif
\if :{?nusers}
\else
\set nusers 10000
\endif

BEGIN;
INSERT INTO users (id, email, name)
SELECT u, 'user' || u || '@demo.test', 'Demo user ' || u
FROM generate_series(1, :nusers) AS u;
SELECT setval('users_id_seq', :nusers) \g /dev/null

INSERT INTO api_keys (id, user_id, hashed_key, name)
SELECT n, (n - 1) % :nusers + 1,
       encode(sha256(convert_to('sk-demo-' || n, 'UTF8')), 'hex'),
       'demo key ' || n
FROM generate_series(1, :nkeys) AS n;
SELECT setval('api_keys_id_seq', :nkeys) \g /dev/null

CREATE UNIQUE INDEX ix_api_keys_hashed_key ON api_keys (hashed_key);

-- Some history, so VACUUM, pg_dump and backups have something to chew on.
INSERT INTO billing_events (api_key_id, user_id, model, prompt_tokens, completion_tokens, cost, created_at)
SELECT k, (k - 1) % :nusers + 1,
       (ARRAY['demo-small', 'demo-large'])[1 + i % 2],
       10 + i % 500, 5 + i % 200, ((10 + i % 500) + (5 + i % 200)) * 0.000002,
       now() - (i || ' seconds')::interval
FROM generate_series(1, 200000) AS i, LATERAL (SELECT 1 + (i * 7919) % :nkeys AS k) AS kk;
COMMIT;

ANALYZE;
SELECT pg_stat_statements_reset() \g /dev/null
