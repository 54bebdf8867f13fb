import { Metadata, type Root, type Snapshot, TargetFile, Targets } from '@tufjs/models';
import type { Logger } from 'pino';
import type { AttestationVerifier, FirmwareClaims } from '../attestation/verifier.js';
import type { Clock, Config } from '../config.js';
import { ServerError } from '../error.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { isValidTargetName } from '../http/names.js';
import { Mutex } from '../mutex.js';
import type { BlobStore } from '../storage/blob-store.js';
import type {
  MetadataRecord,
  NewMetadataRecord,
  ReleasePatch,
  ReleaseRecord,
  RepositoryStore,
  RoleName,
} from '../storage/store.js';
import { expiryAfter, secondsUntil } from './expiry.js';
import type { ChainReceipt, ReleaseEntry, ReleaseLog } from './release-log.js';
import {
  buildSnapshot,
  buildTimestamp,
  parseMetadata,
  recordOf,
  SPEC_VERSION,
  toArray,
  type OnlineSigners,
} from './repository.js';
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
  role: RoleName;
  version: number;
  expires: string;
  secondsToExpiry: number;
  threshold: number;
  keyIds: string[];
  onlineKeyIds: string[];
  signing: 'online' | 'offline';
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
  metrics?: { onPublish?(ms: number, ok: boolean): void; onResign?(role: RoleName): void };
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

/**
 * The TUF repository as a service: every change to served metadata goes
 * through here, serialized by one mutex, as stage -> (chain log) -> commit.
 */
export class RepositoryService {
  readonly #o: RepositoryServiceOptions;
  readonly #lock = new Mutex();
  #earliestExpiry: number | undefined;
  #targetsCache: { sha256: string; metadata: Metadata<Targets> } | undefined;

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

