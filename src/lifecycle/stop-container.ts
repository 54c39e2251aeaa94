/**
 * Stopping a workspace's container: the engine's stop, helped along for systemd, and the stop timeout that keeps a
 * shutdown within the daemon's deadline.
 */
import { SYSTEMD_STOP_SIGNAL } from '../container/container-spec.js';
import type { EngineContainers } from '../engine/types.js';

/** How often a systemd workspace being stopped is sent SIGRTMIN+3 again (see stopContainer). */
const STOP_SIGNAL_REPEAT_MS = 1000;

/** What the engine needs after its SIGKILL (sysbox's teardown included) before the daemon's deadline. */
const KILL_MARGIN_SECONDS = 3;

/**
 * The stop timeout that makes the engine SIGKILL before `deadline`: undefined when the container's own StopTimeout
 * (`own`, null when unknown) already ends in time. A systemd workspace's 30 s is longer than the default shutdown
 * grace (25 s): a systemd slow to halt would otherwise outlive the daemon's budget, still running when it exits 1.
 */
export function killBefore(deadline: number, own: number | null): number | undefined {
  const left = Math.floor((deadline - Date.now()) / 1000) - KILL_MARGIN_SECONDS;
  return own !== null && own <= left ? undefined : Math.max(left, 1);
}

/**
 * The engine's stop: the container's own StopSignal, then SIGKILL after `timeoutSeconds` or, without it, after the
 * container's StopTimeout (30 s for systemd). A PID namespace's init receives a signal from outside only once it
 * blocks or handles it, and systemd does so a moment after it starts: a SIGRTMIN+3 sent before is dropped, and the
 * stop would sit out the whole timeout and end in SIGKILL. So a systemd container is sent SIGRTMIN+3 again every
 * second until it has stopped.
 */
export async function stopContainer(
  engine: Pick<EngineContainers, 'stopContainer' | 'signalContainer'>,
  containerId: string,
  stopSignal: string | null,
  timeoutSeconds?: number,
): Promise<void> {
  if (stopSignal !== SYSTEMD_STOP_SIGNAL) {
    await engine.stopContainer(containerId, timeoutSeconds);
    return;
  }
  const again = setInterval(() => {
    // Best effort: the stop itself reports what matters, and a container that just stopped answers 409.
    engine.signalContainer(containerId, stopSignal).catch(() => undefined);
  }, STOP_SIGNAL_REPEAT_MS);
  try {
    await engine.stopContainer(containerId, timeoutSeconds);
  } finally {
    clearInterval(again);
  }
}
