-- Raw flows for embedded mode (DESIGN.md §4). Same columns as migrations/clickhouse/0001_flows.sql:
-- times are Unix seconds, addresses 16-byte BLOBs (IPv4-mapped IPv6).
CREATE TABLE IF NOT EXISTS flows
(
    time_received UINTEGER NOT NULL,
    time_start UINTEGER NOT NULL,
    time_end UINTEGER NOT NULL,
    source ENUM('netflow5', 'netflow9', 'ipfix', 'sflow', 'aws_vpc', 'gcp_vpc', 'azure_nsg', 'azure_vnet') NOT NULL,
    exporter BLOB NOT NULL,
    observation_domain UINTEGER NOT NULL,
    src_addr BLOB NOT NULL,
    dst_addr BLOB NOT NULL,
    src_port USMALLINT NOT NULL,
    dst_port USMALLINT NOT NULL,
    proto UTINYINT NOT NULL,
    tcp_flags UTINYINT NOT NULL,
    bytes UBIGINT NOT NULL,
    packets UBIGINT NOT NULL,
    sampling_rate UINTEGER NOT NULL,
    in_if UINTEGER NOT NULL,
    out_if UINTEGER NOT NULL,
    vlan USMALLINT NOT NULL,
    action ENUM('unknown', 'accept', 'reject') NOT NULL,
    cloud_account VARCHAR NOT NULL,
    cloud_region VARCHAR NOT NULL,
    cloud_vpc VARCHAR NOT NULL,
    cloud_subnet VARCHAR NOT NULL,
    cloud_instance VARCHAR NOT NULL,
    cloud_interface VARCHAR NOT NULL,
    server_side ENUM('unknown', 'src', 'dst') NOT NULL
);
