/** What the daemon learns about an image without starting it (see image/facts-detector.ts). */

export type InitMode = 'systemd' | 'init' | 'keepalive';

export interface InitInfo {
  mode: InitMode;
  /** Always /sbin/init: the only path sysbox treats as a systemd container. */
  path: '/sbin/init';
  /** The resolved target inside the image, null when there is no usable init. */
  target: string | null;
  /** Why there is no init (dangling link, directory, not executable, loop, missing); null when found. */
  reason: string | null;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string | null;
}

export interface ImageFacts {
  imageId: string;
  init: InitInfo;
  osRelease: OsRelease | null;
  users: PasswdEntry[];
  /**
   * A path of `sleep` (for the keep-alive PID 1) that resolves to an executable regular file, or null when the
   * image has none. Deliberately not the resolved target: busybox's /bin/sleep -> busybox dispatches on argv[0].
   */
  sleepPath: string | null;
}
