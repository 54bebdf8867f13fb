import type { Metadata, Root } from '@tufjs/models';
import type { LoggedRelease } from '../chain/types.js';
import { isHash32 } from '../util/hex.js';
import type { Findings } from './findings.js';
import { findCoveringEntry, checkEntryFirmware } from './metadata-history/check-chain-entry.js';
import { checkDelegatedTargets } from './metadata-history/check-delegated-targets.js';
import { checkReleasesServed } from './metadata-history/check-releases-served.js';
import { checkRoleVersions } from './metadata-history/check-role-versions.js';
import { checkServedSnapshots } from './metadata-history/check-served-snapshots.js';
import { checkSnapshotMeta } from './metadata-history/check-snapshot-meta.js';
import { checkSnapshot, pinnedVersions } from './metadata-history/check-snapshot.js';
import { checkTimestamp } from './metadata-history/check-timestamp.js';
import { checkUndelegatedRoles } from './metadata-history/check-undelegated-roles.js';
import {
  fetchRoleFiles,
  fetchServedVersions,
  fetchSnapshots,
  fetchTimestamp,
} from './metadata-history/fetch.js';
import { createReplayState, type FirmwareTarget } from './metadata-history/model.js';
import { resolveTarget } from './metadata-history/resolve-target.js';
import { checkRoleFile, readRoleFile } from './metadata-history/role-file.js';
import { walkDelegations } from './metadata-history/walk-delegations.js';
import type { AuditFinding, AuditSource } from './source.js';

export interface MetadataHistoryInput {
  source: AuditSource;
  /** The verified root chain, oldest first. */
  roots: readonly Metadata<Root>[];
  releases: readonly LoggedRelease[];
  findings: Findings;
  stats: Record<string, number>;
  /**
   * Called once per firmware digest, in the snapshot that first lists it, with its bundle target
   * (resolved through the delegations as a TUF client would) or undefined when none resolves.
   */
  onNewFirmware?: (
    fw: FirmwareTarget,
    bundle: { name: string; sha256: string } | undefined,
    subject: string,
  ) => Promise<void>;
}

/**
 * Replays the served metadata history against the chain (repository layout v2, and the flat
 * layout's history before the first logged snapshot):
 * - every served snapshot is signed by snapshot keys of a trusted root and logged with its exact
 *   hash; every chain entry is served;
 * - each snapshot's delegation tree is walked: every targets role at the version it pins verifies
 *   against its delegator (`Metadata.verifyDelegate`), claims that version, and lists only paths
 *   delegated to it; supplier roles list only firmware for their hardware IDs;
 * - firmware first listed in snapshot N is in chain entry N, and every logged firmware is served.
 *
 * Fetching is kept apart from checking (`metadata-history/fetch.ts` is the only part that reads
 * the source; the `check-*` modules do no I/O). Every snapshot is fetched first; then, snapshot by
 * snapshot, the role versions it adds are fetched and the checks run, so only the role versions
 * in use are held in memory. Each role version is fetched and parsed once; a role is re-verified
 * only when it or its delegator changed.
 */
export async function auditMetadataHistory(input: MetadataHistoryInput): Promise<void> {
  const { source, roots, stats } = input;
  const report = (list: readonly AuditFinding[]) => {
    for (const f of list) input.findings.list.push(f);
  };

  const served = await fetchServedVersions(source);
  stats.snapshotVersionsServed = served.length;
  const snapshots = await fetchSnapshots(source, served);
  report(checkServedSnapshots(snapshots));
  const state = createReplayState(input.releases, snapshots, stats);

  // Oldest first; each snapshot's bytes are dropped once it is replayed.
  snapshots.reverse();
  for (let file = snapshots.pop(); file !== undefined; file = snapshots.pop()) {
    if ('error' in file.fetched || file.hash === undefined) continue;
    const { version, hash } = file;
    const subject = `snapshot:${version}`;
    // Served with the logged bytes: whatever else is wrong with it, that entry is served.
    if (state.byVersion.get(version)?.metadataHash === hash) state.accounted.add(version);
    const checked = checkSnapshot(version, file.fetched.bytes, roots, state.newestSnapshotRoot);
    report(checked.findings);
    if (!checked.snapshot) continue;
    if (checked.signer !== undefined && checked.signer >= 0) {
      stats.snapshotsVerified = (stats.snapshotsVerified ?? 0) + 1;
      state.newestSnapshotRoot = Math.max(state.newestSnapshotRoot, checked.signer);
    }
    const pins = pinnedVersions(checked.snapshot);
    report(checkRoleVersions(version, pins, state.previousPins));
    state.previousPins = pins;

    const missing = [...pins].filter(([role, v]) => state.roles.get(role)?.version !== v);
    const roleFiles = await fetchRoleFiles(source, missing);
    for (const [i, [role, v]] of missing.entries()) {
      const roleState = readRoleFile(role, v, roleFiles[i]!);
      state.roles.set(role, roleState);
      if (roleState.md) stats.roleVersionsParsed = (stats.roleVersionsParsed ?? 0) + 1;
      report(checkRoleFile(role, roleState, subject));
    }
    report(checkSnapshotMeta(version, checked.snapshot.signed.meta, state.roles));

    const walk = walkDelegations(state, version, pins, roots);
    report(walk.findings);
    if (walk.complete) report(checkUndelegatedRoles(state, version, pins, walk.trusted));
    const targets = checkDelegatedTargets(state, walk.trusted, walk.scopes, walk.recheck);
    report(targets.findings);

    const covering = findCoveringEntry(state, version, hash, pins);
    report(covering.findings);
    if (covering.entry) {
      report(
        checkEntryFirmware(
          state,
          version,
          { entry: covering.entry, legacy: covering.legacy },
          targets.newFirmware,
          walk.trusted,
        ),
      );
    }

    if (input.onNewFirmware) {
      for (const fw of targets.newDigests) {
        const bundle =
          fw.attestation === undefined ? undefined : resolveTarget(walk.trusted, fw.attestation);
        const sha256 = bundle?.file.hashes.sha256;
        await input.onNewFirmware(
          fw,
          bundle && sha256 && isHash32(sha256) ? { name: fw.attestation!, sha256 } : undefined,
          subject,
        );
      }
    }
  }

  const timestamp = await fetchTimestamp(source);
  if (timestamp) {
    report(checkTimestamp(timestamp, roots, state.snapshotHashes, (v) => state.covered.has(v)));
  }
  report(checkReleasesServed(input.releases, state.accounted));
}
