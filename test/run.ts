// `npm test`: starts the integration services once, then runs every *.test.ts file under the
// stage folders with node's test runner (through tsx), then stops the services.
// Extra arguments are file or folder filters: `npm test -- store/` runs only tests under store/.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startServicesForRun } from './services.js';

const ROOTS = ['core', 'collector', 'store', 'inventory', 'analyzer', 'api', 'cli', 'simulator', 'test'];
const root = join(import.meta.dirname, '..');

function findTests(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry === 'node_modules') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (entry.endsWith('.test.ts')) out.push(relative(root, path));
  }
}

const filters = process.argv.slice(2);
const files: string[] = [];
for (const r of ROOTS) findTests(join(root, r), files);
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p) || f.includes(p)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const stopServices = await startServicesForRun((line) => console.log(line));
let code = 1;
try {
  code = await new Promise<number>((resolve) => {
    // Tests run in a time zone far from UTC, so code that leans on the machine's zone fails here
    // rather than on a user's server.
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...selected], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, TZ: process.env.FLOWMAP_TEST_TZ ?? 'America/New_York' },
    });
    const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (status) => resolve(status ?? 1));
  });
} finally {
  await stopServices();
}
process.exit(code);
