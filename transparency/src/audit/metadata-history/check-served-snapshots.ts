import { errorMessage, Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { SnapshotFile } from './model.js';

/** Every snapshot version up to the newest is served (else a warning), and each one served fetches. */
export function checkServedSnapshots(snapshots: readonly SnapshotFile[]): AuditFinding[] {
  const findings = new Findings();
  const served = new Set(snapshots.map((s) => s.version));
  const last = Math.max(0, ...served);
  for (let v = 1; v <= last; v++) {
    if (!served.has(v))
      findings.warn(
        'SNAPSHOT_VERSION_MISSING',
        `snapshot version ${v} is not served`,
        `snapshot:${v}`,
      );
  }
  for (const { version, fetched } of snapshots) {
    if ('error' in fetched) {
      findings.error(
        'AUDIT_SOURCE_UNAVAILABLE',
        `snapshot ${version}: ${errorMessage(fetched.error)}`,
        `snapshot:${version}`,
      );
    }
  }
  return findings.list;
}
