import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';

/** No role goes back: snapshot `version` pins no role older than the previous snapshot did. */
export function checkRoleVersions(
  version: number,
  pins: ReadonlyMap<string, number>,
  previousPins: ReadonlyMap<string, number>,
): AuditFinding[] {
  const findings = new Findings();
  for (const [role, before] of previousPins) {
    const now = pins.get(role);
    if (now !== undefined && now < before) {
      findings.error(
        'ROLE_VERSION_DECREASED',
        `snapshot ${version} pins ${role} ${now}, an earlier snapshot pinned ${before}`,
        `snapshot:${version}`,
      );
    }
  }
  return findings.list;
}
