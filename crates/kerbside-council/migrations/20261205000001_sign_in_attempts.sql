-- Failed sign-ins (and wrong current passwords on a password change), counted per account and
-- per client address over a sliding window of the council's clock. Kept in the database, not in
-- a server's memory, so several instances sharing one PostgreSQL database share the limits.
-- Portable SQL, like the first migration.

CREATE TABLE sign_in_attempts (
    id          TEXT PRIMARY KEY,
    account_key TEXT NOT NULL,  -- the email as typed, trimmed and lower-cased (an account or not)
    client_key  TEXT NOT NULL,  -- the client's IP address as the server saw it
    at          BIGINT NOT NULL -- milliseconds since the Unix epoch, by the council's clock
);
CREATE INDEX sign_in_attempts_by_account ON sign_in_attempts(account_key, at);
CREATE INDEX sign_in_attempts_by_client ON sign_in_attempts(client_key, at);
-- Rows older than the window are deleted as new failures are recorded.
CREATE INDEX sign_in_attempts_by_time ON sign_in_attempts(at);
