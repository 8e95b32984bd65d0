/**
 * One result as the drill command prints it:
 *   PASS file
 *   FAIL file:line: expected ... got ... (then the last segments as a ladder, indented)
 *   SKIP file: reason
 *   QUIT file:line: stopped while stepping (q at a --step prompt)
 */
import type { DrillResult } from './run.ts';

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export function formatResult(r: DrillResult): string {
  switch (r.status) {
    case 'pass':
      return r.ladder === undefined ? `PASS ${r.file}` : `PASS ${r.file}\n${indent(r.ladder)}`;
    case 'skip':
      return `SKIP ${r.file}: ${r.reason}`;
    case 'quit':
      return `QUIT ${r.file}:${r.line}: stopped while stepping`;
    case 'fail':
      return `FAIL ${r.file}:${r.line}: ${r.message}\n${indent(r.ladder)}`;
  }
}
