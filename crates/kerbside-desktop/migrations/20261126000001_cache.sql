-- The desktop app's local cache. Permit data only: never a token or a password.

-- Each permit as the council last returned it (its JSON), for the signed-in account.
CREATE TABLE permits (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    body        TEXT NOT NULL,
    synced_at   INTEGER NOT NULL
);
CREATE INDEX permits_by_account ON permits (account_id);

-- Who is signed in on this computer (not secret: the token is in the OS keyring) and when
-- their permits were last fetched from the council.
CREATE TABLE account (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    account_id      TEXT NOT NULL,
    email           TEXT NOT NULL,
    last_synced_at  INTEGER
);

-- One native notification per permit per term: the row is written before the notification is
-- raised, so a restart or a second sync never raises it twice.
CREATE TABLE renewal_notices (
    permit_id    TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    notified_at  INTEGER NOT NULL,
    PRIMARY KEY (permit_id, expires_on)
);

-- Preferences: the permit type filter, the council URL.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
