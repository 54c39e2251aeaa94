import { describe, expect, it } from 'vitest';
import { parseOsRelease } from '../../../src/image/os-release.js';

const debian = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`;

const ubuntu = `NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
`;

const rocky = `NAME="Rocky Linux"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
`;

describe('parseOsRelease', () => {
  it.each([
    { name: 'debian', text: debian, expected: { id: 'debian', idLike: [], versionId: '12' } },
    { name: 'ubuntu (unquoted ID_LIKE)', text: ubuntu, expected: { id: 'ubuntu', idLike: ['debian'], versionId: '22.04' } },
    { name: 'rocky (quoted, space-separated ID_LIKE)', text: rocky, expected: { id: 'rocky', idLike: ['rhel', 'centos', 'fedora'], versionId: '9.3' } },
    { name: 'single quotes, no VERSION_ID (debian sid)', text: "ID='debian'\nNAME='x'\n", expected: { id: 'debian', idLike: [], versionId: null } },
    { name: 'escapes in double quotes, CRLF-free junk, comments', text: '# comment\n\ngarbage line\nID="arch"\nNAME="A \\"quoted\\" name"\nID_LIKE="  a   b "\n', expected: { id: 'arch', idLike: ['a', 'b'], versionId: null } },
    { name: 'a later key wins', text: 'ID=one\nID=two\n', expected: { id: 'two', idLike: [], versionId: null } },
  ])('$name', ({ text, expected }) => {
    expect(parseOsRelease(text)).toEqual(expected);
  });

  it.each([['empty', ''], ['no ID', 'NAME=foo\nVERSION_ID=1\n'], ['empty ID', 'ID=\n'], ['binary junk', '\u0000\u0001\u0002']])(
    'returns null for %s',
    (_name, text) => {
      expect(parseOsRelease(text)).toBeNull();
    },
  );

  it.each([
    ['a value with one quote at the end', "ID=ab'\n", "ab'"],
    ['a value with one quote at the start', "ID='ab\n", "'ab"],
    ['a value with one double quote at the end', 'ID=ab"\n', 'ab"'],
    ['a value with one double quote at the start', 'ID="ab\n', '"ab'],
    ['a single quote alone', "ID='\n", "'"],
    ['a double quote alone', 'ID="\n', '"'],
  ])('keeps %s as it is', (_name, text, id) => {
    expect(parseOsRelease(text)?.id).toBe(id);
  });

  it.each([
    ['two single quotes', "ID=''\n"],
    ['two double quotes', 'ID=""\n'],
  ])('reads %s as an empty value', (_name, text) => {
    expect(parseOsRelease(text)).toBeNull();
  });

  it('unescapes \\$, \\" and \\` inside double quotes, and nothing else', () => {
    expect(parseOsRelease('ID="a\\"b\\$c\\`d\\xe"\n')?.id).toBe('a"b$c`d\\xe');
  });

  it('trims blanks around a value before unquoting it', () => {
    expect(parseOsRelease('ID=debian\nVERSION_ID= "12" \n')?.versionId).toBe('12');
  });

  it('reads a key only at the start of a line', () => {
    expect(parseOsRelease('ID=debian\nxID=other\n')?.id).toBe('debian');
  });

  it('reads an empty VERSION_ID as none', () => {
    expect(parseOsRelease('ID=debian\nVERSION_ID=\n')?.versionId).toBeNull();
  });
});
