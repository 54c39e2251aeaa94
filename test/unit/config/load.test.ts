import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { OPTION_KEYS, OPTIONS, type OptionKey } from '../../../src/config/options.js';
import type { Config } from '../../../src/config/schema.js';
import { configErrorOf, filesystem } from './helpers.js';

const FILE = '/etc/cvm-supervisor.json';

interface FieldCase {
  key: OptionKey;
  raw: string;
  json: unknown;
  expected: unknown;
  read?: (config: Config) => unknown;
}

// One non-default value per option, as text (flag, env) and as JSON (file).
const FIELD_CASES: FieldCase[] = [
  { key: 'listen', raw: '[::1]:8080', json: '[::1]:8080', expected: { host: '::1', port: 8080 } },
  { key: 'tokenFile', raw: '/etc/cvm/token', json: '/etc/cvm/token', expected: '/etc/cvm/token' },
  { key: 'pullSecretFile', raw: '/etc/cvm/pull/.dockerconfigjson', json: '/etc/cvm/pull/.dockerconfigjson', expected: '/etc/cvm/pull/.dockerconfigjson' },
  { key: 'engine', raw: 'embedded', json: 'embedded', expected: 'embedded' },
  { key: 'dockerHost', raw: 'https://10.0.0.1:2376', json: 'https://10.0.0.1:2376', expected: 'https://10.0.0.1:2376' },
  { key: 'dockerTlsVerify', raw: '1', json: true, expected: true },
  { key: 'dockerCertPath', raw: '/etc/docker/certs/', json: '/etc/docker/certs/', expected: '/etc/docker/certs' },
  { key: 'insecurePlaintextEngine', raw: 'true', json: true, expected: true },
  { key: 'api', raw: 'probes-only', json: 'probes-only', expected: 'probes-only' },
  { key: 'blockApiFromBridges', raw: 'docker0, br-+', json: ['docker0', 'br-+'], expected: ['docker0', 'br-+'] },
  { key: 'runtime', raw: 'sysbox-runc2', json: 'sysbox-runc2', expected: 'sysbox-runc2' },
  { key: 'allowNonSysboxCvmRuntime', raw: 'true', json: true, expected: true },
  { key: 'network', raw: 'cvm_net.1', json: 'cvm_net.1', expected: 'cvm_net.1' },
  { key: 'stateDir', raw: '/srv/./state/', json: '/srv/./state/', expected: '/srv/state' },
  { key: 'instance', raw: 'ns-a.coder-dev-1', json: 'ns-a.coder-dev-1', expected: 'ns-a.coder-dev-1' },
  { key: 'hostRoot', raw: '/host', json: '/host', expected: '/host' },
  { key: 'engineHostRoot', raw: '/mnt/host', json: '/mnt/host', expected: '/mnt/host' },
  { key: 'usrLibDir', raw: '/var/coder/usr/lib/', json: '/var/coder/usr/lib/', expected: '/var/coder/usr/lib' },
  { key: 'allowedMountRoots', raw: '/data, /srv/shared/', json: ['/data', '/srv/shared/'], expected: ['/data', '/srv/shared'] },
  { key: 'cvmEnabled', raw: 'false', json: false, expected: false },
  { key: 'gpusEnabled', raw: 'false', json: false, expected: false },
  { key: 'shutdownPolicy', raw: 'keep', json: 'keep', expected: 'keep' },
  { key: 'imageFactsFrom', raw: 'inspection', json: 'inspection', expected: 'inspection' },
  { key: 'shutdownGrace', raw: '7.5', json: 7.5, expected: 7.5 },
  { key: 'bootTimeout', raw: '90', json: 90, expected: 90 },
  { key: 'engineStartTimeout', raw: '60', json: 60, expected: 60 },
  { key: 'enginePingInterval', raw: '0.5', json: 0.5, expected: 0.5 },
  { key: 'imageGcHighPercent', raw: '95', json: 95, expected: 95 },
  { key: 'imageGcLowPercent', raw: '50', json: 50, expected: 50 },
  { key: 'dataRoot', raw: '/var/lib/cvm-engine', json: '/var/lib/cvm-engine', expected: '/var/lib/cvm-engine' },
  { key: 'sysboxDataRoot', raw: '/srv/sysbox', json: '/srv/sysbox', expected: '/srv/sysbox' },
  { key: 'runDir', raw: '/run/cvm', json: '/run/cvm', expected: '/run/cvm' },
  { key: 'logLevel', raw: 'debug', json: 'debug', expected: 'debug' },
  { key: 'bootWorkspaceId', raw: 'dev-1', json: 'dev-1', expected: 'dev-1', read: (c) => c.bootWorkspace?.id },
];

