-- sFlow counter samples (generic interface counters), kept apart from flows. Counters are the
-- agent's running totals; rates come from differences between samples.
CREATE TABLE IF NOT EXISTS interface_counters
(
    time DateTime,
    exporter FixedString(16),
    observation_domain UInt32,
    if_index UInt32,
    if_speed UInt64,
    in_octets UInt64,
    in_packets UInt64,
    in_errors UInt64,
    in_discards UInt64,
    out_octets UInt64,
    out_packets UInt64,
    out_errors UInt64,
    out_discards UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (exporter, if_index, time);
