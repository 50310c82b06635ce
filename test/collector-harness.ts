// What the collector's end-to-end tests share: collector options for a scratch directory, a UDP
// sender, and a bounded wait for datagrams to be read off the socket.
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import type { Collector, CollectorOptions } from '../collector/service.js';

/** Options for a collector on a free loopback port, keeping its spool and state under `dir`. */
export function collectorOptions(dir: string, overrides: Partial<CollectorOptions> = {}): CollectorOptions {
  return {
    listen: ['127.0.0.1:0'],
    receiveBufferBytes: 8 * 1024 * 1024,
    allow: [],
    // Two threads even on one core: tests must cross the dispatch between them.
    workers: 2,
    batchRows: 500,
    flushIntervalMs: 100,
    spoolDir: join(dir, 'spool'),
    spoolMaxBytes: 256 * 1024 * 1024,
    servicePorts: [],
    id: 'test',
    stateFile: join(dir, 'decoder-state.json'),
    ...overrides,
  };
}

/** A UDP socket bound to `address` (any 127.x address works on Linux loopback): one exporter. */
export function exporterSocket(address = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.bind({ address, port: 0 }, () => resolve(socket)));
}

export async function send(socket: Socket, port: number, datagrams: readonly Uint8Array[]): Promise<void> {
  for (const d of datagrams) await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

/** Waits until the collector has read `count` datagrams in all; fails after 30 s rather than hang. */
export async function received(collector: Collector, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (collector.stats().datagrams < count) {
    if (Date.now() > deadline) throw new Error(`collector received ${collector.stats().datagrams} of ${count} datagrams`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
