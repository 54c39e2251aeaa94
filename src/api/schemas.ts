/** TypeBox schemas of what the HTTP API sends and accepts besides the workspace spec (src/spec/workspace-spec.ts). */
import Type from 'typebox';
import { FAILURE_REASONS } from '../errors.js';
import { BOOT_STATES } from '../lifecycle/boot.js';
import { PHASES } from '../lifecycle/phase.js';
import { WORKSPACE_ID_PATTERN } from '../spec/workspace-spec.js';

const Nullable = <T extends Type.TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'A stable machine-readable code, e.g. InvalidSpec, NotFound, Unauthorized' }),
      message: Type.String(),
      details: Type.Record(Type.String(), Type.Unknown()),
    }),
  },
);

export const WorkspaceIdParams = Type.Object({
  id: Type.String({ pattern: WORKSPACE_ID_PATTERN, description: 'A DNS label: 1-63 of [a-z0-9-], starting and ending with a letter or digit' }),
});

export const WorkspaceSchema = Type.Object(
  {
    id: Type.String(),
    phase: Type.Enum(PHASES),
    reason: Nullable(Type.Enum(FAILURE_REASONS)),
    message: Nullable(Type.String()),
    outdated: Type.Boolean({ description: 'The container was built from an older spec; a rebuild applies the current one' }),
    containerId: Nullable(Type.String()),
    runtime: Nullable(Type.String()),
    image: Type.Object({ ref: Type.String(), digest: Nullable(Type.String()) }),
    init: Nullable(
      Type.Object({
        mode: Type.Enum(['systemd', 'init', 'keepalive']),
        path: Type.String(),
        target: Nullable(Type.String()),
        reason: Nullable(Type.String({ description: 'Why there is no usable /sbin/init' })),
      }),
    ),
    gpus: Type.Array(Type.Object({ index: Type.Integer(), uuid: Type.String(), model: Type.String() })),
    restarts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    boot: Nullable(
      Type.Object(
        {
          state: Type.Enum(BOOT_STATES, { description: 'booting: PID 1 runs, the workspace is not usable yet; ready: usable; failed: it will not become usable' }),
          readyAt: Nullable(Type.String({ format: 'date-time' })),
          detail: Nullable(Type.String({ description: 'What the state rests on: systemd\'s state and failed units, the bootstrap\'s exit' })),
        },
        { description: 'Whether the workspace is usable, not just started; null when it is not running' },
      ),
    ),
  },
);

export const WorkspaceListSchema = Type.Object({ workspaces: Type.Array(WorkspaceSchema) });

export const HealthSchema = Type.Object({ status: Type.Literal('ok') });
export const UnreadySchema = Type.Object({
  status: Type.Literal('unready'),
  reasons: Type.Optional(Type.Array(Type.String(), { description: 'Only for a caller that sends the bearer token: they carry engine errors and host evidence' })),
});
export const ReadySchema = Type.Object({ status: Type.Literal('ready') });

const CheckSchema = Type.Object({
  id: Type.String(),
  status: Type.Enum(['pass', 'warn', 'fail']),
  evidence: Type.String(),
  hint: Nullable(Type.String()),
});
export const PreflightSchema = Type.Object({ ok: Type.Boolean(), checks: Type.Array(CheckSchema) });

export const NodeSchema = Type.Object({
  engineVersion: Type.String(),
  apiVersion: Type.String(),
  runtimes: Type.Array(Type.String()),
  cvmRuntime: Type.String(),
  cvmEnabled: Type.Boolean(),
  kernelVersion: Type.String(),
  cgroupVersion: Type.String(),
  operatingSystem: Type.String(),
  gpus: Type.Array(Type.Object({ index: Type.Integer(), uuid: Type.String(), model: Type.String() })),
  gpusEnabled: Type.Boolean({ description: 'The admin switch --gpus-enabled' }),
  gpuDriverVersion: Nullable(Type.String()),
  gpuUnsupported: Nullable(Type.String({ description: 'Why GPU requests are refused on this node, with the evidence' })),
});

/** Query strings are converted by the validator ("true" → true); bodies never are. */
export const PurgeQuery = Type.Object({ purge: Type.Optional(Type.Boolean({ description: 'Also remove the workspace volumes' })) });
export const FollowQuery = Type.Object({ follow: Type.Optional(Type.Boolean({ description: 'Stay open and stream new entries' })) });

/** One build-log entry (GET /v1/workspaces/{id}/events). Kinds as in src/lifecycle/event-log.ts, plus `skipped`. */
export const LogEntrySchema = Type.Object({
  seq: Type.Integer({ minimum: 1, description: 'Grows by one per entry; a `skipped` entry carries the last seq it stands for' }),
  time: Type.String({ format: 'date-time' }),
  kind: Type.Enum(['phase', 'pull', 'detect', 'bootstrap', 'boot', 'failure', 'info', 'skipped'], {
    description: '`skipped`: the reader fell behind the bounded buffer; data.skipped entries were dropped before it got them',
  }),
  message: Type.String(),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export const SseFramesSchema = Type.String({
  description: 'Server-sent events: `id: <seq>`, `event: <kind>`, `data: <LogEntry as JSON>`, then a blank line',
});
export const LastEventIdHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ description: 'SSE: resume after this seq (sent back by EventSource on reconnect)' })),
});
