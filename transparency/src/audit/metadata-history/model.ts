import type { Metadata, Targets } from '@tufjs/models';
import type { LoggedRelease } from '../../chain/types.js';

/** What the fetch phase got for one file: its exact bytes, or why not. */
export type Fetched = { bytes: Uint8Array } | { error: unknown };

/** A served snapshot version, fetched and hashed. */
export interface SnapshotFile {
  version: number;
  fetched: Fetched;
  /** sha256 hex of the bytes, when fetched. */
  hash: string | undefined;
}

export interface FirmwareTarget {
  name: string;
  sha256: string;
  hardwareIds: string[];
  releaseCounter: number | undefined;
  /** Target path of its Sigstore bundle (custom.attestation), resolved like any TUF target. */
  attestation: string | undefined;
  /** The targets role that lists it. */
  role: string;
}

/** One version of a targets role as fetched and parsed. */
export interface RoleState {
  version: number;
  sha256: string;
  length: number;
  /** Why it could not be fetched, when it could not. */
  fetchError?: unknown;
  /** Why it does not parse as targets metadata, when it does not. */
  parseError?: string;
  /** null when the file could not be fetched or parsed. */
  md: Metadata<Targets> | null;
  /** The same metadata for signature checks: its signed part as received (see parseTargetsMetadata). */
  asReceived: Metadata<Targets> | null;
  firmware: FirmwareTarget[];
  /** Paths it lists that no TUF client resolves to it (as of its last check). */
  unreachable: Set<string>;
}

/**
 * What the replay of snapshot N carries to snapshot N+1. The checks read and extend it; they do
 * no I/O, so a test builds one from plain data.
 */
export interface ReplayState {
  /** Chain entries by metadataVersion. */
  readonly byVersion: ReadonlyMap<number, LoggedRelease>;
  /** sha256 of every snapshot version fetched. */
  readonly snapshotHashes: ReadonlyMap<number, string>;
  /** The first snapshot served with the bytes its chain entry logs (Infinity: none). */
  readonly firstLoggedSnapshot: number;
  /** The version of each role the latest snapshot pins, fetched and parsed once. */
  readonly roles: Map<string, RoleState>;
  /** `delegator@version#sha>role@version#sha` -> whether it verified. */
  readonly verified: Map<string, boolean>;
  /** `sha256|hardwareId` of firmware already seen, and digests already seen. */
  readonly seenFirmware: Set<string>;
  readonly seenDigests: Set<string>;
  /** Chain entry versions that a served file accounts for. */
  readonly accounted: Set<number>;
  /** Snapshot versions a chain entry covers (their own, or a flat-layout targets entry). */
  readonly covered: Set<number>;
  readonly reportedLegacyTargets: Set<number>;
  readonly checkedLegacyEntries: Set<number>;
  readonly undelegatedReported: Set<string>;
  /** Keys of findings reported once (a role version is re-checked when others change). */
  readonly reported: Set<string>;
  newestSnapshotRoot: number;
  newestTargetsRoot: number;
  previousPins: ReadonlyMap<string, number>;
  readonly hardwareIdHashes: Map<string, string>;
  readonly stats: Record<string, number>;
}

export function createReplayState(
  releases: readonly LoggedRelease[],
  snapshots: readonly SnapshotFile[],
  stats: Record<string, number>,
): ReplayState {
  const byVersion = new Map<number, LoggedRelease>();
  for (const r of releases) byVersion.set(r.metadataVersion, r);
  const snapshotHashes = new Map<number, string>();
  let firstLoggedSnapshot = Infinity;
  for (const { version, hash } of snapshots) {
    if (hash === undefined) continue;
    snapshotHashes.set(version, hash);
    if (byVersion.get(version)?.metadataHash === hash) {
      firstLoggedSnapshot = Math.min(firstLoggedSnapshot, version);
    }
  }
  return {
    byVersion,
    snapshotHashes,
    firstLoggedSnapshot,
    roles: new Map(),
    verified: new Map(),
    seenFirmware: new Set(),
    seenDigests: new Set(),
    accounted: new Set(),
    covered: new Set(),
    reportedLegacyTargets: new Set(),
    checkedLegacyEntries: new Set(),
    undelegatedReported: new Set(),
    reported: new Set(),
    newestSnapshotRoot: 0,
    newestTargetsRoot: 0,
    previousPins: new Map(),
    hardwareIdHashes: new Map(),
    stats,
  };
}

/** True the first time a finding key is seen. */
export function once(state: ReplayState, key: string): boolean {
  if (state.reported.has(key)) return false;
  state.reported.add(key);
  return true;
}