  async #current(role: RoleName): Promise<MetadataRecord> {
    const rec = await this.#o.store.currentMetadata(role);
    if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no current ${role} metadata`);
    return rec;
  }

  async trustedRoot(): Promise<Metadata<Root>> {
    return parseMetadata('root', (await this.#current('root')).bytes);
  }

  /** The served targets, parsed once per version (parsing is quadratic in @tufjs/models). Treat as read-only. */
  async currentTargets(): Promise<Metadata<Targets>> {
    const digest = await this.#o.store.currentMetadataDigest('targets');
    if (digest && this.#targetsCache?.sha256 === digest.sha256) return this.#targetsCache.metadata;
    const rec = await this.#current('targets');
    const metadata = parseMetadata('targets', rec.bytes);
    this.#targetsCache = { sha256: rec.sha256, metadata };
    return metadata;
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

  hasOnlineTargets(): boolean {
    return toArray(this.#o.signers.targets).length > 0;
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
    const targetsSigners = this.#signersFor('targets', root);
    const current = await this.currentTargets();
    const names = new Set<string>();
    for (const t of inputs) {
      for (const n of [t.name, attestationTargetName(t.name)]) {
        if (names.has(n)) throw new ServerError('DUPLICATE_TARGET', `target ${n} appears twice`);
        names.add(n);
        if (current.signed.targets[n]) {
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
    const version = Math.max(await this.#o.store.maxVersion('targets'), current.signed.version) + 1;
    const targets: Record<string, TargetFile> = { ...current.signed.targets };
    for (const a of additions) targets[a.path] = a;
    const next = new Metadata(
      new Targets({
        version,
        specVersion: SPEC_VERSION,
        expires: expiryAfter(now, this.#o.config.expiries.targets),
        targets,
        ...(current.signed.delegations ? { delegations: current.signed.delegations } : {}),
      }),
    );
    await signMetadata(next, targetsSigners);
    const release = await this.#o.store.createRelease({
      targetNames: inputs.map((t) => t.name),
      targetsVersion: version,
    });
    const { metadataHash, chain } = await this.#publishTargets(
      recordOf('targets', next),
      root,
      firmware,
      release.id,
    );
    const stored = await this.#o.store.release(release.id);
    return { release: stored ?? release, targetsVersion: version, metadataHash, chain };
  }

  async #prepareTarget(t: ReleaseTargetInput): Promise<{ image: TargetFile; bundle: TargetFile }> {
    const upload = await this.#o.store.upload(t.name);
    if (!upload)
      throw new ServerError('FIRMWARE_NOT_UPLOADED', `no firmware uploaded as ${t.name}`);
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
   * stage targets+snapshot+timestamp -> log targets on chain (waits for confirmation)
   * -> flip the current pointers in one transaction. Nothing is visible before the flip.
   */
  async #publishTargets(
    targets: NewMetadataRecord,
    root: Root,
    firmware: ReleaseEntry['firmware'],
    releaseId: number | null,
    extra: { records: NewMetadataRecord[] } = { records: [] },
  ): Promise<{ metadataHash: string; chain: ChainReceipt }> {
    const now = this.#o.clock();
    const snapshotVersion = (await this.#o.store.maxVersion('snapshot')) + 1;
    const snapshot = buildSnapshot(
      snapshotVersion,
      expiryAfter(now, this.#o.config.expiries.snapshot),
      targets.version,
      targets.bytes,
    );
    await signMetadata(snapshot, this.#signersFor('snapshot', root));
    const snapshotRec = recordOf('snapshot', snapshot);
    const timestamp = buildTimestamp(
      (await this.#o.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#o.config.expiries.timestamp),
      snapshotVersion,
      snapshotRec.bytes,
    );
    await signMetadata(timestamp, this.#signersFor('timestamp', root));
    const records = [...extra.records, targets, snapshotRec, recordOf('timestamp', timestamp)];
    const keys = records.map((r) => ({ role: r.role, version: r.version }));
    await this.#o.store.stageMetadata(
      records,
      releaseId !== null ? `release:${releaseId}` : `targets:${targets.version}`,
    );
    const metadataHash = `0x${targets.sha256}`;
    if (releaseId !== null) await this.#o.store.updateRelease(releaseId, { metadataHash });
    let chain: ChainReceipt;
    try {
      chain = await this.#o.releaseLog.logRelease({
        metadataVersion: targets.version,
        metadataHash,
        firmware,
      });
    } catch (error) {
      await this.#o.store.abandonMetadata(keys);
      const message = `logging targets v${targets.version} on chain failed: ${errorText(error)}`;
      if (releaseId !== null)
        await this.#o.store.updateRelease(releaseId, { status: 'failed', error: message });
      this.#o.logger.warn(
        { targetsVersion: targets.version, err: errorText(error) },
        'chain log failed; metadata not published',
      );
      throw new ServerError('CHAIN_LOG_FAILED', message, { cause: error });
    }
    const patch: ReleasePatch | undefined =
      releaseId !== null ? { status: 'confirmed', chain, metadataHash } : undefined;
    await this.#o.store.commitMetadata(
      keys,
      patch && releaseId !== null ? { id: releaseId, patch } : undefined,
    );
    this.#earliestExpiry = undefined;
    this.#appendToLog(() =>
      this.#o.log?.appendRelease(
        { metadataVersion: targets.version, metadataHash, firmware },
        chain,
      ),
    );
    this.#o.logger.info(
      {
        targetsVersion: targets.version,
        metadataHash,
        txHash: chain.txHash,
        blockNumber: chain.blockNumber,
      },
      'targets published',
    );
    return { metadataHash, chain };
  }

  /** Re-signs snapshot (optional) and timestamp without a new targets version. */
  async #publishSnapshotTimestamp(
    root: Root,
    withSnapshot: boolean,
    extra: NewMetadataRecord[] = [],
  ): Promise<void> {
    const now = this.#o.clock();
    let snapshotVersion: number;
    let snapshotBytes: Uint8Array;
    const records: NewMetadataRecord[] = [...extra];
    if (withSnapshot) {
      const targets = await this.#current('targets');
      snapshotVersion = (await this.#o.store.maxVersion('snapshot')) + 1;
      const snapshot = buildSnapshot(
        snapshotVersion,
        expiryAfter(now, this.#o.config.expiries.snapshot),
        targets.version,
        targets.bytes,
      );
      await signMetadata(snapshot, this.#signersFor('snapshot', root));
      const rec = recordOf('snapshot', snapshot);
      records.push(rec);
      snapshotBytes = rec.bytes;
    } else {
      const current = await this.#current('snapshot');
      snapshotVersion = current.version;
      snapshotBytes = current.bytes;
    }
    const timestamp = buildTimestamp(
      (await this.#o.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#o.config.expiries.timestamp),
      snapshotVersion,
      snapshotBytes,
    );
    await signMetadata(timestamp, this.#signersFor('timestamp', root));
    records.push(recordOf('timestamp', timestamp));
    const keys = records.map((r) => ({ role: r.role, version: r.version }));
    await this.#o.store.stageMetadata(records, 'resign');
    await this.#o.store.commitMetadata(keys);
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

  // ---------------------------------------------------------------- crash recovery

  /**
   * Finishes publishes a crash interrupted. A staged targets version that the
   * chain holds (confirmed) is published with a fresh snapshot and timestamp, so
   * what is served always matches what is logged; one the chain does not hold is
   * abandoned (its version number is never reused). If the chain cannot answer
   * yet, the batch stays staged for the next attempt. Runs under the publish lock.
   */
  recoverInterruptedPublishes(chain: ChainLookup): Promise<RecoveryReport> {
    return this.#lock.run(async () => {
      const report: RecoveryReport = { published: [], abandoned: [], pending: [] };
      if (!(await this.#o.store.currentMetadata('root'))) return report;
      for (const { batch, records } of await this.#o.store.stagedBatches()) {
        const keys = records.map((r) => ({ role: r.role, version: r.version }));
        const targets = records.find((r) => r.role === 'targets');
        const newRoot = records.find((r) => r.role === 'root');
        const releaseId = /^release:(\d+)$/.exec(batch)?.[1];
        const currentTargets = await this.#current('targets');
        const currentRoot = await this.#current('root');
        const abandon = async (why: string): Promise<void> => {
          await this.#o.store.abandonMetadata(keys);
          if (releaseId)
            await this.#o.store.updateRelease(Number(releaseId), { status: 'failed', error: why });
          report.abandoned.push(batch);
        };
        if (
          !targets ||
          targets.version <= currentTargets.version ||
          (newRoot && newRoot.version !== currentRoot.version + 1)
        ) {
          await abandon('interrupted before it was logged; superseded');
          continue;
        }
        const metadataHash = `0x${targets.sha256}`;
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
        const rootMd = newRoot ? parseMetadata('root', newRoot.bytes) : await this.trustedRoot();
        const stale = records.filter((r) => r.role === 'snapshot' || r.role === 'timestamp');
        await this.#o.store.abandonMetadata(
          stale.map((r) => ({ role: r.role, version: r.version })),
        );
        const now = this.#o.clock();
        const snapshot = buildSnapshot(
          (await this.#o.store.maxVersion('snapshot')) + 1,
          expiryAfter(now, this.#o.config.expiries.snapshot),
          targets.version,
          targets.bytes,
        );
        await signMetadata(snapshot, this.#signersFor('snapshot', rootMd.signed));
        const snapshotRec = recordOf('snapshot', snapshot);
        const timestamp = buildTimestamp(
          (await this.#o.store.maxVersion('timestamp')) + 1,
          expiryAfter(now, this.#o.config.expiries.timestamp),
          snapshot.signed.version,
          snapshotRec.bytes,
        );
        await signMetadata(timestamp, this.#signersFor('timestamp', rootMd.signed));
        const fresh = [snapshotRec, recordOf('timestamp', timestamp)];
        await this.#o.store.stageMetadata(fresh, `${batch}:recovered`);
        const chainRef = {
          txHash: logged.txHash,
          blockNumber: logged.blockNumber,
          blockHash: logged.blockHash,
        };
        await this.#o.store.commitMetadata(
          [
            ...(newRoot ? [{ role: 'root' as const, version: newRoot.version }] : []),
            { role: 'targets', version: targets.version },
            ...fresh.map((r) => ({ role: r.role, version: r.version })),
          ],
          releaseId
            ? {
                id: Number(releaseId),
                patch: { status: 'confirmed', chain: chainRef, metadataHash },
              }
            : undefined,
        );
        this.#earliestExpiry = undefined;
        this.#o.logger.warn(
          { batch, targetsVersion: targets.version },
          'published an interrupted publish the chain had logged',
        );
        report.published.push(batch);
      }
      return report;
    });
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Re-signs every online role whose remaining validity is inside its window.
   * Runs under the lock and re-reads state there, so concurrent callers never
   * double-bump. Returns the roles that got a new version.
   */
  refreshExpiring(): Promise<RoleName[]> {
    return this.#lock.run(() => this.#refreshExpiring());
  }

  async #refreshExpiring(): Promise<RoleName[]> {
    const now = this.#o.clock();
    const w = this.#o.config.resignWindows;
    const due = async (role: 'targets' | 'snapshot' | 'timestamp'): Promise<boolean> =>
      secondsUntil((await this.#current(role)).expires, now) <= w[role];
    const rootMd = await this.trustedRoot();
    const root = rootMd.signed;
    const bumped: RoleName[] = [];
    if ((await due('targets')) && this.hasOnlineTargets()) {
      const current = await this.currentTargets();
      const version =
        Math.max(await this.#o.store.maxVersion('targets'), current.signed.version) + 1;
      const next = new Metadata(
        new Targets({
          version,
          specVersion: SPEC_VERSION,
          expires: expiryAfter(now, this.#o.config.expiries.targets),
          targets: current.signed.targets,
          ...(current.signed.delegations ? { delegations: current.signed.delegations } : {}),
        }),
      );
      await signMetadata(next, this.#signersFor('targets', root));
      await this.#publishTargets(recordOf('targets', next), root, [], null);
      bumped.push('targets', 'snapshot', 'timestamp');
    } else if (await due('snapshot')) {
      await this.#publishSnapshotTimestamp(root, true);
      bumped.push('snapshot', 'timestamp');
    } else if (await due('timestamp')) {
      await this.#publishSnapshotTimestamp(root, false);
      bumped.push('timestamp');
    }
    for (const role of bumped) this.#o.metrics?.onResign?.(role);
    if (bumped.length > 0)
      this.#o.logger.info({ roles: bumped }, 'online roles re-signed before expiry');
    return bumped;
  }

  /**
   * Guarantees the current timestamp/snapshot/targets are unexpired before a
   * read is served; re-signs on demand. Throws METADATA_EXPIRED if it cannot.
   */
  async ensureFresh(): Promise<void> {
    const now = this.#o.clock().getTime();
    if (this.#earliestExpiry !== undefined && now < this.#earliestExpiry) return;
    const earliest = async (): Promise<number> => {
      let min = Number.POSITIVE_INFINITY;
      for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
        min = Math.min(min, Date.parse((await this.#current(role)).expires));
      }
      return min;
    };
    let min = await earliest();
    if (now >= min) {
      try {
        await this.refreshExpiring();
      } catch (error) {
        this.#o.logger.error({ err: errorText(error) }, 'on-demand re-signing failed');
      }
      min = await earliest();
      if (this.#o.clock().getTime() >= min) {
        throw new ServerError(
          'METADATA_EXPIRED',
          'current metadata has expired and could not be re-signed',
        );
      }
    }
    this.#earliestExpiry = min;
  }

  // ---------------------------------------------------------------- offline targets

  /** Accepts offline-signed targets metadata after verifying it against the trusted root. */
  acceptSignedTargets(bytes: Uint8Array): Promise<PublishResult> {
    return this.#lock.run(async () => {
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
      const floor = Math.max(current.signed.version, await this.#o.store.maxVersion('targets'));
      if (md.signed.version <= floor) {
        throw new ServerError('VERSION_NOT_INCREASING', `targets version must be above ${floor}`);
      }
      if (md.signed.isExpired(this.#o.clock())) {
        throw new ServerError('METADATA_MALFORMED', 'uploaded targets metadata is already expired');
      }
      const firmware: ReleaseEntry['firmware'] = [];
      const added: string[] = [];
      for (const [path, file] of Object.entries(md.signed.targets)) {
        if (!isValidTargetName(path)) {
          throw new ServerError(
            'INVALID_NAME',
            `target name ${JSON.stringify(path.slice(0, 60))} is not allowed`,
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
        const old = current.signed.targets[path];
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
        const input = firmwareInputOf(path, custom);
        const bundleFile = md.signed.targets[input.attestationName];
        if (!bundleFile?.hashes.sha256) {
          throw new ServerError(
            'FIRMWARE_ATTESTATION_INVALID',
            `target ${path} names no attestation target in the metadata`,
          );
        }
        const bundle = await readJsonBlob(this.#o.blobs, bundleFile.hashes.sha256);
        let claims: FirmwareClaims;
        try {
          claims = await this.#o.verifier.verifyFirmware(bundle, {
            name: path,
            sha256: blob.sha256,
          });
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
      const release = await this.#o.store.createRelease({
        targetNames: added,
        targetsVersion: md.signed.version,
      });
      const record: NewMetadataRecord = {
        role: 'targets',
        version: md.signed.version,
        bytes,
        sha256: sha256Hex(bytes),
        expires: md.signed.expires,
      };
      const { metadataHash, chain } = await this.#publishTargets(
        record,
        rootMd.signed,
        firmware,
        release.id,
      );
      return {
        release: (await this.#o.store.release(release.id)) ?? release,
        targetsVersion: md.signed.version,
        metadataHash,
        chain,
      };
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
      if (targetsStillValid) {
        await this.#publishSnapshotTimestamp(next.signed, true, [rootRecord]);
      } else {
        const signers = this.#signersFor('targets', next.signed);
        const version =
          Math.max(await this.#o.store.maxVersion('targets'), currentTargets.signed.version) + 1;
        const resigned = new Metadata(
          new Targets({
            version,
            specVersion: SPEC_VERSION,
            expires: expiryAfter(this.#o.clock(), this.#o.config.expiries.targets),
            targets: currentTargets.signed.targets,
            ...(currentTargets.signed.delegations
              ? { delegations: currentTargets.signed.delegations }
              : {}),
          }),
        );
        await signMetadata(resigned, signers);
        await this.#publishTargets(recordOf('targets', resigned), next.signed, [], null, {
          records: [rootRecord],
        });
      }
      this.#o.logger.info({ rootVersion: next.signed.version }, 'root rotated');
      return { version: next.signed.version };
    });
  }

  // ---------------------------------------------------------------- revoke

  revokeRelease(id: number, reason: string): Promise<ReleaseRecord> {
    return this.#lock.run(async () => {
      const release = await this.#o.store.release(id);
      if (!release) throw new ServerError('RELEASE_NOT_FOUND', `no release ${id}`);
      if (release.status === 'revoked')
        throw new ServerError('RELEASE_ALREADY_REVOKED', `release ${id} is already revoked`);
      if (release.status !== 'confirmed')
        throw new ServerError('RELEASE_NOT_FOUND', `release ${id} was never published`);
      const rootMd = await this.trustedRoot();
      const signers = this.#signersFor('targets', rootMd.signed);
      const current = await this.currentTargets();
      const remove = new Set(release.targetNames.flatMap((n) => [n, attestationTargetName(n)]));
      const digests = release.targetNames
        .map((n) => current.signed.targets[n]?.hashes.sha256)
        .filter((d): d is string => d !== undefined)
        .map((d) => `0x${d}`);
      const targets: Record<string, TargetFile> = {};
      for (const [path, file] of Object.entries(current.signed.targets))
        if (!remove.has(path)) targets[path] = file;
      const version =
        Math.max(await this.#o.store.maxVersion('targets'), current.signed.version) + 1;
      const next = new Metadata(
        new Targets({
          version,
          specVersion: SPEC_VERSION,
          expires: expiryAfter(this.#o.clock(), this.#o.config.expiries.targets),
          targets,
          ...(current.signed.delegations ? { delegations: current.signed.delegations } : {}),
        }),
      );
      await signMetadata(next, signers);
      const { metadataHash, chain } = await this.#publishTargets(
        recordOf('targets', next),
        rootMd.signed,
        [],
        null,
      );
      let recall: ChainReceipt | null = null;
      if (this.#o.releaseLog.recallFirmware && digests.length > 0) {
        try {
          recall = await this.#o.releaseLog.recallFirmware(digests, reason);
        } catch (error) {
          this.#o.logger.error(
            { releaseId: id, err: errorText(error) },
            'recall on chain failed; targets already re-signed without the release',
          );
        }
      }
      for (const digest of digests)
        this.#appendToLog(() => this.#o.log?.appendRecall(digest, reason));
      await this.#o.store.updateRelease(id, {
        status: 'revoked',
        revocation: { targetsVersion: version, metadataHash, chain: recall ?? chain },
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
    const out: RoleStatus[] = [];
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      const rec = await this.#current(role);
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
