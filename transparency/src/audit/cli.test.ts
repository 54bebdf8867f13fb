import { describe, expect, it } from 'vitest';
import type { AuditResult } from './auditor.js';
import { formatAuditSummary } from './cli.js';

/** A report with no finding; `director` as the Director checks left it. */
function report(director?: Partial<NonNullable<AuditResult['director']>>): AuditResult {
  return {
    findings: [],
    stats: {},
    ...(director
      ? {
          director: {
            logChecked: true,
            ecuMatch: 'commitment',
            ecuSignaturesChecked: true,
            ...director,
          },
        }
      : {}),
  } as unknown as AuditResult;
}

describe('formatAuditSummary', () => {
  it('says OK when every check ran', () => {
    expect(formatAuditSummary(report({}))).toMatch(/^tufchain audit: OK, no finding$/m);
    expect(formatAuditSummary(report())).toMatch(/^tufchain audit: OK, no finding$/m);
  });

  it('does not say OK when the Director was not checked against the log or ECU signatures', () => {
    const noLog = formatAuditSummary(report({ logChecked: false }));
    expect(noLog).not.toMatch(/OK/);
    expect(noLog).toMatch(/^tufchain audit: no finding, PARTIAL: .*the log \(no --log-key\)$/m);
    const noToken = formatAuditSummary(report({ ecuSignaturesChecked: false }));
    expect(noToken).toMatch(/PARTIAL: .*ECU signatures \(no --oem-token\)$/m);
  });
});
