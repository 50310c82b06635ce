-- The hourly rollup gains the client end's lowest and highest port and its count of bare TCP SYN
-- flows; see migrations/clickhouse/0007_flows_1h_ports.sql for what they mean. Rows written by the
-- rollup step before this migration have no port bounds to give, so rather than leaving them NULL
-- the table is rebuilt from flows, as ClickHouse's is: every row then answers alike. Readers take
-- min(client_port_min), max(client_port_max) and sum(syn_flows) over a key's rows.
DROP TABLE IF EXISTS flows_1h_new;

CREATE TABLE flows_1h_new
(
    hour UINTEGER NOT NULL,
    client BLOB NOT NULL,
    server BLOB NOT NULL,
    proto UTINYINT NOT NULL,
    service_port USMALLINT NOT NULL,
    action ENUM('unknown', 'accept', 'reject') NOT NULL,
    flows UBIGINT NOT NULL,
    bytes UBIGINT NOT NULL,
    packets UBIGINT NOT NULL,
    client_port_min USMALLINT NOT NULL,
    client_port_max USMALLINT NOT NULL,
    syn_flows UBIGINT NOT NULL
);

-- The same select as ROLLUP_STAGED in store/duckdb/adapter.ts, over every stored flow.
INSERT INTO flows_1h_new
SELECT
    time_received // 3600 * 3600 AS hour,
    CASE WHEN server_side = 'src' THEN dst_addr ELSE src_addr END AS client,
    CASE WHEN server_side = 'src' THEN src_addr ELSE dst_addr END AS server,
    proto,
    CASE WHEN server_side = 'src' THEN src_port ELSE dst_port END AS service_port,
    action,
    count(*) AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets,
    min(CASE WHEN server_side = 'src' THEN dst_port ELSE src_port END) AS client_port_min,
    max(CASE WHEN server_side = 'src' THEN dst_port ELSE src_port END) AS client_port_max,
    count(*) FILTER (WHERE proto = 6 AND tcp_flags & 18 = 2) AS syn_flows
FROM flows
GROUP BY ALL;

DROP TABLE IF EXISTS flows_1h;

ALTER TABLE flows_1h_new RENAME TO flows_1h;
