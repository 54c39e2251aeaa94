/**
 * deploy/kubernetes/: every manifest is read as kubectl reads it (YAML 1.1), validated against the Kubernetes API
 * schemas with no field they do not know (test/support/kubernetes-schemas.ts; no cluster), and checked for the
 * fields that matter for the daemon: privileged, commented hostPath mounts, probes on the daemon's routes, a grace
 * period above --shutdown-grace, requests, the token Secret as a file, the Downward API limits, scraping, how the
 * control plane reaches each daemon, and a NetworkPolicy that admits only it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMap, isSeq, parseAllDocuments, type Document } from 'yaml';
import { KUBERNETES_VERSION, MODELS_RELEASE, modelOf, schemaErrors, unknownFields } from '../../support/kubernetes-schemas.js';
import { ENVBOX_VARIABLES } from '../../../src/config/envbox.js';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';
import { parseListen } from '../../../src/config/values.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const manifestDir = join(repoRoot, 'deploy/kubernetes/');

interface Manifest {
  file: string;
  doc: Document;
  /** The same document as a YAML 1.2 reader (kustomize, many editors) sees it. */
  asYaml12: unknown;
  object: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: Record<string, unknown>;
  } & Record<string, unknown>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string; containerName?: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: { privileged?: boolean };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string; defaultMode?: number };
}
interface PodSpec {
  containers: Container[];
  volumes: Volume[];
  terminationGracePeriodSeconds?: number;
}

const manifests: Manifest[] = [];

function only(kind: string): Manifest {
  const found = manifests.filter((m) => m.object.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as Manifest;
}

/** The pod spec of a Pod or a DaemonSet, and where it sits in the YAML document. */
function podOf(manifest: Manifest): { spec: PodSpec; path: string[]; labels: Record<string, string>; annotations: Record<string, string> } {
  const template = manifest.object.kind === 'Pod' ? null : (manifest.object.spec?.['template'] as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec });
  if (template) return { spec: template.spec, path: ['spec', 'template', 'spec'], labels: template.metadata.labels, annotations: template.metadata.annotations ?? {} };
  return { spec: manifest.object.spec as unknown as PodSpec, path: ['spec'], labels: manifest.object.metadata.labels ?? {}, annotations: manifest.object.metadata.annotations ?? {} };
}

function envOf(container: Container): Map<string, EnvVar> {
  return new Map((container.env ?? []).map((e) => [e.name, e]));
}

function daemonContainer(spec: PodSpec): Container {
  const container = spec.containers.find((c) => c.name === 'cvm-supervisor');
  if (!container) throw new Error('no container named cvm-supervisor');
  return container;
}

/** The comment written above each volume (yaml attaches the first item's comment to the sequence). */
function volumeComments(manifest: Manifest, path: string[]): Map<string, string> {
  const volumes = manifest.doc.getIn([...path, 'volumes'], true);
  if (!isSeq(volumes)) throw new Error(`${manifest.file}: volumes is not a list`);
  return new Map(
    volumes.items.map((item, index) => {
      if (!isMap(item)) throw new Error(`${manifest.file}: a volume is not a mapping`);
      const comment = item.commentBefore ?? (index === 0 ? volumes.commentBefore : undefined) ?? '';
      return [String(item.get('name')), comment.trim()];
    }),
  );
}

beforeAll(async () => {
  const entries = await readdir(manifestDir);
  for (const entry of entries) {
    if ((await stat(join(manifestDir, entry))).isDirectory()) throw new Error(`deploy/kubernetes/${entry}: no subfolders`);
  }
  for (const file of entries.filter((f) => f.endsWith('.yaml')).sort()) {
    const text = await readFile(join(manifestDir, file), 'utf8');
    // kubectl reads YAML 1.1 (sigs.k8s.io/yaml), where 0400 is octal and yes/no are booleans.
    const docs = parseAllDocuments(text, { version: '1.1' });
    const docs12 = parseAllDocuments(text, { version: '1.2' });
    if (!Array.isArray(docs) || !Array.isArray(docs12)) throw new Error(`${file}: not a YAML stream`);
    docs.forEach((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      manifests.push({ file, doc, asYaml12: docs12[index]?.toJS(), object: doc.toJS() as Manifest['object'] });
    });
  }
});

