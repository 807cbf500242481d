-- Portable SQL: this one migration set runs on both SQLite and PostgreSQL.
-- Ids are random text; times are milliseconds since the Unix epoch (BIGINT);
-- permit dates are UK local dates as 'YYYY-MM-DD' text, which sorts correctly.

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,  -- trimmed, lower case
    password_hash    TEXT NOT NULL,         -- argon2id PHC string
    name             TEXT NOT NULL,
    address_line1    TEXT NOT NULL,
    address_street   TEXT NOT NULL,
    address_town     TEXT NOT NULL,
    address_postcode TEXT NOT NULL,
    household_key    TEXT NOT NULL,
    date_of_birth    TEXT,
    reminder_email   TEXT,
    role             TEXT NOT NULL DEFAULT 'resident', -- 'resident' | 'officer'
    created_at       BIGINT NOT NULL
);

-- One row per household; mutating transactions update it first, which serialises purchases
-- for a household (a row lock on PostgreSQL, the write lock at once on SQLite).
CREATE TABLE households (
    household_key TEXT PRIMARY KEY,
    version       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,  -- SHA-256 of the bearer token; the token itself is never stored
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_account ON sessions(account_id);

CREATE TABLE permits (
    id               TEXT PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    permit_type      TEXT NOT NULL,
    registration     TEXT NOT NULL,  -- normalised, no spaces
    address_line1    TEXT NOT NULL,
    address_street   TEXT NOT NULL,
    address_town     TEXT NOT NULL,
    address_postcode TEXT NOT NULL,
    household_key    TEXT NOT NULL,
    zone_code        TEXT NOT NULL,
    zone_name        TEXT NOT NULL,
    starts_on        TEXT NOT NULL,
    expires_on       TEXT NOT NULL,  -- last valid day
    state            TEXT NOT NULL,  -- awaiting_payment | active | payment_failed | cancelled
    price_pence      BIGINT NOT NULL,
    renewal_of       TEXT REFERENCES permits(id),
    carer_evidence   TEXT,
    refund_pence     BIGINT,
    cancelled_on     TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX permits_by_account ON permits(account_id);
CREATE INDEX permits_by_household ON permits(household_key, permit_type);
CREATE INDEX permits_by_expiry ON permits(expires_on);
-- A permit has at most one renewal that is paid or being paid for.
CREATE UNIQUE INDEX permits_one_live_renewal ON permits(renewal_of)
    WHERE state IN ('awaiting_payment', 'active');

CREATE TABLE permit_events (
    id        TEXT PRIMARY KEY,
    permit_id TEXT NOT NULL REFERENCES permits(id),
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX permit_events_by_permit ON permit_events(permit_id, at);

CREATE TABLE payments (
    id             TEXT PRIMARY KEY,
    permit_id      TEXT NOT NULL REFERENCES permits(id),
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    amount_pence   BIGINT NOT NULL,
    status         TEXT NOT NULL,  -- created | succeeded | failed
    page_token     TEXT NOT NULL,  -- random capability in the hosted page URL (lets its holder pay, nothing else)
    return_url     TEXT,
    failure_reason TEXT,
    card_last4     TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    completed_at   BIGINT
);
CREATE INDEX payments_by_permit ON payments(permit_id);
CREATE INDEX payments_open_by_expiry ON payments(status, expires_at);
CREATE UNIQUE INDEX payments_one_success_per_permit ON payments(permit_id) WHERE status = 'succeeded';

CREATE TABLE refunds (
    id           TEXT PRIMARY KEY,
    permit_id    TEXT NOT NULL UNIQUE REFERENCES permits(id),
    payment_id   TEXT REFERENCES payments(id),
    amount_pence BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- The first answer to each (caller, Idempotency-Key); retries get it back unchanged.
CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,  -- account id, or 'anonymous:' + client for sign-up
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,  -- SHA-256 of method, path and body
    status      BIGINT,         -- NULL while the first request is still running
    body        TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
