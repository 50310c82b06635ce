-- Hourly rollup of flows by conversation (DESIGN.md §5): who talks to whom on which service port,
-- oriented by the flow's server_side (§6). server_side = 'src' means the source is the server;
-- 'dst' and 'unknown' both take the destination as the server, the first-pass guess of §6 that
-- the analyzer refines later from listener evidence.
--
-- SummingMergeTree sums rows with equal keys when parts merge, so a reader must still GROUP BY
-- and sum(): merges are eventual. It would drop a row whose summed columns were all zero, which
-- cannot happen here: every row counts at least one flow. Days follow the same function as
-- flows (toYYYYMMDD in the server's time zone) so that retention drops the same days from both.
CREATE TABLE IF NOT EXISTS flows_1h
(
    hour DateTime,
    client FixedString(16),
    server FixedString(16),
    proto UInt8,
    service_port UInt16,
    action Enum8('unknown' = 0, 'accept' = 1, 'reject' = 2),
    flows UInt64,
    bytes UInt64,
    packets UInt64
)
ENGINE = SummingMergeTree((flows, bytes, packets))
PARTITION BY toYYYYMMDD(hour)
ORDER BY (hour, server, service_port, proto, client, action);

-- Flows stored before this migration. Like CREATE … POPULATE, rows inserted while it runs are
-- not counted: apply migrations before collectors start inserting.
INSERT INTO flows_1h
SELECT
    toStartOfHour(time_received) AS hour,
    if(server_side = 'src', dst_addr, src_addr) AS client,
    if(server_side = 'src', src_addr, dst_addr) AS server,
    proto,
    if(server_side = 'src', src_port, dst_port) AS service_port,
    action,
    count() AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets
FROM flows
GROUP BY hour, client, server, proto, service_port, action;

-- The view runs on every block inserted into flows. Its GROUP BY pre-aggregates each block, so a
-- 64k-row insert writes one rollup row per conversation-hour in it rather than 64k rows. The
-- select is one level deep on purpose: 18.16 applies a view's outer SELECT to the inserted block
-- and does not look inside a subquery in FROM.
CREATE MATERIALIZED VIEW IF NOT EXISTS flows_1h_mv TO flows_1h AS
SELECT
    toStartOfHour(time_received) AS hour,
    if(server_side = 'src', dst_addr, src_addr) AS client,
    if(server_side = 'src', src_addr, dst_addr) AS server,
    proto,
    if(server_side = 'src', src_port, dst_port) AS service_port,
    action,
    count() AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets
FROM flows
GROUP BY hour, client, server, proto, service_port, action;
