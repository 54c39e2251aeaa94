import { describe, expect, it } from 'vitest';
import { parseChildLine, relevelDockerd, relevelSysbox, type SysboxStopView } from '../../../src/engine/embedded-logs.js';

const logrus = (level: string, msg: string): string => `time="2026-01-01T00:00:00Z" level=${level} msg="${msg.replaceAll('"', '\\"')}"`;

describe("the embedded engine's children's lines in the daemon's log", () => {
  it('parses logrus lines, quoted or bare, and leaves plain lines without a level', () => {
    expect(parseChildLine(logrus('warning', 'Your kernel does "not" support'))).toEqual({ level: 'warning', msg: 'Your kernel does "not" support' });
    expect(parseChildLine('time="x" level=error msg=failed')).toEqual({ level: 'error', msg: 'failed' });
    expect(parseChildLine('failed to start daemon: pid file found')).toEqual({ level: null, msg: 'failed to start daemon: pid file found' });
    expect(parseChildLine('   ')).toBeNull();
  });

  it("puts dockerd's routine lines and grpc's chatter at debug, warnings at warn, fatal lines at error", () => {
    expect(relevelDockerd(logrus('info', 'loading plugin "io.containerd.grpc.v1.tasks"...'))?.level).toBe('debug');
    expect(relevelDockerd(logrus('debug', 'Calling GET /_ping'))?.level).toBe('debug');
    expect(relevelDockerd(logrus('info', '[core] Channel Connectivity change to READY'))?.level).toBe('debug');
    expect(relevelDockerd(logrus('warning', '[core] grpc: addrConn.createTransport failed to connect'))?.level).toBe('debug');
    expect(relevelDockerd(logrus('warning', 'Your kernel does not support cgroup blkio weight'))?.level).toBe('warn');
    expect(relevelDockerd(logrus('error', 'Handler for POST /containers/x/start returned error'))?.level).toBe('error');
    expect(relevelDockerd(logrus('fatal', 'Error starting daemon'))?.level).toBe('error');
    expect(relevelDockerd(logrus('panic', 'boom'))?.level).toBe('error');
    // dockerd writes a plain line only when it dies: "failed to start daemon: …", "failed to load listeners: …".
    expect(relevelDockerd('failed to start daemon: Error initializing network controller')).toEqual({ level: 'error', msg: 'failed to start daemon: Error initializing network controller' });
    expect(relevelDockerd('')).toBeNull();
  });

  describe('sysbox', () => {
    const running: SysboxStopView = { stopping: false, runningContainers: [] };
    const stoppedAll: SysboxStopView = { stopping: true, runningContainers: [] };
    const oneLeft: SysboxStopView = { stopping: true, runningContainers: ['8dfdacfdb27425945354d65ccbaff5f9b4ba90dbd0a0789ff0f7be84737efe79'] };
    const header = 'The following containers are active and will stop operating properly:';

    it("lists stopped containers at SIGTERM: info when none runs, a warning for one that does", () => {
      expect(relevelSysbox(logrus('warning', header), stoppedAll)).toMatchObject({ level: 'info', note: expect.stringContaining('none of them runs') as unknown });
      expect(relevelSysbox(logrus('warning', 'container id: 8dfdacfdb274'), stoppedAll)?.level).toBe('debug');
      expect(relevelSysbox(logrus('warning', header), oneLeft)?.level).toBe('warn');
      expect(relevelSysbox(logrus('warning', 'container id: 8dfdacfdb274'), oneLeft)).toMatchObject({ level: 'warn', note: 'this container still runs' });
      expect(relevelSysbox(logrus('warning', 'container id: 0123456789ab'), oneLeft)?.level).toBe('debug');
      // Not while the daemon stops it (sysbox-mgr stopped by someone else): the warning stands.
      expect(relevelSysbox(logrus('warning', header), running)?.level).toBe('warn');
    });

    it('reads "cannot remove DIR: DIR busy" as the mount point it is, and nothing else', () => {
      const busy = relevelSysbox(logrus('warning', 'failed to cleanup /var/lib/sysbox: unlinkat /var/lib/sysbox: device or resource busy'), running);
      expect(busy).toMatchObject({ level: 'debug', note: expect.stringContaining('mount point') as unknown });
      expect(relevelSysbox(logrus('warning', 'failed to remove /var/lib/sysboxfs: unlinkat /var/lib/sysboxfs: device or resource busy'), running)?.level).toBe('debug');
      expect(relevelSysbox(logrus('warning', 'failed to cleanup /var/lib/sysbox: unlinkat /var/lib/sysbox/docker/x: device or resource busy'), running)?.level).toBe('warn');
    });

    it('keeps the SIGTERM it was sent out of the warnings only while the daemon stops it', () => {
      expect(relevelSysbox(logrus('warning', 'sysbox-fs caught signal: terminated'), stoppedAll)?.level).toBe('debug');
      expect(relevelSysbox(logrus('warning', 'sysbox-fs caught signal: terminated'), running)?.level).toBe('warn');
    });

    it('re-levels the rest like dockerd: routine at debug, fatal at error', () => {
      expect(relevelSysbox(logrus('info', 'Ready ...'), running)?.level).toBe('debug');
      expect(relevelSysbox(logrus('fatal', "failed to setup docker vol mgr: /var/lib/sysbox/docker can't be on overlayfs"), running)?.level).toBe('error');
    });
  });
});
