/** Parses /etc/passwd (name:password:uid:gid:gecos:home:shell), skipping lines that do not fit. */

import type { PasswdEntry } from './facts.js';

const decimalId = /^\d{1,10}$/;

export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = line.replace(/\r$/, '').split(':');
    if (fields.length !== 7) continue;
    const [name = '', , uid = '', gid = '', , home = '', shell = ''] = fields;
    // NIS compat lines (+user, -user) and empty names are not local users.
    if (name === '' || name.startsWith('+') || name.startsWith('-')) continue;
    if (!decimalId.test(uid) || !decimalId.test(gid)) continue;
    entries.push({ name, uid: Number(uid), gid: Number(gid), home, shell });
  }
  return entries;
}
