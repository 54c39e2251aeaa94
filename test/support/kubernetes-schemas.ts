/**
 * Kubernetes manifests checked against the API's own schemas: the models of `kubernetes-models` (Kubernetes 1.33's
 * OpenAPI schemas compiled into validators) and, for the Prometheus Operator's ServiceMonitor (a CRD, in no
 * Kubernetes release), `@kubernetes-models/prometheus-operator` (the operator's CRD schemas).
 */

/** The Kubernetes release whose schemas `kubernetes-models` 4.5 carries; the README names it. */
export const KUBERNETES_VERSION = '1.33';
export const MODELS_RELEASE = '4.5.';

interface ErrorObject {
  instancePath: string;
  message?: string;
}
type ModelClass = new (data: unknown) => { validate(): void };

function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** The model (schema) of a kind, or an error naming what has none. */
export async function modelOf(apiVersion: string, kind: string): Promise<ModelClass> {
  let module: Record<string, unknown>;
  try {
    module = (await import(modelModule(apiVersion))) as Record<string, unknown>;
  } catch {
    throw new Error(`no schemas for apiVersion ${apiVersion}`);
  }
  const model = module[kind];
  if (typeof model !== 'function') throw new Error(`no schema for ${kind} in ${apiVersion}`);
  return model as ModelClass;
}

function validationErrors(model: ModelClass, object: unknown): ErrorObject[] {
  try {
    new model(object).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: ErrorObject[] }).errors;
    if (!Array.isArray(errors)) throw error;
    return errors;
  }
}

/** What the schema refuses, one "path message" line each; empty when the object is valid. */
export function schemaErrors(model: ModelClass, object: unknown): string[] {
  return validationErrors(model, object).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim());
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The path of every object field, depth first. */
function fieldPaths(value: Json, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => fieldPaths(item, [...path, index]));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [[...path, key], ...fieldPaths(child, [...path, key])]);
}

/** As ajv writes instancePath (RFC 6901: "~" as "~0", "/" as "~1"). */
function jsonPointer(path: (string | number)[]): string {
  return path.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

function withValueAt(object: Json, path: (string | number)[], replacement: Json): Json {
  const copy = structuredClone(object);
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  parent[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/**
 * Fields the schema does not know, which the API server refuses under kubectl's default strict field validation
 * while the OpenAPI validators let them through (their objects leave additionalProperties open). Each field is
 * probed: with its value replaced by NaN, which no typed schema accepts, a field the schema knows fails at its own
 * path; one that fails nowhere is unknown (or typed "anything", which no field of these manifests is).
 */
export function unknownFields(model: ModelClass, object: unknown): string[] {
  const json = object as Json;
  return fieldPaths(json)
    .map((path) => ({ path, pointer: jsonPointer(path) }))
    .filter(({ path, pointer }) => {
      const errors = validationErrors(model, withValueAt(json, path, Number.NaN));
      return !errors.some((e) => e.instancePath === pointer || e.instancePath.startsWith(`${pointer}/`));
    })
    .map(({ pointer }) => pointer);
}
