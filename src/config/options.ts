/**
 * The one table of the daemon's flags: flag name, environment variable, --config file key (the table's key),
 * default and help. The loader, the --help text and the tests all read it, so they cannot drift apart.
 */
import { API_MODES, ENGINE_MODES, IMAGE_FACTS_SOURCES, LOG_LEVELS, SHUTDOWN_POLICIES } from './schema.js';
import {
  choiceParser,
  parseAbsolutePath,
  parseBoolean,
  parseEngineName,
  parseEngineUrl,
  parseInstanceName,
  parseInterfaceList,
  parseListen,
  parsePercent,
  parsePathList,
  parseSeconds,
  parseTlsVerify,
  parseWorkspaceId,
} from './values.js';

/** How the value is written in the JSON config file. `list`: an array of strings, each parsed like the flag. */
export type JsonKind = 'string' | 'boolean' | 'number' | 'list';

export interface OptionDef<T> {
  readonly flag: `--${string}`;
  readonly env: string;
  readonly metavar: string;
  readonly help: string;
  readonly json: JsonKind;
  /** Parses the text of a flag or variable (for `list`, a comma-separated list; the flag may also repeat). */
  readonly parse: (raw: string) => T;
  /** The default as it would be written on the command line; parsed like any value. */
  readonly default?: string;
  /** For defaults that depend on other fields; only shown in --help. */
  readonly defaultNote?: string;
  /** False for --config itself, which a config file cannot set. */
  readonly inFile?: false;
}

function option<T>(def: OptionDef<T>): OptionDef<T> {
  return def;
}

