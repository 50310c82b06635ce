import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, modeOf } from './config.js';
import { isFlowmapError } from './errors.js';

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'flowmap-config-')), 'flowmap.yaml');
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  it('has embedded-mode defaults with no file and no environment', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.data, './data');
    assert.equal(config.api.port, 8080);
    assert.equal(config.api.host, '127.0.0.1');
    assert.equal(config.clickhouse.url, undefined);
    assert.equal(modeOf(config), 'embedded');
  });

  it('layers file < environment < flags', () => {
    const file = yamlFile('api:\n  port: 9001\n  host: 0.0.0.0\nlog:\n  level: debug\n');
    const config = loadConfig({ env: { FLOWMAP_CONFIG: file, FLOWMAP_API_PORT: '9002' }, overrides: { data: '/var/lib/flowmap' } });
    assert.equal(config.api.port, 9002);
    assert.equal(config.api.host, '0.0.0.0');
    assert.equal(config.log.level, 'debug');
    assert.equal(config.data, '/var/lib/flowmap');
  });

  it('switches to service mode when CLICKHOUSE_URL is set', () => {
    const config = loadConfig({ env: { CLICKHOUSE_URL: 'http://ch:8123', REDIS_URL: 'redis://r:6379' } });
    assert.equal(modeOf(config), 'service');
    assert.equal(config.redis.url, 'redis://r:6379');
  });

  it('reports every wrong value with its origin, the value and what is allowed', () => {
    const file = yamlFile('log:\n  level: loud\n');
    assert.throws(
      () => loadConfig({ env: { FLOWMAP_CONFIG: file, FLOWMAP_API_PORT: '70000', CLICKHOUSE_URL: 'ch:8123', CLICKHOUSE_DATABASE: 'flow-map' } }),
      (err) => {
        assert.ok(isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'));
        const text = err.message;
        assert.match(text, /api\.port \(from FLOWMAP_API_PORT\) = "70000": must be 1-65535/);
        assert.match(text, /log\.level \(from .*flowmap\.yaml: log\.level\) = "loud": .*info/);
        assert.match(text, /clickhouse\.url \(from CLICKHOUSE_URL\) = "ch:8123": must be a URL starting with http:\/\/ or https:\/\//);
        assert.match(text, /clickhouse\.database \(from CLICKHOUSE_DATABASE\) = "flow-map"/);
        assert.equal((err.details.problems as string[]).length, 4);
        return true;
      },
    );
  });

  it('names unknown keys in the file and lists the allowed ones', () => {
    const file = yamlFile('api:\n  prot: 80\n');
    assert.throws(() => loadConfig({ env: { FLOWMAP_CONFIG: file } }), (err) => {
      assert.ok(isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'));
      assert.match(err.message, /unknown setting api\.prot .*allowed: host, port/);
      return true;
    });
  });

  it('never echoes a password in an error', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { 'clickhouse.password': 42, 'api.port': 'x' } }), (err) => {
      assert.ok(isFlowmapError(err));
      assert.ok(!err.message.includes('42'));
      return true;
    });
  });

  it('names the flag a bad value came from and hides credentials inside URLs', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { 'api.port': '0' } }), (err) => isFlowmapError(err) && /api\.port \(from --port\)/.test(err.message));
    assert.throws(() => loadConfig({ env: { REDIS_URL: 'redis//:s3cret@host:6379', CLICKHOUSE_URL: 'ftp://u:hunter2@ch' } }), (err) => {
      assert.ok(isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'));
      assert.ok(!err.message.includes('s3cret') && !err.message.includes('hunter2'), err.message);
      assert.match(err.message, /redis\.url \(from REDIS_URL\)/);
      return true;
    });
  });

  it('explains an unreadable or non-mapping file', () => {
    assert.throws(() => loadConfig({ env: { FLOWMAP_CONFIG: '/nonexistent/flowmap.yaml' } }), (e) => isFlowmapError(e, 'FLOWMAP_CONFIG_FILE'));
    assert.throws(() => loadConfig({ env: { FLOWMAP_CONFIG: yamlFile('- a\n- b\n') } }), (e) => isFlowmapError(e, 'FLOWMAP_CONFIG_FILE') && /mapping/.test(e.message));
    assert.throws(() => loadConfig({ env: { FLOWMAP_CONFIG: yamlFile('a: [\n') } }), (e) => isFlowmapError(e, 'FLOWMAP_CONFIG_FILE'));
  });
});