describe(`deploy/kubernetes manifests against the Kubernetes ${KUBERNETES_VERSION} API schemas`, () => {
  it('are every Kubernetes manifest under deploy/', async () => {
    const yamlFiles = (await readdir(join(repoRoot, 'deploy'), { recursive: true })).filter((f) => /\.ya?ml$/.test(f));
    expect(yamlFiles.sort()).toEqual([...new Set(manifests.map((m) => join('kubernetes', m.file)))].sort());
  });

  it('validate against their kind\'s schema, with no field the schema does not know', async () => {
    for (const { file, object } of manifests) {
      const model = await modelOf(object.apiVersion, object.kind);
      expect(schemaErrors(model, object), `${file}: ${object.kind} ${object.metadata.name}`).toEqual([]);
      expect(unknownFields(model, object), `${file}: fields unknown to ${object.apiVersion} ${object.kind}`).toEqual([]);
    }
  });

  it('catch a wrong type, a missing required field, an unknown field and a kind without a schema', async () => {
    const daemonSet = only('DaemonSet').object;
    const model = await modelOf(daemonSet.apiVersion, daemonSet.kind);
    const spec = daemonSet.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
    const container = spec.template.spec.containers[0];
    const broken = (change: Record<string, unknown>) => ({ ...daemonSet, spec: { ...spec, template: { ...spec.template, spec: { ...spec.template.spec, containers: [{ ...container, ...change }] } } } });
    expect(schemaErrors(model, broken({ ports: [{ containerPort: '7070' }] }))).toEqual(['/spec/template/spec/containers/0/ports/0/containerPort must be integer']);
    expect(schemaErrors(model, { ...daemonSet, spec: { ...spec, selector: undefined } })).toEqual(['/spec must have required property selector']);
    expect(unknownFields(model, broken({ readOnlyRootFileSystem: true }))).toEqual(['/spec/template/spec/containers/0/readOnlyRootFileSystem']);
    const monitor = only('ServiceMonitor').object;
    const monitorModel = await modelOf(monitor.apiVersion, monitor.kind);
    expect(unknownFields(monitorModel, { ...monitor, spec: { ...monitor.spec, endpoint: [] } })).toEqual(['/spec/endpoint']);
    await expect(modelOf('apps/v1', 'DaemonSett')).rejects.toThrow('no schema for DaemonSett in apps/v1');
    await expect(modelOf('example.com/v1', 'Widget')).rejects.toThrow('no schemas for apiVersion example.com/v1');
  });

  it('are checked against the schemas of the Kubernetes version the README names', async () => {
    const models = JSON.parse(await readFile(join(repoRoot, 'node_modules/kubernetes-models/package.json'), 'utf8')) as { version: string };
    expect(models.version.startsWith(MODELS_RELEASE), `kubernetes-models ${models.version}: update KUBERNETES_VERSION and the README`).toBe(true);
    expect(await readFile(join(repoRoot, 'README.md'), 'utf8')).toContain(`Kubernetes ${KUBERNETES_VERSION}`);
  });

  it('read the same in YAML 1.1 (kubectl) and YAML 1.2: no octal modes or yes/no booleans that differ', () => {
    for (const { file, object, asYaml12 } of manifests) expect(asYaml12, file).toEqual(object);
  });
});

