import type { Metadata } from '@tufjs/models';
import { type Root, type Snapshot, TargetFile, type Targets } from '@tufjs/models';
import type { Logger } from 'pino';
import type { AttestationVerifier, FirmwareClaims } from '../attestation/verifier.js';
import type { Clock, Config } from '../config.js';
import { ServerError } from '../error.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { isValidTargetPath } from '../http/names.js';
import { Mutex } from '../mutex.js';
import type { BlobStore } from '../storage/blob-store.js';
import type {
  MetadataRecord,
  NewMetadataRecord,
  ReleaseRecord,
  RepositoryStore,
} from '../storage/store.js';
import { expiryAfter, secondsUntil } from './expiry.js';
import type { ChainReceipt, ReleaseEntry, ReleaseLog } from './release-log.js';
import {
  BINS_ROLE,
  buildSnapshotV2,
  buildTargets,
  delegationsJsonOf,
  HARDWARE_IDS_FIELD,
  roleVersionsOf,
  supplierDelegations,
  supplierFor,
  supplierRoleName,
  usesBins,
  withSupplier,
  type SupplierDelegation,
  type SupplierInput,
} from './layout.js';
import {
  binsSignersOf,
  buildTimestamp,
  parseMetadata,
  recordOf,
  targetAt,
  toArray,
  type OnlineSigners,
} from './metadata.js';
import { buildInitialBins } from './repository.js';
import { serializeMetadata, sha256Hex, signMetadata, type TufSigner } from './signer.js';

export interface ReleaseTargetInput {
  name: string;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
  /** Lowest installed version this image may be installed over (semver), if any. */
  minFromVersion?: string | undefined;
  attestation: unknown;
}

export interface PublishResult {
  release: ReleaseRecord;
  targetsVersion: number;
  metadataHash: string;
  chain: ChainReceipt;
}

export interface RoleStatus {
  /** A top-level role, a delegated role, or `bins-*` summarizing the hashed bins. */
  role: string;
  version: number;
  expires: string;
  secondsToExpiry: number;
  threshold: number;
  keyIds: string[];
  onlineKeyIds: string[];
  signing: 'online' | 'offline';
  /** Supplier roles: the hardware IDs they may sign for. */
  hardwareIds?: string[];
  /** `bins-*`: how many hashed bins; version and expiry are of the one expiring first. */
  count?: number;
}

export interface RepositoryServiceOptions {
  store: RepositoryStore;
  blobs: BlobStore;
  signers: OnlineSigners;
  releaseLog: ReleaseLog;
  verifier: AttestationVerifier;
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics?: { onPublish?(ms: number, ok: boolean): void; onResign?(role: string): void };
  /** Transparency log fed with every published targets version and every recall. */
  log?: TransparencyLogSink | undefined;
}

/** What recovery needs from the chain (ChainReader satisfies it); throws code METADATA_NOT_LOGGED when absent. */
export interface ChainLookup {
  findRelease(metadataHash: string): Promise<ChainReceipt>;
}

export interface RecoveryReport {
  published: string[];
  abandoned: string[];
  pending: string[];
}

export const attestationTargetName = (name: string): string => `${name}.sigstore.json`;

/** Where a target lives: the role whose metadata lists it, and its entry there. */
export interface LocatedTarget {
  role: string;
  file: TargetFile;
  /** The supplier delegation it came through, if any. */
  supplier?: SupplierDelegation | undefined;
}

export interface FirmwareSummary {
  name: string;
  role: string;
  releaseCounter: number;
  version: string;
  sha256: string;
  length: number;
}

interface PublishInput {
  /** New versions of targets-role files (top-level targets, bins, hashed bins, supplier roles). */
  roles: NewMetadataRecord[];
  /** The root to sign snapshot and timestamp under (a new one is committed in the same batch). */
  root: Root;
  rootRecord?: NewMetadataRecord | undefined;
  firmware: ReleaseEntry['firmware'];
  releaseId: number | null;
  batch: string;
}

/**
 * The TUF repository as a service: every change to served metadata goes
 * through here, serialized by one mutex, as stage -> (chain log) -> commit.
 *
 * Layout v2 (layout.ts): top-level targets delegates to hardware-ID-scoped supplier roles and to
 * `bins`, which delegates TAP 15 hashed bins. Every snapshot version is logged on chain before it
 * becomes visible; the snapshot names every targets-role version, so the logged hash pins the
 * whole repository state a vehicle can see.
 */
export class RepositoryService {
  readonly #o: RepositoryServiceOptions;
  readonly #lock = new Mutex();
  #earliestExpiry: number | undefined;
  /** Parsed targets-role metadata by sha256 of its bytes; parsing is the expensive part. */
  readonly #parsed = new Map<string, Metadata<Targets>>();
  #snapshotCache: { sha256: string; versions: Map<string, number> } | undefined;
  #firmwareIndex: { sha256: string; byHardware: Map<string, FirmwareSummary> } | undefined;

  constructor(opts: RepositoryServiceOptions) {
    this.#o = opts;
  }

  get store(): RepositoryStore {
    return this.#o.store;
  }

