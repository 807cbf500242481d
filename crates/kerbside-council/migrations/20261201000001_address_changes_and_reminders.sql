-- Change of address with evidence, the audit log of officers' decisions, and the claims that
-- make expiry emails go out once per permit per term. Portable SQL, like the first migration.

CREATE TABLE address_changes (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    address_line1    TEXT NOT NULL,
    address_street   TEXT NOT NULL,
    address_town     TEXT NOT NULL,
    address_postcode TEXT NOT NULL,
    household_key    TEXT NOT NULL,
    document_kind    TEXT NOT NULL,  -- council_tax_bill | tenancy_agreement | completion_statement
    status           TEXT NOT NULL,  -- awaiting_files | submitted | approved | rejected
    officer_reason   TEXT,           -- why it was rejected, shown to the resident
    decided_by       TEXT REFERENCES accounts(id),
    decided_at       BIGINT,
    submitted_at     BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX address_changes_by_account ON address_changes(account_id, created_at);
CREATE INDEX address_changes_by_status ON address_changes(status, submitted_at);
-- A resident has at most one change waiting for an officer.
CREATE UNIQUE INDEX address_changes_one_submitted ON address_changes(account_id)
    WHERE status = 'submitted';

-- One row per page of evidence. The file is stored under stored_name only (never the name the
-- resident's file had), in the council's evidence folder.
CREATE TABLE evidence_files (
    id           TEXT PRIMARY KEY,
    change_id    TEXT NOT NULL REFERENCES address_changes(id),
    stored_name  TEXT NOT NULL UNIQUE,  -- generated: random id + extension from the content
    content_type TEXT NOT NULL,         -- from the file's magic bytes: application/pdf | image/jpeg | image/png
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,         -- the same bytes sent twice are one page
    page_number  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (change_id, page_number)
);

-- Who decided what, when: written in the same transaction as the decision.
CREATE TABLE audit_log (
    id               TEXT PRIMARY KEY,
    at               BIGINT NOT NULL,
    actor_account_id TEXT REFERENCES accounts(id),  -- NULL: the command line
    action           TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    detail           TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log(subject_id, at);

-- One expiry email per permit per term: an instance inserts the claim before it sends, and
-- only the instance whose insert took effect sends.
CREATE TABLE reminder_emails (
    permit_id  TEXT NOT NULL REFERENCES permits(id),
    expires_on TEXT NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (permit_id, expires_on)
);

-- The reminder job's predicate: state = 'active' AND expires_on BETWEEN today AND today + 30.
CREATE INDEX permits_by_state_expiry ON permits(state, expires_on);
