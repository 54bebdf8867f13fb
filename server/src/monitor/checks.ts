import type { Metadata, Root, Targets } from '@tufjs/models';
import { hardwareIdHash } from '@tufchain/contracts';
import type { AuditFinding, ContractEvent } from '@tufchain/transparency';
import type { AlertDraft, AlertOrigin } from './alert.js';
import type { Expectations } from './expectations.js';

type EventOf<K extends ContractEvent['kind']> = Extract<ContractEvent, { kind: K }>;

const originOf = (e: ContractEvent): AlertOrigin => ({
  txHash: e.txHash,
  blockNumber: e.blockNumber,
  logIndex: e.logIndex,
});

/**
 * The release's publisher must be the OEM's, and every firmware in it one the OEM recorded: in the
 * expectations' `releases`, or, with `serverRecorded`, in the release the server itself recorded
 * for this logged snapshot (through its authenticated publish path).
 */
export function checkLoggedRelease(
  e: EventOf<'release'>,
  exp: Expectations,
  serverRecorded = false,
): AlertDraft[] {
  const drafts: AlertDraft[] = [];
  const origin = originOf(e);
  if (!exp.publishers.includes(e.publisher.toLowerCase())) {
    drafts.push({
      kind: 'UNEXPECTED_PUBLISHER',
      severity: 'critical',
      message: `snapshot ${e.metadataVersion} was logged by ${e.publisher}, not an OEM publisher`,
      subject: e.publisher.toLowerCase(),
      origin,
      details: { metadataVersion: e.metadataVersion, metadataHash: e.metadataHash },
    });
  }
  for (const fw of e.firmware) {
    if (serverRecorded) break;
    const known = exp.releases.some(
      (r) =>
        r.digest === fw.digest &&
        (r.hardwareId === undefined ||
          hardwareIdHash(r.hardwareId).toLowerCase() === fw.hardwareIdHash) &&
        (r.version === undefined || r.version === fw.version),
    );
    if (known) continue;
    drafts.push({
      kind: 'UNEXPECTED_RELEASE',
      severity: 'critical',
      message: `firmware ${fw.digest} (release ${fw.version}) was logged in snapshot ${e.metadataVersion} but is not in the OEM's release records`,
      subject: fw.digest,
      origin,
      details: {
        metadataVersion: e.metadataVersion,
        metadataHash: e.metadataHash,
        hardwareIdHash: fw.hardwareIdHash,
        version: fw.version,
        publisher: e.publisher,
      },
    });
  }
  return drafts;
}

export function checkRecall(e: EventOf<'recall'>): AlertDraft[] {
  return [
    {
      kind: 'RECALL',
      severity: 'warning',
      message: `${e.subject} was recalled on chain: ${e.reason}`,
      subject: e.subject,
      origin: originOf(e),
      details: { reason: e.reason },
    },
  ];
}

export function checkMinimumVersion(e: EventOf<'minimumVersion'>, exp: Expectations): AlertDraft[] {
  const hardwareId = exp.releases.find(
    (r) =>
      r.hardwareId !== undefined && hardwareIdHash(r.hardwareId).toLowerCase() === e.hardwareIdHash,
  )?.hardwareId;
  return [
    {
      kind: 'MINIMUM_VERSION_CHANGED',
      severity: 'warning',
      message: `the minimum version of ${hardwareId ?? e.hardwareIdHash} is now ${e.version}`,
      subject: e.hardwareIdHash,
      origin: originOf(e),
      details: { version: e.version, ...(hardwareId === undefined ? {} : { hardwareId }) },
    },
  ];
}

/**
 * Each anchor must extend the one before it. The contract checks the consistency proof, so this
 * only fires on a chain or contract that does not behave as deployed.
 */
export function checkAnchor(e: EventOf<'anchor'>, previousSize: number | undefined): AlertDraft[] {
  if (e.size > e.previousSize && (previousSize === undefined || previousSize === e.previousSize))
    return [];
  return [
    {
      kind: 'CHECKPOINT_INCONSISTENT',
      severity: 'critical',
      message: `anchor of size ${e.size} extends size ${e.previousSize}, but the last anchor seen had size ${previousSize ?? 'none'}`,
      subject: `anchor:${e.size}`,
      origin: originOf(e),
      details: { size: e.size, previousSize: e.previousSize, rootHash: e.rootHash },
    },
  ];
}

