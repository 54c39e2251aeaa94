/**
 * The PUT precheck as `serve` wires it (createManager over the fake engine): its reads of the engine and the node
 * run side by side, yet its refusal does not depend on which read finishes first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { WORKSPACE_LABEL } from '../../../src/container/labels.js';
import { createManager } from '../../../src/daemon/wiring.js';
import { EngineError } from '../../../src/engine/engine-errors.js';
import { InvalidSpecError } from '../../../src/errors.js';
import type { WorkspaceManager } from '../../../src/lifecycle/manager.js';
import { FakeEngine } from '../../support/fake-engine.js';

let dir: string;
let engine: FakeEngine;
let manager: WorkspaceManager;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cvm-unit-precheck-'));
  engine = new FakeEngine();
  manager = createManager(loadConfig(['--state-dir', path.join(dir, 'state')], {}), engine, pino({ level: 'silent' }));
  await manager.init();
});
afterEach(async () => {
  await manager.shutdown('keep');
  await rm(dir, { recursive: true, force: true });
});

it("refuses a volume that is another workspace's before the engine's failure to answer for the node, whichever came first", async () => {
  engine.volumes.set('theirs', { [WORKSPACE_LABEL]: 'other' });
  // The node's read fails at once; the volume's answer comes only after it.
  const volume = engine.hold('inspectVolume');
  engine.fail('info', new EngineError('info', 500, 'engine gone'));
  const put = manager.put('ws1', { image: 'registry.test/team/dev:1', home: { volume: 'theirs' } });
  await volume.reached;
  await new Promise((resolve) => setImmediate(resolve));
  volume.release();
  const refusal = await put.then(() => null, (err: unknown) => err);
  expect(refusal).toBeInstanceOf(InvalidSpecError);
  expect(refusal).toMatchObject({ path: 'home.volume' });
  expect(engine.callsOf('createContainer')).toEqual([]);
});
