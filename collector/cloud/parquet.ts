// AWS VPC Flow Logs delivered to S3 as Parquet: read with DuckDB (already a dependency for the
// embedded store; its Parquet reader is its own, no extension to download) and turned into the
// text form the AWS parser reads — a header line naming the fields, then one line per row — so one
// parser owns the field mapping for text, gzip and Parquet alike.
//
// AWS's Parquet columns are the flow-log field names with underscores (account_id, interface_id,
// pkt_srcaddr, …); the header turns them back into the text names. Missing values become '-', as
// in the text format. Rows are read chunk by chunk: memory holds one DuckDB chunk (2048 rows).
import { DuckDBInstance } from '@duckdb/node-api';

/** "PAR1": the magic number a Parquet file starts (and ends) with. */
export function isParquet(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31;
}

/** The file's rows as AWS flow-log text lines, header first, in chunks of text. */
export async function* parquetAsAwsText(path: string): AsyncGenerator<Buffer> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // The path is a bound value, never spliced into the SQL text.
    const result = await connection.stream('SELECT * FROM read_parquet($1)', [path]);
    const names = result.columnNames();
    yield Buffer.from(`${names.map((n) => n.replace(/_/g, '-')).join(' ')}\n`);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) break;
      let text = '';
      for (const row of chunk.getRows()) {
        text += row.map((value) => (value === null || value === undefined || value === '' ? '-' : String(value))).join(' ');
        text += '\n';
      }
      yield Buffer.from(text);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
