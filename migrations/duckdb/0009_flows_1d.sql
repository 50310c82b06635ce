-- Version 9 is ClickHouse's daily rollup (migrations/clickhouse/0009_flows_1d.sql), which spares a
-- baseline most of its pass over the hourly rollup there. The embedded store reads flows_1h
-- directly (its windows are small enough), so here the version is only recorded, keeping both
-- dialects' histories in step.
SELECT 1;
