-- Exporter status as each collector last reported it: one live row per (collector, exporter).
-- An upsert inserts a new row; ReplacingMergeTree keeps the one with the greatest updated_at
-- (the later insert on a tie) when parts merge, and readers use FINAL so the answer does not
-- depend on whether that merge has happened yet.
CREATE TABLE IF NOT EXISTS exporters
(
    collector String,
    exporter FixedString(16),
    first_seen DateTime,
    last_seen DateTime,
    datagrams UInt64,
    flows UInt64,
    templates UInt32,
    sampling_rates Array(UInt32),
    error_reasons Array(String),
    error_counts Array(UInt64),
    updated_at DateTime
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (collector, exporter);
