-- Raw flows (DESIGN.md §4, §5). Runs on ClickHouse 18.16 and later: addresses are FixedString(16)
-- (IPv4-mapped IPv6), times DateTime, no LowCardinality/CODEC/TTL. Retention drops day partitions.
-- Column order and types must match core/flow.ts FLOW_COLUMNS (store/clickhouse tests check it).
CREATE TABLE IF NOT EXISTS flows
(
    time_received DateTime,
    time_start DateTime,
    time_end DateTime,
    source Enum8('netflow5' = 0, 'netflow9' = 1, 'ipfix' = 2, 'sflow' = 3, 'aws_vpc' = 4, 'gcp_vpc' = 5, 'azure_nsg' = 6, 'azure_vnet' = 7),
    exporter FixedString(16),
    observation_domain UInt32,
    src_addr FixedString(16),
    dst_addr FixedString(16),
    src_port UInt16,
    dst_port UInt16,
    proto UInt8,
    tcp_flags UInt8,
    bytes UInt64,
    packets UInt64,
    sampling_rate UInt32,
    in_if UInt32,
    out_if UInt32,
    vlan UInt16,
    action Enum8('unknown' = 0, 'accept' = 1, 'reject' = 2),
    cloud_account String,
    cloud_region String,
    cloud_vpc String,
    cloud_subnet String,
    cloud_instance String,
    cloud_interface String,
    server_side Enum8('unknown' = 0, 'src' = 1, 'dst' = 2)
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(time_received)
ORDER BY (toStartOfHour(time_received), dst_addr, dst_port, src_addr)
SETTINGS index_granularity = 8192;
