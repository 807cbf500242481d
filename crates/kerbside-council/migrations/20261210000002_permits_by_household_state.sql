-- The household limit check (`SELECT COUNT(*) FROM permits WHERE household_key = $1 AND
-- permit_type = $2 AND state IN ('awaiting_payment', 'active') AND starts_on <= $3 AND
-- expires_on >= $3`) runs inside every purchase's write transaction. With only
-- permits_by_household (household_key, permit_type), SQLite's planner (no statistics) chose
-- permits_by_state_expiry instead and visited every current permit in the council while
-- holding the write lock: with 100,000 permits, 64 clients managed 4 purchases/s. This index
-- serves all four conditions; it covers permits_by_household's queries too, which it replaces.
-- Measured in docs/BENCHMARKS.md (before/after).
CREATE INDEX permits_by_household_state ON permits(household_key, permit_type, state, expires_on);
DROP INDEX permits_by_household;
