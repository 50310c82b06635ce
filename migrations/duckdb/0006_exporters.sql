-- Exporter status per (collector, exporter); see migrations/clickhouse/0006_exporters.sql. An
-- upsert replaces the row unless it is older (updated_at) than the one stored, which is what
-- ClickHouse's ReplacingMergeTree(updated_at) keeps.
CREATE TABLE IF NOT EXISTS exporters
(
    collector VARCHAR NOT NULL,
    exporter BLOB NOT NULL,
    first_seen UINTEGER NOT NULL,
    last_seen UINTEGER NOT NULL,
    datagrams UBIGINT NOT NULL,
    flows UBIGINT NOT NULL,
    templates UINTEGER NOT NULL,
    sampling_rates UINTEGER[] NOT NULL,
    error_reasons VARCHAR[] NOT NULL,
    error_counts UBIGINT[] NOT NULL,
    updated_at UINTEGER NOT NULL,
    PRIMARY KEY (collector, exporter)
);