/**
 * Every key a role trusts (in root, in a targets or bins delegation) must be one the OEM expects,
 * and every delegation one it made. A logged snapshot whose tree trusts another key was signed,
 * or can be, by someone else.
 */
export function checkRoleKeys(
  trees: { root: Metadata<Root>; delegators: Metadata<Targets>[] },
  exp: Expectations,
  origin: AlertOrigin,
): AlertDraft[] {
  const drafts: AlertDraft[] = [];
  const unknown = (role: string, keyIds: readonly string[], allowed: readonly string[]): void => {
    for (const keyId of keyIds) {
      if (allowed.includes(keyId)) continue;
      drafts.push({
        kind: 'UNKNOWN_SIGNER',
        severity: 'critical',
        message: `role ${role} trusts key ${keyId}, which the OEM does not expect`,
        subject: `${role}:${keyId}`,
        origin,
        details: { role, keyId },
      });
    }
  };
  for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
    const allowed = exp.keys[role];
    const keyIds = trees.root.signed.roles[role]?.keyIDs ?? [];
    if (allowed) unknown(role, keyIds, allowed);
  }
  for (const delegator of trees.delegators) {
    for (const role of Object.values(delegator.signed.delegations?.roles ?? {})) {
      const isBins = role.name === 'bins' || role.name.startsWith('bins-');
      const allowed = isBins ? exp.keys.bins : exp.suppliers[role.name];
      if (allowed === undefined && !isBins) {
        drafts.push({
          kind: 'UNEXPECTED_DELEGATION',
          severity: 'critical',
          message: `targets delegates to ${role.name}, a role the OEM did not delegate`,
          subject: role.name,
          origin,
          details: { role: role.name, keyIds: role.keyIDs },
        });
      } else if (allowed) {
        unknown(role.name, role.keyIDs, allowed);
      }
    }
  }
  return drafts;
}

export interface ServedExpiry {
  role: string;
  version: number;
  expires: string;
}

/** Served metadata that expires within its role's warning window (seconds). */
export function checkExpiry(
  served: readonly ServedExpiry[],
  now: Date,
  windows: Readonly<Record<string, number>>,
): AlertDraft[] {
  return served.flatMap((m): AlertDraft[] => {
    const window = windows[m.role];
    const left = (Date.parse(m.expires) - now.getTime()) / 1000;
    if (window === undefined || left > window) return [];
    return [
      {
        kind: 'METADATA_NEAR_EXPIRY',
        severity: left <= 0 ? 'critical' : 'warning',
        message: `${m.role} version ${m.version} ${left <= 0 ? 'has expired' : `expires in ${Math.round(left)} s`} (${m.expires})`,
        subject: `${m.role}:${m.version}:${m.expires}`,
        details: { role: m.role, version: m.version, expires: m.expires },
      },
    ];
  });
}

const NOT_LOGGED = new Set(['METADATA_NOT_LOGGED', 'TIMESTAMP_SNAPSHOT_NOT_LOGGED']);
const LOG_INCONSISTENT = new Set([
  'CHECKPOINT_SIGNATURE_INVALID',
  'CHECKPOINT_INCONSISTENT',
  'ANCHOR_ROOT_MISMATCH',
  'LOG_BEHIND_ANCHOR',
]);
/** Findings that say the source could not be read this time, not that something is wrong. */
const TRANSIENT = new Set(['AUDIT_SOURCE_UNAVAILABLE']);

/** The auditor's error findings as alerts (served metadata checked against the chain). */
export function auditFindingAlerts(findings: readonly AuditFinding[]): AlertDraft[] {
  return findings
    .filter((f) => f.severity === 'error' && !TRANSIENT.has(f.code))
    .map((f) => ({
      kind: NOT_LOGGED.has(f.code)
        ? 'SNAPSHOT_NOT_LOGGED'
        : LOG_INCONSISTENT.has(f.code)
          ? 'CHECKPOINT_INCONSISTENT'
          : 'AUDIT_FINDING',
      severity: 'critical',
      message: f.message,
      subject: `${f.code}:${f.subject ?? ''}`,
      details: { finding: f.code, ...(f.subject === undefined ? {} : { subject: f.subject }) },
    }));
}
