-- The host pairs behind each edge of a baseline (DESIGN.md §8), kept for drill-down: which client
-- reached which server on the edge's port, how much, when, and which orientation rule decided the
-- server side. Written once per baseline by the analyzer, read one edge at a time, removed whole
-- when the baseline is deleted or pruned.
--
-- Partitioned by baseline so that removing one is `ALTER TABLE … DROP PARTITION`, which is
-- synchronous and touches no other baseline's data. `ALTER TABLE … DELETE` would be a mutation:
-- on 18.16 it rewrites every part in the background and returns before it is done (there is no
-- mutations_sync), so a read right after the removal could still see the rows. There are a few
-- dozen baselines at most (versions are pruned), far below where partitions become a burden.
CREATE TABLE IF NOT EXISTS baseline_hosts
(
    baseline String,
    edge String,
    client FixedString(16),
    server FixedString(16),
    proto UInt8,
    port UInt16,
    flows UInt64,
    bytes UInt64,
    packets UInt64,
    first_seen DateTime,
    last_seen DateTime,
    days_seen UInt16,
    rule String
)
ENGINE = MergeTree
PARTITION BY baseline
ORDER BY (baseline, edge);
