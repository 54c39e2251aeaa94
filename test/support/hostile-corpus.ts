/**
 * The hostile-input corpus: malformed or hostile requests, each with the one stable error code it must get.
 * Every PUT body is a valid standard workspace spec with one hostile change, so the hostile part alone decides
 * the answer; a case that slipped through would create a container, which the test counts.
 *
 * `expect` is the API's `error.code`; for requests that Node's HTTP parser refuses before fastify sees them, it is
 * `HTTP<status>` (those answers carry no API error body). A raw case that sends several requests on one connection
 * is judged by the last answer.
 *
 * Failed token attempts count against the caller's address (10 a minute, then 429), so each case that fails auth
 * comes from its own loopback address (`from`, in 127.0.0.0/8, which all reaches the daemon on 127.0.0.1): its
 * own answer, not the cases around it, decides its code. The limit itself is one case, from its own address too.
 */

export interface HttpCase {
  kind: 'http';
  category: string;
  method: string;
  /** Path and query; `{id}` becomes a fresh workspace id. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  expect: string;
  /** The local address to send from; 127.0.0.1 when absent. */
  from?: string;
}

/** Bytes written to the socket as they are (malformed HTTP that a client library would refuse to send). */
export interface RawCase {
  kind: 'raw';
  category: string;
  text: string;
  expect: string;
  from?: string;
}

export type HostileCase = HttpCase | RawCase;

