-- The host pairs behind each edge of a baseline; see migrations/clickhouse/0008_baseline_hosts.sql.
-- Dropping a baseline's pairs is a DELETE here. No primary key: a baseline is written once, in
-- chunks, and read one edge at a time.
CREATE TABLE IF NOT EXISTS baseline_hosts
(
    baseline VARCHAR NOT NULL,
    edge VARCHAR NOT NULL,
    client BLOB NOT NULL,
    server BLOB NOT NULL,
    proto UTINYINT NOT NULL,
    port USMALLINT NOT NULL,
    flows UBIGINT NOT NULL,
    bytes UBIGINT NOT NULL,
    packets UBIGINT NOT NULL,
    first_seen UINTEGER NOT NULL, -- Unix seconds
    last_seen UINTEGER NOT NULL,
    days_seen USMALLINT NOT NULL,
    rule VARCHAR NOT NULL
);
