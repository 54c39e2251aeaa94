#!/usr/bin/env node
/**
 * The command line: `serve`, `preflight [--json]`, `--version`, `--help`. Bad usage or config exits 2 with one line
 * on stderr.
 */
import { helpText } from './config/help.js';
import { loadConfig } from './config/load.js';
import { redactConfig } from './config/redact.js';
import { ConfigError } from './config/schema.js';
import { hostEngineOptions } from './daemon/engine-link.js';
import { chooseEngineMode } from './daemon/engine-mode.js';
import { preflightSources } from './daemon/host-readers.js';
import { startDaemon } from './daemon/run.js';
import { installShutdown } from './daemon/shutdown.js';
import { DockerEngine } from './engine/docker.js';
import { embeddedPaths } from './engine/embedded-plan.js';
import { NodeHostFs } from './host/host-fs.js';
import { createLogger } from './log.js';
import { runPreflight } from './preflight/gather.js';
import { placeOf } from './preflight/place.js';
import { formatReportTable } from './preflight/table.js';
import { VERSION } from './version.js';

/** Config errors, also those found while starting (token file, listen address), log nothing before they exit 2. */
async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(argv, process.env);
  const logger = createLogger(config.logLevel);
  const daemon = await startDaemon(config, logger);
  const shutdown = installShutdown(daemon.shutdownSteps, { graceMs: config.shutdownGrace * 1000, log: logger });
  // Embedded mode's setup can fail in ways no retry mends: stop what started, exit 1, let the supervisor see it.
  void daemon.fatal.then((reason) => shutdown.trigger(`fatal: ${reason}`, 1));
  logger.info({ version: VERSION, config: redactConfig(config) }, 'serving');
}

/**
 * Checks this machine with the same flags as serve, for the engine mode serve would use (`auto` resolved the same
 * way; embedded: what its own engine needs). `--json`: exactly one JSON document on stdout (API.md); otherwise a
 * table. Exit 0 when no check fails, 1 when one does (2 for bad usage, from main's catch).
 */
async function preflight(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const config = loadConfig(argv.filter((arg) => arg !== '--json'), process.env);
  const { mode } = await chooseEngineMode(config);
  const dockerHost = mode === 'embedded' ? `unix://${embeddedPaths(config.runDir).socket}` : config.dockerHost;
  const checked = { ...config, engine: mode, dockerHost };
  const engine = new DockerEngine(mode === 'embedded' ? { dockerHost } : hostEngineOptions(config));
  const place = await placeOf(process.env, new NodeHostFs('/'));
  const report = await runPreflight(preflightSources(checked, engine, { place, ownEngine: 'not-started' }), checked);
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${formatReportTable(report, place)}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (command === undefined || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  if (command === 'serve') {
    await serve(rest);
    return;
  }
  if (command === 'preflight') {
    await preflight(rest);
    return;
  }
  process.stderr.write(`cvm-supervisor: unknown command ${JSON.stringify(command)} (allowed: serve, preflight, --version, --help)\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`cvm-supervisor: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`cvm-supervisor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
