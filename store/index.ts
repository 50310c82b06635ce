// The store stage's entry module: picks the adapter from the configuration (ClickHouse when
// CLICKHOUSE_URL is set, else the embedded DuckDB file) and re-exports the port.
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createClickHouseStore } from './clickhouse/adapter.js';
import { createDuckDBStore } from './duckdb/adapter.js';
import type { Store } from './port.js';

export * from './port.js';
export { createClickHouseStore } from './clickhouse/adapter.js';
export { createDuckDBStore, DUCKDB_FILE } from './duckdb/adapter.js';

export async function createStore(config: Config, deps: { logger: Logger }): Promise<Store> {
  const logger = deps.logger.child({ component: 'store' });
  if (config.clickhouse.url !== undefined) {
    return createClickHouseStore(
      {
        url: config.clickhouse.url,
        database: config.clickhouse.database,
        user: config.clickhouse.user,
        password: config.clickhouse.password,
        requestTimeoutMs: config.clickhouse.requestTimeoutMs,
      },
      { logger },
    );
  }
  return createDuckDBStore({ dataDir: config.data }, { logger });
}
