-- Every permit read looks for the permit's payment still waiting for the card
-- (`payments.permit_id = p.id AND payments.status = 'created'`). With only payments_by_permit
-- (permit_id) and payments_open_by_expiry (status, expires_at), SQLite's planner (no
-- statistics) chose payments_open_by_expiry and stepped through every open payment in the
-- council for each permit it read (EXPLAIN QUERY PLAN: "SEARCH y USING INDEX
-- payments_open_by_expiry (status=?)"). This index answers the condition with one search, and
-- covers payments_by_permit's queries too, which it replaces. Measured in docs/BENCHMARKS.md
-- (fix 27).
CREATE INDEX payments_by_permit_status ON payments(permit_id, status);
DROP INDEX payments_by_permit;
