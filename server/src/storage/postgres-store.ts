import type { RevocationReason } from '@tufchain/keys';
import type { GroupCommit, LogStores } from '@tufchain/transparency';
import type pg from 'pg';
import { PostgresDirectorStore } from '../director/postgres-store.js';
import { ServerError } from '../error.js';
import { LOG_CHANNEL, PostgresAnchorOutbox, PostgresLogStorage } from '../log/postgres-log.js';
import { PostgresJobLease } from './postgres-lease.js';
import { watchChannel, watchMetadataCommits } from './postgres-notify.js';
import { PostgresAdvisoryLock } from './postgres-lock.js';
import { clientConfigOf, openMigratedPool, type PostgresStoreOptions } from './postgres-db.js';
import * as metadata from './postgres-metadata.js';
import * as releases from './postgres-releases.js';
import * as reports from './postgres-reports.js';
import * as tokens from './postgres-tokens.js';
import * as uploads from './postgres-uploads.js';
import * as vehicles from './postgres-vehicles.js';
import type {
  AttestationRecord,
  BlobRecord,
  IdempotencyRecord,
  LogOutboxRecord,
  MetadataCommitWatch,
  MetadataRecord,
  MetadataRole,
  NewMetadataRecord,
  ReleasePatch,
  ReleaseRecord,
  RepositoryStore,
  RevokedDigestRecord,
  RevokeTokenOutcome,
  TokenRecord,
  UploadRecord,
} from './store.js';
import type {
  RevokeVehicleOutcome,
  VehicleCertificateRecord,
  VehicleCrlRecord,
} from './vehicle-store.js';

export type { PostgresStoreOptions } from './postgres-db.js';

/**
 * The repository store on PostgreSQL (`pg`), for several server replicas on one database. Same
 * semantics and error codes as SqliteStore; where SQLite serializes writers (BEGIN IMMEDIATE), this
 * store takes row locks or transaction-scoped advisory locks on the key in question. Each domain's
 * queries are in a module of their own (postgres-metadata.ts, ...), beside SQLite's (sqlite-*.ts).
 */
export class PostgresStore implements RepositoryStore {
  readonly #pool: pg.Pool;
  readonly #clientConfig: pg.ClientConfig;
  #closed = false;
  #publishLock: PostgresAdvisoryLock | undefined;

  /** Log indexes of reports, written a batch per statement (group commit). */
  readonly #logIndexes: GroupCommit<{ id: number; logIndex: number }, void>;
  readonly #attestations: ReturnType<typeof reports.attestationWriter>;
  readonly #certificates: ReturnType<typeof vehicles.certificateReader>;

  private constructor(pool: pg.Pool, clientConfig: pg.ClientConfig) {
    this.#pool = pool;
    this.#clientConfig = clientConfig;
    this.#logIndexes = reports.logIndexWriter(pool);
    this.#attestations = reports.attestationWriter(pool);
    this.#certificates = vehicles.certificateReader(pool);
  }