describe('deploy/kubernetes manifests', () => {
  it('are plain YAML objects in one namespace, each with apiVersion, kind and name', () => {
    expect(manifests.map((m) => m.object.kind).sort()).toEqual(
      ['DaemonSet', 'Namespace', 'NetworkPolicy', 'Pod', 'Secret', 'Service', 'ServiceMonitor'].sort(),
    );
    const namespace = only('Namespace').object.metadata.name;
    for (const { object, file } of manifests) {
      expect(object.apiVersion, file).toMatch(/^[a-z0-9./]+$/);
      expect(object.metadata.name, file).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
      if (object.kind !== 'Namespace') expect(object.metadata.namespace, file).toBe(namespace);
    }
    expect(only('Namespace').object.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  for (const kind of ['DaemonSet', 'Pod']) {
    describe(`the ${kind}`, () => {
      it('runs the daemon privileged, with probes on /healthz and /readyz at the port it listens on', () => {
        const { spec } = podOf(only(kind));
        const container = daemonContainer(spec);
        expect(container.args).toEqual(['serve']);
        expect(container.securityContext?.privileged).toBe(true);
        const listen = parseListen(envOf(container).get(OPTIONS.listen.env)?.value ?? '');
        expect(listen.host).toBe('0.0.0.0');
        const port = container.ports?.find((p) => p.containerPort === listen.port);
        expect(port?.name).toBeDefined();
        expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: port?.name });
        expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: port?.name });
      });

      it('gives Kubernetes a grace period above --shutdown-grace, and requests resources', () => {
        const { spec } = podOf(only(kind));
        const container = daemonContainer(spec);
        const grace = Number(envOf(container).get(OPTIONS.shutdownGrace.env)?.value ?? OPTIONS.shutdownGrace.default);
        expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(grace);
        expect(container.resources?.requests?.['cpu']).toBeDefined();
        expect(container.resources?.requests?.['memory']).toBeDefined();
      });

      it('mounts the engine socket, /usr/src, /lib/modules, the GPU host pieces and the home storage, each with a comment', () => {
        const manifest = only(kind);
        const { spec, path } = podOf(manifest);
        const container = daemonContainer(spec);
        const env = envOf(container);
        const hostPaths = spec.volumes.filter((v) => v.hostPath).map((v) => v.hostPath?.path);
        expect(hostPaths).toEqual(expect.arrayContaining(['/var/run/docker.sock', '/usr/src', '/lib/modules', '/dev', '/proc', '/sys', '/usr/lib', '/var/lib/coder']));
        const comments = volumeComments(manifest, path);
        for (const volume of spec.volumes) {
          expect(comments.get(volume.name), `volume ${volume.name} has no comment saying why`).not.toBe('');
          if (!volume.hostPath) continue;
          // Every hostPath is mounted, and the host pieces the daemon reads sit under --host-root.
          const mount = container.volumeMounts?.find((m) => m.name === volume.name);
          expect(mount, `volume ${volume.name} is mounted`).toBeDefined();
          const hostRoot = env.get(OPTIONS.hostRoot.env)?.value ?? '/';
          if (['/dev', '/proc', '/sys', '/usr/lib', '/usr/bin', '/var/lib/coder', '/var/lib/docker'].includes(volume.hostPath.path)) {
            expect(mount?.mountPath).toBe(join(hostRoot, volume.hostPath.path));
            expect(mount?.readOnly).toBe(true);
          }
        }
        const socketMount = container.volumeMounts?.find((m) => spec.volumes.find((v) => v.name === m.name)?.hostPath?.path === '/var/run/docker.sock');
        expect(`unix://${socketMount?.mountPath ?? ''}`).toBe(env.get(OPTIONS.dockerHost.env)?.value);
        for (const root of (env.get(OPTIONS.allowedMountRoots.env)?.value ?? '').split(',').filter(Boolean)) {
          expect(container.volumeMounts?.map((m) => m.mountPath), `allowed mount root ${root} is visible under the host root`).toContain(
            join(env.get(OPTIONS.hostRoot.env)?.value ?? '/', root),
          );
        }
      });

      it('sets only variables the daemon reads, each with a value it accepts', () => {
        const known = new Map(OPTION_KEYS.map((key) => [OPTIONS[key].env, OPTIONS[key]]));
        const envbox = new Set(ENVBOX_VARIABLES.map((v) => v.name));
        for (const variable of daemonContainer(podOf(only(kind)).spec).env ?? []) {
          const option = known.get(variable.name);
          expect(option !== undefined || envbox.has(variable.name), `${variable.name} is not a daemon option or envbox variable`).toBe(true);
          if (option && variable.value !== undefined) expect(() => option.parse(variable.value ?? ''), variable.name).not.toThrow();
        }
      });

      it('can be scraped (prometheus.io annotations on the pod)', () => {
        const { annotations, spec } = podOf(only(kind));
        expect(annotations['prometheus.io/scrape']).toBe('true');
        expect(annotations['prometheus.io/path']).toBe('/metrics');
        expect(daemonContainer(spec).ports?.map((p) => String(p.containerPort))).toContain(annotations['prometheus.io/port']);
      });
    });
  }

  describe('the token', () => {
    it('the DaemonSet mounts the token Secret as a file where --token-file points, read-only and not by subPath', () => {
      const { spec } = podOf(only('DaemonSet'));
      const container = daemonContainer(spec);
      const tokenFile = envOf(container).get(OPTIONS.tokenFile.env)?.value ?? '';
      const mount = container.volumeMounts?.find((m) => m.mountPath === dirname(tokenFile));
      expect(mount, `a mount at ${dirname(tokenFile)}`).toBeDefined();
      expect(mount?.readOnly).toBe(true);
      expect(mount?.subPath).toBeUndefined();
      const volume = spec.volumes.find((v) => v.name === mount?.name);
      const secret = only('Secret');
      expect(volume?.secret?.secretName).toBe(secret.object.metadata.name);
      // Shipped without a value: a token in a manifest is known to every reader (docs/security.md says how to fill it).
      expect(secret.object['stringData']).toBeUndefined();
      expect(secret.object['data']).toBeUndefined();
    });

    it('the workspace Pod serves probes only and gets no token (the node daemons\' token stays out of workspace pods)', () => {
      const { spec } = podOf(only('Pod'));
      const env = envOf(daemonContainer(spec));
      expect(env.get(OPTIONS.api.env)?.value).toBe('probes-only');
      expect(env.get(OPTIONS.tokenFile.env)).toBeUndefined();
      expect(spec.volumes.filter((v) => v.secret !== undefined)).toEqual([]);
    });
  });

  it('hands the pod limits to the envbox-style workspace through the Downward API', () => {
    const env = envOf(daemonContainer(podOf(only('Pod')).spec));
    expect(env.get('CODER_CPUS')?.valueFrom?.resourceFieldRef).toMatchObject({ resource: 'limits.cpu', containerName: 'cvm-supervisor' });
    expect(env.get('CODER_MEMORY')?.valueFrom?.resourceFieldRef).toMatchObject({ resource: 'limits.memory', containerName: 'cvm-supervisor' });
    expect(env.get('CODER_INNER_IMAGE')?.value).toBeTruthy();
    expect(env.get(OPTIONS.bootWorkspaceId.env)?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(OPTIONS.bootWorkspaceId.parse(only('Pod').object.metadata.name)).toBe(only('Pod').object.metadata.name);
  });

  it('gives each workspace pod its own instance on the shared engine: its namespace, with the workspace id its name', () => {
    const env = envOf(daemonContainer(podOf(only('Pod')).spec));
    expect(env.get(OPTIONS.instance.env)?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    const namespace = only('Pod').object.metadata.namespace ?? '';
    expect(OPTIONS.instance.parse(namespace)).toBe(namespace);
  });

  it('lets the control plane reach each node\'s daemon: a headless Service over the DaemonSet pods', () => {
    const service = only('Service').object.spec as { clusterIP: string; selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
    const { labels, spec } = podOf(only('DaemonSet'));
    expect(service.clusterIP).toBe('None');
    expect(labels).toMatchObject(service.selector);
    const port = daemonContainer(spec).ports?.find((p) => p.name === service.ports[0]?.targetPort);
    expect(port?.containerPort).toBe(service.ports[0]?.port);
  });

  it('admits only the control plane and Prometheus, on the API port, through a NetworkPolicy', () => {
    const policy = only('NetworkPolicy').object.spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: { from: { namespaceSelector?: unknown; podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] }[];
    };
    expect(policy.policyTypes).toEqual(['Ingress']);
    expect(podOf(only('DaemonSet')).labels).toMatchObject(policy.podSelector.matchLabels);
    expect(podOf(only('Pod')).labels).toMatchObject(policy.podSelector.matchLabels);
    expect(policy.ingress).toHaveLength(1);
    const [rule] = policy.ingress;
    expect(rule?.ports).toEqual([{ port: 7070, protocol: 'TCP' }]);
    // Every peer names both a namespace and pods in it: no peer admits a whole namespace or everything.
    for (const peer of rule?.from ?? []) {
      expect(peer.namespaceSelector).toBeDefined();
      expect(Object.keys(peer.podSelector?.matchLabels ?? {})).not.toHaveLength(0);
    }
    expect(rule?.from.map((peer) => peer.podSelector?.matchLabels['app.kubernetes.io/name'])).toEqual(['coder', 'prometheus']);
  });

  it('has a ServiceMonitor on the Service\'s named port and /metrics', () => {
    const monitor = only('ServiceMonitor').object.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    expect(only('Service').object.metadata.labels).toMatchObject(monitor.selector.matchLabels);
    expect(monitor.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
  });
});
