import { hardwareIdHash } from '@tufchain/contracts';
import type { LoggedRelease } from '../../chain/types.js';
import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { FirmwareTarget, ReplayState, RoleState } from './model.js';

export interface CoveringEntry {
  findings: AuditFinding[];
  /** The chain entry that covers the snapshot, if any. */
  entry: LoggedRelease | undefined;
  /** True when it is a flat-layout entry that logged the top-level targets the snapshot pins. */
  legacy: boolean;
}

/**
 * The chain entry covering snapshot `version`: its own, logged with its exact hash (layout v2),
 * or, for a snapshot before the first logged one that pins only `targets`, the flat-layout entry
 * that logged that targets version. Records which entries are served and which snapshots are
 * covered in `state`.
 */
export function findCoveringEntry(
  state: ReplayState,
  version: number,
  snapshotHash: string,
  pins: ReadonlyMap<string, number>,
): CoveringEntry {
  const findings = new Findings();
  const subject = `snapshot:${version}`;
  let entry: LoggedRelease | undefined;
  let legacy = false;
  const own = state.byVersion.get(version);
  const flat = pins.size === 1 && pins.has('targets');
  if (own?.metadataHash === snapshotHash) {
    entry = own;
    state.accounted.add(version);
  } else if (flat && version < state.firstLoggedSnapshot) {
    const targetsVersion = pins.get('targets')!;
    const targets = state.roles.get('targets');
    const logged = state.byVersion.get(targetsVersion);
    if (logged && targets?.md && logged.metadataHash === targets.sha256) {
      entry = logged;
      legacy = true;
      state.accounted.add(targetsVersion);
    } else if (!state.reportedLegacyTargets.has(targetsVersion)) {
      state.reportedLegacyTargets.add(targetsVersion);
      if (logged) state.accounted.add(targetsVersion);
      findings.error(
        logged ? 'METADATA_HASH_MISMATCH' : 'METADATA_NOT_LOGGED',
        logged
          ? `served targets ${targetsVersion} hashes to ${targets?.sha256}, chain logged ${logged.metadataHash}`
          : `targets version ${targetsVersion} (flat layout, snapshot ${version}) was served but never logged`,
        `targets:${targetsVersion}`,
      );
    }
  } else if (own) {
    state.accounted.add(version);
    findings.error(
      'METADATA_HASH_MISMATCH',
      `served snapshot ${version} hashes to ${snapshotHash}, chain logged ${own.metadataHash}`,
      subject,
    );
  } else {
    findings.error(
      'METADATA_NOT_LOGGED',
      `snapshot version ${version} (${snapshotHash}) was served but never logged`,
      subject,
    );
  }
  if (entry) state.covered.add(version);
  return { findings: findings.list, entry, legacy };
}

function hardwareIdHashOf(state: Pick<ReplayState, 'hardwareIdHashes'>, hardwareId: string) {
  let h = state.hardwareIdHashes.get(hardwareId);
  if (!h) state.hardwareIdHashes.set(hardwareId, (h = hardwareIdHash(hardwareId).toLowerCase()));
  return h;
}

/** `digest|keccak(hardwareId)` of every firmware target the trusted roles list. */
function visibleFirmware(
  state: Pick<ReplayState, 'hardwareIdHashes'>,
  trusted: ReadonlyMap<string, RoleState>,
): Set<string> {
  const out = new Set<string>();
  for (const roleState of trusted.values()) {
    for (const fw of roleState.firmware) {
      if (roleState.unreachable.has(fw.name)) continue;
      for (const hw of fw.hardwareIds) out.add(`${fw.sha256}|${hardwareIdHashOf(state, hw)}`);
    }
  }
  return out;
}

/**
 * Firmware first listed in snapshot `version` is in its chain entry, for every hardware ID and
 * with its releaseCounter; every firmware the entry logs is one the snapshot serves (checked once
 * per flat-layout entry, which covers several snapshots).
 */
export function checkEntryFirmware(
  state: ReplayState,
  version: number,
  covering: { entry: LoggedRelease; legacy: boolean },
  newFirmware: readonly { fw: FirmwareTarget; hardwareId: string }[],
  trusted: ReadonlyMap<string, RoleState>,
): AuditFinding[] {
  const findings = new Findings();
  const { entry, legacy } = covering;
  const subject = legacy ? `targets:${entry.metadataVersion}` : `snapshot:${version}`;
  const logged = new Map<string, { version: number }>();
  const loggedDigests = new Set<string>();
  for (const f of entry.firmware) {
    logged.set(`${f.digest}|${f.hardwareIdHash}`, f);
    loggedDigests.add(f.digest);
  }
  for (const { fw, hardwareId } of newFirmware) {
    const hit = logged.get(`${fw.sha256}|${hardwareIdHashOf(state, hardwareId)}`);
    if (!hit) {
      findings.error(
        loggedDigests.has(fw.sha256) ? 'FIRMWARE_HARDWARE_MISMATCH' : 'FIRMWARE_NOT_LOGGED',
        loggedDigests.has(fw.sha256)
          ? `${fw.name}: hardware ID ${hardwareId} is not in the chain entry`
          : `${fw.name} (${fw.sha256}, ${hardwareId}) first listed by ${fw.role} in snapshot ${version} is not in its chain entry`,
        subject,
      );
    } else if (fw.releaseCounter !== undefined && fw.releaseCounter !== hit.version) {
      findings.error(
        'FIRMWARE_VERSION_MISMATCH',
        `${fw.name}: releaseCounter ${fw.releaseCounter}, chain logged ${hit.version}`,
        subject,
      );
    }
  }
  if (!legacy || !state.checkedLegacyEntries.has(entry.metadataVersion)) {
    state.checkedLegacyEntries.add(entry.metadataVersion);
    let visible: Set<string> | undefined;
    const added = new Set(
      newFirmware.map((n) => `${n.fw.sha256}|${hardwareIdHashOf(state, n.hardwareId)}`),
    );
    for (const f of entry.firmware) {
      const key = `${f.digest}|${f.hardwareIdHash}`;
      if (added.has(key)) continue;
      visible ??= visibleFirmware(state, trusted);
      if (!visible.has(key)) {
        findings.error(
          'LOGGED_FIRMWARE_NOT_SERVED',
          `chain entry ${entry.metadataVersion} logs ${f.digest} for hardware ${f.hardwareIdHash}, which snapshot ${version} does not list`,
          subject,
        );
      }
    }
  }
  return findings.list;
}
