// The `flowmap` command's definition (DESIGN.md §9); cli/main.ts runs it. Global options select the configuration; each command has
// --help. Errors print as `flowmap: CODE: message` on stderr with exit status 1; usage errors exit 2.
import { Command, Option, CommanderError } from 'commander';
import { loadConfig, LOG_LEVELS, modeOf, type Config } from '../core/config.js';
import { describeError, FlowmapError, isFlowmapError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { flowmapVersion } from '../core/version.js';
import { createStore } from '../store/index.js';
import { decodeCaptureFile, summaryText } from './decode.js';
import { handleSignals, runRoles, type Role } from './roles.js';
import { exportersText, listExporters } from './exporters.js';
import { ingestCommand, type IngestCommandOptions } from './ingest.js';
import { inventoryImport, inventoryList, inventoryResolve } from './inventory.js';
import { startDemo } from './demo.js';
import { baselineCommand, baselineDiffCommand, graphCommand, type BaselineCommandOptions } from './baseline.js';
import { tokenCommand } from './tokens.js';
import { reportCommand } from './report.js';
import { useLocalToken } from './server.js';
import { blastCommand, exportCommand, findingsCommand, intentsImportCommand, intentsListCommand, policyCommand, recommendCommand } from './policy.js';
import { simulateCommand, type SimulateOptions } from './simulate.js';

interface GlobalOptions {
  config?: string;
  data?: string;
  logLevel?: string;
}

interface ServeOptions {
  host?: string;
  port?: string;
}

function configFrom(command: Command, extra: Record<string, unknown> = {}): Config {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const config = loadConfig({ file: globals.config, overrides: { data: globals.data, 'log.level': globals.logLevel, ...extra } });
  useLocalToken(config);
  return config;
}

/** Long-running roles log JSON lines to stdout; one-shot commands keep stdout for their output. */
function loggerFor(config: Config, toStderr: boolean): Logger {
  return toStderr ? createLogger({ level: config.log.level }, process.stderr) : createLogger({ level: config.log.level });
}

async function serve(command: Command, roles: Role[], migrate: boolean, demo = false): Promise<void> {
  const options = command.opts<ServeOptions>();
  // The demo replays 28 days in a minute: its flows are stored under their own end times, unless
  // the operator chose otherwise.
  const demoTimestamps = demo && process.env.FLOWMAP_COLLECTOR_TIMESTAMPS === undefined ? { 'collector.timestamps': 'flow-end' } : {};
  const config = configFrom(command, { 'api.host': options.host, 'api.port': options.port, ...demoTimestamps });
  if (roles.length === 1 && roles[0] === 'collector') {
    // Collectors share only the store; in embedded mode the DuckDB file has one owner: `start`.
    if (modeOf(config) !== 'service') {
      throw new FlowmapError('FLOWMAP_CONFIG_INVALID', '`flowmap collector` runs the collector role of service mode and needs CLICKHOUSE_URL; use `flowmap start` to run everything in one process');
    }
  } else if (roles.length === 1 && (modeOf(config) !== 'service' || config.redis.url === undefined)) {
    // A lone api or worker role only makes sense when processes share a store and a queue: an
    // embedded DuckDB file has one owner, and in-process jobs enqueued by an api process would
    // never run.
    throw new FlowmapError(
      'FLOWMAP_CONFIG_INVALID',
      `\`flowmap ${roles[0] ?? ''}\` runs one role of service mode and needs CLICKHOUSE_URL and REDIS_URL; use \`flowmap start\` to run everything in one process`,
    );
  }
  const logger = loggerFor(config, false);
  const signals = handleSignals(logger);
  try {
    const running = await runRoles(config, logger, { roles: new Set(roles), migrate, signal: signals.signal });
    if (!demo) {
      signals.serving(running);
      return;
    }
    const sender = startDemo(running, config, logger);
    signals.serving({
      ...running,
      async stop() {
        await sender.stop();
        await running.stop();
      },
    });
  } catch (err) {
    signals.failed();
    throw err;
  }
}

function serveOptions(command: Command): Command {
  return command
    .option('--host <address>', 'address the HTTP API binds (FLOWMAP_API_HOST, default 127.0.0.1)')
    .option('--port <port>', 'HTTP API port (FLOWMAP_API_PORT, default 8080)');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command('flowmap')
    .description('Flow telemetry collector and application dependency mapper.\nEmbedded mode (default): one process, DuckDB under --data. Service mode: set CLICKHOUSE_URL and REDIS_URL.')
    .version(flowmapVersion(), '-V, --version', 'print the version')
    .option('-c, --config <file>', 'YAML configuration file (FLOWMAP_CONFIG)')
    .option('-d, --data <dir>', 'embedded-mode data directory (FLOWMAP_DATA, default ./data)')
    .addOption(new Option('--log-level <level>', 'log level (FLOWMAP_LOG_LEVEL)').choices(LOG_LEVELS))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  serveOptions(
    program
      .command('start')
      .description('run every role in one process: store (migrated), flow collector, job worker and HTTP API')
      .option('--demo', "also feed the `small` simulated estate through the collector (IPFIX to its own UDP port) and import its inventory, to see flowmap work before pointing a router at it")
      .action(async (options: ServeOptions & { demo?: boolean }, command: Command) => serve(command, ['api', 'worker', 'collector'], true, options.demo === true)),
  );
  serveOptions(
    program
      .command('api')
      .description('run the HTTP API role only (service mode; run `flowmap migrate` first)')
      .action(async (_options: ServeOptions, command: Command) => serve(command, ['api'], false)),
  );
  serveOptions(
    program
      .command('collector')
      .description('run the flow collector role only (service mode: needs CLICKHOUSE_URL; run `flowmap migrate` first). Serves /healthz, /readyz and /metrics on --host/--port')
      .addHelpText(
        'after',
        '\nListens on FLOWMAP_COLLECTOR_LISTEN (default [::]:2055,[::]:4739,[::]:6343; NetFlow v5/v9, IPFIX and sFlow are recognised per datagram).\nSee the README for every collector setting.',
      )
      .action(async (_options: ServeOptions, command: Command) => serve(command, ['collector'], false)),
  );
  program
    .command('exporters')
    .description('list the exporters the collectors have heard, with their counters')
    .option('--json', 'print as JSON')
    .option('--server <url>', 'ask a running flowmap over HTTP (embedded mode while `flowmap start` owns the data directory)')
    .action(async (options: { json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      const exporters = await listExporters(config, options.server, loggerFor(config, true));
      if (options.json === true) process.stdout.write(`${JSON.stringify({ exporters })}\n`);
      else process.stdout.write(exportersText(exporters));
    });

  program
    .command('ingest')
    .description('store cloud flow-log files: AWS VPC, GCP VPC, Azure NSG or VNet flow logs (gzip recognised by content; - reads standard input)')
    .argument('[files...]', 'flow-log files')
    .option('--format <format>', 'aws-vpc, gcp-vpc, azure-nsg or azure-vnet')
    .option('--aws-format <fields>', "AWS custom format for files without a header line, e.g. 'version account-id interface-id srcaddr dstaddr …'")
    .option('--force', 'store a file again even if the ledger says it was ingested')
    .option('--list', 'list the files ingested so far (the ledger)')
    .option('--json', 'one JSON report per file')
    .option('--server <url>', 'send the files to a running flowmap over HTTP (automatic in embedded mode while `flowmap start` owns the data directory)')
    .action(async (files: string[], options: IngestCommandOptions, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await ingestCommand(files, options, config, loggerFor(config, true), (line) => process.stdout.write(`${line}\n`), (line) => process.stderr.write(`${line}\n`));
    });

  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);
  const serverOption = '--server <url>';
  const serverHelp = 'use a running flowmap over HTTP (automatic in embedded mode while `flowmap start` owns the data directory)';
  const inventory = program.command('inventory').description('workloads, labels and address bindings over time: import, list, resolve');
  inventory
    .command('import')
    .description('import inventory files: CSV (ip or cidr, name, a column per label, valid_from/valid_to), flowmap JSON, `kubectl get pods -A -o json`, `aws ec2 describe-instances` (- reads standard input)')
    .argument('[files...]', 'inventory files')
    .option('--format <format>', 'csv, json, kubectl or ec2 (default: recognised from the content)')
    .option('--source <name>', 'who asserts these records, e.g. kubectl:prod-cluster (default the file name); the newest source wins overlapping bindings')
    .option('--close-missing', "the file is a full snapshot: end this source's open bindings it no longer lists")
    .option('--json', 'one JSON report per file, with every skipped row and overlapping binding')
    .option(serverOption, serverHelp)
    .action(async (files: string[], options: { format?: string; source?: string; closeMissing?: boolean; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await inventoryImport(files, options, config, loggerFor(config, true), print, warn);
    });
  inventory
    .command('list')
    .description('list workloads with their labels, then the CIDR label rules')
    .option('--search <text>', 'workloads whose id or name contains this (case-insensitive)')
    .option('--label <key=value...>', 'workloads with this label (repeatable: all must hold)')
    .option('--json', 'print as JSON')
    .option(serverOption, serverHelp)
    .action(async (options: { search?: string; label?: string[]; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await inventoryList(options, config, loggerFor(config, true), print, warn);
    });
  inventory
    .command('resolve')
    .description('the group an address belonged to at a time, and why (workload, binding, CIDR rule)')
    .argument('<addresses...>', 'IPv4 or IPv6 addresses')
    .option('--at <time>', 'ISO-8601 time (UTC unless it says otherwise) or Unix seconds; default now')
    .option('--group-by <keys>', 'label keys of the group, comma-separated (default inventory.groupBy: app,env)')
    .option('--json', 'one JSON object per address')
    .option(serverOption, serverHelp)
    .action(async (addresses: string[], options: { at?: string; groupBy?: string; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await inventoryResolve(addresses, options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('simulate')
    .description('a synthetic estate with known dependencies: router flows (netflow5, netflow9, ipfix, sflow) to HOST:PORT, or cloud flow-log files (aws-vpc, gcp-vpc, azure-nsg, azure-vnet) to DIR; writes truth.json, inventory and intents files beside the output')
    .requiredOption('--scenario <name|file>', 'small, enterprise, sized-N (N workloads), or a scenario file (YAML/JSON)')
    .requiredOption('--protocol <protocol>', 'netflow5, netflow9, ipfix, sflow, aws-vpc, gcp-vpc, azure-nsg or azure-vnet')
    .requiredOption('--to <HOST:PORT|DIR>', 'where router flows are sent (UDP), or the directory cloud files are written to')
    .option('--days <n>', 'days of traffic, ending at --end (default 28)')
    .option('--end <time>', 'end of the simulated window, ISO-8601 or Unix seconds (default the start of this hour, UTC)')
    .option('--seed <n>', 'random seed (default 1): the same scenario, seed, --days and --end give the same output byte for byte; the summary prints the --end it used')
    .option('--rate <flows/s>', 'router flows sent per second (default 20000; 28 days are compressed into minutes)')
    .option('--sampling-rate <n>', 'sFlow 1-in-N packet sampling (default 1024)')
    .option('--out <dir>', 'where truth.json and the inventory and intents files go when sending to HOST:PORT (default ./flowmap-simulation)')
    .option('--json', 'print the summary as JSON')
    .action(async (options: SimulateOptions) => {
      process.exitCode = await simulateCommand(options, print, warn);
    });

  const baseline = program
    .command('baseline')
    .description('build a dependency baseline over a window (default the last 28 days, groups by app,env): a job, shown as a progress bar; prints its id and summary')
    .option('--days <n>', 'window length in days (default baseline.days: 28)')
    .option('--end <time>', 'window end, ISO-8601 or Unix seconds (default now, rounded down to the hour)')
    .option('--group-by <keys>', 'label keys of a group, comma-separated (default inventory.groupBy: app,env)')
    .option('--wait', 'wait until it is built (always in embedded mode, where this process builds it)')
    .option('--force', 'build again even if a baseline of this window exists')
    .option('--json', 'print the baseline record as JSON')
    .option(serverOption, serverHelp)
    .action(async (options: BaselineCommandOptions, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await baselineCommand(options, config, loggerFor(config, true), print, warn);
    });
  baseline
    .command('diff')
    .description('drift from baseline A (older) to B: new and vanished edges, new ports, volume changes')
    .argument('<a>', 'the older baseline id (or latest)')
    .argument('<b>', 'the newer baseline id (or latest)')
    .option('--threshold <ratio>', 'relative change in bytes per day that counts as a volume change (default 0.5)')
    .option('--json', 'print as JSON')
    .option(serverOption, serverHelp)
    .action(async (a: string, b: string, options: { threshold?: string; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await baselineDiffCommand(a, b, options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('graph')
    .description("a baseline's dependency graph: graphology JSON, GEXF (Gephi) or GraphML (yEd, Cytoscape)")
    .option('--baseline <id>', 'baseline id (default the newest completed one)')
    .option('--format <format>', 'json, gexf or graphml (default json)')
    .option('--out <file>', 'write to this file instead of standard output')
    .option(serverOption, serverHelp)
    .action(async (options: { baseline?: string; format?: string; out?: string; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await graphCommand(options, config, loggerFor(config, true), print, warn);
    });

  const intents = program.command('intents').description('documented dependencies (DESIGN.md §9 intents file): what findings call undocumented is what is not here');
  intents
    .command('import')
    .description('import an intents file (YAML or JSON; - for standard input); replaces the intents unless --merge')
    .argument('<file>')
    .option('--merge', 'keep the intents the file does not mention')
    .option('--json', 'machine-readable output')
    .option(serverOption, serverHelp)
    .action(async (file: string, options: { merge?: boolean; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await intentsImportCommand(file, options, config, loggerFor(config, true), print, warn);
    });
  intents
    .command('list')
    .description('the intents')
    .option('--json', 'machine-readable output')
    .option(serverOption, serverHelp)
    .action(async (options: { json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await intentsListCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('recommend')
    .description('the recommended default-deny policy of a baseline: allow rules in label terms with evidence and confidence')
    .option('--baseline <id>', 'baseline id (default the newest completed one)')
    .option('--min-days <n>', 'days a dependency must be seen on to become a rule without an intent (default 3)')
    .option('--json', 'the policy JSON (DESIGN.md §9)')
    .option(serverOption, serverHelp)
    .action(async (options: { baseline?: string; minDays?: string; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await recommendCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('findings')
    .description('undocumented dependencies by category, drift, unused and broad rules, expired exceptions')
    .option('--baseline <id>', 'baseline id (default the newest completed one)')
    .option('--kind <kind>', 'undocumented, drift, unused-rule, broad-rule or expired-exception')
    .option('--category <category>', 'backup, monitoring, management, infrastructure, rpc-dynamic, scanner or application')
    .option('--severity <severity>', 'info, low, medium, high or critical')
    .option('--json', 'the finding objects (DESIGN.md §9)')
    .option(serverOption, serverHelp)
    .action(async (options: { baseline?: string; kind?: string; category?: string; severity?: string; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await findingsCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('policy')
    .description('versioned policies: list | create [--baseline ID] | import FILE | show ID | state ID ENV draft|audit|enforced | add-rules ID FILE | remove-rule ID RULE… | except ID FROM TO … | unexcept ID EXCEPTION | simulate ID | delete ID')
    .argument('<action>')
    .argument('[args...]')
    .option('--baseline <id>', 'create: the baseline whose recommendation it starts from (default the newest)')
    .option('--name <name>', 'create: a name')
    .option('--envs <list>', 'create, import: environments to roll out to, least critical first (default those its rules name)')
    .option('--force', 'state: skip the one-step and least-critical-first checks')
    .option('--protocol <protocol>', 'except: tcp, udp, icmp (default tcp)')
    .option('--ports <list>', 'except: ports, comma-separated')
    .option('--owner <owner>', 'except: who owns the exception')
    .option('--reason <text>', 'except: why')
    .option('--expires <time>', 'except: ISO-8601 expiry (at most a year)')
    .option('--from <time>', 'simulate: window start (ISO-8601)')
    .option('--to <time>', 'simulate: window end (default now)')
    .option('--days <n>', 'simulate: window length when --from is not given (default 7)')
    .option('--json', 'machine-readable output')
    .option(serverOption, serverHelp)
    .action(async (action: string, args: string[], options: Parameters<typeof policyCommand>[2], command: Command) => {
      const config = configFrom(command);
      process.exitCode = await policyCommand(action, args, options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('export')
    .description('render a policy for enforcement: k8s, calico, cilium, aws-sg (Terraform), azure-nsg (Terraform), nftables, csv, json')
    .option('--format <format>', 'k8s, calico, cilium, aws-sg, azure-nsg, nftables, csv or json (default json)')
    .option('--policy <id>', 'policy id (default the most recently changed one)')
    .option('--out <file>', 'write to this file instead of standard output')
    .option(serverOption, serverHelp)
    .action(async (options: { format?: string; policy?: string; out?: string; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await exportCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('blast-radius')
    .description('workloads each workload can reach on a flat network, over the observed graph, and with a policy')
    .option('--baseline <id>', 'baseline id (default the newest completed one)')
    .option('--policy <id>', 'a policy to measure')
    .option('--json', 'machine-readable output')
    .option(serverOption, serverHelp)
    .action(async (options: { baseline?: string; policy?: string; json?: boolean; server?: string }, command: Command) => {
      const config = configFrom(command);
      process.exitCode = await blastCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('report')
    .description('a baseline report now: dependency map summary, top and new dependencies, findings, policy coverage, blast radius — HTML with charts, JSON, or PDF (headless Chromium)')
    .option('--baseline <id>', 'baseline id (default the newest completed one)')
    .option('--out <file>', 'write it here; the format follows the extension (.html, .json, .pdf) unless --format says')
    .option('--format <format>', 'html (default), json or pdf')
    .option('--json', 'print what was written as JSON')
    .option(serverOption, serverHelp)
    .action(async (options: Parameters<typeof reportCommand>[0], command: Command) => {
      const config = configFrom(command);
      process.exitCode = await reportCommand(options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('token')
    .description('API tokens: create NAME --role viewer|analyst|admin [--expires ISO] (printed once) | list | revoke ID…')
    .argument('<action>')
    .argument('[args...]')
    .option('--role <role>', 'create: viewer (read), analyst (baselines, policies, intents, findings) or admin (tokens, inventory, uploads, webhooks); default viewer')
    .option('--name <name>', 'create: what the token is for')
    .option('--expires <time>', 'create: ISO-8601 expiry (default never)')
    .option('--json', 'machine-readable output')
    .option(serverOption, serverHelp)
    .action(async (action: string, args: string[], options: Parameters<typeof tokenCommand>[2], command: Command) => {
      const config = configFrom(command);
      process.exitCode = await tokenCommand(action, args, options, config, loggerFor(config, true), print, warn);
    });

  program
    .command('worker')
    .description('run the job worker role only (service mode; run `flowmap migrate` first)')
    .action(async (_options: unknown, command: Command) => serve(command, ['worker'], false));

  program
    .command('migrate')
    .description('apply pending store migrations (ClickHouse in service mode, DuckDB otherwise)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const logger = loggerFor(config, true);
      const store = await createStore(config, { logger });
      try {
        const report = await store.migrate();
        const target = modeOf(config) === 'service' ? `ClickHouse ${await store.version()} database ${config.clickhouse.database}` : `DuckDB ${config.data}`;
        if (options.json === true) {
          process.stdout.write(`${JSON.stringify({ target, applied: report.applied.map((m) => ({ version: m.version, name: m.name })), alreadyApplied: report.alreadyApplied })}\n`);
        } else if (report.applied.length === 0) {
          process.stdout.write(`${target}: nothing to apply; all ${report.alreadyApplied} migrations already applied\n`);
        } else {
          process.stdout.write(`${target}: applied ${report.applied.length} migration(s): ${report.applied.map((m) => m.name).join(', ')}\n`);
        }
      } finally {
        await store.close();
      }
    });

  program
    .command('decode')
    .description('decode the NetFlow v5/v9, IPFIX and sFlow datagrams in a pcap/pcapng capture; one record per line, summary on stderr')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--json', 'one JSON object per record: column names as in the flow record, addresses as text, ISO-8601 UTC times')
    .option('--port <proto=port...>', 'also decode datagrams sent to this UDP port (defaults: netflow 2055/9995/9996, ipfix 4739, sflow 6343)', collect, [])
    .addHelpText('after', '\nThe protocol is recognised from each payload; the port only selects which datagrams to look at.\nExample: flowmap decode router.pcap --port netflow=9990 --json')
    .action((file: string, options: { json?: boolean; port: string[] }) => {
      const summary = decodeCaptureFile(file, { json: options.json === true, ports: options.port }, (line) => process.stdout.write(`${line}\n`));
      process.stderr.write(`${summaryText(file, summary)}\n`);
    });

  program
    .command('version')
    .description('print the flowmap version')
    .option('--json', 'print as JSON')
    .action((options: { json?: boolean }) => {
      const version = flowmapVersion();
      process.stdout.write(options.json === true ? `${JSON.stringify({ version, node: process.version })}\n` : `flowmap ${version}\n`);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander's exitOverride; they already printed.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`flowmap: ${describeError(err)}\n`);
    if (!isFlowmapError(err) && err instanceof Error && err.stack !== undefined && process.env.FLOWMAP_DEBUG === '1') process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}