export const OPTIONS = {
  listen: option({
    flag: '--listen', env: 'CVM_LISTEN', metavar: 'HOST:PORT', json: 'string', parse: parseListen,
    default: '127.0.0.1:7070', help: 'HTTP address; an IPv6 host goes in brackets ([::1]:7070)',
  }),
  tokenFile: option({
    flag: '--token-file', env: 'CVM_TOKEN_FILE', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    help: 'file holding the bearer token for /v1 (at least 32 bytes, not a placeholder: openssl rand -hex 32); re-read when it changes, and emptying or deleting it denies every request',
  }),
  engine: option({
    flag: '--engine', env: 'CVM_ENGINE', metavar: ENGINE_MODES.join('|'), json: 'string', parse: choiceParser(ENGINE_MODES),
    default: 'auto', help: 'who runs the engine: auto is host when a Docker engine answers at --docker-host, else embedded (the daemon runs its own dockerd and sysbox); --docker-host or DOCKER_HOST implies host',
  }),
  dockerHost: option({
    flag: '--docker-host', env: 'DOCKER_HOST', metavar: 'URL', json: 'string', parse: parseEngineUrl,
    default: 'unix:///var/run/docker.sock', help: 'the engine endpoint in host mode; tcp:// and http:// to another machine need TLS (--docker-tls-verify)',
  }),
  dockerTlsVerify: option({
    flag: '--docker-tls-verify', env: 'DOCKER_TLS_VERIFY', metavar: 'true|false', json: 'boolean', parse: parseTlsVerify,
    default: 'false', help: "reach a tcp:// engine over TLS, checking its certificate against --docker-cert-path's ca.pem and presenting cert.pem and key.pem, as the Docker CLI does (1 means true); https:// always does",
  }),
  dockerCertPath: option({
    flag: '--docker-cert-path', env: 'DOCKER_CERT_PATH', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    defaultNote: '~/.docker', help: 'the directory holding ca.pem, cert.pem and key.pem for TLS to the engine',
  }),
  insecurePlaintextEngine: option({
    flag: '--insecure-plaintext-engine', env: 'CVM_INSECURE_PLAINTEXT_ENGINE', metavar: 'true|false', json: 'boolean', parse: parseBoolean,
    default: 'false', help: 'INSECURE: allow a tcp:// or http:// engine on another machine without TLS; registry credentials, bootstrap scripts and agent tokens then cross the network in the clear',
  }),
  blockApiFromBridges: option({
    flag: '--block-api-from-bridge', env: 'CVM_BLOCK_API_FROM_BRIDGES', metavar: 'NAME', json: 'list', parse: parseInterfaceList,
    defaultNote: 'none', help: "when the daemon shares the node's network: drop traffic from this bridge (docker0; br-+ for every other Docker bridge) to the daemon's port with an iptables INPUT rule, removed at stop; repeatable (the variable is comma-separated)",
  }),
  api: option({
    flag: '--api', env: 'CVM_API', metavar: API_MODES.join('|'), json: 'string', parse: choiceParser(API_MODES),
    default: 'full', help: 'probes-only: serve /healthz, /readyz and /metrics and no /v1 at all (a pod that declares its one workspace with CODER_* variables); takes no --token-file',
  }),
  runtime: option({
    flag: '--runtime', env: 'CVM_RUNTIME', metavar: 'NAME', json: 'string', parse: parseEngineName,
    default: 'sysbox-runc', help: 'the engine runtime for CVMs',
  }),
  allowNonSysboxCvmRuntime: option({
    flag: '--allow-non-sysbox-cvm-runtime', env: 'CVM_ALLOW_NON_SYSBOX_CVM_RUNTIME', metavar: 'true|false', json: 'boolean', parse: parseBoolean,
    default: 'false',
    help: 'UNSAFE: let CVMs run on a --runtime that is not sysbox (no user namespace: root in a workspace is root on the host); serve refuses such a runtime without it, and warns at every start with it',
  }),
  network: option({
    flag: '--network', env: 'CVM_NETWORK', metavar: 'NAME', json: 'string', parse: parseEngineName,
    default: 'bridge', help: 'the engine network that workspaces join',
  }),
  stateDir: option({
    flag: '--state-dir', env: 'CVM_STATE_DIR', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    default: '/var/lib/cvm-supervisor', help: 'where desired workspace specs and run states persist',
  }),
  instance: option({
    flag: '--instance', env: 'CVM_INSTANCE', metavar: 'NAME', json: 'string', parse: parseInstanceName,
    defaultNote: 'none: the node\'s one daemon',
    help: "this daemon's identity when several share one engine (one per workspace pod): its containers and volumes carry it in a label and their names, and it adopts, replaces and removes only those; without it, only those that carry none (as all did before this option)",
  }),
  hostRoot: option({
    flag: '--host-root', env: 'CVM_HOST_ROOT', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    default: '/', help: "where the daemon reads the host's /dev, /proc, /sys and library directories",
  }),
  engineHostRoot: option({
    flag: '--engine-host-root', env: 'CVM_ENGINE_HOST_ROOT', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    defaultNote: '/ in host mode, --host-root in embedded mode',
    help: 'the host root as the engine sees it; paths handed to the engine are rewritten from --host-root to this',
  }),
  usrLibDir: option({
    flag: '--usr-lib-dir', env: 'CVM_USR_LIB_DIR', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    defaultNote: 'HOST-ROOT/usr/lib; envbox: CODER_USR_LIB_DIR',
    help: "where the daemon reads the host's /usr/lib (NVIDIA libraries) when it is mounted elsewhere",
  }),
  allowedMountRoots: option({
    flag: '--allowed-mount-root', env: 'CVM_ALLOWED_MOUNT_ROOTS', metavar: 'PATH', json: 'list', parse: parsePathList,
    defaultNote: 'none',
    help: 'host root under which user bind mounts are allowed; repeatable (the variable is comma-separated)',
  }),
  cvmEnabled: option({
    flag: '--cvm-enabled', env: 'CVM_ENABLED', metavar: 'true|false', json: 'boolean', parse: parseBoolean,
    default: 'true', help: 'the admin switch: false refuses CVMs and still allows standard workspaces',
  }),
  gpusEnabled: option({
    flag: '--gpus-enabled', env: 'CVM_GPUS_ENABLED', metavar: 'true|false', json: 'boolean', parse: parseBoolean,
    default: 'true', help: 'GPU passthrough allowed',
  }),
  imageFactsFrom: option({
    flag: '--image-facts-from', env: 'CVM_IMAGE_FACTS_FROM', metavar: IMAGE_FACTS_SOURCES.join('|'), json: 'string',
    parse: choiceParser(IMAGE_FACTS_SOURCES), default: 'auto',
    help: "auto: read /sbin/init, os-release and users from the image's layers under --host-root when readable, else (and always with inspection) through a never-started inspection container",
  }),
  shutdownPolicy: option({
    flag: '--shutdown-policy', env: 'CVM_SHUTDOWN_POLICY', metavar: SHUTDOWN_POLICIES.join('|'), json: 'string',
    parse: choiceParser(SHUTDOWN_POLICIES), default: 'stop', help: 'what happens to workspaces on SIGTERM',
  }),
  shutdownGrace: option({
    flag: '--shutdown-grace', env: 'CVM_SHUTDOWN_GRACE', metavar: 'SECONDS', json: 'number', parse: parseSeconds,
    default: '25', help: "the whole shutdown's budget, inside Kubernetes' 30",
  }),
  bootTimeout: option({
    flag: '--boot-timeout', env: 'CVM_BOOT_TIMEOUT', metavar: 'SECONDS', json: 'number', parse: parseSeconds,
    default: '300', help: "how long a systemd workspace may take to settle (systemctl is-system-running) before its boot is failed",
  }),
  dataRoot: option({
    flag: '--data-root', env: 'CVM_DATA_ROOT', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    defaultNote: 'STATE-DIR/engine', help: "embedded mode: the engine's storage (persistent, not overlayfs); never the machine's /var/lib/docker by default",
  }),
  sysboxDataRoot: option({
    flag: '--sysbox-data-root', env: 'CVM_SYSBOX_DATA_ROOT', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    defaultNote: 'STATE-DIR/sysbox', help: "embedded mode: sysbox-mgr's storage, e.g. running CVMs' inner /var/lib/docker (persistent, not overlayfs)",
  }),
  runDir: option({
    flag: '--run-dir', env: 'CVM_RUN_DIR', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    default: '/run/cvm-supervisor', help: "embedded mode: sockets, pid files, exec state (run-time state, so on tmpfs); the engine's socket is RUN-DIR/docker.sock",
  }),
  engineStartTimeout: option({
    flag: '--engine-start-timeout', env: 'CVM_ENGINE_START_TIMEOUT', metavar: 'SECONDS', json: 'number', parse: parseSeconds,
    default: '300', help: 'embedded mode: how long to wait for the own sysbox and dockerd to come up',
  }),
  enginePingInterval: option({
    flag: '--engine-ping-interval', env: 'CVM_ENGINE_PING_INTERVAL', metavar: 'SECONDS', json: 'number', parse: parseSeconds,
    default: '0.25', help: 'embedded mode: how often to ping the own dockerd while waiting for it',
  }),
  logLevel: option({
    flag: '--log-level', env: 'CVM_LOG_LEVEL', metavar: 'LEVEL', json: 'string', parse: choiceParser(LOG_LEVELS),
    default: 'info', help: `log level: ${LOG_LEVELS.join(', ')}`,
  }),
  pullSecretFile: option({
    flag: '--pull-secret-file', env: 'CVM_PULL_SECRET_FILE', metavar: 'PATH', json: 'string', parse: parseAbsolutePath,
    help: 'a .dockerconfigjson (e.g. a mounted pull secret) for registry credentials; read at every pull',
  }),
  imageGcHighPercent: option({
    flag: '--image-gc-high-percent', env: 'CVM_IMAGE_GC_HIGH_PERCENT', metavar: 'PERCENT', json: 'number', parse: parsePercent,
    default: '85', help: "disk use of the engine's image store above which unused workspace images are removed; 100 turns image GC off",
  }),
  imageGcLowPercent: option({
    flag: '--image-gc-low-percent', env: 'CVM_IMAGE_GC_LOW_PERCENT', metavar: 'PERCENT', json: 'number', parse: parsePercent,
    default: '80', help: 'image GC removes least recently used images until disk use is below this; less than the high percent',
  }),
  bootWorkspaceId: option({
    flag: '--boot-workspace-id', env: 'CVM_BOOT_WORKSPACE_ID', metavar: 'ID', json: 'string', parse: parseWorkspaceId,
    default: 'workspace', help: 'the id of the workspace that envbox variables declare (see below)',
  }),
  config: option({
    flag: '--config', env: 'CVM_CONFIG', metavar: 'PATH', json: 'string', parse: parseAbsolutePath, inFile: false,
    help: 'a JSON file whose keys are the camelCase names of these flags (listen, tokenFile, ...)',
  }),
};

export type OptionKey = keyof typeof OPTIONS;
export type OptionValues = { [K in OptionKey]: (typeof OPTIONS)[K] extends OptionDef<infer T> ? T : never };

export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];
export const FILE_KEYS = OPTION_KEYS.filter((key) => OPTIONS[key].inFile !== false);
