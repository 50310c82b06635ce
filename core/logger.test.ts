import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, RateLimitedLog } from './logger.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('rate-limited warnings', () => {
  it('logs at most N lines per key per interval, then reports how many were suppressed', () => {
    const out = capture();
    const log = new RateLimitedLog(createLogger({ level: 'info' }, out.stream), 3, 60_000);
    for (let i = 0; i < 10; i++) log.warn('192.0.2.1:bad-version', { i }, 'malformed datagram', 1_000);
    log.warn('192.0.2.2:bad-version', {}, 'malformed datagram', 1_000);
    assert.equal(out.lines().filter((l) => l.key === '192.0.2.1:bad-version').length, 3);
    assert.equal(out.lines().filter((l) => l.key === '192.0.2.2:bad-version').length, 1, 'keys are limited independently');
    log.warn('192.0.2.1:bad-version', {}, 'malformed datagram', 61_000);
    const summary = out.lines().find((l) => l.msg === 'suppressed repeated warnings');
    assert.equal(summary?.suppressed, 7);
    assert.equal(out.lines().filter((l) => l.key === '192.0.2.1:bad-version' && l.msg === 'malformed datagram').length, 4, 'a new interval logs again');
  });

  it('caps the lines of all keys together per interval', () => {
    const out = capture();
    const log = new RateLimitedLog(createLogger({ level: 'info' }, out.stream), 10, 60_000, 10_000, 50);
    for (let i = 0; i < 500; i++) log.warn(`exporter-${i}`, {}, 'malformed datagram', 0);
    assert.equal(out.lines().length, 50);
    log.warn('exporter-0', {}, 'malformed datagram', 60_000);
    assert.equal(out.lines().find((l) => l.msg === 'suppressed warnings over the global log budget')?.suppressed, 450);
  });

  it('keeps its key table bounded under a flood of distinct keys', () => {
    const out = capture();
    const log = new RateLimitedLog(createLogger({ level: 'info' }, out.stream), 1, 60_000, 100);
    for (let i = 0; i < 1000; i++) log.warn(`k${i}`, {}, 'x', 0);
    const table = (log as unknown as { windows: Map<string, unknown> }).windows;
    assert.ok(table.size <= 100, `table has ${table.size} keys`);
  });
});
