import { describe, expect, it } from 'vitest';
import {
  bridgeCidrFor,
  bridgeMacFor,
  bridgeNameFor,
  childEnvironment,
  containerdNamespaceFor,
  DEFAULT_PATH,
  dockerdArgs,
  restartDelayMs,
  shimContainerIds,
  sysboxMgrArgs,
} from '../../../src/engine/embedded-plan.js';

function inCidr(ip: string, base: string, bits: number): boolean {
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}

describe('embedded engine plan', () => {
  const input = { dataRoot: '/var/lib/cvm/docker', runDir: '/run/cvm', bridge: 'cvm01234567', mtu: 1450, sysboxRunc: '/usr/bin/sysbox-runc', iptables: true };

  it('keeps all of dockerd\'s state under the data root and run dir', () => {
    const args = dockerdArgs(input);
    const flag = (name: string): string | undefined => args[args.indexOf(name) + 1];
    expect(flag('--data-root')).toBe('/var/lib/cvm/docker');
    expect(flag('--exec-root')).toBe('/run/cvm/exec');
    expect(flag('--pidfile')).toBe('/run/cvm/dockerd.pid');
    expect(flag('--host')).toBe('unix:///run/cvm/docker.sock');
    expect(flag('--bridge')).toBe('cvm01234567');
    expect(flag('--mtu')).toBe('1450');
    expect(flag('--add-runtime')).toBe('sysbox-runc=/usr/bin/sysbox-runc');
    expect(flag('--containerd-namespace')).toMatch(/^cvm-embedded-[0-9a-f]{8}$/);
    expect(args).not.toContain('--iptables=false');
  });

  it('leaves out the MTU and runtime when unknown, and iptables when another engine shares the network', () => {
    const args = dockerdArgs({ ...input, mtu: undefined, sysboxRunc: undefined, iptables: false });
    expect(args).not.toContain('--mtu');
    expect(args).not.toContain('--add-runtime');
    expect(args).toEqual(expect.arrayContaining(['--iptables=false', '--ip-masq=false']));
  });

  it('gives each data root its own bridge: a /20 inside 10.224.0.0/11, never 172.17.0.0/16', () => {
    const roots = Array.from({ length: 50 }, (_, i) => `/data/${String(i)}`);
    for (const root of roots) {
      const cidr = bridgeCidrFor(root);
      const [ip = '', bits] = cidr.split('/');
      expect(bits).toBe('20');
      expect(inCidr(ip, '10.224.0.0', 11)).toBe(true);
      expect(inCidr(ip, '172.17.0.0', 16)).toBe(false);
      expect(ip.endsWith('.1')).toBe(true);
      expect(bridgeNameFor(root).length).toBeLessThanOrEqual(15);
    }
    expect(new Set(roots.map(bridgeNameFor)).size).toBe(roots.length);
    expect(new Set(roots.map(bridgeCidrFor)).size).toBeGreaterThan(40);
  });

  it("gives each data root's bridge a MAC of its own, the same every start: unicast and locally administered", () => {
    const roots = Array.from({ length: 50 }, (_, i) => `/data/${String(i)}`);
    for (const root of roots) {
      const mac = bridgeMacFor(root);
      expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const first = Number.parseInt(mac.slice(0, 2), 16);
      expect(first & 1).toBe(0);
      expect(first & 2).toBe(2);
      expect(bridgeMacFor(root)).toBe(mac);
    }
    expect(new Set(roots.map(bridgeMacFor)).size).toBe(roots.length);
  });

  it("keeps sysbox-mgr's data under the daemon's state, and names the containerd namespace the shims carry", () => {
    expect(sysboxMgrArgs('/var/lib/cvm-supervisor/sysbox')).toEqual(['--data-root', '/var/lib/cvm-supervisor/sysbox']);
    const args = dockerdArgs(input);
    expect(args[args.indexOf('--containerd-namespace') + 1]).toBe(containerdNamespaceFor(input.dataRoot));
  });

  it('passes the children PATH and the proxy settings only, never the daemon\'s secrets', () => {
    const env = {
      PATH: '/opt/sysbox/bin:/usr/bin',
      HTTPS_PROXY: 'http://user:pass@proxy:3128',
      no_proxy: 'localhost',
      CODER_AGENT_TOKEN: 'agent-secret',
      CODER_IMAGE_PULL_SECRET: '{"auths":{}}',
      CVM_TOKEN_FILE: '/run/token',
      NOTIFY_SOCKET: '/run/systemd/notify',
      HOME: '/root',
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      EMPTY: '',
    };
    expect(childEnvironment(env)).toEqual({ PATH: '/opt/sysbox/bin:/usr/bin', HTTPS_PROXY: 'http://user:pass@proxy:3128', no_proxy: 'localhost' });
    expect(childEnvironment({ PATH: '' })).toEqual({ PATH: DEFAULT_PATH });
  });

  it('reads the running containers of one containerd namespace from the shims\' command lines', () => {
    const shim = (ns: string, id: string): string[] => ['/usr/bin/containerd-shim-runc-v2', '-namespace', ns, '-id', id, '-address', '/run/x/containerd.sock'];
    const lines = [shim('cvm-embedded-1', 'aaa'), shim('cvm-embedded-2', 'bbb'), ['dockerd', '-namespace', 'cvm-embedded-1', '-id', 'ccc'], shim('cvm-embedded-1', 'ddd'), []];
    expect(shimContainerIds(lines, 'cvm-embedded-1')).toEqual(['aaa', 'ddd']);
  });

  it('backs off restarts from 1 s, doubling, capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(restartDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });
});
