/** The preflight report as a table for a person at a terminal. */
import { type Place, placeName } from './place.js';
import type { PreflightReport } from './report.js';

const MARK = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' } as const;

export function formatReportTable(report: PreflightReport, place: Place): string {
  const idWidth = Math.max(5, ...report.checks.map((c) => c.id.length));
  const lines = [`${'CHECK'.padEnd(idWidth)}  STATUS  EVIDENCE`];
  for (const check of report.checks) {
    lines.push(`${check.id.padEnd(idWidth)}  ${MARK[check.status].padEnd(6)}  ${check.evidence}`);
    if (check.hint !== null && check.status !== 'pass') lines.push(`${''.padEnd(idWidth)}          fix: ${check.hint}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  const subject = placeName(place);
  lines.push('', report.ok ? `${subject} qualifies (${warned} warning(s))` : `${subject} does not qualify: ${failed} check(s) failed, ${warned} warning(s)`);
  return lines.join('\n');
}
