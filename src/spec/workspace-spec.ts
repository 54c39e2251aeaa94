/**
 * The workspace spec: what the control plane (or the envbox-style boot config) asks for.
 * One TypeBox schema feeds validation here, the config loader and, later, the HTTP API.
 */
import Type from 'typebox';
import { Value } from 'typebox/value';
import { InvalidSpecError } from '../errors.js';

const DnsLabel = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const Rfc1123Host = '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';
const PosixUser = '^[a-z_][a-z0-9_-]{0,30}\\$?$';
const EnvName = '^[A-Za-z_][A-Za-z0-9_]*$';

export const WORKSPACE_ID_PATTERN = DnsLabel;

const PullPolicySchema = Type.Union([Type.Literal('always'), Type.Literal('if-not-present'), Type.Literal('never')]);
const RestartPolicySchema = Type.Union([Type.Literal('no'), Type.Literal('on-failure'), Type.Literal('always')]);

const AbsPath = Type.String({ pattern: '^/', maxLength: 4096 });

export const WorkspaceSpecSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, maxLength: 1024 }),
    cvm: Type.Optional(Type.Boolean()),
    username: Type.Optional(Type.String({ pattern: PosixUser })),
    hostname: Type.Optional(Type.String({ pattern: Rfc1123Host })),
    workdir: Type.Optional(AbsPath),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: EnvName }), Type.String({ pattern: '^[^\\n\\u0000]*$' }), {
        additionalProperties: false,
      }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1024 })),
          memoryBytes: Type.Optional(Type.Integer({ minimum: 6 * 1024 * 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    home: Type.Optional(
      Type.Object(
        { volume: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' })), path: Type.Optional(AbsPath) },
        { additionalProperties: false },
      ),
    ),
    dockerData: Type.Optional(
      Type.Object({ volume: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }) }, { additionalProperties: false }),
    ),
    mounts: Type.Optional(
      Type.Array(
        Type.Object(
          { source: AbsPath, target: AbsPath, readOnly: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        { maxItems: 64 },
      ),
    ),
    devices: Type.Optional(
      Type.Object({ fuse: Type.Optional(Type.Boolean()), tun: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    ),
    gpus: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean(),
          visibleDevices: Type.Optional(Type.String()),
          capabilities: Type.Optional(Type.String()),
          /** Where the driver's libraries go in the workspace; default from the image's /etc/os-release. */
          libraryDir: Type.Optional(AbsPath),
        },
        { additionalProperties: false },
      ),
    ),
    pullPolicy: Type.Optional(PullPolicySchema),
    pullAuth: Type.Optional(Type.Object({ dockerConfigJson: Type.String() }, { additionalProperties: false })),
    bootstrap: Type.Optional(Type.Object({ script: Type.String({ maxLength: 1024 * 1024 }) }, { additionalProperties: false })),
    restartPolicy: Type.Optional(RestartPolicySchema),
  },
  { additionalProperties: false },
);

export type WorkspaceSpec = Type.Static<typeof WorkspaceSpecSchema>;
export type PullPolicy = Type.Static<typeof PullPolicySchema>;
export type RestartPolicy = Type.Static<typeof RestartPolicySchema>;
export type MountSpec = NonNullable<WorkspaceSpec['mounts']>[number];

export function isValidWorkspaceId(id: string): boolean {
  return new RegExp(DnsLabel).test(id);
}

/** NUL and other control characters: a path or reference holding one is hostile or broken, never meant. */
const CONTROL_CHARACTER = /[\p{Cc}]/u;
/** The grammar of image references (image/reference.ts) is printable ASCII without spaces. */
const IMAGE_CHARACTERS = /^[\x21-\x7e]+$/;

/** Normalised absolute path: no `.`/`..`/empty segments, no trailing slash, no control characters. */
function isNormalisedAbsolute(p: string): boolean {
  if (!p.startsWith('/') || CONTROL_CHARACTER.test(p)) return false;
  if (p === '/') return true;
  if (p.endsWith('/')) return false;
  return p
    .slice(1)
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/**
 * Checks the schema and the formats the schema cannot express. Throws InvalidSpecError naming the path.
 * Registry- and engine-dependent checks (image pull, runtime) happen elsewhere.
 */
export function parseWorkspaceSpec(input: unknown): WorkspaceSpec {
  if (!Value.Check(WorkspaceSpecSchema, input)) {
    const { path, message } = describeSchemaErrors(Value.Errors(WorkspaceSpecSchema, input));
    throw new InvalidSpecError(path, message);
  }
  const spec = input;
  if (!IMAGE_CHARACTERS.test(spec.image)) throw new InvalidSpecError('image', 'is not an image reference: only printable ASCII without spaces');
  // The engine takes an int64; past 2^53 the JSON number is not even exact.
  const memory = spec.resources?.memoryBytes;
  if (memory !== undefined && !Number.isSafeInteger(memory)) throw new InvalidSpecError('resources.memoryBytes', `${memory} is absurd`);
  spec.mounts?.forEach((m, i) => {
    if (!isNormalisedAbsolute(m.source)) throw new InvalidSpecError(`mounts[${i}].source`, `${m.source} is not a normalised absolute path`);
    if (!isNormalisedAbsolute(m.target)) throw new InvalidSpecError(`mounts[${i}].target`, `${m.target} is not a normalised absolute path`);
    if (m.target === '/') throw new InvalidSpecError(`mounts[${i}].target`, 'must not be /');
  });
  if (spec.gpus?.libraryDir !== undefined && (!isNormalisedAbsolute(spec.gpus.libraryDir) || spec.gpus.libraryDir === '/')) {
    throw new InvalidSpecError('gpus.libraryDir', `${spec.gpus.libraryDir} must be a normalised absolute path other than /`);
  }
  for (const field of ['workdir'] as const) {
    const v = spec[field];
    if (v !== undefined && !isNormalisedAbsolute(v)) throw new InvalidSpecError(field, `${v} is not a normalised absolute path`);
  }
  if (spec.home?.path !== undefined && (!isNormalisedAbsolute(spec.home.path) || spec.home.path === '/')) {
    throw new InvalidSpecError('home.path', `${spec.home.path} must be a normalised absolute path other than /`);
  }
  return spec;
}

/** One schema error as reported by TypeBox (and by fastify's validation, which uses it). */
export interface SchemaErrorLike {
  keyword: string;
  instancePath: string;
  params: unknown;
  message?: string;
}

/** The most useful of a list of schema errors, as a dotted path ("mounts.0.source") and a message. */
export function describeSchemaErrors(errors: readonly SchemaErrorLike[], root = 'spec'): { path: string; message: string } {
  const extra = errors.find((e) => e.keyword === 'additionalProperties');
  const first = extra ?? errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
  const base = (first?.instancePath ?? '').slice(1).replaceAll('/', '.');
  if (extra) {
    const names = (extra.params as { additionalProperties?: string[] }).additionalProperties ?? [];
    const path = [base, names[0]].filter(Boolean).join('.');
    return { path: path || root, message: `unknown field ${names.join(', ')}` };
  }
  return { path: base || root, message: first?.message ?? 'does not match the schema' };
}
