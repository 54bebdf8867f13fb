import { createHash } from 'node:crypto';

export const ALERT_KINDS = [
  'UNEXPECTED_RELEASE',
  'UNEXPECTED_PUBLISHER',
  'UNKNOWN_SIGNER',
  'UNEXPECTED_DELEGATION',
  'RECALL',
  'MINIMUM_VERSION_CHANGED',
  'CHECKPOINT_INCONSISTENT',
  'METADATA_NEAR_EXPIRY',
  'SNAPSHOT_NOT_LOGGED',
  'AUDIT_FINDING',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export type AlertSeverity = 'critical' | 'warning' | 'info';

/** Where on chain an alert comes from: the log that raised it. */
export interface AlertOrigin {
  txHash: string;
  blockNumber: number;
  logIndex: number;
}

/** What a check found, before it is given its stable ID. */
export interface AlertDraft {
  kind: AlertKind;
  severity: AlertSeverity;
  message: string;
  /** What the alert is about (a firmware digest, a role, a snapshot version); part of the ID. */
  subject: string;
  origin?: AlertOrigin;
  details?: Record<string, unknown>;
}

export interface Alert extends AlertDraft {
  id: string;
  chainId: number;
  /** ISO time the monitor raised it. */
  detectedAt: string;
}

/**
 * The stable ID of an alert: sha256 over its kind, the chain, the log that raised it (tx hash and
 * log index) and its subject. The same finding on a re-read of the same log always gives the same
 * ID, so a monitor that restarts or rewinds after a reorganization does not alert twice.
 */
export function alertId(draft: AlertDraft, chainId: number): string {
  const where = draft.origin
    ? `${draft.origin.txHash.toLowerCase()}:${draft.origin.logIndex}`
    : 'served';
  return createHash('sha256')
    .update([draft.kind, String(chainId), where, draft.subject].join('\n'))
    .digest('hex');
}