// CODER_INNER_IMAGE makes a boot workspace, whose id is one of the fields under test.
const BASE_ENV = { CODER_INNER_IMAGE: 'busybox' };
const readField = (c: FieldCase, config: Config): unknown => (c.read ? c.read(config) : config[c.key as keyof Config]);

describe('loadConfig: every option', () => {
  it('covers every option of the table except --config', () => {
    expect(FIELD_CASES.map((c) => c.key).sort()).toEqual(OPTION_KEYS.filter((k) => k !== 'config').sort());
  });

  it.each(FIELD_CASES)('$key differs from its default', (c) => {
    expect(readField(c, loadConfig([], BASE_ENV))).not.toEqual(c.expected);
  });

  it.each(FIELD_CASES)('$key from "--flag value"', (c) => {
    expect(readField(c, loadConfig([OPTIONS[c.key].flag, c.raw], BASE_ENV))).toEqual(c.expected);
  });

  it.each(FIELD_CASES)('$key from "--flag=value"', (c) => {
    expect(readField(c, loadConfig([`${OPTIONS[c.key].flag}=${c.raw}`], BASE_ENV))).toEqual(c.expected);
  });

  it.each(FIELD_CASES)('$key from its environment variable', (c) => {
    expect(readField(c, loadConfig([], { ...BASE_ENV, [OPTIONS[c.key].env]: c.raw }))).toEqual(c.expected);
  });

  it.each(FIELD_CASES)('$key from the config file', (c) => {
    const readFile = filesystem({ [FILE]: JSON.stringify({ [c.key]: c.json }) });
    expect(readField(c, loadConfig(['--config', FILE], BASE_ENV, readFile))).toEqual(c.expected);
  });
});

describe('loadConfig: precedence flag > env > file > default', () => {
  const file = filesystem({ [FILE]: JSON.stringify({ shutdownPolicy: 'keep', logLevel: 'warn', listen: '0.0.0.0:1' }) });
  it.each([
    { argv: ['--log-level', 'trace'], env: { CVM_LOG_LEVEL: 'error' }, expected: 'trace' },
    { argv: [], env: { CVM_LOG_LEVEL: 'error' }, expected: 'error' },
    { argv: [], env: {}, expected: 'warn' },
  ])('log level $expected', ({ argv, env, expected }) => {
    expect(loadConfig([...argv, '--config', FILE], env, file).logLevel).toBe(expected);
  });

  it('falls back to the default for a field no source gives', () => {
    expect(loadConfig(['--config', FILE], {}, file).runtime).toBe('sysbox-runc');
  });

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig([], { CVM_LISTEN: '', CVM_CONFIG: '' }).listen).toEqual({ host: '127.0.0.1', port: 7070 });
  });

  it('reads the file named by CVM_CONFIG, and --config wins over it', () => {
    const files = filesystem({ '/a.json': '{"runtime":"from-a"}', '/b.json': '{"runtime":"from-b"}' });
    expect(loadConfig([], { CVM_CONFIG: '/a.json' }, files)).toMatchObject({ runtime: 'from-a', configFile: '/a.json' });
    expect(loadConfig(['--config=/b.json'], { CVM_CONFIG: '/a.json' }, files).runtime).toBe('from-b');
  });

  it('adds up repeated --allowed-mount-root, and a flag list replaces the variable', () => {
    const env = { CVM_ALLOWED_MOUNT_ROOTS: '/from-env' };
    expect(loadConfig(['--allowed-mount-root', '/a', '--allowed-mount-root=/b'], env).allowedMountRoots).toEqual(['/a', '/b']);
    expect(loadConfig([], env).allowedMountRoots).toEqual(['/from-env']);
  });

  it('refuses an --instance that could not end a container or volume name, naming the variable', () => {
    expect(loadConfig([], {}).instance).toBeUndefined();
    for (const bad of ['Ns/Pod', '.pod', 'pod-', 'a'.repeat(129)]) {
      expect(() => loadConfig([], { CVM_INSTANCE: bad })).toThrow(/^CVM_INSTANCE: .* is not 1-128 of a-z, 0-9/);
    }
  });

  it('accepts an empty allowedMountRoots array in the file', () => {
    const readFile = filesystem({ [FILE]: '{"allowedMountRoots":[]}' });
    expect(loadConfig(['--config', FILE], {}, readFile).allowedMountRoots).toEqual([]);
  });
});

