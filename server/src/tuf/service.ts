import type { Metadata, Root, Snapshot, Targets } from '@tufjs/models';
import type { RepositoryStore, ReleaseRecord } from '../storage/store.js';
import {
  createRepositoryCore,
  type RepositoryCore,
  type RepositoryCoreOptions,
} from './core/repository-core.js';
import type { LocatedTarget } from './core/repository-state.js';
import { FreshnessGuard, refreshExpiring } from './expiry-resign.js';
import { FirmwareIndex, type FirmwareSummary } from './firmware-index.js';
import type { ReleaseTargetInput } from './firmware-target.js';
import type { SupplierInput } from './layout.js';
import { prepareOfflineDeltas, type OfflineImageDeltas } from './offline-deltas.js';
import { acceptSignedTargets } from './offline-targets.js';
import {
  ensureSnapshotLogged,
  recoverInterruptedPublishes,
  type ChainLookup,
  type RecoveryReport,
} from './recovery.js';
import type { DrainReport } from './log-outbox.js';
import { publishRelease, type PublishResult } from './releases.js';
import { revokeRelease } from './revocation.js';
import { roleStatus, type RoleStatus } from './role-status.js';
import { acceptRoot } from './root-rotation.js';
import { acceptSupplierMetadata, addSupplier } from './suppliers.js';
import { deltaTargetsIndex, type DeltaImage } from './deltas.js';

export { errorText } from './error-text.js';
export { attestationTargetName, type ReleaseTargetInput } from './firmware-target.js';
export type {
  ChainLookup,
  DeltaImage,
  OfflineImageDeltas,
  FirmwareSummary,
  LocatedTarget,
  PublishResult,
  RecoveryReport,
  RoleStatus,
};

export type RepositoryServiceOptions = RepositoryCoreOptions;

/**
 * The TUF image repository as the routes, the daemon and the tests see it. Each method hands
 * over to the module of its capability (releases.ts, revocation.ts, offline-targets.ts,
 * suppliers.ts, root-rotation.ts, expiry-resign.ts, recovery.ts, role-status.ts), all working on
 * one RepositoryCore: what is served (core/repository-state.ts), the online keys, and the publish
 * pipeline (stage -> log on chain -> confirm -> commit -> serve) behind the publish lock.
 *
 * Layout (layout.ts): top-level targets delegates to hardware-ID-scoped supplier roles and to
 * `bins`, which delegates TAP 15 hashed bins. Every snapshot version is logged on chain before it
 * becomes visible; the snapshot names every targets-role version, so the logged hash pins the
 * whole repository state a vehicle can see.
 */
export class RepositoryService {
  /** The shared core; a new capability is a module of functions taking it. */
  readonly core: RepositoryCore;
  readonly #freshness: FreshnessGuard;
  readonly #firmware: FirmwareIndex;

  constructor(opts: RepositoryServiceOptions) {
    this.core = createRepositoryCore(opts);
    this.#freshness = new FreshnessGuard(this.core);
    this.#firmware = new FirmwareIndex(this.core);
  }

  get store(): RepositoryStore {
    return this.core.store;
  }

  /** Runs `fn` while holding the publish lock (for idempotency checks around a publish). */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    return this.core.lock.run(fn);
  }

  // What is served now (core/repository-state.ts). Treat what they return as read-only.
  trustedRoot(): Promise<Metadata<Root>> {
    return this.core.state.trustedRoot();
  }
  currentSnapshot(): Promise<Metadata<Snapshot>> {
    return this.core.state.currentSnapshot();
  }
  currentTargets(): Promise<Metadata<Targets>> {
    return this.core.state.currentTargets();
  }
  roleMetadata(role: string): Promise<Metadata<Targets> | undefined> {
    return this.core.state.roleMetadata(role);
  }
  binFor(path: string): Promise<string | undefined> {
    return this.core.state.binFor(path);
  }
  findTarget(path: string): Promise<LocatedTarget | undefined> {
    return this.core.state.findTarget(path);
  }
  /** The paths of the delta targets served, by the sha256 of the image each rebuilds. */
  async deltaTargetsIndex(): Promise<Map<string, string[]>> {
    const index = await deltaTargetsIndex(this.core);
    return new Map([...index].map(([sha256, ds]) => [sha256, ds.map((d) => d.path)]));
  }
  hasOnlineTargets(): boolean {
    return this.core.keys.hasOnlineTargets();
  }
  latestFirmware(hardwareId: string): Promise<FirmwareSummary | undefined> {
    return this.#firmware.latest(hardwareId);
  }
  roleStatus(): Promise<RoleStatus[]> {
    return roleStatus(this.core);
  }

  /** Builds, signs, logs and publishes a release. Call inside `serialize`. */
  publishRelease(inputs: ReleaseTargetInput[]): Promise<PublishResult> {
    return publishRelease(this.core, inputs);
  }
  revokeRelease(id: number, reason: string): Promise<ReleaseRecord> {
    return revokeRelease(this.core, id, reason);
  }
  acceptSignedTargets(bytes: Uint8Array): Promise<PublishResult> {
    return acceptSignedTargets(this.core, bytes);
  }
  /** The deltas offline signers list with the images they add (offline-deltas.ts). */
  prepareOfflineDeltas(images: readonly DeltaImage[]): Promise<OfflineImageDeltas[]> {
    return prepareOfflineDeltas(this.core, images);
  }
  addSupplier(input: SupplierInput): Promise<{ role: string; metadataVersion: number }> {
    return addSupplier(this.core, input);
  }
  acceptSupplierMetadata(supplierId: string, bytes: Uint8Array): Promise<PublishResult> {
    return acceptSupplierMetadata(this.core, supplierId, bytes);
  }
  acceptRoot(bytes: Uint8Array): Promise<{ version: number }> {
    return acceptRoot(this.core, bytes);
  }

  refreshExpiring(): Promise<string[]> {
    return refreshExpiring(this.core);
  }
  /** Before a read is served: re-signs expired online metadata, or throws METADATA_EXPIRED. */
  ensureFresh(): Promise<number> {
    return this.#freshness.ensureFresh();
  }

  recoverInterruptedPublishes(chain: ChainLookup): Promise<RecoveryReport> {
    return recoverInterruptedPublishes(this.core, chain);
  }
  /** Appends what the transparency log is still owed (tuf/log-outbox.ts); never throws. */
  drainLogOutbox(chain?: ChainLookup): Promise<DrainReport> {
    return this.core.pipeline.outbox.drain(chain);
  }

  ensureSnapshotLogged(chain: ChainLookup): Promise<boolean> {
    return ensureSnapshotLogged(this.core, chain);
  }
}
