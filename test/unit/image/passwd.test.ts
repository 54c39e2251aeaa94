import { describe, expect, it } from 'vitest';
import { parsePasswd } from '../../../src/image/passwd.js';

describe('parsePasswd', () => {
  it('parses a Debian passwd', () => {
    const text = [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'coder:x:1000:1000:Coder,,,:/home/coder:/bin/bash',
      '',
    ].join('\n');
    expect(parsePasswd(text)).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
      { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin', shell: '/usr/sbin/nologin' },
      { name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/bash' },
    ]);
  });

  it('accepts an empty shell and a CRLF line end', () => {
    expect(parsePasswd('svc:*:998:997::/var/lib/svc:\r\n')).toEqual([
      { name: 'svc', uid: 998, gid: 997, home: '/var/lib/svc', shell: '' },
    ]);
  });

  it.each([
    ['a comment', '# root:x:0:0:root:/root:/bin/sh'],
    ['too few fields', 'root:x:0:0:/root:/bin/sh'],
    ['too many fields', 'root:x:0:0:root:/root:/bin/sh:extra'],
    ['a non-numeric uid', 'root:x:zero:0:root:/root:/bin/sh'],
    ['a negative gid', 'root:x:0:-1:root:/root:/bin/sh'],
    ['an empty name', ':x:0:0:root:/root:/bin/sh'],
    ['a NIS compat line', '+::::::'],
    ['a NIS exclusion', '-baduser:x:5:5::/:/bin/sh'],
    ['binary junk', '\u0000\u0001:\u0002'],
  ])('skips %s', (_name, line) => {
    expect(parsePasswd(`${line}\nok:x:1:2::/home/ok:/bin/sh\n`)).toEqual([
      { name: 'ok', uid: 1, gid: 2, home: '/home/ok', shell: '/bin/sh' },
    ]);
  });

  it('skips a comment line even when it has seven fields', () => {
    expect(parsePasswd('#root:x:0:0:root:/root:/bin/sh\n')).toEqual([]);
  });

  it('skips NIS lines that start with + or -, but keeps a name with a + inside or at the end', () => {
    expect(parsePasswd('+nis:x:1:1::/:/bin/sh\n-nis:x:2:2::/:/bin/sh\nc++:x:3:3::/home/c:/bin/sh\n').map((u) => u.name)).toEqual(['c++']);
  });

  it('removes only a carriage return at the end of a line', () => {
    expect(parsePasswd('u:x:1:1::/home/a\rb:/bin/sh\r\n')).toEqual([{ name: 'u', uid: 1, gid: 1, home: '/home/a\rb', shell: '/bin/sh' }]);
  });
});
