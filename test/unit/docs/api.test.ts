/**
 * docs/api.md against the app's own /openapi.json: every route there has a `### METHOD /path` section and every
 * section is a route the app serves; each section has a curl example of its route and an answer; every example
 * body validates against the route's request schema and every JSON (or NDJSON) answer against the schema of its
 * status. The app is built over an engine that is never reached: /openapi.json needs none.
 */
import { readFile } from 'node:fs/promises';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/engine/types.js';
import { type ApiUnderTest, buildApiUnderTest } from '../../support/api.js';

interface Schema {
  content?: Record<string, { schema: object }>;
}
interface Operation {
  requestBody?: Schema;
  responses: Record<string, Schema>;
}
type OpenApiPaths = Record<string, Record<string, Operation>>;

interface Example {
  /** "body" for a request body; else the answer's status. */
  label: string;
  language: string;
  text: string;
}
interface Section {
  route: string;
  method: string;
  path: string;
  curls: { method: string; path: string }[];
  examples: Example[];
}

/** Routes the app serves outside the document it serves. */
const UNDOCUMENTED_BY_OPENAPI = ['GET /openapi.json'];

const neverReached = new Proxy({} as Engine, {
  get: (_target, property) => (property === 'then' ? undefined : () => Promise.reject(new Error(`engine.${String(property)}: not reachable in this test`))),
});

/** The route sections of the page: `### METHOD /path`, up to the next heading of level 2 or 3. */
function sections(markdown: string): Section[] {
  const parts = markdown.split(/^(?=#{2,3} )/m);
  return parts.flatMap((part) => {
    const heading = /^### (GET|PUT|POST|DELETE) (\/\S*)\n/.exec(part);
    if (!heading) return [];
    const [, method = '', path = ''] = heading;
    const blocks = [...part.matchAll(/^([^\n]*)\n\n```(\w+)\n([\s\S]*?)\n```/gm)];
    const curls = blocks
      .filter(([, , language]) => language === 'sh')
      .flatMap(([, , , text = '']) => text.replaceAll('\\\n', ' ').split('\n').filter((line) => line.trimStart().startsWith('curl ')))
      .map((line) => ({ method: /-X (\w+)/.exec(line)?.[1] ?? 'GET', path: (/\$API(\/[^\s"'?]*)/.exec(line)?.[1] ?? '') }));
    const examples = blocks.flatMap(([, lead = '', language = '', text = '']) => {
      if (lead.startsWith('Request body')) return [{ label: 'body', language, text }];
      const status = /^Answer `(\d{3})`/.exec(lead)?.[1];
      return status ? [{ label: status, language, text }] : [];
    });
    return [{ route: `${method} ${path}`, method, path, curls, examples }];
  });
}

/** Whether a concrete path (/v1/workspaces/dev-1) is an instance of a route's path (/v1/workspaces/{id}). */
function matches(routePath: string, concrete: string): boolean {
  const pattern = routePath.split(/\{[^}]+\}/).map((piece) => piece.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[a-z0-9-]+');
  return new RegExp(`^${pattern}$`).test(concrete);
}

let api: ApiUnderTest;
let paths: OpenApiPaths;
let page: Section[];
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);

function validator(schema: object): ValidateFunction {
  return ajv.compile(schema);
}

beforeAll(async () => {
  api = await buildApiUnderTest({ engine: neverReached });
  const res = await api.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  paths = res.json<{ paths: OpenApiPaths }>().paths;
  page = sections(await readFile(new URL('../../../docs/api.md', import.meta.url), 'utf8'));
});

afterAll(async () => {
  await api.close();
});

describe('docs/api.md against /openapi.json', () => {
  it('describes every route of the OpenAPI document, and no route the app does not serve', () => {
    const served = Object.entries(paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    const described = page.map((section) => section.route);
    expect(new Set(described).size, 'each route once').toBe(described.length);
    expect(described.sort()).toEqual([...served, ...UNDOCUMENTED_BY_OPENAPI].sort());
  });

  it('shows each route with a curl of that route and an answer', () => {
    for (const section of page) {
      expect(section.curls.length, `${section.route}: a curl example`).toBeGreaterThan(0);
      for (const curl of section.curls) {
        expect(curl.method, section.route).toBe(section.method);
        expect(matches(section.path, curl.path), `${section.route}: curl of ${curl.path}`).toBe(true);
      }
      expect(section.examples.filter((e) => e.label !== 'body').length, `${section.route}: an answer`).toBeGreaterThan(0);
    }
  });

  it('has example bodies that validate against the route\'s request schema, and a PUT with one', () => {
    const bodies = page.flatMap((section) => section.examples.filter((e) => e.label === 'body').map((e) => ({ section, e })));
    expect(bodies.some(({ section }) => section.method === 'PUT')).toBe(true);
    for (const { section, e } of bodies) {
      const schema = paths[section.path]?.[section.method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema;
      expect(schema, `${section.route} takes a JSON body`).toBeDefined();
      const validate = validator(schema ?? {});
      expect(validate(JSON.parse(e.text)), `${section.route} body: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it('has answers of statuses the route documents, each JSON answer valid against its schema', () => {
    let validated = 0;
    for (const section of page) {
      const operation = paths[section.path]?.[section.method.toLowerCase()];
      for (const e of section.examples.filter((example) => example.label !== 'body')) {
        if (!operation) continue; // the routes outside the document (UNDOCUMENTED_BY_OPENAPI)
        const response = operation.responses[e.label];
        expect(response, `${section.route}: status ${e.label} is documented in /openapi.json`).toBeDefined();
        const content = response?.content ?? {};
        const documents = e.language === 'ndjson' ? e.text.split('\n') : e.language === 'json' ? [e.text] : [];
        const schema = (e.language === 'ndjson' ? content['application/x-ndjson'] : content['application/json'])?.schema;
        if (documents.length > 0) expect(schema, `${section.route} ${e.label}: a schema for ${e.language}`).toBeDefined();
        for (const document of documents) {
          const validate = validator(schema ?? {});
          expect(validate(JSON.parse(document)), `${section.route} ${e.label}: ${ajv.errorsText(validate.errors)}`).toBe(true);
          validated++;
        }
      }
    }
    expect(validated).toBeGreaterThan(page.length);
  });

  it('would catch an answer that breaks its schema', () => {
    const schema = paths['/v1/workspaces/{id}']?.['get']?.responses['200']?.content?.['application/json']?.schema ?? {};
    const validate = validator(schema);
    expect(validate({ id: 'dev-1', phase: 'booting' })).toBe(false);
  });
});