  /** Runs `fn` while holding the publish lock (for idempotency checks around a publish). */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(fn);
  }

  async #current(role: string): Promise<MetadataRecord> {
    const rec = await this.#o.store.currentMetadata(role);
    if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no current ${role} metadata`);
    return rec;
  }

  async trustedRoot(): Promise<Metadata<Root>> {
    return parseMetadata('root', (await this.#current('root')).bytes);
  }

  #parse(rec: { sha256: string; bytes: Uint8Array }): Metadata<Targets> {
    const hit = this.#parsed.get(rec.sha256);
    if (hit) return hit;
    const md = parseMetadata('targets', rec.bytes);
    // Bounded: the current bins plus a few superseded versions.
    if (this.#parsed.size > 4096) this.#parsed.clear();
    this.#parsed.set(rec.sha256, md);
    return md;
  }

  /** The current metadata of a targets role, parsed once per version. Treat as read-only. */
  async roleMetadata(role: string): Promise<Metadata<Targets> | undefined> {
    const digest = await this.#o.store.currentMetadataDigest(role);
    if (!digest) return undefined;
    const hit = this.#parsed.get(digest.sha256);
    if (hit) return hit;
    const rec = await this.#o.store.currentMetadata(role);
    return rec ? this.#parse(rec) : undefined;
  }

  /** The served top-level targets. Treat as read-only. */
  async currentTargets(): Promise<Metadata<Targets>> {
    const md = await this.roleMetadata('targets');
    if (!md) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current targets metadata');
    return md;
  }

  /** Role -> version of every targets-role file the current snapshot names. */
  async #roleVersions(): Promise<Map<string, number>> {
    const digest = await this.#o.store.currentMetadataDigest('snapshot');
    if (!digest) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current snapshot');
    if (this.#snapshotCache?.sha256 !== digest.sha256) {
      const rec = await this.#current('snapshot');
      this.#snapshotCache = {
        sha256: rec.sha256,
        versions: roleVersionsOf(parseMetadata('snapshot', rec.bytes).signed),
      };
    }
    return new Map(this.#snapshotCache.versions);
  }

  #signersFor(role: 'targets' | 'snapshot' | 'timestamp', root: Root): TufSigner[] {
    const def = root.roles[role];
    if (!def) throw new ServerError('INTERNAL', `root defines no ${role} role`);
    const allowed = new Set(def.keyIDs);
    const chosen = toArray(this.#o.signers[role]).filter((s) => allowed.has(s.keyId));
    if (chosen.length < def.threshold) {
      if (role === 'targets' && toArray(this.#o.signers.targets).length === 0) {
        throw new ServerError(
          'OFFLINE_TARGETS_REQUIRED',
          'targets is signed offline; upload signed targets metadata',
        );
      }
      throw new ServerError(
        'ONLINE_KEY_NOT_AUTHORIZED',
        `only ${chosen.length} of the configured ${role} keys are authorized by root (threshold ${def.threshold})`,
      );
    }
    return chosen.slice(0, Math.max(def.threshold, 1));
  }

  /** Signers for `bins` and the hashed bins, as top-level targets delegates them. */
  #binsSigners(top: Targets): TufSigner[] {
    const def = top.delegations?.roles?.[BINS_ROLE];
    const chosen = binsSignersOf(this.#o.signers).filter((s) => def?.keyIDs.includes(s.keyId));
    if (!def || chosen.length < def.threshold) {
      throw new ServerError(
        'ONLINE_KEY_NOT_AUTHORIZED',
        'the configured bins keys are not a threshold of the bins delegation',
      );
    }
    return chosen.slice(0, Math.max(def.threshold, 1));
  }

  hasOnlineTargets(): boolean {
    return toArray(this.#o.signers.targets).length > 0;
  }

  async #nextVersion(role: string, current: number): Promise<number> {
    return Math.max(await this.#o.store.maxVersion(role), current) + 1;
  }

  /** The hashed bin a path belongs to (TAP 15), or undefined for a flat repository. */
  async binFor(path: string): Promise<string | undefined> {
    const bins = await this.roleMetadata(BINS_ROLE);
    return bins?.signed.delegations?.succinctRoles?.getRoleForTarget(path);
  }

  /**
   * Resolves a target path the way a TUF client does: top-level first, then the one
   * terminating delegation whose paths match (a supplier role, else the bins).
   */
  async findTarget(path: string): Promise<LocatedTarget | undefined> {
    const top = (await this.currentTargets()).signed;
    const direct = targetAt(top.targets, path);
    if (direct) return { role: 'targets', file: direct };
    const supplier = supplierFor(path, supplierDelegations(top));
    if (supplier) {
      const role = await this.roleMetadata(supplier.role);
      const file = role && targetAt(role.signed.targets, path);
      return file ? { role: supplier.role, file, supplier } : undefined;
    }
    if (!usesBins(top) || !top.delegations?.roles?.[BINS_ROLE]?.isDelegatedPath(path)) {
      return undefined;
    }
    const bin = await this.binFor(path);
    const binMd = bin ? await this.roleMetadata(bin) : undefined;
    const file = binMd && targetAt(binMd.signed.targets, path);
    return bin && file ? { role: bin, file } : undefined;
  }

  /**
   * The newest firmware per hardware ID across every current targets role: a discovery hint
   * for vehicles, which still resolve and verify the name through TUF and the chain.
   */
  async latestFirmware(hardwareId: string): Promise<FirmwareSummary | undefined> {
    const snapshot = await this.#o.store.currentMetadataDigest('snapshot');
    if (!snapshot) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current snapshot');
    if (this.#firmwareIndex?.sha256 !== snapshot.sha256) {
      const byHardware = new Map<string, FirmwareSummary>();
      for (const role of (await this.#roleVersions()).keys()) {
        const rec = await this.#o.store.currentMetadata(role);
        if (!rec) continue;
        // Plain JSON: the hint needs custom fields only, and 100,000 targets parse in ~1 s this way.
        const signed = (
          JSON.parse(new TextDecoder().decode(rec.bytes)) as {
            signed: {
              targets?: Record<
                string,
                { length: number; hashes: Record<string, string>; custom?: Record<string, unknown> }
              >;
            };
          }
        ).signed;
        for (const [name, file] of Object.entries(signed.targets ?? {})) {
          const c = file.custom;
          if (c?.kind !== 'firmware' || !Array.isArray(c.hardwareIds)) continue;
          const counter = c.releaseCounter;
          if (typeof counter !== 'number' || typeof c.version !== 'string') continue;
          for (const h of c.hardwareIds) {
            if (typeof h !== 'string') continue;
            const best = byHardware.get(h);
            if (!best || counter > best.releaseCounter) {
              byHardware.set(h, {
                name,
                role,
                releaseCounter: counter,
                version: c.version,
                sha256: file.hashes.sha256 ?? '',
                length: file.length,
              });
            }
          }
        }
      }
      this.#firmwareIndex = { sha256: snapshot.sha256, byHardware };
    }
    return this.#firmwareIndex.byHardware.get(hardwareId);
  }

  // ---------------------------------------------------------------- publish

  /** Builds, signs, logs and publishes a release. Call inside `serialize`. */
  async publishRelease(inputs: ReleaseTargetInput[]): Promise<PublishResult> {
    const started = performance.now();
    let ok = false;
    try {
      const result = await this.#publishRelease(inputs);
      ok = true;
      return result;
    } finally {
      this.#o.metrics?.onPublish?.(performance.now() - started, ok);
    }
  }

  async #publishRelease(inputs: ReleaseTargetInput[]): Promise<PublishResult> {
    const root = (await this.trustedRoot()).signed;
    const top = await this.currentTargets();
    const binned = usesBins(top.signed);
    const suppliers = supplierDelegations(top.signed);
    const names = new Set<string>();
    for (const t of inputs) {
      for (const n of [t.name, attestationTargetName(t.name)]) {
        if (names.has(n)) throw new ServerError('DUPLICATE_TARGET', `target ${n} appears twice`);
        names.add(n);
        if (supplierFor(n, suppliers)) {
          throw new ServerError(
            'HARDWARE_ID_NOT_DELEGATED',
            `${n} is under a supplier's hardware ID; only that supplier's role can list it`,
          );
        }
        if (await this.findTarget(n)) {
          throw new ServerError(
            'TARGET_ALREADY_RELEASED',
            `target ${n} is already in targets metadata`,
          );
        }
      }
    }
    const additions: TargetFile[] = [];
    const firmware: ReleaseEntry['firmware'] = [];
    for (const t of inputs) {
      const { image, bundle } = await this.#prepareTarget(t);
      additions.push(image, bundle);
      for (const hardwareId of t.hardwareIds) {
        firmware.push({
          digest: `0x${image.hashes.sha256!}`,
          hardwareId,
          version: t.releaseCounter,
        });
      }
    }
    const now = this.#o.clock();
    const changed: NewMetadataRecord[] = [];
    if (binned) {
      const signers = this.#binsSigners(top.signed);
      const byBin = new Map<string, TargetFile[]>();
      for (const a of additions) {
        const bin = await this.binFor(a.path);
        if (!bin)
          throw new ServerError('INTERNAL', 'targets delegates bins but bins.json is missing');
        byBin.set(bin, [...(byBin.get(bin) ?? []), a]);
      }
      for (const [bin, files] of byBin) {
        const current = await this.roleMetadata(bin);
        const targets: Record<string, TargetFile> = { ...current?.signed.targets };
        for (const f of files) targets[f.path] = f;
        const next = buildTargets({
          version: await this.#nextVersion(bin, current?.signed.version ?? 0),
          expires: expiryAfter(now, this.#o.config.expiries.targets),
          targets,
        });
        await signMetadata(next, signers);
        changed.push(recordOf(bin, next));
      }
    } else {
      const targets: Record<string, TargetFile> = { ...top.signed.targets };
      for (const a of additions) targets[a.path] = a;
      const next = buildTargets({
        version: await this.#nextVersion('targets', top.signed.version),
        expires: expiryAfter(now, this.#o.config.expiries.targets),
        targets,
        delegations: delegationsJsonOf(top.signed),
      });
      await signMetadata(next, this.#signersFor('targets', root));
      changed.push(recordOf('targets', next));
    }
    const snapshotVersion = (await this.#o.store.maxVersion('snapshot')) + 1;
    const release = await this.#o.store.createRelease({
      targetNames: inputs.map((t) => t.name),
      targetsVersion: snapshotVersion,
    });
    const { metadataHash, chain, metadataVersion } = await this.#publish({
      roles: changed,
      root,
      firmware,
      releaseId: release.id,
      batch: `release:${release.id}`,
    });
    const stored = await this.#o.store.release(release.id);
    return { release: stored ?? release, targetsVersion: metadataVersion, metadataHash, chain };
  }

  /** A revoked release's image is never released again, under any name (TARGET_REVOKED). */
  async #refuseRevoked(sha256: string, name: string): Promise<void> {
    const revoked = await this.#o.store.revokedDigest(sha256);
    if (revoked) {
      throw new ServerError(
        'TARGET_REVOKED',
        `${name} has the bytes (sha256 ${sha256}) of release ${revoked.releaseId}, revoked at ${revoked.revokedAt}`,
      );
    }
  }

  async #prepareTarget(t: ReleaseTargetInput): Promise<{ image: TargetFile; bundle: TargetFile }> {
    const upload = await this.#o.store.upload(t.name);
    if (!upload)
      throw new ServerError('FIRMWARE_NOT_UPLOADED', `no firmware uploaded as ${t.name}`);
    // Bytes uploaded under this name before their release elsewhere was revoked.
    await this.#refuseRevoked(upload.sha256, t.name);
    let claims: FirmwareClaims;
    try {
      claims = await this.#o.verifier.verifyFirmware(t.attestation, {
        name: t.name,
        sha256: upload.sha256,
      });
    } catch (error) {
      if (error instanceof ServerError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new ServerError(
        'FIRMWARE_ATTESTATION_INVALID',
        `attestation for ${t.name} does not verify${typeof code === 'string' ? ` (${code})` : ''}`,
        { cause: error },
      );
    }
    assertClaimsMatch(t, claims);
    const bundleBytes = new TextEncoder().encode(JSON.stringify(t.attestation));
    const bundleBlob = await this.#o.blobs.writeBytes(bundleBytes);
    await this.#o.store.recordBlob(bundleBlob);
    const custom: Record<string, unknown> = {
      kind: 'firmware',
      hardwareIds: t.hardwareIds,
      version: t.version,
      releaseCounter: t.releaseCounter,
      attestation: attestationTargetName(t.name),
    };
    if (t.minFromVersion !== undefined) custom.minFromVersion = t.minFromVersion;
    const image = new TargetFile({
      path: t.name,
      length: upload.length,
      hashes: { sha256: upload.sha256, sha512: upload.sha512 },
      unrecognizedFields: { custom: custom as never },
    });
    const bundle = new TargetFile({
      path: attestationTargetName(t.name),
      length: bundleBlob.length,
      hashes: { sha256: bundleBlob.sha256, sha512: bundleBlob.sha512 },
      unrecognizedFields: { custom: { kind: 'attestation', subject: t.name } },
    });
    return { image, bundle };
  }

  /**
   * stage roles+snapshot+timestamp -> log the snapshot on chain (waits for confirmation)
   * -> flip the current pointers in one transaction. Nothing is visible before the flip.
   */
  async #publish(p: PublishInput): Promise<{
    metadataHash: string;
    metadataVersion: number;
    chain: ChainReceipt;
  }> {
    const now = this.#o.clock();
    const versions = await this.#roleVersions();
    for (const r of p.roles) versions.set(r.role, r.version);
    const snapshotVersion = (await this.#o.store.maxVersion('snapshot')) + 1;
    const snapshot = buildSnapshotV2(
      snapshotVersion,
      expiryAfter(now, this.#o.config.expiries.snapshot),
      versions,
    );
    await signMetadata(snapshot, this.#signersFor('snapshot', p.root));
    const snapshotRec = recordOf('snapshot', snapshot);
    const timestamp = buildTimestamp(
      (await this.#o.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#o.config.expiries.timestamp),
      snapshotVersion,
      snapshotRec.bytes,
    );
    await signMetadata(timestamp, this.#signersFor('timestamp', p.root));
    const records = [
      ...(p.rootRecord ? [p.rootRecord] : []),
      ...p.roles,
      snapshotRec,
      recordOf('timestamp', timestamp),
    ];
    const keys = records.map((r) => ({ role: r.role, version: r.version }));
    await this.#o.store.stageMetadata(records, p.batch);
    const metadataHash = `0x${snapshotRec.sha256}`;
    if (p.releaseId !== null) {
      await this.#o.store.updateRelease(p.releaseId, {
        metadataHash,
        targetsVersion: snapshotVersion,
      });
    }
    let chain: ChainReceipt;
    // Release status follows the chain: logged (tx, block) once mined, confirmed at commit.
    let logged: Promise<void> = Promise.resolve();
    const onMined = (receipt: ChainReceipt): void => {
      const id = p.releaseId;
      if (id === null) return;
      logged = logged
        .then(() => this.#o.store.updateRelease(id, { status: 'logged', chain: receipt }))
        .catch((error: unknown) => {
          this.#o.logger.warn(
            { releaseId: id, err: errorText(error) },
            'release status update failed',
          );
        });
    };
    try {
      chain = await this.#o.releaseLog.logRelease(
        { metadataVersion: snapshotVersion, metadataHash, firmware: p.firmware },
        { onMined },
      );
      await logged;
    } catch (error) {
      await logged;
      await this.#o.store.abandonMetadata(keys);
      const message = `logging snapshot v${snapshotVersion} on chain failed: ${errorText(error)}`;
      if (p.releaseId !== null)
        await this.#o.store.updateRelease(p.releaseId, { status: 'failed', error: message });
      this.#o.logger.warn(
        { snapshotVersion, err: errorText(error) },
        'chain log failed; metadata not published',
      );
      throw new ServerError('CHAIN_LOG_FAILED', message, { cause: error });
    }
    await this.#o.store.commitMetadata(
      keys,
      p.releaseId !== null
        ? { id: p.releaseId, patch: { status: 'confirmed', chain, metadataHash } }
        : undefined,
    );
    this.#earliestExpiry = undefined;
    this.#appendToLog(() =>
      this.#o.log?.appendRelease(
        { metadataVersion: snapshotVersion, metadataHash, firmware: p.firmware },
        chain,
      ),
    );
    this.#o.logger.info(
      {
        snapshotVersion,
        roles: p.roles.map((r) => `${r.role}@${r.version}`),
        metadataHash,
        txHash: chain.txHash,
        blockNumber: chain.blockNumber,
      },
      'metadata published',
    );
    return { metadataHash, metadataVersion: snapshotVersion, chain };
  }

  /** Re-signs timestamp alone (snapshot unchanged, so nothing new to log). */
  async #publishTimestamp(root: Root): Promise<void> {
    const now = this.#o.clock();
    const current = await this.#current('snapshot');
    const timestamp = buildTimestamp(
      (await this.#o.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#o.config.expiries.timestamp),
      current.version,
      current.bytes,
    );
    await signMetadata(timestamp, this.#signersFor('timestamp', root));
    const rec = recordOf('timestamp', timestamp);
    await this.#o.store.stageMetadata([rec], 'resign');
    await this.#o.store.commitMetadata([{ role: rec.role, version: rec.version }]);
    this.#earliestExpiry = undefined;
  }

  #appendToLog(append: () => unknown): void {
    try {
      append();
    } catch (error) {
      // The chain already holds the entry; the log append is retried by nobody, so say so loudly.
      this.#o.logger.error({ err: errorText(error) }, 'transparency log append failed');
    }
  }

  /**
   * Benchmark seeding only (server/bench): publishes pre-signed targets-role files in one logged
   * snapshot, without the blob and attestation checks a release gets. No route reaches it. Call
   * inside `serialize`.
   */
  async seedRolesForBenchmark(roles: NewMetadataRecord[]): Promise<void> {
    await this.#publish({
      roles,
      root: (await this.trustedRoot()).signed,
      firmware: [],
      releaseId: null,
      batch: 'seed',
    });
  }

  // ---------------------------------------------------------------- crash recovery

  /**
   * Finishes publishes a crash interrupted. A staged batch whose snapshot the chain holds
   * (confirmed) is published exactly as staged, so what is served is what is logged; one the
   * chain does not hold is abandoned (its version numbers are never reused). If the chain cannot
   * answer yet, the batch stays staged for the next attempt. Runs under the publish lock.
   */
  recoverInterruptedPublishes(chain: ChainLookup): Promise<RecoveryReport> {
    return this.#lock.run(async () => {
      const report: RecoveryReport = { published: [], abandoned: [], pending: [] };
      if (!(await this.#o.store.currentMetadata('root'))) return report;
      for (const { batch, records } of await this.#o.store.stagedBatches()) {
        const keys = records.map((r) => ({ role: r.role, version: r.version }));
        const snapshot = records.find((r) => r.role === 'snapshot');
        const newRoot = records.find((r) => r.role === 'root');
        const releaseId = /^release:(\d+)$/.exec(batch)?.[1];
        const currentSnapshot = await this.#current('snapshot');
        const currentRoot = await this.#current('root');
        const abandon = async (why: string): Promise<void> => {
          await this.#o.store.abandonMetadata(keys);
          if (releaseId)
            await this.#o.store.updateRelease(Number(releaseId), { status: 'failed', error: why });
          report.abandoned.push(batch);
        };
        if (
          !snapshot ||
          snapshot.version <= currentSnapshot.version ||
          (newRoot && newRoot.version !== currentRoot.version + 1)
        ) {
          await abandon('interrupted before it was logged; superseded');
          continue;
        }
        const metadataHash = `0x${snapshot.sha256}`;
        let logged: ChainReceipt;
        try {
          logged = await chain.findRelease(metadataHash);
        } catch (error) {
          if ((error as { code?: unknown }).code === 'METADATA_NOT_LOGGED') {
            await abandon('interrupted before the chain logged it');
          } else {
            this.#o.logger.warn(
              { batch, err: errorText(error) },
              'cannot tell yet whether an interrupted publish was logged',
            );
            report.pending.push(batch);
          }
          continue;
        }
        const chainRef = {
          txHash: logged.txHash,
          blockNumber: logged.blockNumber,
          blockHash: logged.blockHash,
        };
        await this.#o.store.commitMetadata(
          keys,
          releaseId
            ? {
                id: Number(releaseId),
                patch: { status: 'confirmed', chain: chainRef, metadataHash },
              }
            : undefined,
        );
        this.#earliestExpiry = undefined;
        this.#o.logger.warn(
          { batch, snapshotVersion: snapshot.version },
          'published an interrupted publish the chain had logged',
        );
        report.published.push(batch);
      }
      return report;
    });
  }

  /**
   * Vehicles accept only a snapshot the chain holds. A repository whose current snapshot is not
   * logged (one upgraded from the flat layout, which logged targets; or a chain that lost the entry)
   * gets a fresh snapshot logged before it serves. Runs under the publish lock; true if it re-signed.
   */
  ensureSnapshotLogged(chain: ChainLookup): Promise<boolean> {
    return this.#lock.run(async () => {
      const current = await this.#o.store.currentMetadataDigest('snapshot');
      if (!current) return false;
      try {
        await chain.findRelease(`0x${current.sha256}`);
        return false;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'METADATA_NOT_LOGGED') throw error;
      }
      await this.#publish({
        roles: [],
        root: (await this.trustedRoot()).signed,
        firmware: [],
        releaseId: null,
        batch: 'relog',
      });
      this.#o.logger.warn(
        { snapshotVersion: current.version },
        'the served snapshot was not on chain; a new snapshot was logged and published',
      );
      return true;
    });
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Re-signs every online role whose remaining validity is inside its window: top-level targets
   * (when its key is online), `bins` and EVERY hashed bin (empty ones too), snapshot, timestamp.
   * Runs under the lock and re-reads state there, so concurrent callers never double-bump.
   * Returns the roles that got a new version.
   */
  refreshExpiring(): Promise<string[]> {
    return this.#lock.run(() => this.#refreshExpiring());
  }

  async #refreshExpiring(): Promise<string[]> {
    const now = this.#o.clock();
    const w = this.#o.config.resignWindows;
    const dueIn = async (role: string, window: number): Promise<boolean> => {
      const d = await this.#o.store.currentMetadataDigest(role);
      return d !== undefined && secondsUntil(d.expires, now) <= window;
    };
    const root = (await this.trustedRoot()).signed;
    const top = await this.currentTargets();
    const changed: NewMetadataRecord[] = [];
    const expires = expiryAfter(now, this.#o.config.expiries.targets);
    if ((await dueIn('targets', w.targets)) && this.hasOnlineTargets()) {
      const next = buildTargets({
        version: await this.#nextVersion('targets', top.signed.version),
        expires,
        targets: top.signed.targets,
        delegations: delegationsJsonOf(top.signed),
      });
      await signMetadata(next, this.#signersFor('targets', root));
      changed.push(recordOf('targets', next));
    }
    if (usesBins(top.signed)) {
      const binRoles = [...(await this.#roleVersions()).keys()].filter(
        (r) => r === BINS_ROLE || r.startsWith(`${BINS_ROLE}-`),
      );
      const signers = this.#binsSigners(top.signed);
      for (const role of binRoles) {
        if (!(await dueIn(role, w.targets))) continue;
        const current = await this.roleMetadata(role);
        if (!current) continue;
        const next = buildTargets({
          version: await this.#nextVersion(role, current.signed.version),
          expires,
          targets: current.signed.targets,
          delegations: delegationsJsonOf(current.signed),
        });
        await signMetadata(next, signers);
        changed.push(recordOf(role, next));
      }
    }
    const bumped: string[] = [];
    if (changed.length > 0 || (await dueIn('snapshot', w.snapshot))) {
      await this.#publish({ roles: changed, root, firmware: [], releaseId: null, batch: 'resign' });
      bumped.push(...changed.map((r) => r.role), 'snapshot', 'timestamp');
    } else if (await dueIn('timestamp', w.timestamp)) {
      await this.#publishTimestamp(root);
      bumped.push('timestamp');
    }
    for (const role of bumped) {
      this.#o.metrics?.onResign?.(role.startsWith(`${BINS_ROLE}-`) ? BINS_ROLE : role);
    }
    if (bumped.length > 0)
      this.#o.logger.info(
        { roles: bumped.length > 8 ? `${bumped.length} roles` : bumped },
        'online roles re-signed before expiry',
      );
    return bumped;
  }

  /** Roles that must never be served expired: top-level targets, the bins, snapshot, timestamp. */
  async #earliestOnlineExpiry(): Promise<number> {
    let min = Number.POSITIVE_INFINITY;
    const roles = ['targets', 'snapshot', 'timestamp'];
    for (const role of (await this.#roleVersions()).keys()) {
      if (role === BINS_ROLE || role.startsWith(`${BINS_ROLE}-`)) roles.push(role);
    }
    for (const role of roles) {
      const d = await this.#o.store.currentMetadataDigest(role);
      if (d) min = Math.min(min, Date.parse(d.expires));
    }
    return min;
  }

  /**
   * Guarantees the current online metadata is unexpired before a read is served; re-signs on
   * demand. Throws METADATA_EXPIRED if it cannot.
   */
  async ensureFresh(): Promise<void> {
    const now = this.#o.clock().getTime();
    if (this.#earliestExpiry !== undefined && now < this.#earliestExpiry) return;
    let min = await this.#earliestOnlineExpiry();
    if (now >= min) {
      try {
        await this.refreshExpiring();
      } catch (error) {
        this.#o.logger.error({ err: errorText(error) }, 'on-demand re-signing failed');
      }
      min = await this.#earliestOnlineExpiry();
      if (this.#o.clock().getTime() >= min) {
        throw new ServerError(
          'METADATA_EXPIRED',
          'current metadata has expired and could not be re-signed',
        );
      }
    }
    this.#earliestExpiry = min;
  }

  // ---------------------------------------------------------------- uploaded (offline) metadata

  /**
   * Checks the targets listed by uploaded metadata against uploaded blobs and attestations and
   * returns the chain entries for the firmware it adds. `previous` is what the same role listed
   * before (released targets are immutable).
   */
  async #checkUploadedTargets(
    md: Metadata<Targets>,
    previous: Record<string, TargetFile>,
    scope: SupplierDelegation | undefined,
  ): Promise<{ firmware: ReleaseEntry['firmware']; added: string[] }> {
    const firmware: ReleaseEntry['firmware'] = [];
    const added: string[] = [];
    for (const [path, file] of Object.entries(md.signed.targets)) {
      if (!isValidTargetPath(path)) {
        throw new ServerError(
          'INVALID_NAME',
          `target name ${JSON.stringify(path.slice(0, 60))} is not allowed`,
        );
      }
      if (scope && supplierFor(path, [scope]) === undefined) {
        throw new ServerError(
          'HARDWARE_ID_NOT_DELEGATED',
          `${path} is outside ${scope.role}'s paths (${scope.hardwareIds.map((h) => `${h}/*`).join(', ')})`,
        );
      }
      const sha256 = file.hashes.sha256;
      const blob = sha256 ? await this.#o.store.blobBySha256(sha256) : undefined;
      if (
        !blob ||
        blob.length !== file.length ||
        (file.hashes.sha512 !== undefined && file.hashes.sha512 !== blob.sha512)
      ) {
        throw new ServerError(
          'TARGETS_MISMATCH',
          `target ${path} does not match any uploaded blob`,
        );
      }
      const old = targetAt(previous, path);
      if (old) {
        if (!old.equals(file))
          throw new ServerError(
            'TARGETS_MISMATCH',
            `target ${path} changed; released targets are immutable`,
          );
        continue;
      }
      const custom = file.custom;
      if (custom.kind !== 'firmware') continue;
      await this.#refuseRevoked(blob.sha256, path);
      const input = firmwareInputOf(path, custom);
      if (scope) {
        const outside = input.hardwareIds.filter((h) => !scope.hardwareIds.includes(h));
        if (outside.length > 0) {
          throw new ServerError(
            'HARDWARE_ID_NOT_DELEGATED',
            `${scope.role} may not sign firmware for ${outside.join(', ')} (${path})`,
          );
        }
      }
      const bundleFile = targetAt(md.signed.targets, input.attestationName);
      if (!bundleFile?.hashes.sha256) {
        throw new ServerError(
          'FIRMWARE_ATTESTATION_INVALID',
          `target ${path} names no attestation target in the metadata`,
        );
      }
      const bundle = await readJsonBlob(this.#o.blobs, bundleFile.hashes.sha256);
      let claims: FirmwareClaims;
      try {
        claims = await this.#o.verifier.verifyFirmware(bundle, { name: path, sha256: blob.sha256 });
      } catch (error) {
        throw new ServerError(
          'FIRMWARE_ATTESTATION_INVALID',
          `attestation for ${path} does not verify`,
          { cause: error },
        );
      }
      assertClaimsMatch({ name: path, ...input }, claims);
      added.push(path);
      for (const hardwareId of input.hardwareIds) {
        firmware.push({ digest: `0x${blob.sha256}`, hardwareId, version: input.releaseCounter });
      }
    }
    return { firmware, added };
  }

  #assertFresh(md: Metadata<Targets>, floor: number, what: string): void {
    if (md.signed.version <= floor) {
      throw new ServerError('VERSION_NOT_INCREASING', `${what} version must be above ${floor}`);
    }
    if (md.signed.isExpired(this.#o.clock())) {
      throw new ServerError('METADATA_MALFORMED', `uploaded ${what} metadata is already expired`);
    }
  }

  /** Accepts offline-signed top-level targets metadata after verifying it against the trusted root. */
  acceptSignedTargets(bytes: Uint8Array): Promise<PublishResult> {
    return this.#lock.run(async () => {
      const replay = await this.#replayedUpload('targets', bytes);
      if (replay) return replay;
      const md = parseMetadata('targets', bytes);
      const rootMd = await this.trustedRoot();
      try {
        rootMd.verifyDelegate('targets', md);
      } catch (error) {
        throw new ServerError(
          'METADATA_SIGNATURE_INVALID',
          `targets metadata is not signed by a threshold of targets keys: ${errorText(error)}`,
          { cause: error },
        );
      }
      const current = await this.currentTargets();
      this.#assertFresh(
        md,
        Math.max(current.signed.version, await this.#o.store.maxVersion('targets')),
        'targets',
      );
      supplierDelegations(md.signed);
      const { firmware, added } = await this.#checkUploadedTargets(
        md,
        current.signed.targets,
        undefined,
      );
      const roles: NewMetadataRecord[] = [
        {
          role: 'targets',
          version: md.signed.version,
          bytes,
          sha256: sha256Hex(bytes),
          expires: md.signed.expires,
        },
      ];
      if (usesBins(md.signed) && !(await this.#o.store.currentMetadataDigest(BINS_ROLE))) {
        roles.push(
          ...(await buildInitialBins({
            top: md.signed,
            signers: binsSignersOf(this.#o.signers),
            bitLength: this.#o.config.binBits,
            expires: expiryAfter(this.#o.clock(), this.#o.config.expiries.targets),
          })),
        );
      } else if (usesBins(md.signed)) {
        this.#binsSigners(md.signed);
      }
      return this.#publishUploaded(roles, rootMd.signed, firmware, added);
    });
  }

  /**
   * An upload of exactly the bytes already served for the role (a retry after a lost answer)
   * gets the release that published them, instead of VERSION_NOT_INCREASING.
   */
  async #replayedUpload(role: string, bytes: Uint8Array): Promise<PublishResult | undefined> {
    const current = await this.#o.store.currentMetadataDigest(role);
    if (current?.sha256 !== sha256Hex(bytes)) return undefined;
    const batch = await this.#o.store.metadataBatch(role, current.version);
    const id = /^release:(\d+)$/.exec(batch ?? '')?.[1];
    const release = id ? await this.#o.store.release(Number(id)) : undefined;
    if (!release?.chain || !release.metadataHash) return undefined;
    return {
      release,
      targetsVersion: release.targetsVersion,
      metadataHash: release.metadataHash,
      chain: release.chain,
    };
  }

  async #publishUploaded(
    roles: NewMetadataRecord[],
    root: Root,
    firmware: ReleaseEntry['firmware'],
    added: string[],
  ): Promise<PublishResult> {
    const release = await this.#o.store.createRelease({
      targetNames: added,
      targetsVersion: (await this.#o.store.maxVersion('snapshot')) + 1,
    });
    const { metadataHash, chain, metadataVersion } = await this.#publish({
      roles,
      root,
      firmware,
      releaseId: release.id,
      batch: `release:${release.id}`,
    });
    return {
      release: (await this.#o.store.release(release.id)) ?? release,
      targetsVersion: metadataVersion,
      metadataHash,
      chain,
    };
  }

  /**
   * Accepts a supplier's role metadata, signed offline by a threshold of the supplier's keys as
   * top-level targets delegates them. Every firmware target must be for the supplier's own
   * hardware IDs (its `x-tufchain-hardware-ids`) and under their paths.
   */
  acceptSupplierMetadata(supplierId: string, bytes: Uint8Array): Promise<PublishResult> {
    return this.#lock.run(async () => {
      const role = supplierRoleName(supplierId);
      const replay = await this.#replayedUpload(role, bytes);
      if (replay) return replay;
      const top = await this.currentTargets();
      const scope = supplierDelegations(top.signed).find((s) => s.role === role);
      if (!scope) throw new ServerError('SUPPLIER_NOT_FOUND', `targets delegates no ${role}`);
      const md = parseMetadata('targets', bytes);
      try {
        top.verifyDelegate(role, md);
      } catch (error) {
        throw new ServerError(
          'METADATA_SIGNATURE_INVALID',
          `${role} metadata is not signed by a threshold of the supplier's keys: ${errorText(error)}`,
          { cause: error },
        );
      }
      if (md.signed.delegations) {
        throw new ServerError('DELEGATION_INVALID', 'supplier roles may not delegate further');
      }
      const current = await this.roleMetadata(role);
      this.#assertFresh(
        md,
        Math.max(current?.signed.version ?? 0, await this.#o.store.maxVersion(role)),
        role,
      );
      const { firmware, added } = await this.#checkUploadedTargets(
        md,
        current?.signed.targets ?? {},
        scope,
      );
      const record: NewMetadataRecord = {
        role,
        version: md.signed.version,
        bytes,
        sha256: sha256Hex(bytes),
        expires: md.signed.expires,
      };
      return this.#publishUploaded([record], (await this.trustedRoot()).signed, firmware, added);
    });
  }

  /** Delegates hardware IDs to a supplier's keys (online targets key required). */
  addSupplier(input: SupplierInput): Promise<{ role: string; metadataVersion: number }> {
    return this.#lock.run(async () => {
      const root = (await this.trustedRoot()).signed;
      const signers = this.#signersFor('targets', root);
      const top = await this.currentTargets();
      if (input.threshold < 1 || input.keys.length < input.threshold) {
        throw new ServerError('INVALID_REQUEST', 'a supplier needs at least threshold keys');
      }
      const delegations = withSupplier(top.signed, input);
      const next = buildTargets({
        version: await this.#nextVersion('targets', top.signed.version),
        expires: expiryAfter(this.#o.clock(), this.#o.config.expiries.targets),
        targets: top.signed.targets,
        delegations,
      });
      supplierDelegations(next.signed);
      await signMetadata(next, signers);
      const { metadataVersion } = await this.#publish({
        roles: [recordOf('targets', next)],
        root,
        firmware: [],
        releaseId: null,
        batch: `supplier:${input.id}`,
      });
      this.#o.logger.info(
        { supplier: input.id, hardwareIds: input.hardwareIds },
        'supplier delegated',
      );
      return { role: supplierRoleName(input.id), metadataVersion };
    });
  }

  // ---------------------------------------------------------------- root rotation

  /**
   * Accepts root N+1 signed by a threshold of root N's keys and of its own keys,
   * then re-signs snapshot and timestamp (and, with online targets keys, targets)
   * under the new root. All in one commit.
   */
  acceptRoot(bytes: Uint8Array): Promise<{ version: number }> {
    return this.#lock.run(async () => {
      const next = parseMetadata('root', bytes);
      const trusted = await this.trustedRoot();
      if (next.signed.version !== trusted.signed.version + 1) {
        throw new ServerError(
          'ROOT_ROTATION_INVALID',
          `root version must be ${trusted.signed.version + 1}`,
        );
      }
      if (!next.signed.consistentSnapshot) {
        throw new ServerError('ROOT_ROTATION_INVALID', 'consistent_snapshot must stay true');
      }
      if (next.signed.isExpired(this.#o.clock())) {
        throw new ServerError('ROOT_ROTATION_INVALID', 'the new root is already expired');
      }
      for (const [label, verifier] of [
        ['old', trusted],
        ['new', next],
      ] as const) {
        try {
          verifier.verifyDelegate('root', next);
        } catch (error) {
          throw new ServerError(
            'METADATA_SIGNATURE_INVALID',
            `new root lacks a threshold of ${label} root signatures: ${errorText(error)}`,
            { cause: error },
          );
        }
      }
      // Fail before accepting if the server could not keep signing under the new root.
      this.#signersFor('snapshot', next.signed);
      this.#signersFor('timestamp', next.signed);
      const rootRecord: NewMetadataRecord = {
        role: 'root',
        version: next.signed.version,
        bytes,
        sha256: sha256Hex(bytes),
        expires: next.signed.expires,
      };
      const currentTargets = await this.currentTargets();
      let targetsStillValid = true;
      try {
        next.verifyDelegate('targets', currentTargets);
      } catch {
        targetsStillValid = false;
      }
      const roles: NewMetadataRecord[] = [];
      if (!targetsStillValid) {
        const resigned = buildTargets({
          version: await this.#nextVersion('targets', currentTargets.signed.version),
          expires: expiryAfter(this.#o.clock(), this.#o.config.expiries.targets),
          targets: currentTargets.signed.targets,
          delegations: delegationsJsonOf(currentTargets.signed),
        });
        await signMetadata(resigned, this.#signersFor('targets', next.signed));
        roles.push(recordOf('targets', resigned));
      }
      await this.#publish({
        roles,
        root: next.signed,
        rootRecord,
        firmware: [],
        releaseId: null,
        batch: `root:${next.signed.version}`,
      });
      this.#o.logger.info({ rootVersion: next.signed.version }, 'root rotated');
      return { version: next.signed.version };
    });
  }

  // ---------------------------------------------------------------- revoke

  /**
   * Re-signs the roles that list the release without it (top-level targets or its bins) and
   * recalls its digests on chain. A supplier's role is the supplier's to re-sign: its releases
   * are recalled on chain, which every vehicle checks, and stay listed until the supplier uploads
   * metadata without them.
   */
  revokeRelease(id: number, reason: string): Promise<ReleaseRecord> {
    return this.#lock.run(async () => {
      const release = await this.#o.store.release(id);
      if (!release) throw new ServerError('RELEASE_NOT_FOUND', `no release ${id}`);
      if (release.status === 'revoked')
        throw new ServerError('RELEASE_ALREADY_REVOKED', `release ${id} is already revoked`);
      if (release.status !== 'confirmed')
        throw new ServerError('RELEASE_NOT_FOUND', `release ${id} was never published`);
      const rootMd = await this.trustedRoot();
      const top = await this.currentTargets();
      const byRole = new Map<string, Set<string>>();
      const digests: string[] = [];
      for (const name of release.targetNames) {
        for (const path of [name, attestationTargetName(name)]) {
          const located = await this.findTarget(path);
          if (!located) continue;
          if (path === name && located.file.hashes.sha256)
            digests.push(`0x${located.file.hashes.sha256}`);
          if (located.supplier) continue;
          byRole.set(located.role, new Set([...(byRole.get(located.role) ?? []), path]));
        }
      }
      const roles: NewMetadataRecord[] = [];
      const expires = expiryAfter(this.#o.clock(), this.#o.config.expiries.targets);
      for (const [role, remove] of byRole) {
        const current = role === 'targets' ? top : await this.roleMetadata(role);
        if (!current) continue;
        const targets: Record<string, TargetFile> = {};
        for (const [path, file] of Object.entries(current.signed.targets))
          if (!remove.has(path)) targets[path] = file;
        const next = buildTargets({
          version: await this.#nextVersion(role, current.signed.version),
          expires,
          targets,
          delegations: delegationsJsonOf(current.signed),
        });
        await signMetadata(
          next,
          role === 'targets'
            ? this.#signersFor('targets', rootMd.signed)
            : this.#binsSigners(top.signed),
        );
        roles.push(recordOf(role, next));
      }
      let published: { metadataHash: string; metadataVersion: number; chain: ChainReceipt } | null =
        null;
      if (roles.length > 0) {
        published = await this.#publish({
          roles,
          root: rootMd.signed,
          firmware: [],
          releaseId: null,
          batch: `revoke:${id}`,
        });
      }
      let recall: ChainReceipt | null = null;
      if (this.#o.releaseLog.recallFirmware && digests.length > 0) {
        try {
          recall = await this.#o.releaseLog.recallFirmware(digests, reason);
        } catch (error) {
          if (!published) {
            throw new ServerError(
              'CHAIN_LOG_FAILED',
              `recall on chain failed: ${errorText(error)}`,
              {
                cause: error,
              },
            );
          }
          this.#o.logger.error(
            { releaseId: id, err: errorText(error) },
            'recall on chain failed; metadata already re-signed without the release',
          );
        }
      }
      for (const digest of digests)
        this.#appendToLog(() => this.#o.log?.appendRecall(digest, reason));
      await this.#o.store.recordRevokedDigests(
        digests.map((d) => ({
          sha256: d.replace(/^0x/, ''),
          releaseId: id,
          revokedAt: this.#o.clock().toISOString(),
        })),
      );
      const snapshot = await this.#current('snapshot');
      await this.#o.store.updateRelease(id, {
        status: 'revoked',
        revocation: {
          targetsVersion: published?.metadataVersion ?? snapshot.version,
          metadataHash: published?.metadataHash ?? `0x${snapshot.sha256}`,
          chain: recall ?? published?.chain ?? null,
        },
      });
      const updated = await this.#o.store.release(id);
      if (!updated) throw new ServerError('INTERNAL', 'release vanished');
      return updated;
    });
  }

  // ---------------------------------------------------------------- status

  async roleStatus(): Promise<RoleStatus[]> {
    const now = this.#o.clock();
    const root = (await this.trustedRoot()).signed;
    const top = (await this.currentTargets()).signed;
    const out: RoleStatus[] = [];
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      const rec = await this.#o.store.currentMetadataDigest(role);
      if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no current ${role} metadata`);
      const def = root.roles[role];
      const online = role === 'root' ? [] : toArray(this.#o.signers[role]).map((s) => s.keyId);
      const keyIds = def?.keyIDs ?? [];
      out.push({
        role,
        version: rec.version,
        expires: rec.expires,
        secondsToExpiry: Math.floor(secondsUntil(rec.expires, now)),
        threshold: def?.threshold ?? 0,
        keyIds,
        onlineKeyIds: online.filter((k) => keyIds.includes(k)),
        signing:
          role === 'root' || (role === 'targets' && online.length === 0) ? 'offline' : 'online',
      });
    }
    const delegated = top.delegations?.roles ?? {};
    const binsOnline = binsSignersOf(this.#o.signers).map((s) => s.keyId);
    for (const role of Object.values(delegated)) {
      const rec = await this.#o.store.currentMetadataDigest(role.name);
      const entry: RoleStatus = {
        role: role.name,
        version: rec?.version ?? 0,
        expires: rec?.expires ?? '',
        secondsToExpiry: rec ? Math.floor(secondsUntil(rec.expires, now)) : 0,
        threshold: role.threshold,
        keyIds: role.keyIDs,
        onlineKeyIds:
          role.name === BINS_ROLE ? binsOnline.filter((k) => role.keyIDs.includes(k)) : [],
        signing: role.name === BINS_ROLE ? 'online' : 'offline',
      };
      const hardwareIds = role.unrecognizedFields?.[HARDWARE_IDS_FIELD];
      if (Array.isArray(hardwareIds)) entry.hardwareIds = hardwareIds as string[];
      out.push(entry);
    }
    if (usesBins(top)) {
      // Hashed bins are summarized: their count and the one that expires first.
      const bins = [...(await this.#roleVersions()).keys()].filter((r) =>
        r.startsWith(`${BINS_ROLE}-`),
      );
      let first: { role: string; expires: string; version: number } | undefined;
      for (const role of bins) {
        const d = await this.#o.store.currentMetadataDigest(role);
        if (d && (!first || d.expires < first.expires)) first = { role, ...d };
      }
      if (first) {
        const keyIds = top.delegations?.roles?.[BINS_ROLE]?.keyIDs ?? [];
        out.push({
          role: `${BINS_ROLE}-*`,
          version: first.version,
          expires: first.expires,
          secondsToExpiry: Math.floor(secondsUntil(first.expires, now)),
          threshold: 1,
          keyIds,
          onlineKeyIds: binsOnline.filter((k) => keyIds.includes(k)),
          signing: 'online',
          count: bins.length,
        });
      }
    }
    return out;
  }

  async currentSnapshot(): Promise<Metadata<Snapshot>> {
    return parseMetadata('snapshot', (await this.#current('snapshot')).bytes);
  }
}

function assertClaimsMatch(
  t: Omit<ReleaseTargetInput, 'attestation'>,
  claims: FirmwareClaims,
): void {
  const same =
    claims.version === t.version &&
    claims.releaseCounter === t.releaseCounter &&
    claims.hardwareIds.length === t.hardwareIds.length &&
    [...claims.hardwareIds].sort().every((h, i) => h === [...t.hardwareIds].sort()[i]);
  if (!same) {
    throw new ServerError(
      'FIRMWARE_ATTESTATION_INVALID',
      `attestation for ${t.name} claims other hardware IDs, version or release counter`,
    );
  }
}

function firmwareInputOf(
  path: string,
  custom: Record<string, unknown>,
): Omit<ReleaseTargetInput, 'name' | 'attestation'> & { attestationName: string } {
  const { hardwareIds, version, releaseCounter, attestation } = custom;
  if (
    !Array.isArray(hardwareIds) ||
    hardwareIds.length === 0 ||
    !hardwareIds.every((h) => typeof h === 'string') ||
    typeof version !== 'string' ||
    typeof releaseCounter !== 'number' ||
    !Number.isSafeInteger(releaseCounter) ||
    typeof attestation !== 'string'
  ) {
    throw new ServerError(
      'METADATA_MALFORMED',
      `firmware target ${path} lacks hardwareIds, version, releaseCounter or attestation`,
    );
  }
  return { hardwareIds, version, releaseCounter, attestationName: attestation };
}

async function readJsonBlob(blobs: BlobStore, sha256: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.open(sha256)) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new ServerError('FIRMWARE_ATTESTATION_INVALID', 'attestation target is not JSON', {
      cause: error,
    });
  }
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

export { serializeMetadata };
