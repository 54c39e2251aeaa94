/**
 * The bootstrap script (normally the Coder agent). It is copied in before each start (copying into a running
 * sysbox container fails), so that a script changed or added since the last start is the one that runs, and run by
 * exec as the workspace user once the container runs. Its output goes to the build log line by line.
 */
import type { EngineArchive, EngineExec } from '../engine/types.js';
import { InvalidSpecError } from '../errors.js';
import type { PasswdEntry } from '../image/facts.js';
import type { EventLog } from './event-log.js';

export const BOOTSTRAP_PATH = '/var/lib/cvm-supervisor/bootstrap';
const MAX_LINE = 4096;

/**
 * Written whatever the image holds at that path (an image must not pre-empt the control plane's script), readable
 * only by the workspace user: it carries the agent's token.
 */
export async function installBootstrap(engine: EngineArchive, containerId: string, script: string, username: string, users: readonly PasswdEntry[]): Promise<void> {
  const owner = users.find((u) => u.name === username) ?? (username === 'root' ? { uid: 0, gid: 0 } : undefined);
  if (owner === undefined) throw new InvalidSpecError('username', `${username} does not exist in the image's /etc/passwd, so the bootstrap script has no owner`);
  const mode = owner.uid === 0 ? 0o700 : 0o500;
  await engine.putFiles(containerId, '/', [{ path: BOOTSTRAP_PATH.slice(1), content: script, mode, uid: owner.uid, gid: owner.gid }]);
}

/** A script without a shebang is run by /bin/sh, as envbox does. */
export function bootstrapCommand(script: string): string[] {
  return script.startsWith('#!') ? [BOOTSTRAP_PATH] : ['/bin/sh', BOOTSTRAP_PATH];
}

/** Splits a byte stream into lines for the log, without letting one endless line grow memory. */
export class LineSplitter {
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_LINE) {
      lines.push(this.partial);
      this.partial = '';
    }
    for (const line of lines) this.onLine(line.slice(0, MAX_LINE));
  }

  end(): void {
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }
}

export async function runBootstrap(
  engine: EngineExec,
  containerId: string,
  options: { script: string; user: string; workdir: string; log: EventLog; signal: AbortSignal },
): Promise<number> {
  const out = new LineSplitter((line) => options.log.append('bootstrap', line, { stream: 'stdout' }));
  const err = new LineSplitter((line) => options.log.append('bootstrap', line, { stream: 'stderr' }));
  options.log.append('bootstrap', `running bootstrap as ${options.user}`);
  const { exitCode } = await engine.exec(containerId, {
    cmd: bootstrapCommand(options.script),
    user: options.user,
    workingDir: options.workdir,
    signal: options.signal,
    onOutput: (stream, chunk) => {
      (stream === 'stdout' ? out : err).push(chunk);
    },
  });
  out.end();
  err.end();
  options.log.append('bootstrap', `bootstrap exited with code ${exitCode}`, { exitCode });
  return exitCode;
}
