import { describe, expect, it } from 'vitest';
import { alertId, type AlertDraft } from './alert.js';

const draft: AlertDraft = {
  kind: 'UNEXPECTED_RELEASE',
  severity: 'critical',
  message: 'firmware 0xab is not in the records',
  subject: '0x' + 'ab'.repeat(32),
  origin: { txHash: '0x' + '11'.repeat(32), blockNumber: 7, logIndex: 2 },
};

describe('alertId', () => {
  it('is a pinned sha256 over kind, chain, tx hash, log index and subject (computed with sha256sum)', () => {
    expect(alertId(draft, 31337)).toBe(
      '21f0921ed506bff5339c818faad769e59bbef66e26171abc99502b5b85d92392',
    );
  });

  it('does not depend on the message, severity, details or tx hash case', () => {
    expect(
      alertId(
        {
          ...draft,
          message: 'other words',
          severity: 'warning',
          details: { x: 1 },
          origin: {
            ...draft.origin!,
            txHash: draft.origin!.txHash.toUpperCase().replace('0X', '0x'),
          },
        },
        31337,
      ),
    ).toBe(alertId(draft, 31337));
  });

  it.each([
    ['kind', { ...draft, kind: 'RECALL' as const }, 31337],
    ['subject', { ...draft, subject: '0x' + 'cd'.repeat(32) }, 31337],
    ['log index', { ...draft, origin: { ...draft.origin!, logIndex: 3 } }, 31337],
    ['tx hash', { ...draft, origin: { ...draft.origin!, txHash: '0x' + '22'.repeat(32) } }, 31337],
    ['chain', draft, 1],
    ['origin (served, not logged)', { ...draft, origin: undefined }, 31337],
  ])('changes with the %s', (_what, other, chainId) => {
    expect(alertId(other as AlertDraft, chainId)).not.toBe(alertId(draft, 31337));
  });
});
