import { describe, expect, it } from 'vitest';
import { distroCheck, hostMountsCheck, privilegedCheck, userNamespacesCheck } from '../../../src/preflight/node-checks.js';
import { istioCheck, listeningPorts } from '../../../src/preflight/sidecars.js';
import { homeStorageCheck, mountOf, parseMounts } from '../../../src/preflight/storage.js';

describe('distro', () => {
  it.each([
    ['ID=ubuntu\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n', 'pass', 'Ubuntu 22.04.4 LTS'],
    ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', 'pass', 'Debian GNU/Linux 12 (bookworm)'],
    ['ID=cos\nPRETTY_NAME="Container-Optimized OS from Google"\n', 'fail', 'Container-Optimized OS'],
    ["ID='bottlerocket'\nPRETTY_NAME='Bottlerocket OS 1.19.0'\n", 'fail', 'Bottlerocket'],
    ['ID=gentoo\n', 'warn', 'ID=gentoo'],
    [null, 'warn', 'not readable'],
  ] as const)('%j → %s', (osRelease, status, evidence) => {
    const check = distroCheck(osRelease);
    expect(check.status).toBe(status);
    expect(check.evidence).toContain(evidence);
  });
});

describe('privileged', () => {
  const status = (capEff: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;
  it.each([
    // A privileged container; Docker's default set (no CAP_SYS_ADMIN) in host and embedded mode.
    [status('000001ffffffffff'), 'host', 'pass'],
    [status('0000000000200000'), 'embedded', 'pass'],
    [status('00000000a80425fb'), 'host', 'warn'],
    [status('00000000a80425fb'), 'embedded', 'fail'],
    ['Name:\tnode\n', 'host', 'warn'],
    [null, 'embedded', 'warn'],
  ] as const)('%#: mode %s → %s', (text, mode, expected) => {
    expect(privilegedCheck(text, mode, 'pod').status).toBe(expected);
  });

  it('gives Kubernetes advice only in a pod', () => {
    expect(privilegedCheck(status('00000000a80425fb'), 'embedded', 'pod').hint).toContain('securityContext.privileged');
    expect(privilegedCheck(status('00000000a80425fb'), 'embedded', 'machine').hint).toBe('run the daemon as root');
  });
});

describe('user namespaces', () => {
  it.each([
    ['15000\n', 'pass'],
    ['0\n', 'fail'],
    ['-1', 'fail'],
    ['lots', 'fail'],
    [null, 'warn'],
  ] as const)('%j → %s', (text, status) => {
    expect(userNamespacesCheck(text).status).toBe(status);
  });
});

describe('host mounts', () => {
  const socket = { what: 'the engine socket', path: '/var/run/docker.sock', required: true };
  const proc = { what: "the host's /proc", path: '/host/proc/1', required: false };
  it('passes when everything is there, warns for an optional one, fails for a required one', () => {
    expect(hostMountsCheck([{ ...socket, present: true }, { ...proc, present: true }], 'pod').status).toBe('pass');
    const warned = hostMountsCheck([{ ...socket, present: true }, { ...proc, present: false }], 'pod');
    expect(warned).toMatchObject({ status: 'warn', evidence: "missing: the host's /proc (/host/proc/1)" });
    expect(hostMountsCheck([{ ...socket, present: false }, { ...proc, present: true }], 'pod').status).toBe('fail');
  });

  it('advises hostPath volumes only in a pod', () => {
    const missing = [{ ...socket, present: false }];
    expect(hostMountsCheck(missing, 'pod').hint).toContain('hostPath volumes');
    expect(hostMountsCheck(missing, 'machine').hint).not.toMatch(/hostPath|pod|Kubernetes/);
    expect(hostMountsCheck(missing, 'machine').hint).toContain('this machine');
  });
});

describe('home storage', () => {
  const table = (dataRootFs: string): string =>
    [
      '/dev/sda1 / ext4 rw,relatime 0 0',
      'proc /proc proc rw 0 0',
      `server:/export /var/lib/docker ${dataRootFs} rw,vers=4.2 0 0`,
      'tmpfs /var/lib/docker/tmp tmpfs rw 0 0',
    ].join('\n');

  it('finds the innermost mount containing the path, with escaped spaces', () => {
    const mounts = parseMounts('/dev/sda1 / ext4 rw 0 0\n/dev/sdb /mnt/my\\040disk xfs rw 0 0\n');
    expect(mountOf('/mnt/my disk/x', mounts)?.fsType).toBe('xfs');
    expect(mountOf('/mnt/my', mounts)?.fsType).toBe('ext4');
  });

  it.each([
    ['xfs', 'pass'],
    ['nfs4', 'fail'],
    ['nfs', 'fail'],
    ['cifs', 'warn'],
  ] as const)('a data root on %s → %s', (fsType, status) => {
    const check = homeStorageCheck('/var/lib/docker', table(fsType));
    expect(check.status).toBe(status);
    expect(check.evidence).toContain(`on ${fsType}`);
  });

  it('uses the root filesystem when nothing else holds the data root, and warns when the table is unreadable', () => {
    const onRoot = homeStorageCheck('/srv/docker', table('nfs4'));
    expect(onRoot.status).toBe('pass');
    expect(onRoot.evidence).toContain('on ext4');
    expect(homeStorageCheck('/var/lib/docker', null).status).toBe('warn');
  });
});

describe('istio', () => {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const row = (hexPort: string, state: string): string => `   0: 00000000:${hexPort} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000  1337        0 1 1 0`;

  it('reads listening ports only', () => {
    expect(listeningPorts([header, row('1B9E', '0A'), row('3A99', '01')].join('\n'))).toEqual([7070]);
  });

  it('passes without sidecar ports, warns with them (it never fails), warns when unreadable', () => {
    expect(istioCheck([[header, row('1B9E', '0A')].join('\n'), null], 'pod')).toMatchObject({ status: 'pass', evidence: 'no Istio sidecar ports are listening in this pod' });
    expect(istioCheck([[header, row('1B9E', '0A')].join('\n'), null], 'machine').evidence).toBe('no Istio sidecar ports are listening on this machine');
    const found = istioCheck([[header, row('3AF2', '0A'), row('3A99', '0A')].join('\n'), null], 'pod');
    expect(found).toMatchObject({ status: 'warn', evidence: 'Istio sidecar ports listening: 15001, 15090' });
    expect(istioCheck([null, null], 'pod').status).toBe('warn');
  });
});

