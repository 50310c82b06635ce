-- The hourly rollup gains what orientation refinement (DESIGN.md §6) reads from it: the lowest and
-- highest port the client end used, and how many flows were a bare TCP SYN (SYN without ACK, the
-- opening of a connection). The client's port is `if(server_side = 'src', dst_port, src_port)`,
-- the end 0004 takes as the client.
--
-- Port bounds are AggregateFunction(min/max, UInt16) states, merged when parts merge; syn_flows is
-- summed like flows. Both need the engine's plain form, `SummingMergeTree` with no column list:
-- on 18.16, SummingMergeTree((flows, bytes, packets)) leaves AggregateFunction columns unmerged
-- (it keeps one row's state), while the plain form sums every numeric column outside the sorting
-- key and merges every AggregateFunction column. ClickHouse cannot change a table's engine, so the
-- migration builds the new table beside the old one, refills it from flows, and swaps the names.
--
-- Like 0004, flows inserted while it runs (between dropping the view and creating it again) are
-- not rolled up: apply migrations before collectors start inserting. Each step may be re-run after
-- a failure: leftovers of an earlier attempt are dropped first (the rollup is derived data,
-- rebuilt from flows), so a second attempt starts over rather than counting rows twice.
DROP TABLE IF EXISTS flows_1h_mv;
DROP TABLE IF EXISTS flows_1h_new;
DROP TABLE IF EXISTS flows_1h_old;

CREATE TABLE flows_1h_new
(
    hour DateTime,
    client FixedString(16),
    server FixedString(16),
    proto UInt8,
    service_port UInt16,
    action Enum8('unknown' = 0, 'accept' = 1, 'reject' = 2),
    flows UInt64,
    bytes UInt64,
    packets UInt64,
    client_port_min AggregateFunction(min, UInt16),
    client_port_max AggregateFunction(max, UInt16),
    syn_flows UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (hour, server, service_port, proto, client, action);

-- 0x12 is SYN|ACK. tcp_flags is the OR of every packet's flags, so SYN without ACK means the flow
-- held only the opening of a handshake: its source is the client. A whole connection in one flow
-- shows SYN|ACK and does not count.
INSERT INTO flows_1h_new
SELECT
    toStartOfHour(time_received) AS hour,
    if(server_side = 'src', dst_addr, src_addr) AS client,
    if(server_side = 'src', src_addr, dst_addr) AS server,
    proto,
    if(server_side = 'src', src_port, dst_port) AS service_port,
    action,
    count() AS flows,
    sum(bytes) AS bytes,
    sum(packets) AS packets,
    minState(if(server_side = 'src', dst_port, src_port)) AS client_port_min,
    maxState(if(server_side = 'src', dst_port, src_port)) AS client_port_max,
    countIf(proto = 6 AND bitAnd(tcp_flags, 0x12) = 0x02) AS syn_flows
FROM flows
GROUP BY hour, client, server, proto, service_port, action;

-- 18.16 renames the two tables one after the other, not atomically. Should an earlier attempt have
-- stopped between them, flows_1h is missing: an empty stand-in lets this attempt's rename go ahead
-- (and is dropped with flows_1h_old). On a normal run flows_1h exists and this does nothing.
CREATE TABLE IF NOT EXISTS flows_1h AS flows_1h_new;

RENAME TABLE flows_1h TO flows_1h_old, flows_1h_new TO flows_1h;

DROP TABLE IF EXISTS flows_1h_old;

-- As in 0004, one level deep: 18.16 applies a view's outer SELECT to the inserted block and does
-- not look inside a subquery in FROM.
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
    sum(packets) AS packets,
    minState(if(server_side = 'src', dst_port, src_port)) AS client_port_min,
    maxState(if(server_side = 'src', dst_port, src_port)) AS client_port_max,
    countIf(proto = 6 AND bitAnd(tcp_flags, 0x12) = 0x02) AS syn_flows
FROM flows
GROUP BY hour, client, server, proto, service_port, action;
