-- Hourly rollup of flows by conversation; see migrations/clickhouse/0004_flows_1h.sql for the
-- orientation rule. Embedded mode has no materialized views: insertFlows appends each batch's
-- conversation-hours here in the same transaction that appends the flows, so the two never
-- disagree. Like ClickHouse's SummingMergeTree, one key may have a row per batch and readers sum
-- them; no primary key, because keeping an index of every key made inserts a third slower than
-- summing a few extra rows on read. Hours and days are UTC (Unix seconds divided down).
CREATE TABLE IF NOT EXISTS flows_1h
(
    hour UINTEGER NOT NULL,
    client BLOB NOT NULL,
    server BLOB NOT NULL,
    proto UTINYINT NOT NULL,
    service_port USMALLINT NOT NULL,
    action ENUM('unknown', 'accept', 'reject') NOT NULL,
    flows UBIGINT NOT NULL,
    bytes UBIGINT NOT NULL,
    packets UBIGINT NOT NULL
);

-- Flows stored before this migration.
INSERT INTO flows_1h
SELECT
    time_received // 3600 * 3600 AS hour,
    CASE WHEN server_side = 'src' THEN dst_addr ELSE src_addr END AS client,
    CASE WHEN server_side = 'src' THEN src_addr ELSE dst_addr END AS server,
    proto,
    CASE WHEN server_side = 'src' THEN src_port ELSE dst_port END AS service_port,
    action,
    count(*) AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets
FROM flows
GROUP BY ALL;
