/**
 * The one mechanism that keeps workspaces off the daemon's port. A workspace on an engine bridge reaches every
 * address of the network namespace the bridge lives in, and traffic to that namespace's own sockets goes through
 * INPUT, which Docker's DOCKER-USER chain never sees (DOCKER-USER filters what is forwarded, e.g. to a pod's address).
 * So the daemon inserts, for each bridge, `iptables -I INPUT -i BRIDGE -p tcp --dport PORT -j DROP` (and the
 * ip6tables twin when it listens on IPv6), and deletes exactly those rules when it stops. Rules it did not insert
 * are never touched; one left by a killed daemon is found (-C) and reused, not doubled.
 *
 * Two users, one rule each per bridge: `--block-api-from-bridge` names the engine's bridges in host mode (a failure
 * is a config error naming the flag); embedded mode always guards its own workspaces' bridge, before its dockerd
 * starts (a failure is fatal: without the rule every workspace could reach the API).
 */
import { execFile } from 'node:child_process';
import { isIPv6 } from 'node:net';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError } from '../config/schema.js';

export const FIREWALL_COMMENT = 'cvm-supervisor: workspaces may not reach the API';

/** Runs an iptables binary with `args`; rejects with its stderr when it exits non-zero. */
export type IptablesRunner = (binary: string, args: readonly string[]) => Promise<void>;

const execFileAsync = promisify(execFile);

const runIptables: IptablesRunner = async (binary, args) => {
  await execFileAsync(binary, ['-w', '5', ...args], { timeout: 15_000 });
};

/** The rule's match, as iptables -C/-I/-D take it after the chain. */
export function dropRule(bridge: string, port: number): string[] {
  return ['-i', bridge, '-p', 'tcp', '--dport', String(port), '-m', 'comment', '--comment', FIREWALL_COMMENT, '-j', 'DROP'];
}

/** iptables for an IPv4 listen address, ip6tables for IPv6, both for `::` (which also takes IPv4). */
export function iptablesFor(listenHost: string): string[] {
  if (listenHost === '::') return ['iptables', 'ip6tables'];
  return isIPv6(listenHost) ? ['ip6tables'] : ['iptables'];
}

/** What a failed insert is: by default a config error naming the flag that asked for what this host cannot do. */
export type FirewallFault = (failed: string) => Error;

const flagFault: FirewallFault = (failed) => new ConfigError('--block-api-from-bridge', failed);

export class ApiFirewall {
  private installed: { binary: string; rule: string[] }[] = [];

  constructor(
    private readonly bridges: readonly string[],
    private readonly listenHost: string,
    private readonly logger: Logger,
    private readonly run: IptablesRunner = runIptables,
    private readonly fault: FirewallFault = flagFault,
  ) {}

  /** Inserts the rules for `port`; a failure is what `fault` makes of it. */
  async install(port: number): Promise<void> {
    for (const binary of iptablesFor(this.listenHost)) {
      for (const bridge of this.bridges) {
        const rule = dropRule(bridge, port);
        const present = await this.run(binary, ['-C', 'INPUT', ...rule]).then(() => true, () => false);
        if (!present) {
          await this.run(binary, ['-I', 'INPUT', ...rule]).catch((err: unknown) => {
            throw this.fault(`${binary} -I INPUT ${rule.join(' ')} failed: ${messageOf(err)}`);
          });
        }
        this.installed.push({ binary, rule });
        this.logger.info({ bridge, port, iptables: binary }, `workspaces on ${bridge} may not reach the API: dropped in INPUT`);
      }
    }
  }

  /** Deletes the rules install() put in force (best effort: a failure is logged, the shutdown goes on). */
  async remove(): Promise<void> {
    for (const { binary, rule } of this.installed) {
      await this.run(binary, ['-D', 'INPUT', ...rule]).catch((err: unknown) => {
        this.logger.warn({ iptables: binary, rule: rule.join(' '), err: messageOf(err) }, 'could not delete the API firewall rule');
      });
    }
    this.installed = [];
  }
}

function messageOf(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  if (typeof stderr === 'string' && stderr.trim() !== '') return stderr.trim().split('\n')[0] ?? '';
  return err instanceof Error ? err.message : String(err);
}
