-- Versioned key/value metadata: every put appends a row, reads take the highest version
-- (argMax), deletes append a tombstone. History stays queryable; nothing is updated in place.
CREATE TABLE IF NOT EXISTS meta
(
    namespace String,
    key String,
    version UInt64,
    value String,
    deleted UInt8,
    updated_at DateTime
)
ENGINE = MergeTree
ORDER BY (namespace, key, version);
