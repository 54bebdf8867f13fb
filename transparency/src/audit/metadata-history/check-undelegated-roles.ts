import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { ReplayState, RoleState } from './model.js';

/**
 * Every role snapshot `version` lists is delegated by a trusted role (a warning, once per role
 * version). Only meaningful when the walk was complete: an unverified role hides its subtree.
 */
export function checkUndelegatedRoles(
  state: Pick<ReplayState, 'undelegatedReported'>,
  version: number,
  pins: ReadonlyMap<string, number>,
  trusted: ReadonlyMap<string, RoleState>,
): AuditFinding[] {
  const findings = new Findings();
  for (const [role, pinned] of pins) {
    const key = `${role}@${pinned}`;
    if (role !== 'targets' && !trusted.has(role) && !state.undelegatedReported.has(key)) {
      state.undelegatedReported.add(key);
      findings.warn(
        'ROLE_NOT_DELEGATED',
        `snapshot ${version} lists ${role}, which no trusted role delegates to`,
        `snapshot:${version}`,
      );
    }
  }
  return findings.list;
}
