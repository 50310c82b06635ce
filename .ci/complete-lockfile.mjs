#!/usr/bin/env node
// Adds lockfile entries for other platforms' optional native packages that the registry mirror
// used here does not serve (e.g. @duckdb/node-bindings-darwin-arm64). npm then omits them from
// package-lock.json, and `npm ci` refuses the lockfile as out of sync on every machine. Each entry
// gets the version its parent asks for and the os/cpu/libc its name states, so npm ci skips it on
// other platforms exactly as it would with a lockfile written against the full registry.
// Run after `npm install` changes dependencies: `npm run lockfile:complete`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
const added = [];

for (const [location, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key] !== undefined || packages[`${location}/node_modules/${name}`] !== undefined) continue;
    const match = /-(darwin|linux|win32|freebsd|android)-(x64|arm64|arm|ia32)(-musl|-gnu)?$/.exec(name);
    if (match === null) continue;
    const [, os, cpu, libc] = match;
    packages[key] = {
      version: range.replace(/^[\^~=]/, ''),
      cpu: [cpu],
      ...(libc !== undefined ? { libc: [libc === '-musl' ? 'musl' : 'glibc'] } : {}),
      license: entry.license ?? 'MIT',
      optional: true,
      os: [os],
      ...(entry.dev === true ? { dev: true } : {}),
    };
    added.push(`${name}@${packages[key].version}`);
  }
}

lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length === 0 ? 'lockfile complete; nothing added' : `added ${added.length} platform entries: ${added.join(', ')}`);