describe('loadConfig: engine mode', () => {
  it.each([
    { argv: [], env: {}, engine: 'auto', engineHostRoot: undefined },
    { argv: [], env: { DOCKER_HOST: 'unix:///run/docker.sock' }, engine: 'host', engineHostRoot: '/' },
    { argv: ['--docker-host', 'tcp://127.0.0.1:2375'], env: {}, engine: 'host', engineHostRoot: '/' },
    { argv: ['--engine', 'embedded', '--host-root', '/host'], env: {}, engine: 'embedded', engineHostRoot: '/host' },
    { argv: ['--engine', 'embedded', '--engine-host-root', '/'], env: { CVM_HOST_ROOT: '/host' }, engine: 'embedded', engineHostRoot: '/' },
    { argv: ['--engine', 'auto'], env: {}, engine: 'auto', engineHostRoot: undefined },
    { argv: ['--engine', 'auto'], env: { DOCKER_HOST: 'unix:///run/docker.sock' }, engine: 'host', engineHostRoot: '/' },
    { argv: ['--host-root', '/host'], env: {}, engine: 'auto', engineHostRoot: undefined },
    { argv: ['--engine', 'host', '--host-root', '/host'], env: {}, engine: 'host', engineHostRoot: '/' },
  ])('$argv $env → $engine, engine host root $engineHostRoot', ({ argv, env, engine, engineHostRoot }) => {
    const config = loadConfig(argv, env);
    expect(config.engine).toBe(engine);
    expect(config.engineHostRoot).toBe(engineHostRoot);
  });

  it('refuses a docker host together with the embedded engine, naming both', () => {
    expect(configErrorOf(() => loadConfig(['--engine=embedded', '--docker-host=tcp://h:2375'], {})).message).toBe(
      '--docker-host: "tcp://h:2375" cannot be used with --engine embedded, whose engine listens on RUN-DIR/docker.sock',
    );
    const readFile = filesystem({ [FILE]: '{"engine":"embedded"}' });
    expect(configErrorOf(() => loadConfig(['--config', FILE], { DOCKER_HOST: 'unix:///x.sock' }, readFile)).message).toMatch(
      /^DOCKER_HOST: "unix:\/\/\/x.sock" cannot be used with \/etc\/cvm-supervisor.json: engine embedded/,
    );
  });
});
describe("loadConfig: embedded mode's storage", () => {
  it("lives under the state dir by default, never the machine's /var/lib/docker", () => {
    const config = loadConfig(['--state-dir', '/srv/cvm'], {});
    expect(config.dataRoot).toBe('/srv/cvm/engine');
    expect(config.sysboxDataRoot).toBe('/srv/cvm/sysbox');
    expect(loadConfig([], {}).dataRoot).toBe('/var/lib/cvm-supervisor/engine');
    expect(loadConfig(['--data-root', '/mnt/disk/docker'], { CVM_STATE_DIR: '/srv/cvm' }).dataRoot).toBe('/mnt/disk/docker');
  });
});


