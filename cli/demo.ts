// `flowmap start --demo`: once every role is up, the `small` scenario's inventory and intents are
// imported through the API and its 28 days of flows are sent as IPFIX to the collector's own UDP
// port, in the background — so a newcomer sees exporters, flows and labelled workloads within a
// minute, before touching a router — and then a baseline of those 28 days is built, so the
// dependency map, the recommended policy and the findings are there too (their summary is logged
// with the URLs to fetch them). The collector stores the demo's flows under their own end times
// (`collector.timestamps: flow-end`, set by `start --demo`), so 28 days replayed in a minute are
// 28 days in the baseline. Stopping flowmap stops the sender.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorOf } from '../api/errors.js';
import type { Config } from '../core/config.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { exportsOf, sendExports } from '../simulator/emit-flows.js';
import { buildEstate, estateFiles } from '../simulator/index.js';
import type { Running } from './roles.js';

/** Fast enough to show 28 days in seconds, slow enough for a default Linux socket buffer. */
const DEMO_FLOWS_PER_SECOND = 20_000;

export interface Demo {
  /** Resolves when every flow was sent (or the demo was stopped). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Once the demo baseline is built, logs what the recommendation and the findings say, with their URLs. */
async function summarise(base: string, id: string, signal: AbortSignal, log: Logger, auth: Record<string, string>): Promise<void> {
  for (;;) {
    const baseline = (await fetch(`${base}/api/v1/baselines/${id}`, { signal, headers: auth }).then((r) => r.json())) as { status?: string; error?: string };
    if (baseline.status === 'completed') break;
    if (baseline.status === 'failed') throw new Error(`the demo baseline failed: ${baseline.error ?? 'no reason given'}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const recommendation = (await fetch(`${base}/api/v1/recommendations?baseline=${id}`, { signal, headers: auth }).then((r) => r.json())) as { rules?: unknown[] };
  const findings = (await fetch(`${base}/api/v1/findings?baseline=${id}`, { signal, headers: auth }).then((r) => r.json())) as { total?: number; counts?: Record<string, number> };
  log.info(
    { rules: recommendation.rules?.length, findings: findings.total, byKind: findings.counts, recommendation: `${base}/api/v1/recommendations`, findingsUrl: `${base}/api/v1/findings` },
    'demo: recommended default-deny policy and findings ready (flowmap recommend, flowmap findings)',
  );
}

export function startDemo(running: Running, config: Config, logger: Logger): Demo {
  const log = logger.child({ component: 'demo' });
  const abort = new AbortController();
  const done = (async () => {
    const api = running.api;
    const endpoint = running.collector?.[0];
    if (api === undefined || endpoint === undefined) throw new Error('the demo needs the api and collector roles');
    const dir = join(config.data, 'demo');
    const marker = join(dir, 'fed.json');
    // The demo feeds a data directory once: a second start would add another 28 days, shifted.
    if (existsSync(marker)) {
      log.info({ marker }, 'demo data was fed to this data directory before; delete the marker to feed it again');
      return;
    }
    const estate = buildEstate('small', { seed: 1, days: 28, end: Math.floor(Date.now() / 3_600_000) * 3600 });
    const files = estateFiles(estate);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);

    const auth: Record<string, string> = running.localToken === undefined ? {} : { authorization: `Bearer ${running.localToken}` };
    const host = api.host === '0.0.0.0' || api.host === '::' ? '127.0.0.1' : api.host;
    const base = `http://${host.includes(':') ? `[${host}]` : host}:${api.port}`;
    const intents = files['intents.json'];
    if (intents !== undefined) {
      const response = await fetch(`${base}/api/v1/intents`, { method: 'PUT', body: intents, headers: { 'content-type': 'application/json', ...auth }, signal: abort.signal });
      const report = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200) throw new Error(`intents import answered ${response.status}: ${String(errorOf(report)?.message)}`);
      log.info({ intents: report.total }, 'demo intents imported (the documented dependencies)');
    }
    for (const name of ['inventory.json', 'kubectl-pods.json']) {
      const body = files[name];
      if (body === undefined) continue;
      const response = await fetch(`${base}/api/v1/inventory/import?source=${encodeURIComponent(`demo:${name}`)}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...auth }, signal: abort.signal });
      const report = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200) throw new Error(`inventory import of ${name} answered ${response.status}: ${String(errorOf(report)?.message)}`);
      log.info({ file: name, added: report.added, skipped: report.skipped }, 'demo inventory imported');
    }

    // The collector listens on every address by default; IPv4 loopback reaches a dual-stack `::`
    // socket too, and works where IPv6 is turned off.
    const target = { host: endpoint.address === '::' || endpoint.address === '0.0.0.0' ? '127.0.0.1' : endpoint.address, port: endpoint.port };
    log.info({ scenario: estate.scenario, workloads: estate.workloads.length, to: `${target.host}:${target.port}`, flowsPerSecond: DEMO_FLOWS_PER_SECOND, files: dir }, 'demo: sending the small scenario as IPFIX');
    const sent = await sendExports(exportsOf(estate.flows(), { protocol: 'ipfix' }), target, { flowsPerSecond: DEMO_FLOWS_PER_SECOND, signal: abort.signal });
    writeFileSync(marker, `${JSON.stringify({ scenario: estate.scenario, window: estate.window, flows: sent.flows, at: new Date().toISOString() })}\n`);
    log.info({ flows: sent.flows, datagrams: sent.datagrams }, 'demo: every flow of the small scenario sent');

    // Once the collector has stored what was sent (its counter on /metrics; a loaded machine may
    // take a while), the demo window gets a baseline, like the weekly schedule would give it.
    const deadline = Date.now() + 300_000;
    for (;;) {
      const text = await fetch(`${base}/metrics`, { signal: abort.signal }).then((r) => r.text(), () => '');
      const stored = Number(/^flowmap_collector_flows_stored_total (\d+)/m.exec(text)?.[1] ?? 0);
      if (stored >= sent.flows || Date.now() > deadline || abort.signal.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (abort.signal.aborted) return;
    const days = Math.round((estate.window.to - estate.window.from) / 86_400);
    // Under flow-end timestamps the flows keep the estate's window; stamped on arrival they all
    // arrived just now, so the window ends after now.
    const end = config.collector.timestamps === 'flow-end' ? estate.window.to * 1000 : Math.ceil(Date.now() / 3_600_000) * 3_600_000;
    const response = await fetch(`${base}/api/v1/baselines`, {
      method: 'POST',
      body: JSON.stringify({ end: new Date(end).toISOString(), days }),
      headers: { 'content-type': 'application/json', 'x-flowmap-client': 'demo', ...auth },
      signal: abort.signal,
    });
    const answer = (await response.json()) as { baseline?: { id?: string }; message?: string };
    if (response.status !== 202) throw new Error(`the demo baseline answered ${response.status}: ${String(errorOf(answer)?.message)}`);
    const id = answer.baseline?.id ?? 'latest';
    log.info({ baseline: id, graph: `${base}/api/v1/baselines/${id}/graph` }, 'demo: baseline of the 28 days queued');
    await summarise(base, id, abort.signal, log, auth);
  })().catch((err: unknown) => {
    if (abort.signal.aborted) return;
    log.error({ err: describeError(err) }, 'demo failed; flowmap keeps running');
  });
  return {
    done,
    async stop() {
      abort.abort();
      await done;
    },
  };
}
