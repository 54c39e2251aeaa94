/**
 * The embedded engine's children (dockerd with its containerd, sysbox-mgr, sysbox-fs) write logrus lines
 * (`time=… level=warning msg="…"`). Re-levelled into the daemon's log: routine lines at debug (dockerd alone writes
 * about 80 per start), warnings at warn, errors and fatal lines at error. A line that is not logrus is what these
 * programs print when they die (dockerd's `failed to start daemon: …`, a Go panic), so it is an error. Pure.
 */
export type ChildLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ChildLine {
  level: ChildLevel;
  msg: string;
  /** The daemon's reading of the line, when the line alone misleads. */
  note?: string;
}

const LEVELS: Readonly<Record<string, ChildLevel>> = {
  trace: 'debug',
  debug: 'debug',
  info: 'debug',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'error',
  panic: 'error',
};

/** A logrus line's level (null for a plain line) and message; null for a blank line. */
export function parseChildLine(line: string): { level: string | null; msg: string } | null {
  if (line.trim() === '') return null;
  const level = /\blevel=(\w+)/.exec(line)?.[1]?.toLowerCase() ?? null;
  if (level === null) return { level: null, msg: line };
  const quoted = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  const bare = /\bmsg=(\S+)/.exec(line)?.[1];
  return { level, msg: quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? line) };
}

function routine(parsed: { level: string | null; msg: string }): ChildLine {
  return { level: parsed.level === null ? 'error' : (LEVELS[parsed.level] ?? 'warn'), msg: parsed.msg };
}

/** dockerd and its containerd; grpc's connection chatter (`[core] …`) is debug whatever its level. */
export function relevelDockerd(line: string): ChildLine | null {
  const parsed = parseChildLine(line);
  if (parsed === null) return null;
  if (parsed.level !== null && parsed.msg.startsWith('[core]')) return { level: 'debug', msg: parsed.msg };
  return routine(parsed);
}

/** What the daemon knows while it stops sysbox: dockerd has exited, and these containers' shims still run. */
export interface SysboxStopView {
  stopping: boolean;
  runningContainers: readonly string[];
}

const ACTIVE_HEADER = 'The following containers are active and will stop operating properly:';
const LISTED_CONTAINER = /^container id: (\S+)$/;
const MOUNT_POINT_LEFT = /^failed to (?:remove|cleanup) (\S+): unlinkat (\S+): device or resource busy$/;
const SIGNAL_CAUGHT = /caught (?:os )?signal: terminated/i;

/**
 * sysbox-mgr and sysbox-fs, with three lines read for what they mean:
 * - at SIGTERM sysbox-mgr lists as "active" every container it still tracks, and it forgets one only when the
 *   container's rootfs is removed (sysbox-mgr mgr.go, Stop and rootfsMonitor). The daemon keeps stopped workspaces'
 *   containers on purpose, so they are listed after every clean stop: that is info when none of them runs any more;
 *   a container that still runs keeps the warning;
 * - "failed to remove DIR: unlinkat DIR: busy" is the last step of emptying DIR, which is a mount point: debug;
 * - sysbox-fs reports the SIGTERM the daemon sent it as a warning: debug while the daemon stops it.
 */
export function relevelSysbox(line: string, view: SysboxStopView): ChildLine | null {
  const parsed = parseChildLine(line);
  if (parsed === null) return null;
  const { msg } = parsed;
  if (view.stopping && msg === ACTIVE_HEADER && view.runningContainers.length === 0) {
    return { level: 'info', msg, note: 'none of them runs: sysbox-mgr lists the stopped containers it keeps until they are removed' };
  }
  const listed = LISTED_CONTAINER.exec(msg)?.[1];
  if (view.stopping && listed !== undefined) {
    return view.runningContainers.some((id) => id.startsWith(listed)) ? { level: 'warn', msg, note: 'this container still runs' } : { level: 'debug', msg };
  }
  const busy = MOUNT_POINT_LEFT.exec(msg);
  if (busy !== null && busy[1] === busy[2]) return { level: 'debug', msg, note: 'the directory is a mount point; its contents were removed' };
  if (view.stopping && SIGNAL_CAUGHT.test(msg)) return { level: 'debug', msg };
  return routine(parsed);
}