describe('loadConfig: bad input gives one line naming the field, the value and what is allowed', () => {
  it.each([
    [['--shutdown-policy', 'later'], {}, '--shutdown-policy: "later" is not one of stop, keep'],
    [['--image-gc-high-percent', '101'], {}, '--image-gc-high-percent: "101" is not a whole percentage from 0 to 100'],
    [['--image-gc-low-percent', '85'], {}, '--image-gc-low-percent: low 85 is not below high 85; image GC needs low < high'],
    [[], { CVM_IMAGE_GC_HIGH_PERCENT: '70' }, 'CVM_IMAGE_GC_HIGH_PERCENT: low 80 is not below high 70; image GC needs low < high'],
    [['--shutdown-policy=later'], {}, '--shutdown-policy: "later" is not one of stop, keep'],
    [[], { CVM_SHUTDOWN_POLICY: 'later' }, 'CVM_SHUTDOWN_POLICY: "later" is not one of stop, keep'],
    [['--cvm-enabled', 'yes'], {}, '--cvm-enabled: "yes" is not true or false'],
    [['--gpus-enabled=1'], {}, '--gpus-enabled: "1" is not true or false'],
    [[], { CVM_ENABLED: 'False' }, 'CVM_ENABLED: "False" is not true or false'],
    [['--cvm-enabled'], {}, '--cvm-enabled: missing value (true|false)'],
    [['--cvm-enabled', '--gpus-enabled', 'false'], {}, '--cvm-enabled: missing value (true|false)'],
    [['--listen', '127.0.0.1:70000'], {}, '--listen: "127.0.0.1:70000" has a port outside 0-65535'],
    [['--listen', '::1:7070'], {}, '--listen: "::1:7070" is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7070)'],
    [['--listen=:80'], {}, '--listen: ":80" is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7070)'],
    [['--listen', '127.0.0.1'], {}, '--listen: "127.0.0.1" is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7070)'],
    [['--listen', '[127.0.0.1]:80'], {}, '--listen: "[127.0.0.1]:80" has a host that is not an IPv6 address'],
    [['--listen', 'bad_host:80'], {}, '--listen: "bad_host:80" has a host that is not an IPv4 address or a host name'],
    [['--state-dir', 'var/lib'], {}, '--state-dir: "var/lib" is not an absolute path'],
    [['--token-file='], {}, '--token-file: "" is not an absolute path'],
    [[], { CVM_ALLOWED_MOUNT_ROOTS: '/a,b' }, 'CVM_ALLOWED_MOUNT_ROOTS: "/a,b" is not an absolute path'],
    [[], { CVM_ALLOWED_MOUNT_ROOTS: ' , ' }, 'CVM_ALLOWED_MOUNT_ROOTS: " , " is not a comma-separated list of absolute paths'],
    [['--allowed-mount-root='], {}, '--allowed-mount-root: "" is not a comma-separated list of absolute paths'],
    [['--shutdown-grace', '5s'], {}, '--shutdown-grace: "5s" is not a number of seconds from 0 to 3600'],
    [['--engine-start-timeout', 'soon'], {}, '--engine-start-timeout: "soon" is not a number of seconds from 0 to 3600'],
    [['--shutdown-grace', '-1'], {}, '--shutdown-grace: "-1" is not a number of seconds from 0 to 3600'],
    [['--shutdown-grace=-1'], {}, '--shutdown-grace: "-1" is not a number of seconds from 0 to 3600'],
    [['--shutdown-grace', '3601'], {}, '--shutdown-grace: "3601" is not a number of seconds from 0 to 3600'],
    [['--engine', 'vm'], {}, '--engine: "vm" is not one of host, embedded, auto'],
    [['--log-level', 'verbose'], {}, '--log-level: "verbose" is not one of fatal, error, warn, info, debug, trace, silent'],
    [['--runtime', 'a b'], {}, '--runtime: "a b" is not a name of letters, digits, "_", "." and "-" (starting with a letter or digit)'],
    [['--boot-workspace-id', 'Dev_1'], {}, '--boot-workspace-id: "Dev_1" is not a DNS label (1-63 of a-z, 0-9 and "-", starting and ending with a letter or digit)'],
    [['--lisen', 'x'], {}, '--lisen: unknown flag (see --help)'],
    [['serve'], {}, '"serve": unexpected argument; flags are --name VALUE or --name=VALUE (see --help)'],
    [['--listen', 'a:1', '--listen=b:2'], {}, '--listen: given more than once ("b:2" after an earlier value)'],
    [['--config', 'cvm.json'], {}, '--config: "cvm.json" is not an absolute path'],
  ])('%j %j → %s', (argv, env, message) => {
    const error = configErrorOf(() => loadConfig(argv, env));
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });

  it.each(['unix://var/run/docker.sock', 'unix:///', 'unix://', 'ftp://host', 'http://host/path', 'docker.sock', 'tcp://'])('refuses --docker-host %s', (url) => {
    expect(configErrorOf(() => loadConfig(['--docker-host', url], {})).message).toBe(
      `--docker-host: ${JSON.stringify(url)} is not an engine URL (unix:///PATH, tcp://HOST:PORT, http://HOST:PORT or https://HOST:PORT)`,
    );
  });

  it('refuses unix:/// as --docker-host: a socket URL needs a path; unix:///run/docker.sock is taken', () => {
    expect(configErrorOf(() => loadConfig(['--docker-host', 'unix:///'], {})).message).toMatch(/^--docker-host: "unix:\/\/\/" is not an engine URL/);
    expect(loadConfig(['--docker-host', 'unix:///run/docker.sock'], {}).dockerHost).toBe('unix:///run/docker.sock');
  });

  it('quotes a value with a newline on one line and cuts a long one', () => {
    expect(configErrorOf(() => loadConfig(['--runtime', 'a\nb'], {})).message).toMatch(/^--runtime: "a\\nb" is not a name/);
    const message = configErrorOf(() => loadConfig(['--runtime', 'x'.repeat(1000)], {})).message;
    expect(message.length).toBeLessThan(400);
  });
});

