-- Every permit read asks whether the permit has an active renewal
-- (`SELECT r.id FROM permits r WHERE r.renewal_of = p.id AND r.state = 'active'`), and the
-- expiry email job asks the same for each due permit. No index led with renewal_of: the
-- partial unique index permits_one_live_renewal cannot serve `state = 'active'` (SQLite does
-- not prove that it implies `state IN (...)`), so SQLite searched permits_by_state_expiry on
-- state alone, visiting every active permit for each permit read. This index turns that into
-- one lookup. Partial: only renewals have renewal_of, and `renewal_of = ?` implies NOT NULL.
-- Measured in docs/BENCHMARKS.md (before/after).
CREATE INDEX permits_by_renewal_of ON permits(renewal_of, state) WHERE renewal_of IS NOT NULL;
