// `flowmap inventory import|list|resolve` end to end through the real command: against the
// embedded store, and through a running `flowmap start` that owns the data directory (DESIGN.md §9).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services.js';

const root = join(import.meta.dirname, '..');
const testdata = join(root, 'inventory', 'testdata');

async function flowmap(args: string[], env: NodeJS.ProcessEnv, stdin?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args], {
    cwd: root,
    env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('flowmap inventory', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowmap-inventory-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('imports files (and standard input), reports bad rows with file and line, lists and resolves', async () => {
    const env = { FLOWMAP_DATA: join(dir, 'embedded') };
    const imported = await flowmap(['inventory', 'import', join(testdata, 'inventory.csv'), join(testdata, 'kubectl-pods.json')], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /inventory\.csv \(csv\): \d+ added, 0 changed, 0 unchanged, \d+ skipped/);
    assert.match(imported.stderr, /inventory\.csv:8: bad-address: '10\.0\.9\.300' is not an IPv4 or IPv6 address/);
    assert.match(imported.stderr, /kubectl-pods\.json:\$\.items\[8\]\.status\.podIPs\[0\]\.ip: bad-address/);
    const piped = await flowmap(['inventory', 'import', '-', '--source', 'aws:prod'], env, readFileSync(join(testdata, 'ec2-describe-instances.json')));
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /^- \(ec2\): \d+ added/m);

    const list = await flowmap(['inventory', 'list', '--label', 'namespace=shop', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const { workloads } = JSON.parse(list.stdout) as { workloads: { id: string; labels: Record<string, string> }[] };
    assert.ok(workloads.length >= 3 && workloads.every((w) => w.labels.namespace === 'shop'));

    const resolved = await flowmap(['inventory', 'resolve', '10.244.1.13', '192.168.99.1', '--at', '2024-05-01T12:00:00Z'], env);
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.match(resolved.stdout, /^10\.244\.1\.13 at 2024-05-01T12:00:00\.000Z: app=cart,env=prod {2}← workload shop\/cart-5c9f7b6d4-h8r2t \(bound 2024-05-01T11:00:00\.000Z – now, .*kubectl-pods\.json\)$/m);
    assert.match(resolved.stdout, /^192\.168\.99\.1 at .*: group=unlabeled,subnet=192\.168\.99\.0\/24$/m);

    const bad = await flowmap(['inventory', 'resolve', 'not-an-address'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /'not-an-address' is not an IPv4 or IPv6 address/);
  });

  it('goes through the API of a running flowmap start that owns the data directory', async () => {
    const port = await freePort();
    const env = { FLOWMAP_DATA: join(dir, 'served'), FLOWMAP_API_PORT: String(port), FLOWMAP_COLLECTOR_LISTEN: '127.0.0.1:0' };
    const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'start'], { cwd: root, env: { ...process.env, CLICKHOUSE_URL: '', REDIS_URL: '', FLOWMAP_LOG_LEVEL: 'warn', ...env }, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 60_000;
      while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
        assert.ok(Date.now() < deadline, 'flowmap start ready within 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      const imported = await flowmap(['inventory', 'import', join(testdata, 'kubectl-pods.json'), '--json'], env);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stderr, /in use by a running flowmap; asking it at http:\/\/127\.0\.0\.1:\d+/);
      assert.equal((JSON.parse(imported.stdout) as { format: string }).format, 'kubectl');
      const resolved = await flowmap(['inventory', 'resolve', '10.244.1.13', '--at', '2024-05-01T10:00:00Z', '--json'], env);
      assert.equal(resolved.code, 0, resolved.stderr);
      assert.equal((JSON.parse(resolved.stdout) as { group: { key: string } }).group.key, 'app=report');
    } finally {
      server.kill('SIGTERM');
      if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
    }
  });
});
