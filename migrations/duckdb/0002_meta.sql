-- Versioned key/value metadata; see migrations/clickhouse/0002_meta.sql.
CREATE TABLE IF NOT EXISTS meta
(
    namespace VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    version UBIGINT NOT NULL,
    value VARCHAR NOT NULL,
    deleted BOOLEAN NOT NULL,
    updated_at UINTEGER NOT NULL -- Unix seconds: TIMESTAMP would be read back in local time
);
