// flowmap's own version, read from the package.json that ships with the code (found by walking up
// from this file, so it works from source and from dist/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function flowmapVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const parsed = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'flowmap' && typeof parsed.version === 'string') {
        cached = parsed.version;
        return cached;
      }
    }
    dir = dirname(dir);
  }
  cached = '0.0.0-unknown';
  return cached;
}
