import { Metadata, MetadataKind, type Root, type Timestamp } from '@tufjs/models';
import { isHash32, normalizeHash32 } from '../../util/hex.js';
import { errorMessage, Findings, parseJson } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { Fetched } from './model.js';
import { newestSigningRoot } from './newest-signing-root.js';

/**
 * The timestamp served now must be signed by timestamp keys of a trusted root and point at a
 * served, logged snapshot (by version and, when it gives one, by hash): it is where every vehicle
 * starts. Its own version is never logged (timestamp-only re-signs log nothing).
 */
export function checkTimestamp(
  fetched: Fetched,
  roots: readonly Metadata<Root>[],
  snapshotHashes: ReadonlyMap<number, string>,
  isLogged: (snapshotVersion: number) => boolean,
): AuditFinding[] {
  const findings = new Findings();
  const subject = 'timestamp';
  let timestamp: Metadata<Timestamp>;
  try {
    if ('error' in fetched) throw fetched.error;
    timestamp = Metadata.fromJSON(MetadataKind.Timestamp, parseJson(fetched.bytes) as never);
  } catch (err) {
    findings.error('AUDIT_SOURCE_UNAVAILABLE', `timestamp: ${errorMessage(err)}`, subject);
    return findings.list;
  }
  if (roots.length > 0 && newestSigningRoot(roots, MetadataKind.Timestamp, timestamp) < 0) {
    findings.error(
      'TIMESTAMP_SIGNATURE_INVALID',
      `timestamp ${timestamp.signed.version} is not signed by a threshold of timestamp keys of any trusted root`,
      subject,
    );
  }
  const meta = timestamp.signed.snapshotMeta;
  const hash = snapshotHashes.get(meta.version);
  const wantSha = meta.hashes?.sha256;
  if (
    hash === undefined ||
    (wantSha !== undefined && (!isHash32(wantSha) || normalizeHash32(wantSha) !== hash))
  ) {
    findings.error(
      'TIMESTAMP_SNAPSHOT_NOT_SERVED',
      `timestamp ${timestamp.signed.version} points at snapshot ${meta.version}, which the audit routes do not serve as such`,
      subject,
    );
  } else if (!isLogged(meta.version)) {
    findings.error(
      'TIMESTAMP_SNAPSHOT_NOT_LOGGED',
      `timestamp ${timestamp.signed.version} points at snapshot ${meta.version}, which is not logged`,
      subject,
    );
  }
  return findings.list;
}
