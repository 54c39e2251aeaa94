/**
 * The daemon's configuration as loadConfig returns it. Flags, environment variables and the --config file are
 * described in options.ts; envbox's CODER_* variables in envbox.ts.
 */
import Type from 'typebox';
import { WorkspaceSpecSchema } from '../spec/workspace-spec.js';

export const ENGINE_MODES = ['host', 'embedded', 'auto'] as const;
/** What the daemon serves: everything, or only /healthz, /readyz and /metrics (a pod that declares its one workspace). */
export const API_MODES = ['full', 'probes-only'] as const;
export const SHUTDOWN_POLICIES = ['stop', 'keep'] as const;
/** Where image facts come from: the image's layer directories when readable (else an inspection container), or always the latter. */
export const IMAGE_FACTS_SOURCES = ['auto', 'inspection'] as const;
/** pino's level names. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const AbsolutePath = Type.String({ pattern: '^/' });

const ListenAddressSchema = Type.Object(
  {
    /** An IPv4 address, a host name, or an IPv6 address without brackets. */
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
  },
  { additionalProperties: false },
);

/** The workspace that envbox's variables declare at boot (only when CODER_INNER_IMAGE is set). */
const BootWorkspaceSchema = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 63 }), spec: WorkspaceSpecSchema },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    listen: ListenAddressSchema,
    /** Bridges whose traffic to the daemon's port is dropped (iptables INPUT) while the daemon runs. */
    blockApiFromBridges: Type.Array(Type.String({ minLength: 1, maxLength: 16 })),
    /** `probes-only`: no /v1 at all, and no token file (loadConfig refuses one). */
    api: Type.Enum(API_MODES),
    /** Absent: main decides what /v1 does without a token (it must not be served open). */
    tokenFile: Type.Optional(AbsolutePath),
    /** `auto` (the default) survives loading only when no docker host was given; serve picks the mode at run time. */
    engine: Type.Enum(ENGINE_MODES),
    /** The engine endpoint in host mode: unix:///path, tcp://host:port, http(s)://host:port. */
    dockerHost: Type.String({ minLength: 1 }),
    /** TLS to a tcp:// engine (https:// always uses it), with the files under dockerCertPath. */
    dockerTlsVerify: Type.Boolean(),
    /** Where ca.pem, cert.pem and key.pem are: the flag, DOCKER_CERT_PATH, or ~/.docker. */
    dockerCertPath: AbsolutePath,
    /** Allows plain tcp:// or http:// to an engine on another machine (loadConfig refuses it otherwise). */
    insecurePlaintextEngine: Type.Boolean(),
    runtime: Type.String({ minLength: 1 }),
    /** The escape hatch for a CVM runtime that is not sysbox (see isSysboxRuntime). */
    allowNonSysboxCvmRuntime: Type.Boolean(),
    network: Type.String({ minLength: 1 }),
    stateDir: AbsolutePath,
    /** --instance: this daemon's identity among those sharing one engine; absent for the node's one daemon. */
    instance: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    hostRoot: AbsolutePath,
    /** Where the daemon reads the host's /usr/lib when it is mounted elsewhere than under hostRoot (GPU libraries). */
    usrLibDir: Type.Optional(AbsolutePath),
    /** Absent only while `engine` is `auto` and the flag was not given: see engineHostRootFor. */
    engineHostRoot: Type.Optional(AbsolutePath),
    allowedMountRoots: Type.Array(AbsolutePath),
    cvmEnabled: Type.Boolean(),
    gpusEnabled: Type.Boolean(),
    shutdownPolicy: Type.Enum(SHUTDOWN_POLICIES),
    imageFactsFrom: Type.Enum(IMAGE_FACTS_SOURCES),
    /** Seconds. */
    shutdownGrace: Type.Number({ minimum: 0 }),
    /** Seconds a systemd workspace may take to settle before its boot fails. */
    bootTimeout: Type.Number({ minimum: 0 }),
    /** Seconds; embedded mode. */
    engineStartTimeout: Type.Number({ minimum: 0 }),
    /** Seconds; embedded mode. */
    enginePingInterval: Type.Number({ minimum: 0 }),
    dataRoot: AbsolutePath,
    sysboxDataRoot: AbsolutePath,
    runDir: AbsolutePath,
    logLevel: Type.Enum(LOG_LEVELS),
    /** The --config file that was read, if any. */
    configFile: Type.Optional(AbsolutePath),
    bootWorkspace: Type.Optional(BootWorkspaceSchema),
    /** Raw .dockerconfigjson text from CODER_IMAGE_PULL_SECRET; checked to hold an `auths` object. A secret. */
    bootPullSecret: Type.Optional(Type.String()),
    /** Image GC thresholds (percent of the image store's disk); high 100 turns GC off. low < high. */
    imageGcHighPercent: Type.Integer({ minimum: 0, maximum: 100 }),
    imageGcLowPercent: Type.Integer({ minimum: 0, maximum: 100 }),
    /** A .dockerconfigjson file (a mounted Kubernetes pull secret), read at each pull. */
    pullSecretFile: Type.Optional(AbsolutePath),
  },
  { additionalProperties: false },
);

export type Config = Type.Static<typeof ConfigSchema>;
export type ListenAddress = Type.Static<typeof ListenAddressSchema>;
export type BootWorkspace = Type.Static<typeof BootWorkspaceSchema>;
export type EngineMode = (typeof ENGINE_MODES)[number];
export type ApiMode = (typeof API_MODES)[number];
export type ShutdownPolicy = (typeof SHUTDOWN_POLICIES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A bad flag, variable, file or value. The message is one line: the field as the user wrote it (flag, variable,
 * or `FILE: key`), the value (or "(redacted)" for secrets) and what is allowed. main prints it and exits 2.
 */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`.replace(/\s*[\r\n]\s*/g, ' '));
    this.name = 'ConfigError';
  }
}

/** The engine's view of the host root once the engine mode is known (host: `/`, embedded: the daemon's own). */
export function engineHostRootFor(config: Pick<Config, 'engineHostRoot' | 'hostRoot'>, mode: 'host' | 'embedded'): string {
  return config.engineHostRoot ?? (mode === 'embedded' ? config.hostRoot : '/');
}

/**
 * Whether a CVM runtime name is sysbox's: sysbox registers itself as `sysbox-runc`, and an admin's other name for it
 * must start with `sysbox-` too. Any other runtime (runc, crun, ...) gives no user namespace, so it needs
 * allowNonSysboxCvmRuntime.
 */
export function isSysboxRuntime(name: string): boolean {
  return name.startsWith('sysbox-');
}