  /** Connects and runs pending migrations (once across replicas: under an advisory lock). */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const clientConfig = clientConfigOf(opts);
    return new PostgresStore(await openMigratedPool(clientConfig), clientConfig);
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new ServerError('NOT_READY', 'database is closed');
    await this.#pool.query('SELECT 1 AS ok');
  }

  /**
   * The lock that serializes publishing across every replica on this database (the repository
   * core's PublishLock). One per store, so that this process's publishes queue in FIFO order.
   */
  publishLock(): PostgresAdvisoryLock {
    this.#publishLock ??= this.advisoryLock('tufchain:publish');
    return this.#publishLock;
  }

  /** A lock held across replicas for each callback (hold one instance per name per process). */
  advisoryLock(name: string): PostgresAdvisoryLock {
    return new PostgresAdvisoryLock(this.#pool, name);
  }

  /** The Director's tables on this database, on this store's pool (closing this store ends it). */
  directorStore(): PostgresDirectorStore {
    return PostgresDirectorStore.onPool(this.#pool);
  }

  /** The pool, for stores of other parts on this database (they never end it). */
  pool(): pg.Pool {
    return this.#pool;
  }

  /** A background job's lease on this database (`job_leases`); see PostgresJobLease. */
  jobLease(name: string, ttlMs: number): PostgresJobLease {
    return new PostgresJobLease(this.#pool, name, { ttlMs });
  }

  watchMetadataCommits(onCommit: () => void): Promise<MetadataCommitWatch> {
    return watchMetadataCommits(this.#clientConfig, onCommit);
  }

  /** The transparency log and its anchoring outbox, in this database, on this store's pool. */
  logStores(): LogStores {
    return {
      storage: new PostgresLogStorage(this.#pool),
      outbox: new PostgresAnchorOutbox(this.#pool),
      // The pool is the store's: closing the store closes it.
      close: () => Promise.resolve(),
    };
  }

  /** Hears of every log append, whichever replica made it (see LOG_CHANNEL). */
  watchLogAppends(onNotify: (payload: string | undefined) => void): Promise<MetadataCommitWatch> {
    return watchChannel(this.#clientConfig, LOG_CHANNEL, onNotify);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  currentMetadata(role: MetadataRole): Promise<MetadataRecord | undefined> {
    return metadata.currentMetadata(this.#pool, role);
  }

  currentMetadataDigest(
    role: MetadataRole,
  ): Promise<{ version: number; sha256: string; expires: string } | undefined> {
    return metadata.currentMetadataDigest(this.#pool, role);
  }
  currentMetadataDigests(): Promise<
    Map<MetadataRole, { version: number; sha256: string; expires: string }>
  > {
    return metadata.currentMetadataDigests(this.#pool);
  }

  publishedMetadata(role: MetadataRole, version: number): Promise<MetadataRecord | undefined> {
    return metadata.publishedMetadata(this.#pool, role, version);
  }

  publishedVersions(role: MetadataRole): Promise<number[]> {
    return metadata.publishedVersions(this.#pool, role);
  }

  maxVersion(role: MetadataRole): Promise<number> {
    return metadata.maxVersion(this.#pool, role);
  }

  stageMetadata(records: NewMetadataRecord[], batch?: string): Promise<void> {
    return metadata.stageMetadata(this.#pool, records, batch);
  }

  metadataBatch(role: MetadataRole, version: number): Promise<string | undefined> {
    return metadata.metadataBatch(this.#pool, role, version);
  }

  stagedBatches(): Promise<{ batch: string; records: MetadataRecord[] }[]> {
    return metadata.stagedBatches(this.#pool);
  }

  commitMetadata(
    records: { role: MetadataRole; version: number }[],
    alsoUpdateRelease?: { id: number; patch: ReleasePatch },
  ): Promise<void> {
    return metadata.commitMetadata(this.#pool, records, alsoUpdateRelease);
  }

  abandonMetadata(records: { role: MetadataRole; version: number }[]): Promise<void> {
    return metadata.abandonMetadata(this.#pool, records);
  }

  discardFailedBootstrap(): Promise<void> {
    return metadata.discardFailedBootstrap(this.#pool);
  }

  createRelease(input: { targetNames: string[]; targetsVersion: number }): Promise<ReleaseRecord> {
    return releases.createRelease(this.#pool, input);
  }

  updateRelease(id: number, patch: ReleasePatch): Promise<void> {
    return releases.updateRelease(this.#pool, id, patch);
  }

  release(id: number): Promise<ReleaseRecord | undefined> {
    return releases.release(this.#pool, id);
  }

  releases(): Promise<ReleaseRecord[]> {
    return releases.releases(this.#pool);
  }

  putLogOutbox(r: LogOutboxRecord): Promise<void> {
    return releases.putLogOutbox(this.#pool, r);
  }

  logOutbox(): Promise<LogOutboxRecord[]> {
    return releases.logOutbox(this.#pool);
  }

  deleteLogOutbox(id: string): Promise<void> {
    return releases.deleteLogOutbox(this.#pool, id);
  }

  recordBlob(blob: BlobRecord): Promise<void> {
    return uploads.recordBlob(this.#pool, blob);
  }

  blobBySha256(sha256: string): Promise<BlobRecord | undefined> {
    return uploads.blobBySha256(this.#pool, sha256);
  }

  blobBySha512(sha512: string): Promise<BlobRecord | undefined> {
    return uploads.blobBySha512(this.#pool, sha512);
  }

  putUpload(upload: UploadRecord): Promise<void> {
    return uploads.putUpload(this.#pool, upload);
  }

  upload(name: string): Promise<UploadRecord | undefined> {
    return uploads.upload(this.#pool, name);
  }

  recordRevokedDigests(records: RevokedDigestRecord[]): Promise<void> {
    return uploads.recordRevokedDigests(this.#pool, records);
  }

  revokedDigest(sha256: string): Promise<RevokedDigestRecord | undefined> {
    return uploads.revokedDigest(this.#pool, sha256);
  }

  idempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return tokens.idempotency(this.#pool, key);
  }

  saveIdempotency(r: IdempotencyRecord): Promise<void> {
    return tokens.saveIdempotency(this.#pool, r);
  }

  deleteIdempotencyBefore(createdAt: string): Promise<void> {
    return tokens.deleteIdempotencyBefore(this.#pool, createdAt);
  }

  insertToken(t: TokenRecord): Promise<void> {
    return tokens.insertToken(this.#pool, t);
  }

  token(id: string): Promise<TokenRecord | undefined> {
    return tokens.token(this.#pool, id);
  }

  tokens(): Promise<TokenRecord[]> {
    return tokens.tokens(this.#pool);
  }

  revokeToken(id: string, revokedAt: string): Promise<RevokeTokenOutcome> {
    return tokens.revokeToken(this.#pool, id, revokedAt);
  }

  touchToken(id: string, usedAt: string, minIntervalMs: number): Promise<void> {
    return tokens.touchToken(this.#pool, id, usedAt, minIntervalMs);
  }

  insertAttestation(
    input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
      reportSha256: string;
      counter: number;
    },
  ): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
    return this.#attestations.submit(input).then((settled) => {
      if ('error' in settled) throw settled.error;
      return settled.ok;
    });
  }

  setAttestationLogIndex(id: number, logIndex: number): Promise<void> {
    return this.#logIndexes.submit({ id, logIndex });
  }

  attestations(opts?: { afterId?: number; limit?: number }): Promise<AttestationRecord[]> {
    return reports.attestations(this.#pool, opts);
  }

  insertVehicleCertificate(r: VehicleCertificateRecord): Promise<void> {
    return vehicles.insertVehicleCertificate(this.#pool, r);
  }

  vehicleCertificate(serialNumber: string): Promise<VehicleCertificateRecord | undefined> {
    return this.#certificates.submit(serialNumber);
  }

  vehicleCertificateSuccessors(serialNumber: string): Promise<VehicleCertificateRecord[]> {
    return vehicles.vehicleCertificateSuccessors(this.#pool, serialNumber);
  }

  vehicleCertificatesByKey(publicKeySha256: string): Promise<VehicleCertificateRecord[]> {
    return vehicles.vehicleCertificatesByKey(this.#pool, publicKeySha256);
  }

  revokeVehicleCertificate(
    serialNumber: string,
    revokedAt: string,
    reason: RevocationReason,
  ): Promise<RevokeVehicleOutcome> {
    return vehicles.revokeVehicleCertificate(this.#pool, serialNumber, revokedAt, reason);
  }

  revokedVehicleCertificates(): Promise<VehicleCertificateRecord[]> {
    return vehicles.revokedVehicleCertificates(this.#pool);
  }

  latestVehicleCrl(): Promise<VehicleCrlRecord | undefined> {
    return vehicles.latestVehicleCrl(this.#pool);
  }

  insertVehicleCrl(r: VehicleCrlRecord): Promise<boolean> {
    return vehicles.insertVehicleCrl(this.#pool, r);
  }
}
