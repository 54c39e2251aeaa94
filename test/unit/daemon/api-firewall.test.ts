/** --block-api-from-bridge's rules, with a recording stand-in for iptables (the real one: test/integration/api-firewall.test.ts). */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/schema.js';
import { ApiFirewall, dropRule, FIREWALL_COMMENT, iptablesFor, type IptablesRunner } from '../../../src/daemon/api-firewall.js';

const silent = pino({ level: 'silent' });

/** Records each call; `-C` answers as `present` says, and an action in `failing` fails like iptables does. */
function recorder(present: boolean, failing: string[] = []): { run: IptablesRunner; calls: string[] } {
  const calls: string[] = [];
  const run: IptablesRunner = (binary, args) => {
    calls.push(`${binary} ${args.join(' ')}`);
    if (args[0] === '-C' && !present) return Promise.reject(new Error('Bad rule'));
    if (failing.includes(args[0] ?? '')) return Promise.reject(Object.assign(new Error('exit 4'), { stderr: 'iptables: Permission denied (you must be root).\n' }));
    return Promise.resolve();
  };
  return { run, calls };
}

describe('ApiFirewall', () => {
  it('inserts one INPUT drop per bridge for the port, and deletes exactly those at stop', async () => {
    const { run, calls } = recorder(false);
    const firewall = new ApiFirewall(['docker0', 'br-+'], '0.0.0.0', silent, run);
    await firewall.install(7070);
    await firewall.remove();
    const rule = (bridge: string) => `-i ${bridge} -p tcp --dport 7070 -m comment --comment ${FIREWALL_COMMENT} -j DROP`;
    expect(calls).toEqual([
      `iptables -C INPUT ${rule('docker0')}`, `iptables -I INPUT ${rule('docker0')}`,
      `iptables -C INPUT ${rule('br-+')}`, `iptables -I INPUT ${rule('br-+')}`,
      `iptables -D INPUT ${rule('docker0')}`, `iptables -D INPUT ${rule('br-+')}`,
    ]);
  });

  it('reuses a rule a killed daemon left, rather than doubling it', async () => {
    const { run, calls } = recorder(true);
    await new ApiFirewall(['docker0'], '10.0.0.5', silent, run).install(7070);
    expect(calls.map((c) => c.split(' ')[1])).toEqual(['-C']);
  });

  it('a failed insert is a config error naming the flag, with what iptables said', async () => {
    const { run } = recorder(false, ['-I']);
    const error = await new ApiFirewall(['docker0'], '0.0.0.0', silent, run).install(7070).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^--block-api-from-bridge: iptables -I INPUT -i docker0 .* failed: iptables: Permission denied/);
  });

  it('a failed insert is what the owner makes of it: embedded mode\'s own bridge makes it fatal, not a config error', async () => {
    const { run } = recorder(false, ['-I']);
    class Fatal extends Error {}
    const error = await new ApiFirewall(['cvm01234567'], '0.0.0.0', silent, run, (failed) => new Fatal(failed)).install(7070).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Fatal);
    expect((error as Fatal).message).toMatch(/^iptables -I INPUT -i cvm01234567 .* failed: iptables: Permission denied/);
  });

  it('a failed delete at stop is logged, and the other rules are still deleted', async () => {
    const { run, calls } = recorder(false, ['-D']);
    const firewall = new ApiFirewall(['a0', 'b0'], '0.0.0.0', silent, run);
    await firewall.install(1);
    await firewall.remove();
    expect(calls.filter((c) => c.includes(' -D '))).toHaveLength(2);
  });

  it.each([
    ['0.0.0.0', ['iptables']],
    ['10.1.2.3', ['iptables']],
    ['::', ['iptables', 'ip6tables']],
    ['fd00::1', ['ip6tables']],
  ])('listening on %s takes %j', (host, binaries) => {
    expect(iptablesFor(host)).toEqual(binaries);
  });

  it('matches on the bridge, TCP and the port, with a comment that names the daemon', () => {
    expect(dropRule('docker0', 7070)).toEqual(['-i', 'docker0', '-p', 'tcp', '--dport', '7070', '-m', 'comment', '--comment', FIREWALL_COMMENT, '-j', 'DROP']);
  });
});

describe('--block-api-from-bridge', () => {
  it('repeats as a flag and splits on commas as a variable', () => {
    expect(loadConfig(['--block-api-from-bridge', 'docker0', '--block-api-from-bridge', 'br-+'], {}).blockApiFromBridges).toEqual(['docker0', 'br-+']);
    expect(loadConfig([], { CVM_BLOCK_API_FROM_BRIDGES: 'docker0, cvmtest0' }).blockApiFromBridges).toEqual(['docker0', 'cvmtest0']);
    expect(loadConfig([], {}).blockApiFromBridges).toEqual([]);
  });

  it.each(['a-name-longer-than-15', 'docker0;rm', 'br+x', '-i', ''])('refuses %j', (name) => {
    expect(() => loadConfig(['--block-api-from-bridge', name], {})).toThrow(/^--block-api-from-bridge: /);
  });
});
