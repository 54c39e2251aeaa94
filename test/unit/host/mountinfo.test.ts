import { describe, expect, it } from 'vitest';
import { parseMountInfo } from '../../../src/host/mountinfo.js';

describe('parseMountInfo', () => {
  it('reads the device, the root and the mount point, unescaping octal escapes', () => {
    const text = [
      '22 27 0:21 / /proc rw,relatime - proc proc rw',
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '40 35 8:1 /var/lib/with\\040space /data/with\\040space rw - ext4 /dev/sda1 rw',
      'garbage',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { device: '0:21', root: '/', mountPoint: '/proc' },
      { device: '98:0', root: '/mnt1', mountPoint: '/mnt2' },
      { device: '8:1', root: '/var/lib/with space', mountPoint: '/data/with space' },
    ]);
  });
});
