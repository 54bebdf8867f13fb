import type { LoggedRelease } from '../../chain/types.js';
import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';

/** Every chain entry is accounted for by a served file (its snapshot, or flat-layout targets). */
export function checkReleasesServed(
  releases: readonly LoggedRelease[],
  accounted: ReadonlySet<number>,
): AuditFinding[] {
  const findings = new Findings();
  for (const r of releases) {
    if (!accounted.has(r.metadataVersion)) {
      findings.error(
        'RELEASE_NOT_SERVED',
        `chain entry ${r.metadataVersion} (${r.metadataHash}) matches no served snapshot`,
        `snapshot:${r.metadataVersion}`,
      );
    }
  }
  return findings.list;
}
