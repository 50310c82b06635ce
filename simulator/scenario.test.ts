import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFlowmapError } from '../core/errors.js';
import { createEstate } from './estate.js';
import { loadScenarioFile, parseScenario, parseScenarioText, scenarioToYaml, type ScenarioInput, type ScenarioProblem } from './scenario.js';
import { scenarioByName, sizedScenario, SMALL } from './scenarios.js';

/** The problems a scenario is refused with, as `path: message` lines. */
function problemsOf(document: unknown): ScenarioProblem[] {
  try {
    parseScenario(document, 'test');
  } catch (err) {
    assert.ok(isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'), String(err));
    return err.details.problems as ScenarioProblem[];
  }
  assert.fail('the scenario was accepted');
}

const paths = (document: unknown): string[] => problemsOf(document).map((p) => p.path);

const minimal = (more: Partial<ScenarioInput> = {}): ScenarioInput => ({
  name: 'tiny',
  applications: [{ name: 'shop', environments: [{ env: 'prod', tiers: { web: 1, db: 1 } }] }],
  dependencies: [{ from: { app: 'shop', tier: 'web' }, to: { app: 'shop', tier: 'db' }, port: 5432 }],
  ...more,
});

describe('scenario files', () => {
  it('round-trips: YAML and JSON of a scenario parse back to the same scenario', () => {
    const small = scenarioByName('small');
    assert.deepEqual(parseScenarioText(scenarioToYaml(small)), small);
    assert.deepEqual(parseScenarioText(JSON.stringify(small)), small);
    const dir = mkdtempSync(join(tmpdir(), 'flowmap-scenario-'));
    try {
      const file = join(dir, 'estate.yaml');
      writeFileSync(file, scenarioToYaml(small));
      assert.deepEqual(loadScenarioFile(file), small);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fills defaults: a bare count is a Linux tier, infrastructure and internet ranges exist', () => {
    const spec = parseScenario(minimal());
    assert.deepEqual(spec.applications[0]?.environments[0]?.tiers.web, { count: 1, os: 'linux' });
    assert.equal(spec.infrastructure.subnet, '10.0.0.0/24');
    assert.deepEqual(spec.internet.saas, [{ name: 'saas', cidr: '198.51.100.0/24' }]);
    assert.equal(spec.dependencies[0]?.pattern, 'business-hours');
  });

  it('names the path of a value of the wrong type or range', () => {
    assert.deepEqual(paths({ ...minimal(), applications: [{ name: 'shop', environments: [{ env: 'prod', tiers: { web: -1 } }] }] }), ['applications[0].environments[0].tiers.web.count']);
    assert.deepEqual(paths(minimal({ dependencies: [{ from: { app: 'shop', tier: 'web' }, to: { app: 'shop', tier: 'db' }, port: 70000 }] })), ['dependencies[0].port']);
    assert.deepEqual(paths({ ...minimal(), name: 'Bad Name' }), ['name']);
    const hostBits = problemsOf(minimal({ infrastructure: { subnet: '10.0.0.1/24' } }));
    assert.deepEqual(hostBits.map((p) => p.path), ['infrastructure.subnet']);
    assert.match(hostBits[0]?.message ?? '', /CIDR/);
  });

  it('names unknown fields and their place', () => {
    const problems = problemsOf({ ...minimal(), colour: 'blue', infrastructure: { dsn: 2 } });
    assert.deepEqual(problems.map((p) => `${p.path || '(top level)'}: ${p.message}`).sort(), ['(top level): unknown field colour', 'infrastructure: unknown field dsn']);
  });

  it('names dependencies that refer to applications, tiers or environments that do not exist', () => {
    const problems = problemsOf(
      minimal({
        dependencies: [
          { from: { app: 'shop', tier: 'web' }, to: { app: 'shopp', tier: 'db' }, port: 5432 },
          { from: { app: 'shop', tier: 'web' }, to: { app: 'shop', tier: 'cache' }, port: 6379 },
          { from: { app: 'shop', tier: 'web', env: 'qa' }, to: { app: 'shop', tier: 'db' }, port: 5432 },
        ],
      }),
    );
    assert.deepEqual(problems.map((p) => p.path), ['dependencies[0].to.app', 'dependencies[1].to.tier', 'dependencies[2].from.env']);
    assert.match(problems[1]?.message ?? '', /has no tier 'cache' \(it has prod\/db, prod\/web\)/);
    // Shape comes before references: an endpoint without a tier is refused by the schema.
    assert.deepEqual(paths(minimal({ dependencies: [{ from: { app: 'shop' }, to: { app: 'shop', tier: 'db' }, port: 5432 }] })), ['dependencies[0].from']);
  });

  it('names subnets that overlap or are too small for their tiers', () => {
    const overlap = problemsOf(minimal({ applications: [{ name: 'shop', environments: [{ env: 'prod', subnet: '10.0.0.128/25', tiers: { web: 1, db: 1 } }] }] }));
    assert.deepEqual(overlap.map((p) => p.path), ['applications[0].environments[0].subnet']);
    assert.match(overlap[0]?.message ?? '', /overlaps 10\.0\.0\.0\/24 \(infrastructure\.subnet\)/);
    const small = problemsOf(minimal({ applications: [{ name: 'shop', environments: [{ env: 'prod', subnet: '10.5.0.0/28', tiers: { web: 3, db: 4 } }] }] }));
    assert.deepEqual(small.map((p) => p.path), ['applications[0].environments[0].tiers.db.count']);
  });

  it('refuses text that is not YAML, and files that cannot be read, as file errors', () => {
    assert.throws(() => parseScenarioText('name: [unclosed'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_FILE'));
    assert.throws(() => loadScenarioFile('/nonexistent/scenario.yaml'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_FILE') && /nonexistent/.test(err.message));
    assert.throws(() => parseScenarioText('name: tiny\nname: again\n'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_FILE'));
  });

  it('lists every problem in the error message, one per line with its path', () => {
    assert.throws(
      () => parseScenario(minimal({ dependencies: [{ from: { app: 'nope', tier: 'web' }, to: { app: 'shop', tier: 'db' }, port: 5432 }] }), 'my.yaml'),
      (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID') && /scenario my\.yaml is invalid:\n {2}dependencies\[0\]\.from\.app: no application 'nope'/.test(err.message),
    );
  });
});

describe('named scenarios', () => {
  const liveAt = (spec: Parameters<typeof createEstate>[0]): number => {
    const estate = createEstate(spec, { seed: 1, days: 28, end: Date.parse('2026-11-30T00:00:00Z') / 1000 });
    return estate.workloads.filter((w) => w.addresses.some((a) => a.to === null)).length;
  };

  it('small has about 30 workloads at any time, enterprise about 2,000', () => {
    const small = liveAt(SMALL);
    assert.ok(small >= 27 && small <= 33, `small: ${small}`);
    const enterprise = liveAt(scenarioByName('enterprise'));
    assert.ok(enterprise >= 1900 && enterprise <= 2100, `enterprise: ${enterprise}`);
  });

  it('sized(n) has about n workloads', () => {
    for (const n of [100, 500, 5000]) {
      const live = liveAt(sizedScenario(n));
      assert.ok(Math.abs(live - n) <= n * 0.1, `sized(${n}): ${live}`);
    }
    assert.equal(scenarioByName('sized-300').name, 'sized-300');
  });

  it('refuses unknown names, listing the known ones', () => {
    assert.throws(() => scenarioByName('medium'), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID') && /small, enterprise, sized-N/.test(err.message));
    assert.throws(() => sizedScenario(3), (err: unknown) => isFlowmapError(err, 'FLOWMAP_CONFIG_INVALID'));
  });
});
