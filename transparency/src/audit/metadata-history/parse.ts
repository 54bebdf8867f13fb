import type { Targets } from '@tufjs/models';
import { isHash32, normalizeHash32 } from '../../util/hex.js';
import type { FirmwareTarget } from './model.js';

/**
 * The firmware targets a targets role lists (attestation bundles, deltas and non-sha256 targets
 * aside). A delta (`kind: 'delta'`) is never installed as it is: an agent only rebuilds from it
 * the firmware target it names, and checks the result against that target's logged hashes.
 */
export function firmwareTargets(role: string, targets: Targets): FirmwareTarget[] {
  const out: FirmwareTarget[] = [];
  for (const [name, file] of Object.entries(targets.targets)) {
    const custom = file.custom ?? {};
    if (custom.kind === 'attestation' || custom.kind === 'delta') continue;
    const sha256 = file.hashes.sha256;
    if (!sha256 || !isHash32(sha256)) continue;
    out.push({
      name,
      sha256: normalizeHash32(sha256),
      hardwareIds: Array.isArray(custom.hardwareIds)
        ? [...new Set(custom.hardwareIds.filter((h): h is string => typeof h === 'string'))]
        : [],
      releaseCounter: typeof custom.releaseCounter === 'number' ? custom.releaseCounter : undefined,
      attestation: typeof custom.attestation === 'string' ? custom.attestation : undefined,
      role,
    });
  }
  return out;
}
