// The simulator's entry module: scenarios (named or from a file) → estates (workloads, truth,
// flows) → the files that go with them. Emitters (emit-*.ts) turn an estate's flows into
// datagrams and cloud log files; everything else reaches the simulator through here.
import { createEstate, type EstateOptions } from './estate.js';
import { loadScenarioFile } from './scenario.js';
import { scenarioByName } from './scenarios.js';
import type { SimulatedEstate } from './types.js';

export { createEstate, type EstateOptions } from './estate.js';
export { estateFiles, intentsJson, inventoryJson, kubectlPodsJson, truthJson } from './outputs.js';
export { Random } from './random.js';
export { loadScenarioFile, parseScenario, parseScenarioText, ScenarioSchema, scenarioToYaml, type ScenarioInput, type ScenarioProblem, type ScenarioSpec } from './scenario.js';
export { SCENARIO_NAMES, scenarioByName, sizedScenario, SMALL } from './scenarios.js';
export type * from './types.js';

/** True when `scenario` names a file rather than a built-in scenario. */
export function isScenarioFile(scenario: string): boolean {
  return /[/\\]/.test(scenario) || /\.(ya?ml|json)$/i.test(scenario);
}

/** The estate of a built-in scenario (`small`, `enterprise`, `sized-N`) or of a scenario file. */
export function buildEstate(scenario: string, options: EstateOptions): SimulatedEstate {
  return createEstate(isScenarioFile(scenario) ? loadScenarioFile(scenario) : scenarioByName(scenario), options);
}