export interface CorpusContext {
  image: string;
  token: string;
  /** The allowed mount root; it holds the symlinks below. */
  allowedRoot: string;
  /** Names of symlinks under allowedRoot whose targets are forbidden or outside every allowed root. */
  escapeLinks: string[];
  /** The daemon's own files and the engine socket, in host terms. */
  daemonFiles: string[];
  /**
   * Volumes on the engine that a workspace may not use: bind options, no label, another workspace's. `id` is the
   * workspace the PUT is for (the one the volume's label names, so that only its options refuse it); default fresh.
   */
  foreignVolumes: { volume: string; id?: string }[];
  /** The engine's data root (DockerRootDir); it lies under an allowed root when the daemon could allow its parent. */
  engineRoot: string;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const WRONG_VALUES: Record<string, Json[]> = {
  string: [5, 1.5, true, null, [], {}, ['x'], { a: 'b' }],
  boolean: [0, 1, 'true', 'false', null, [], {}],
  number: ['2', null, true, [], {}, [2]],
  integer: [1.5, '1073741824', null, true, [], {}],
  object: ['x', 5, true, null, [], ['a']],
  array: ['x', 5, true, null, {}],
};

/** Every field of the spec with its JSON type and a place for it in a valid spec. */
const FIELDS: [string, keyof typeof WRONG_VALUES][] = [
  ['image', 'string'], ['cvm', 'boolean'], ['username', 'string'], ['hostname', 'string'], ['workdir', 'string'],
  ['env', 'object'], ['env.FOO', 'string'], ['resources', 'object'], ['resources.cpus', 'number'],
  ['resources.memoryBytes', 'integer'], ['home', 'object'], ['home.volume', 'string'], ['home.path', 'string'],
  ['dockerData', 'object'], ['dockerData.volume', 'string'], ['mounts', 'array'], ['mounts.0', 'object'],
  ['mounts.0.source', 'string'], ['mounts.0.target', 'string'], ['mounts.0.readOnly', 'boolean'], ['devices', 'object'],
  ['devices.fuse', 'boolean'], ['devices.tun', 'boolean'], ['gpus', 'object'], ['gpus.enabled', 'boolean'],
  ['gpus.visibleDevices', 'string'], ['pullPolicy', 'string'], ['pullAuth', 'object'], ['pullAuth.dockerConfigJson', 'string'],
  ['bootstrap', 'object'], ['bootstrap.script', 'string'], ['restartPolicy', 'string'],
];

/** Sets a dotted path in a copy of `spec`, making the parents it needs (numeric parts are array indexes). */
function withField(spec: Record<string, Json>, dotted: string, value: Json): Record<string, Json> {
  const copy = JSON.parse(JSON.stringify(spec)) as Record<string, Json>;
  const parts = dotted.split('.');
  let node: Record<string, Json> | Json[] = copy;
  parts.slice(0, -1).forEach((part, i) => {
    const next = parts[i + 1] ?? '';
    const holder = node as Record<string, Json>;
    holder[part] ??= /^\d+$/.test(next) ? [] : {};
    node = holder[part] as Record<string, Json> | Json[];
  });
  (node)[parts[parts.length - 1] ?? ''] = value;
  return copy;
}

function nested(depth: number, open: string, close: string, inner: string): string {
  return `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
}

export function buildCorpus(ctx: CorpusContext): HostileCase[] {
  const base: Record<string, Json> = { image: ctx.image, cvm: false, pullPolicy: 'never' };
  const auth = { authorization: `Bearer ${ctx.token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const cases: HostileCase[] = [];
  const put = (category: string, body: string, expect = 'InvalidSpec', headers: Record<string, string> = json, path = '/v1/workspaces/{id}'): void => {
    cases.push({ kind: 'http', category, method: 'PUT', path, headers, body, expect });
  };
  const putSpec = (category: string, spec: Json, expect = 'InvalidSpec'): void => {
    put(category, JSON.stringify(spec), expect);
  };

  // Invalid JSON: every proper prefix of a full spec, and hand-written breakage.
  const full = JSON.stringify({
    ...base, username: 'coder', hostname: 'dev-1', workdir: '/home/coder', env: { FOO: 'bar', EMPTY: '' },
    resources: { cpus: 1.5, memoryBytes: 268435456 }, home: { volume: 'h-vol', path: '/home/coder' }, dockerData: { volume: 'd-vol' },
    mounts: [{ source: ctx.allowedRoot, target: '/shared', readOnly: true }], devices: { fuse: false, tun: false },
    restartPolicy: 'on-failure', bootstrap: { script: '#!/bin/sh\necho "hi"\n' },
  });
  for (let n = 1; n < full.length; n++) put('invalid JSON', full.slice(0, n), 'InvalidRequest');
  for (const text of [
    '{', '}', '{"image":}', "{'image':'x'}", '{"image":"x",}', '{"image" "x"}', '[1,2', 'nul', 'NaN', 'undefined',
    '{"image":"x"}}', '{"image":"x"} {}', '\u0000', '{"image":"\\x41"}', '{"image":"\\u12"}', '{"image":01}',
    '{"image":"x"', '{"image":"x\n"}', '{image:"x"}', '{"image":"x",,"cvm":true}', '\ufeff{"image":"x"}', '{"a":-}',
    '{"image":"x"}\u0000', '{"image":.5}', '{"image":+1}', '{"image":Infinity}', '{"image":"x"/*c*/}',
  ]) {
    put('invalid JSON', text, 'InvalidRequest');
  }

  // Wrong types, field by field; and bodies that are not objects.
  for (const [field, type] of FIELDS) {
    for (const value of WRONG_VALUES[type] ?? []) putSpec('wrong types', withField(base, field, value));
  }
  for (const body of ['5', '"x"', '[]', 'null', 'true', '[{"image":"x"}]']) put('wrong types', body);

  // Huge bodies: past the 1 MiB limit, in several fields.
  const big = (n: number): string => 'a'.repeat(n);
  for (const size of [1024 * 1024 + 1, 2 * 1024 * 1024, 8 * 1024 * 1024]) {
    put('huge bodies', JSON.stringify({ ...base, image: big(size) }), 'PayloadTooLarge');
    put('huge bodies', JSON.stringify({ ...base, bootstrap: { script: big(size) } }), 'PayloadTooLarge');
  }
  put('huge bodies', JSON.stringify({ ...base, env: Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`V${i}`, big(16)])) }), 'PayloadTooLarge');
  // Under the limit but past the schema's own bounds.
  putSpec('huge bodies', { ...base, image: big(1025) });
  putSpec('huge bodies', { ...base, mounts: Array.from({ length: 65 }, (_, i) => ({ source: ctx.allowedRoot, target: `/m${i}` })) });
  putSpec('huge bodies', { ...base, hostname: big(254) });

  // Deep nesting, where a string, a number or an object belongs.
  for (const depth of [64, 1000, 10_000, 100_000]) {
    put('deep nesting', `{"image":${nested(depth, '[', ']', '"x"')}}`);
    put('deep nesting', `{"image":"${ctx.image}","env":{"A":${nested(depth, '{"a":', '}', '1')}}}`);
    put('deep nesting', `{"image":"${ctx.image}","cvm":false,"deep":${nested(depth, '[', ']', '')}}`);
    put('deep nesting', `{"image":"${ctx.image}","resources":{"cpus":${nested(depth, '[', ']', '1')}}}`);
  }

  // Unicode and NUL where names, paths and references go.
  for (const bad of ['\u0000', 'a\u0000b', 'é', '用户', '\u202e', '\ud800', '😀', '\u200b', 'a\u0085', 'Ａ']) {
    putSpec('unicode and NUL', { ...base, image: `${ctx.image}${bad}` });
    putSpec('unicode and NUL', { ...base, username: `coder${bad}` });
    putSpec('unicode and NUL', { ...base, hostname: `dev${bad}` });
    putSpec('unicode and NUL', { ...base, env: { [`NAME${bad}`]: 'v' } });
    putSpec('unicode and NUL', { ...base, home: { volume: `vol${bad}` } });
  }
  for (const bad of ['\u0000', 'a\u0000b', '\u0001', '\u007f', '\u0085', '\n']) {
    putSpec('unicode and NUL', { ...base, workdir: `/home/${bad}` });
    putSpec('unicode and NUL', { ...base, home: { path: `/home/${bad}` } });
    putSpec('unicode and NUL', { ...base, mounts: [{ source: `${ctx.allowedRoot}/${bad}`, target: '/x' }] });
    putSpec('unicode and NUL', { ...base, mounts: [{ source: ctx.allowedRoot, target: `/x${bad}` }] });
  }
  // Env values may hold any character but NUL and newline (API.md).
  for (const bad of ['\u0000', 'a\u0000b', '\n', '\r\n', 'a\u2028\nb']) putSpec('unicode and NUL', { ...base, env: { FOO: `v${bad}` } });

  // Traversal in mount paths, symlink escapes, and paths that are never allowed.
  for (const target of ['/var/run/docker.sock', '/run/docker.sock', '/etc/shadow', '/proc/1/root', '/', '/var/lib/docker', ...ctx.daemonFiles]) {
    const up = '../'.repeat(8);
    for (const source of [
      `${ctx.allowedRoot}/${up}${target.slice(1)}`, `${ctx.allowedRoot}/./../${target.slice(1)}`, `${ctx.allowedRoot}//..//${target.slice(1)}`,
      `${ctx.allowedRoot}/../${up}${target.slice(1)}/`, `${ctx.allowedRoot}/%2e%2e/%2e%2e/${target.slice(1)}`,
    ]) {
      putSpec('traversal and symlinks', { ...base, mounts: [{ source, target: '/mnt/x' }] });
    }
  }
  for (const link of ctx.escapeLinks) {
    putSpec('traversal and symlinks', { ...base, mounts: [{ source: `${ctx.allowedRoot}/${link}`, target: '/mnt/x' }] });
    putSpec('traversal and symlinks', { ...base, mounts: [{ source: `${ctx.allowedRoot}/${link}`, target: '/mnt/x', readOnly: true }] });
  }
  for (const source of ['/', '/proc', '/proc/self/root', '/sys', '/sys/fs/cgroup', '/dev', '/dev/mem', '/etc', '/run', '/var/run',
    '/var/run/docker.sock', '/run/containerd/containerd.sock', '/var/lib/docker', '/var/lib/docker/volumes', '/var', '/var/lib', ...ctx.daemonFiles]) {
    putSpec('forbidden mounts', { ...base, mounts: [{ source, target: '/mnt/x' }] });
  }
  for (const target of ['/', '/proc', '/proc/sys', '/sys', '/sys/fs/cgroup', '/dev', '/dev/shm', '/mnt/../proc', '/mnt/', 'relative']) {
    putSpec('forbidden mounts', { ...base, mounts: [{ source: ctx.allowedRoot, target }] });
  }
  for (const path of ['/', '/proc', '/dev/x', 'home']) putSpec('forbidden mounts', { ...base, home: { path } });
  // Protected in host terms: the kubelet (every pod's secrets), containerd, sysbox, system files.
  for (const source of ['/var/lib/kubelet', '/var/lib/kubelet/pods', '/var/lib/containerd', '/run/containerd', '/var/lib/sysbox', '/run/sysbox',
    '/usr', '/usr/lib', '/boot', '/root', '/lib/modules']) {
    putSpec('forbidden mounts', { ...base, mounts: [{ source, target: '/mnt/x' }] });
  }
  // The engine's data root, from under an allowed root.
  for (const source of [ctx.engineRoot, `${ctx.engineRoot}/volumes`, `${ctx.engineRoot}/containers`, `${ctx.engineRoot}/overlay2`]) {
    putSpec('engine data root', { ...base, mounts: [{ source, target: '/mnt/x' }] });
    putSpec('engine data root', { ...base, mounts: [{ source, target: '/mnt/x', readOnly: true }] });
  }

  // Named volumes the daemon did not make for the workspace, and one volume for two purposes.
  for (const { volume, id } of ctx.foreignVolumes) {
    for (const spec of [{ ...base, home: { volume } }, { ...base, home: { volume, path: '/home/coder' } }, { ...base, dockerData: { volume } }]) {
      put('named volumes', JSON.stringify(spec), 'InvalidSpec', json, `/v1/workspaces/${id ?? '{id}'}`);
    }
  }
  putSpec('named volumes', { ...base, home: { volume: 'cvm-same' }, dockerData: { volume: 'cvm-same' } });

  // Invalid image references: empty, spaced, control characters, non-ASCII.
  for (const image of ['', ' ', `${ctx.image} `, ` ${ctx.image}`, 'a b', 'busybox\tlatest', 'busybox\r\n', 'bücher', `${ctx.image}\u0000`, 'x'.repeat(1025)]) {
    putSpec('invalid image references', { ...base, image });
  }

  // Env names and values with '=' or newlines.
  for (const name of ['A=B', '=A', 'A=', 'A B', 'A\nB', 'A-B', '1A', '', 'A.B', 'A\u0000', '$A', 'A;rm -rf /']) {
    putSpec('env names and values', { ...base, env: { [name]: 'v' } });
  }
  for (const value of ['a\nb', '\n', 'a\r\nb', 'a\u0000', '\u0000', 'x\nLD_PRELOAD=/tmp/evil.so']) {
    putSpec('env names and values', { ...base, env: { FOO: value } });
  }

  // Negative or absurd resources.
  for (const cpus of [-1, 0, -0.5, 1025, 1e9, 1e308]) putSpec('absurd resources', { ...base, resources: { cpus } });
  for (const memoryBytes of [-1, 0, 1, 6 * 1024 * 1024 - 1, 1.5, 1e30, 2 ** 64, -(2 ** 63)]) putSpec('absurd resources', { ...base, resources: { memoryBytes } });
  put('absurd resources', `{"image":"${ctx.image}","resources":{"cpus":1e999}}`);
  put('absurd resources', `{"image":"${ctx.image}","resources":{"memoryBytes":-1e999}}`);

  // Unknown fields: privileged knobs and prototype names, at the top and inside each object.
  for (const name of ['privileged', 'Privileged', 'HostConfig', 'capAdd', 'CapAdd', 'securityOpt', 'network', 'networkMode', 'pidMode', 'runtime',
    'devicesHost', 'binds', 'Binds', '__proto__', 'constructor', 'prototype', 'id', 'user', 'entrypoint', 'volumesFrom']) {
    putSpec('unknown fields', { ...base, [name]: true });
  }
  for (const [where, value] of [
    ['resources', { cpus: 1, pids: 10 }], ['home', { volume: 'v', driver: 'nfs' }], ['dockerData', { volume: 'v', device: '/dev/sda' }],
    ['devices', { fuse: true, kvm: true }], ['devices', { all: true }], ['gpus', { enabled: false, driver: 'nvidia' }],
    ['pullAuth', { dockerConfigJson: '{}', registry: 'x' }], ['bootstrap', { script: 'x', user: 'root' }],
  ] as [string, Json][]) {
    putSpec('unknown fields', { ...base, [where]: value });
  }
  putSpec('unknown fields', { ...base, mounts: [{ source: ctx.allowedRoot, target: '/x', propagation: 'rshared' }] });
  put('unknown fields', `{"image":"${ctx.image}","cvm":false,"__proto__":{"privileged":true}}`);

  // Header abuse: auth, content types, ids in the URL, methods, queries, malformed HTTP.
  const goodBody = JSON.stringify(base);
  let addresses = 0;
  /** A loopback address of its own for a case that fails auth (127.1.0.1, 127.1.0.2, ...). */
  const ownAddress = (): string => {
    addresses += 1;
    return `127.1.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
  };
  const unauthorized = (authorization: string | undefined, category = 'header abuse'): void => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) };
    cases.push({ kind: 'http', category, method: 'PUT', path: '/v1/workspaces/{id}', headers, body: goodBody, expect: 'Unauthorized', from: ownAddress() });
  };
  for (const authorization of ['', 'Bearer', 'Bearer ', `Bearer ${ctx.token}x`, `Bearer ${ctx.token.slice(0, -1)}`, `Basic ${ctx.token}`, ctx.token,
    `Bearer ${'a'.repeat(8000)}`, `Bearer ${ctx.token} ${ctx.token}`, `Bearer\t${ctx.token}x`, 'Bearer null', 'Bearer undefined', `Token ${ctx.token}`]) {
    unauthorized(authorization);
  }
  unauthorized(undefined);

  // Tokens that are never valid, whatever the file says: short ones and known placeholders.
  for (const token of ['a', 'changeme', 'token', 'secret', 'x'.repeat(31), 'REPLACE-WITH-A-LONG-RANDOM-TOKEN', 'replace-with-a-long-random-token', ctx.token.toUpperCase()]) {
    unauthorized(`Bearer ${token}`, 'tokens and auth headers');
  }
  // Malformed Authorization headers: other schemes, stray separators, the token split or doubled, other encodings.
  for (const authorization of [`Bearer  ${ctx.token}x`, `Bearer ${ctx.token};`, `Bearer ${ctx.token},`, `Bearer "${ctx.token}"`, `Bearer=${ctx.token}`,
    `Bearer:${ctx.token}`, `${ctx.token} Bearer`, `Bearer ${Buffer.from(ctx.token).toString('base64')}`, `Bearer ${encodeURIComponent(`${ctx.token} `)}`,
    `Bearer ${ctx.token.slice(0, 16)} ${ctx.token.slice(16)}`, `Bearer ${ctx.token},Bearer ${ctx.token}`, `Digest ${ctx.token}`, `Bearer ${'%00'.repeat(20)}`]) {
    unauthorized(authorization, 'tokens and auth headers');
  }
  const raw = (text: string, expect: string, from?: string, category = 'tokens and auth headers'): void => {
    cases.push({ kind: 'raw', category, text, expect, ...(from !== undefined && { from }) });
  };
  const request = (authorization: string, close = false): string =>
    `GET /v1/workspaces HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  // Bytes no client library sends: NUL, non-Latin-1, a second Authorization header (Node keeps the first).
  raw(request(`Bearer ${ctx.token}\u0000`, true), 'HTTP400', ownAddress());
  raw(request(`Bearer ${ctx.token}\u00a0`, true), 'Unauthorized', ownAddress());
  raw(`GET /v1/workspaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nAuthorization: Bearer ${ctx.token}\r\nConnection: close\r\n\r\n`, 'Unauthorized', ownAddress());
  // Huge headers: an Authorization header past Node's 16 KiB header limit.
  raw(request(`Bearer ${'a'.repeat(20_000)}`, true), 'HTTP431', ownAddress());
  // Many failed auths on one connection: the 11th wrong token in a minute gets 429, and so does the right token after it.
  raw(`${Array.from({ length: 11 }, (_, i) => request(`Bearer guess-${String(i)}-${'0'.repeat(32)}`)).join('')}${request(`Bearer ${ctx.token}`, true)}`, 'TooManyRequests', ownAddress());
  // fastify parses text/plain as a string, which the schema then refuses as not an object.
  put('header abuse', goodBody, 'InvalidSpec', { ...auth, 'content-type': 'text/plain' });
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/xml', 'text/json']) {
    put('header abuse', goodBody, 'UnsupportedMediaType', { ...auth, 'content-type': type });
  }
  const badIds = ['A', 'a_b', 'a.b', '-a', 'a-', 'x'.repeat(64), '%2e%2e', '%00', 'a%00b', '%C3%A9', '%F0%9F%98%80', 'a%20b', '%2F', '..%2F..%2Fetc', '%0a', 'con%3A'];
  for (const id of badIds) put('header abuse', goodBody, 'InvalidRequest', json, `/v1/workspaces/${id}`);
  for (const path of ['/v1/workspaces/../../etc/passwd', '/v1/workspaces/a/b', '/v1/workspaces//', '/v1//workspaces/x', '/v1/workspaces/x/exec']) {
    put('header abuse', goodBody, 'NotFound', json, path);
  }
  for (const [method, path] of [['PATCH', '/v1/workspaces/{id}'], ['POST', '/v1/workspaces/{id}'], ['PUT', '/v1/node'], ['DELETE', '/v1/workspaces'],
    ['POST', '/v1/workspaces/{id}/exec'], ['GET', '/v1/workspaces/{id}/../../node']] as const) {
    cases.push({ kind: 'http', category: 'header abuse', method, path, headers: json, body: goodBody, expect: 'NotFound' });
  }
  for (const query of ['purge=maybe', 'purge=1x', 'purge=']) {
    cases.push({ kind: 'http', category: 'header abuse', method: 'DELETE', path: `/v1/workspaces/{id}?${query}`, headers: auth, expect: 'InvalidRequest' });
  }
  for (const query of ['follow=2', 'follow=yes']) {
    cases.push({ kind: 'http', category: 'header abuse', method: 'GET', path: `/v1/workspaces/{id}/events?${query}`, headers: auth, expect: 'InvalidRequest' });
  }
  const head = `Authorization: Bearer ${ctx.token}\r\nHost: x\r\n`;
  const abuse = (text: string, expect: string): void => {
    raw(text, expect, undefined, 'header abuse');
  };
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}X-Bad\u0000Name: 1\r\n\r\n`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}X-Bad: a\u0000b\r\n\r\n`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}X-Huge: ${'a'.repeat(20_000)}\r\n\r\n`, 'HTTP431');
  abuse(`GET /v1/workspaces/${'a'.repeat(20_000)} HTTP/1.1\r\n${head}\r\n`, 'HTTP431');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`, 'HTTP431');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 'HTTP400');
  abuse('GARBAGE\r\n\r\n', 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/9.9\r\n${head}\r\n`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id}\u0000 HTTP/1.1\r\n${head}\r\n`, 'HTTP400');
  abuse(`PUT /v1/workspaces/{id} HTTP/1.1\r\n${head} folded: header\r\n\r\n`, 'HTTP400');
  return cases;
}
