import { MetadataKind, type Metadata, type Root, type Snapshot } from '@tufjs/models';
import { errorMessage, Findings, parseJson } from '../findings.js';
import type { AuditFinding } from '../source.js';
import { newestSigningRoot } from './newest-signing-root.js';
import { parseSnapshotMetadata } from '../../wire/tuf-metadata.js';

export interface CheckedSnapshot {
  findings: AuditFinding[];
  /** Undefined when the file is not snapshot metadata. */
  snapshot: Metadata<Snapshot> | undefined;
  /** The index of the newest root whose snapshot keys signed it: -1 none, undefined not checked. */
  signer: number | undefined;
}

/**
 * A served snapshot must be snapshot metadata claiming the version in its name, signed by a
 * threshold of snapshot keys of a trusted root, and not only by keys a rotation removed once
 * newer keys (`newestSnapshotRoot`) were in use. Without roots the signature is not checked.
 */
export function checkSnapshot(
  version: number,
  bytes: Uint8Array,
  roots: readonly Metadata<Root>[],
  newestSnapshotRoot: number,
): CheckedSnapshot {
  const findings = new Findings();
  const subject = `snapshot:${version}`;
  let snapshot: Metadata<Snapshot>;
  let asReceived: Metadata<Snapshot>;
  try {
    ({ md: snapshot, asReceived } = parseSnapshotMetadata(parseJson(bytes)));
  } catch (err) {
    findings.error('SNAPSHOT_MALFORMED', `snapshot ${version}: ${errorMessage(err)}`, subject);
    return { findings: findings.list, snapshot: undefined, signer: undefined };
  }
  if (snapshot.signed.version !== version) {
    findings.error(
      'SNAPSHOT_VERSION_MISMATCH',
      `file ${version}.snapshot.json claims version ${snapshot.signed.version}`,
      subject,
    );
  }
  if (roots.length === 0) return { findings: findings.list, snapshot, signer: undefined };
  const signer = newestSigningRoot(roots, MetadataKind.Snapshot, asReceived);
  if (signer < 0) {
    findings.error(
      'SNAPSHOT_SIGNATURE_INVALID',
      `snapshot ${version} is not signed by a threshold of snapshot keys of any trusted root`,
      subject,
    );
  } else if (signer < newestSnapshotRoot) {
    findings.error(
      'SNAPSHOT_SIGNED_BY_ROTATED_KEYS',
      `snapshot ${version} is signed only by keys of root ${roots[signer]!.signed.version}, after root ${roots[newestSnapshotRoot]!.signed.version} keys were in use`,
      subject,
    );
  }
  return { findings: findings.list, snapshot, signer };
}

/** The version of each targets role a snapshot pins, by role name. */
export function pinnedVersions(snapshot: Metadata<Snapshot>): Map<string, number> {
  const pins = new Map<string, number>();
  for (const [file, meta] of Object.entries(snapshot.signed.meta)) {
    pins.set(file.replace(/\.json$/, ''), meta.version);
  }
  return pins;
}
