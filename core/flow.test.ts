import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFlow, createFlowBatch, flowAt, flowBatchOf, FLOW_COLUMNS, validateFlowBatch } from './flow.js';
import { parseAddress } from './ip.js';

const exporter = parseAddress('192.0.2.1');
const src = parseAddress('10.0.0.1');
const dst = parseAddress('2001:db8::1');

describe('flow batches', () => {
  it('allocates one array per column, sampling rate 1 and empty strings by default', () => {
    const batch = createFlowBatch(4);
    assert.equal(Object.keys(batch.columns).length, FLOW_COLUMNS.length);
    assert.equal(batch.columns.src_addr.length, 64, 'addresses take 16 bytes a row');
    assert.deepEqual([...batch.columns.sampling_rate], [1, 1, 1, 1]);
    assert.deepEqual(batch.columns.cloud_vpc, ['', '', '', '']);
    assert.equal(batch.length, 0);
  });

  it('appends records until full and reads them back with defaults filled in', () => {
    const batch = createFlowBatch(2);
    assert.ok(appendFlow(batch, { time_received: 100, source: 'ipfix', exporter, src_addr: src, dst_addr: dst, dst_port: 443, bytes: 2 ** 40 }));
    assert.ok(appendFlow(batch, { time_received: 101, time_start: 90, source: 'aws_vpc', exporter, src_addr: dst, dst_addr: src, action: 'reject', server_side: 'src' }));
    assert.equal(appendFlow(batch, { time_received: 102, source: 'sflow', exporter, src_addr: src, dst_addr: dst }), false, 'a full batch refuses more');
    assert.equal(batch.length, 2);
    const first = flowAt(batch, 0);
    assert.equal(first.time_start, 100, 'time_start defaults to time_received');
    assert.equal(first.bytes, 2 ** 40);
    assert.equal(first.sampling_rate, 1);
    assert.equal(first.action, 'unknown');
    assert.deepEqual(first.dst_addr, dst);
    const second = flowAt(batch, 1);
    assert.equal(second.source, 'aws_vpc');
    assert.equal(second.time_start, 90);
    assert.equal(second.action, 'reject');
    assert.equal(second.server_side, 'src');
    assert.throws(() => flowAt(batch, 2), RangeError);
  });

  it('refuses addresses that are not 16 bytes and enum values outside the enum', () => {
    const batch = createFlowBatch(1);
    assert.throws(() => appendFlow(batch, { time_received: 1, source: 'ipfix', exporter, src_addr: new Uint8Array(4), dst_addr: dst }), /16-byte/);
    assert.throws(() => appendFlow(batch, { time_received: 1, source: 'netflow7' as 'ipfix', exporter, src_addr: src, dst_addr: dst }), /source: 'netflow7'/);
    assert.equal(batch.length, 0);
  });

  it('validates what typed arrays cannot: enum codes, u64 integrality, lengths', () => {
    const ok = flowBatchOf([{ time_received: 1, source: 'ipfix', exporter, src_addr: src, dst_addr: dst }]);
    assert.equal(validateFlowBatch(ok), undefined);
    const badEnum = flowBatchOf([{ time_received: 1, source: 'ipfix', exporter, src_addr: src, dst_addr: dst }]);
    badEnum.columns.server_side[0] = 3;
    assert.match(validateFlowBatch(badEnum) ?? '', /server_side\[0\] = 3/);
    const badBytes = flowBatchOf([{ time_received: 1, source: 'ipfix', exporter, src_addr: src, dst_addr: dst }]);
    badBytes.columns.packets[0] = -1;
    assert.match(validateFlowBatch(badBytes) ?? '', /packets\[0\] = -1/);
    const tooLong = createFlowBatch(1);
    tooLong.length = 2;
    assert.match(validateFlowBatch(tooLong) ?? '', /length 2/);
  });
});
