-- sFlow counter samples; see migrations/clickhouse/0003_interface_counters.sql.
CREATE TABLE IF NOT EXISTS interface_counters
(
    time UINTEGER NOT NULL,
    exporter BLOB NOT NULL,
    observation_domain UINTEGER NOT NULL,
    if_index UINTEGER NOT NULL,
    if_speed UBIGINT NOT NULL,
    in_octets UBIGINT NOT NULL,
    in_packets UBIGINT NOT NULL,
    in_errors UBIGINT NOT NULL,
    in_discards UBIGINT NOT NULL,
    out_octets UBIGINT NOT NULL,
    out_packets UBIGINT NOT NULL,
    out_errors UBIGINT NOT NULL,
    out_discards UBIGINT NOT NULL
);