describe('loadConfig: the config file', () => {
  const load = (text: string | undefined) =>
    configErrorOf(() => loadConfig(['--config', FILE], {}, filesystem(text === undefined ? {} : { [FILE]: text }))).message;

  it.each([
    [undefined, `--config: cannot read "${FILE}": ENOENT`],
    ['{"listen": ', `--config: "${FILE}" is not valid JSON: `],
    ['["listen"]', `--config: "${FILE}" does not hold a JSON object`],
    ['{"listn":"a:1"}', `${FILE}: listn: unknown key (allowed: listen, tokenFile, engine,`],
    ['{"config":"/other.json"}', `${FILE}: config: unknown key`],
    ['{"cvmEnabled":"false"}', `${FILE}: cvmEnabled: "false" is not a JSON boolean (true or false)`],
    ['{"shutdownGrace":"25"}', `${FILE}: shutdownGrace: "25" is not a JSON number`],
    ['{"shutdownGrace":-2}', `${FILE}: shutdownGrace: "-2" is not a number of seconds from 0 to 3600`],
    ['{"shutdownPolicy":"later"}', `${FILE}: shutdownPolicy: "later" is not one of stop, keep`],
    ['{"allowedMountRoots":"/a"}', `${FILE}: allowedMountRoots: "/a" is not an array of strings`],
    ['{"allowedMountRoots":["/a",3]}', `${FILE}: allowedMountRoots: ["/a",3] is not an array of strings`],
    ['{"listen":7070}', `${FILE}: listen: 7070 is not a string`],
  ])('%s → %s', (text, start) => {
    const message = load(text);
    expect(message.startsWith(start)).toBe(true);
    expect(message).not.toContain('\n');
  });
});

describe('loadConfig: the host /usr/lib for GPU libraries', () => {
  it("reads envbox's CODER_USR_LIB_DIR without a boot workspace, and --usr-lib-dir wins over it", () => {
    expect(loadConfig([], {}).usrLibDir).toBeUndefined();
    expect(loadConfig([], { CODER_USR_LIB_DIR: '/var/coder/usr/lib' }).usrLibDir).toBe('/var/coder/usr/lib');
    expect(loadConfig(['--usr-lib-dir', '/host-lib'], { CODER_USR_LIB_DIR: '/var/coder/usr/lib' }).usrLibDir).toBe('/host-lib');
  });

  it('refuses a relative CODER_USR_LIB_DIR, naming the variable', () => {
    expect(configErrorOf(() => loadConfig([], { CODER_USR_LIB_DIR: 'usr/lib' })).message).toMatch(/^CODER_USR_LIB_DIR: "usr\/lib" /);
  });
});

describe('loadConfig: CODER_MOUNTS against the allowed mount roots', () => {
  const env = { CODER_INNER_IMAGE: 'busybox', CODER_MOUNTS: '/srv/coder/home:/home/coder,/data/shared:/shared:ro' };

  it('accepts sources under an allowed root', () => {
    const config = loadConfig(['--allowed-mount-root', '/srv/coder', '--allowed-mount-root', '/data'], env);
    expect(config.bootWorkspace?.spec.mounts?.map((m) => m.source)).toEqual(['/srv/coder/home', '/data/shared']);
  });

  it('accepts a source that is an allowed root itself, and any source under the root /', () => {
    const sources = (flags: string[]) => loadConfig(flags, env).bootWorkspace?.spec.mounts?.map((m) => m.source);
    expect(sources(['--allowed-mount-root', '/srv/coder/home', '--allowed-mount-root', '/data/shared'])).toEqual(['/srv/coder/home', '/data/shared']);
    expect(sources(['--allowed-mount-root', '/'])).toEqual(['/srv/coder/home', '/data/shared']);
  });

  it.each([
    [[], 'CODER_MOUNTS: "/srv/coder/home" is not allowed: this daemon allows no user mounts (--allowed-mount-root)'],
    [['--allowed-mount-root', '/srv/coder'], 'CODER_MOUNTS: "/data/shared" is not under an allowed mount root (/srv/coder)'],
    [['--allowed-mount-root', '/srv/cod', '--allowed-mount-root', '/data'], 'CODER_MOUNTS: "/srv/coder/home" is not under an allowed mount root (/srv/cod, /data)'],
  ])('%j refuses at load, naming the variable: %s', (flags, message) => {
    expect(configErrorOf(() => loadConfig(flags, env)).message).toBe(message);
  });
});

