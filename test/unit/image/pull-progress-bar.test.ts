import { describe, expect, it } from 'vitest';
import { drawPullProgress, renderProgressBar } from '../../../src/image/pull-progress-bar.js';
import { EventLog } from '../../../src/lifecycle/event-log.js';

describe('renderProgressBar', () => {
  it.each([
    [0, 30e6, `[${'-'.repeat(30)}]   0%  0.0 MB / 30.0 MB`],
    [10e6, 30e6, `[${'#'.repeat(10)}${'-'.repeat(20)}]  33%  10.0 MB / 30.0 MB`],
    [30e6, 30e6, `[${'#'.repeat(30)}] 100%  30.0 MB / 30.0 MB`],
    [0, 0, `[${'#'.repeat(30)}] 100%  0.0 MB / 0.0 MB`],
  ])('%d of %d', (done, total, text) => {
    expect(renderProgressBar(done, total)).toBe(text);
  });
});

describe('drawPullProgress', () => {
  it('redraws one line for each progress event and ends it when the pull is over', () => {
    const log = new EventLog();
    let out = '';
    drawPullProgress(log, (text) => (out += text), 'ws');
    log.append('pull', 'pulling x anonymously');
    log.append('pull', '5/10 bytes (50%)', { done: 5e6, total: 10e6, percent: 50 });
    log.append('pull', '10/10 bytes (100%)', { done: 10e6, total: 10e6, percent: 100 });
    log.append('pull', 'pulled x', { imageId: 'sha256:1' });
    log.append('pull', '1/1 bytes (100%)', { done: 1, total: 1, percent: 100 });
    expect(out).toBe(`\rws ${renderProgressBar(5e6, 10e6)}\rws ${renderProgressBar(10e6, 10e6)}\n`);
    expect(log.listenerCount).toBe(0);
  });

  it('draws nothing and stops listening when the workspace moves on without a pull', () => {
    const log = new EventLog();
    let out = '';
    drawPullProgress(log, (text) => (out += text), 'ws');
    log.append('phase', 'pulling', { phase: 'pulling' });
    expect(log.listenerCount).toBe(1);
    log.append('phase', 'creating', { phase: 'creating' });
    expect(out).toBe('');
    expect(log.listenerCount).toBe(0);
  });

  it('ends the line when the pull fails', () => {
    const log = new EventLog();
    let out = '';
    drawPullProgress(log, (text) => (out += text), 'ws');
    log.append('pull', '5/10 bytes (50%)', { done: 5e6, total: 10e6, percent: 50 });
    log.append('failure', 'ImageNotFound');
    expect(out).toBe(`\rws ${renderProgressBar(5e6, 10e6)}\n`);
    expect(log.listenerCount).toBe(0);
  });
});
