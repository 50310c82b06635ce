-- Listener evidence; see migrations/clickhouse/0005_listener_evidence.sql for what it means.
--
-- Embedded mode computes it from flows when read instead of keeping a table. Distinct counts do
-- not add up across insert batches, so a maintained table would have to keep every distinct
-- (endpoint, peer, peer port) per day to count them: nearly the flows themselves, written twice.
-- Read on demand, DuckDB scans six columns of the days asked for, and retention needs nothing
-- extra, since deleting flows deletes their evidence. Counts are exact (count DISTINCT), days UTC.
--
-- A table macro rather than a view: its time bounds reach the flows scans as plain comparisons
-- on time_received, which skip row groups by their min/max; a filter on a view's computed day is
-- applied only after every row has been read.
CREATE MACRO listener_evidence(first_time, end_time) AS TABLE
SELECT
    time_received // 86400 * 86400 AS day,
    address,
    proto,
    port,
    count(DISTINCT peer) AS peers,
    count(DISTINCT peer_port) AS peer_ports
FROM (
    SELECT time_received, src_addr AS address, proto, src_port AS port, dst_addr AS peer, dst_port AS peer_port
    FROM flows WHERE time_received >= first_time AND time_received < end_time AND proto IN (6, 17, 132)
    UNION ALL
    SELECT time_received, dst_addr AS address, proto, dst_port AS port, src_addr AS peer, src_port AS peer_port
    FROM flows WHERE time_received >= first_time AND time_received < end_time AND proto IN (6, 17, 132)
)
GROUP BY day, address, proto, port;
