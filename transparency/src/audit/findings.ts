import type { AuditFindingCode } from './finding-code.js';
import type { AuditFinding } from './source.js';

/** The findings of one audit run, in the order they were found. */
export class Findings {
  readonly list: AuditFinding[] = [];
  error(code: AuditFindingCode, message: string, subject?: string) {
    this.list.push(
      subject === undefined
        ? { code, severity: 'error', message }
        : { code, severity: 'error', message, subject },
    );
  }
  warn(code: AuditFindingCode, message: string, subject?: string) {
    this.list.push(
      subject === undefined
        ? { code, severity: 'warning', message }
        : { code, severity: 'warning', message, subject },
    );
  }
}

export const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function parseJson(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}
