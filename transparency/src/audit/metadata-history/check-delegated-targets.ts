import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import { once, type FirmwareTarget, type ReplayState, type RoleState } from './model.js';
import { resolveTarget } from './resolve-target.js';
import type { RecheckedRole } from './walk-delegations.js';

export interface DelegatedTargets {
  findings: AuditFinding[];
  /** Each (firmware digest, hardware ID) pair this snapshot lists for the first time. */
  newFirmware: { fw: FirmwareTarget; hardwareId: string }[];
  /** Each firmware digest this snapshot lists for the first time. */
  newDigests: FirmwareTarget[];
}

/**
 * Every target a (re)verified role lists must be one a TUF client resolves to that role, and a
 * role scoped to hardware IDs may list firmware only for those. A new top-level targets can
 * re-route paths (a new supplier shadows bins), so then every trusted role is checked again.
 * Records what each role lists unreachably, and the firmware seen, in `state`.
 */
export function checkDelegatedTargets(
  state: ReplayState,
  trusted: ReadonlyMap<string, RoleState>,
  scopes: ReadonlyMap<string, string[] | null>,
  rechecked: readonly RecheckedRole[],
): DelegatedTargets {
  const findings = new Findings();
  const recheck = [...rechecked];
  if (recheck.some((r) => r.role === 'targets')) {
    const queued = new Set(recheck.map((r) => r.role));
    for (const [role, roleState] of trusted) {
      if (!queued.has(role))
        recheck.push({ role, state: roleState, scope: scopes.get(role) ?? null });
    }
  }
  const newFirmware: DelegatedTargets['newFirmware'] = [];
  const newDigests: FirmwareTarget[] = [];
  for (const { role, state: roleState, scope } of recheck) {
    const unreachable = new Set<string>();
    roleState.unreachable = unreachable;
    for (const path of Object.keys(roleState.md!.signed.targets)) {
      if (resolveTarget(trusted, path)?.role !== role) {
        unreachable.add(path);
        if (once(state, `${role}@${roleState.version}:${path}`))
          findings.error(
            'TARGET_PATH_NOT_DELEGATED',
            `${role} ${roleState.version} lists ${path}, a path no TUF client resolves to ${role}`,
            `${role}:${roleState.version}`,
          );
      }
    }
    for (const fw of roleState.firmware) {
      if (unreachable.has(fw.name)) continue;
      const foreign = scope === null ? [] : fw.hardwareIds.filter((h) => !scope.includes(h));
      if (foreign.length > 0 && once(state, `${role}@${roleState.version}:${fw.name}:hw`)) {
        findings.error(
          'HARDWARE_ID_NOT_DELEGATED',
          `${role} ${roleState.version} lists ${fw.name} for hardware ID(s) ${foreign.join(', ')} it is not delegated (${scope!.join(', ') || 'none'})`,
          `${role}:${roleState.version}`,
        );
      }
      for (const hardwareId of fw.hardwareIds) {
        const key = `${fw.sha256}|${hardwareId}`;
        if (state.seenFirmware.has(key)) continue;
        state.seenFirmware.add(key);
        newFirmware.push({ fw, hardwareId });
      }
      if (!state.seenDigests.has(fw.sha256)) {
        state.seenDigests.add(fw.sha256);
        newDigests.push(fw);
      }
    }
  }
  state.stats.firmwareTargets = state.seenDigests.size;
  return { findings: findings.list, newFirmware, newDigests };
}
