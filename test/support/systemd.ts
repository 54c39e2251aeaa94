/** Waiting for systemd inside a running container, through the test engine's CLI (`docker exec`). */
import { docker } from './engine.js';

const RETRY_MS = 250;

/**
 * The state `systemctl is-system-running --wait` settles on (`running`, `degraded`, `maintenance`, ...). Until
 * systemd's bus is up the command fails at once or answers `offline`, so it is asked again until it answers; a
 * container that is not running, or no answer within `timeoutMs`, rejects.
 */
export async function systemState(container: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await docker(['exec', container, 'systemctl', 'is-system-running', '--wait'], Math.max(deadline - Date.now(), 1000));
    } catch (error) {
      // A degraded system answers "degraded" with exit status 1.
      const stdout = (error as { stdout?: string }).stdout?.trim() ?? '';
      if (stdout !== '' && stdout !== 'offline' && stdout !== 'starting' && stdout !== 'initializing') return stdout;
      const stderr = (error as { stderr?: string }).stderr ?? '';
      if (stderr.includes('is not running') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}
