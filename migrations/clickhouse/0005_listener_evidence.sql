-- Listener evidence (DESIGN.md §6): per day, for every address:port seen on either end of a TCP,
-- UDP or SCTP flow, how many distinct peer addresses and peer ports it exchanged traffic with.
-- An address:port that many distinct peer ports reach is listening; orientation refinement reads
-- this table to correct the first-pass server_side.
--
-- uniq rather than uniqExact: uniq's state keeps at most 65536 value hashes and samples beyond
-- that, so a busy server's row stays small; uniqExact would keep every peer address it ever saw.
-- Refinement compares counts against thresholds, where uniq's sampling error does not matter, and
-- below 65536 values (every conformance test input) the two agree.
--
-- Filled by the `listener-evidence` job (analyzer/evidence.ts, store recordListenerEvidence), hour
-- by hour after the hour ends, not by a materialized view: a client's end of a connection (its
-- address and ephemeral port) is a new key almost every time, so evidence gains about a row per
-- connection, and as a view on every insert it cost ClickHouse 18.16 about 1.2–1.6 s of CPU per
-- million flows — a third of what ingest could spend at 300k flows/s on two cores. Re-recording an
-- hour is harmless: merged uniq states of the same values count them once.
CREATE TABLE IF NOT EXISTS listener_evidence
(
    day Date,
    address FixedString(16),
    proto UInt8,
    port UInt16,
    peers AggregateFunction(uniq, FixedString(16)),
    peer_ports AggregateFunction(uniq, UInt16)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, address, port, proto);