describe('loadConfig: the defaults', () => {
  it('are exactly these, with no optional field present when nothing gives it', () => {
    expect(loadConfig([], { HOME: '/home/ops' })).toStrictEqual({
      listen: { host: '127.0.0.1', port: 7070 },
      api: 'full',
      engine: 'auto',
      dockerHost: 'unix:///var/run/docker.sock',
      dockerTlsVerify: false,
      dockerCertPath: '/home/ops/.docker',
      insecurePlaintextEngine: false,
      runtime: 'sysbox-runc',
      allowNonSysboxCvmRuntime: false,
      network: 'bridge',
      stateDir: '/var/lib/cvm-supervisor',
      hostRoot: '/',
      allowedMountRoots: [],
      blockApiFromBridges: [],
      cvmEnabled: true,
      gpusEnabled: true,
      shutdownPolicy: 'stop',
      imageFactsFrom: 'auto',
      shutdownGrace: 25,
      bootTimeout: 300,
      engineStartTimeout: 300,
      enginePingInterval: 0.25,
      dataRoot: '/var/lib/cvm-supervisor/engine',
      sysboxDataRoot: '/var/lib/cvm-supervisor/sysbox',
      runDir: '/run/cvm-supervisor',
      logLevel: 'info',
      imageGcHighPercent: 85,
      imageGcLowPercent: 80,
    });
  });
});

describe('loadConfig: more sources and their labels', () => {
  it('adds up repeated --block-api-from-bridge', () => {
    expect(loadConfig(['--block-api-from-bridge', 'docker0', '--block-api-from-bridge=br-+'], {}).blockApiFromBridges).toEqual(['docker0', 'br-+']);
  });

  it('reads the --config file from disk when no readFile is passed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-config-unit-'));
    try {
      await writeFile(path.join(dir, 'cvm.json'), '{"runtime":"from-disk"}');
      expect(loadConfig(['--config', path.join(dir, 'cvm.json')], {}).runtime).toBe('from-disk');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names CVM_CONFIG when the file it names cannot be read, and --config when the flag does', () => {
    expect(configErrorOf(() => loadConfig([], { CVM_CONFIG: '/missing.json' }, filesystem({}))).message).toBe('CVM_CONFIG: cannot read "/missing.json": ENOENT');
    expect(configErrorOf(() => loadConfig(['--config=/missing.json'], {}, filesystem({}))).message).toBe('--config: cannot read "/missing.json": ENOENT');
  });

  it.each([
    [Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }), 'EACCES'],
    [new Error('the disk went away'), 'the disk went away'],
    ['a thrown string', 'a thrown string'],
  ])('says why the file cannot be read: %s', (thrown, reason) => {
    const readFile = (): string => {
      // A readFile passed in may throw anything, not only an Error.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw thrown;
    };
    expect(configErrorOf(() => loadConfig(['--config', FILE], {}, readFile)).message).toBe(`--config: cannot read "${FILE}": ${reason}`);
  });

  it("quotes JSON.parse's own reason for a file that is not JSON", () => {
    const text = '{"listen": ';
    const reason = (() => {
      try {
        JSON.parse(text);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('expected JSON.parse to fail');
    })();
    expect(configErrorOf(() => loadConfig(['--config', FILE], {}, filesystem({ [FILE]: text }))).message).toBe(`--config: "${FILE}" is not valid JSON: ${reason}`);
  });

  it.each(['null', '"text"', '42', '[]'])('refuses a file holding %s: not a JSON object', (text) => {
    expect(configErrorOf(() => loadConfig(['--config', FILE], {}, filesystem({ [FILE]: text }))).message).toBe(`--config: "${FILE}" does not hold a JSON object`);
  });

  it('refuses a token file with --api probes-only, naming both as given', () => {
    expect(configErrorOf(() => loadConfig(['--api', 'probes-only', '--token-file', '/t'], {})).message).toBe(
      '--token-file: is not used with --api probes-only, which serves no /v1: give this pod no token',
    );
    expect(configErrorOf(() => loadConfig([], { CVM_API: 'probes-only', CVM_TOKEN_FILE: '/t' })).message).toBe(
      'CVM_TOKEN_FILE: is not used with CVM_API probes-only, which serves no /v1: give this pod no token',
    );
    expect(loadConfig(['--token-file', '/t'], {}).tokenFile).toBe('/t');
  });
});
