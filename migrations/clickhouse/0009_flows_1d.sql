-- The daily rollup: flows_1h summed by UTC day, with the flows of each hour of the day kept
-- (h00..h23), so a baseline reads a day's conversation once instead of once per hour it was active
-- (bench/baseline.ts: 40 M hourly rows are 7 M daily ones at 100 M flows). From the hours it keeps
-- a reader derives the hour-of-day profile, the first and last hour, and which days of a window
-- that does not start at midnight the day's flows fall in.
--
-- `day` is the Unix second the UTC day starts (a DateTime at 00:00 UTC), computed from the hour's
-- Unix second, not with date functions that follow the server's time zone.
--
-- Not a materialized view: 18.16 does not run the views of a table that a view writes to, and a
-- second view on flows would cost ingest another pass. The listener-evidence job fills finished
-- days (Store.compactDays); a day whose totals differ from flows_1h (not yet rolled, or flows
-- that arrived after it was) is read from flows_1h instead, so the table is never trusted blindly.
CREATE TABLE IF NOT EXISTS flows_1d
(
    day DateTime,
    client FixedString(16),
    server FixedString(16),
    proto UInt8,
    service_port UInt16,
    action Enum8('unknown' = 0, 'accept' = 1, 'reject' = 2),
    flows UInt64,
    bytes UInt64,
    packets UInt64,
    syn_flows UInt64,
    client_port_min AggregateFunction(min, UInt16),
    client_port_max AggregateFunction(max, UInt16),
    h00 UInt64, h01 UInt64, h02 UInt64, h03 UInt64, h04 UInt64, h05 UInt64,
    h06 UInt64, h07 UInt64, h08 UInt64, h09 UInt64, h10 UInt64, h11 UInt64,
    h12 UInt64, h13 UInt64, h14 UInt64, h15 UInt64, h16 UInt64, h17 UInt64,
    h18 UInt64, h19 UInt64, h20 UInt64, h21 UInt64, h22 UInt64, h23 UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, server, service_port, proto, client, action);
