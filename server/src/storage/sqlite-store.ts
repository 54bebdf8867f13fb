import type { RevocationReason } from '@tufchain/keys';
import { ServerError } from '../error.js';
import { migrations } from './migrations.js';
import { num } from './rows.js';
import { settle, SqliteDb } from './sqlite-db.js';
import * as metadata from './sqlite-metadata.js';
import * as releases from './sqlite-releases.js';
import * as reports from './sqlite-reports.js';
import * as tokens from './sqlite-tokens.js';
import * as uploads from './sqlite-uploads.js';
import * as vehicles from './sqlite-vehicles.js';
import type {
  AttestationRecord,
  BlobRecord,
  IdempotencyRecord,
  LogOutboxRecord,
  MetadataCommitWatch,
  MetadataRecord,
  NewMetadataRecord,
  ReleasePatch,
  ReleaseRecord,
  RepositoryStore,
  MetadataRole,
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

export { onKeyViolation, settle } from './sqlite-db.js';

/**
 * The repository store in one SQLite file. Each domain's queries are in a module of their own
 * (sqlite-metadata.ts, sqlite-releases.ts, ...), beside the PostgreSQL ones (postgres-*.ts).
 */
export class SqliteStore implements RepositoryStore {
  readonly #db: SqliteDb;
  readonly #commitListeners = new Set<() => void>();
  #closed = false;

  constructor(path: string) {
    this.#db = new SqliteDb(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#migrate();
    reports.fillReportIdentities(this.#db);
  }

  #migrate(): void {
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT',
    );
    const applied = new Set(this.#db.all('SELECT id FROM migrations').map((r) => num(r.id)));
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      // https://www.sqlite.org/lang_altertable.html#otheralter: foreign keys off around a rebuild.
      if (m.rebuildsTable) this.#db.exec('PRAGMA foreign_keys = OFF');
      try {
        this.#db.transaction(() => {
          this.#db.exec(m.sql);
          if (m.rebuildsTable && this.#db.all('PRAGMA foreign_key_check').length > 0) {
            throw new ServerError('STORAGE_FAILED', `migration ${m.id} broke a foreign key`);
          }
          this.#db.run(
            'INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)',
            m.id,
            m.name,
            new Date().toISOString(),
          );
        });
      } finally {
        if (m.rebuildsTable) this.#db.exec('PRAGMA foreign_keys = ON');
      }
    }
  }

  ping(): Promise<void> {
    return settle(() => {
      if (this.#closed) throw new ServerError('NOT_READY', 'database is closed');
      this.#db.get('SELECT 1 AS ok');
    });
  }

  close(): Promise<void> {
    return settle(() => {
      if (!this.#closed) {
        this.#closed = true;
        this.#db.close();
      }
    });
  }

  /** Hears commits through this store object: SQLite's one writing process is all there is. */
  watchMetadataCommits(onCommit: () => void): Promise<MetadataCommitWatch> {
    const listener = (): void => onCommit();
    this.#commitListeners.add(listener);
    return Promise.resolve({
      live: () => true,
      close: () => {
        this.#commitListeners.delete(listener);
        return Promise.resolve();
      },
    });
  }

  currentMetadata(role: MetadataRole): Promise<MetadataRecord | undefined> {
    return metadata.currentMetadata(this.#db, role);
  }

  currentMetadataDigest(
    role: MetadataRole,
  ): Promise<{ version: number; sha256: string; expires: string } | undefined> {
    return metadata.currentMetadataDigest(this.#db, role);
  }
  currentMetadataDigests(): Promise<
    Map<MetadataRole, { version: number; sha256: string; expires: string }>
  > {
    return metadata.currentMetadataDigests(this.#db);
  }

  publishedMetadata(role: MetadataRole, version: number): Promise<MetadataRecord | undefined> {
    return metadata.publishedMetadata(this.#db, role, version);
  }

  publishedVersions(role: MetadataRole): Promise<number[]> {
    return metadata.publishedVersions(this.#db, role);
  }

  maxVersion(role: MetadataRole): Promise<number> {
    return metadata.maxVersion(this.#db, role);
  }

  stageMetadata(records: NewMetadataRecord[], batch?: string): Promise<void> {
    return metadata.stageMetadata(this.#db, records, batch);
  }

  metadataBatch(role: MetadataRole, version: number): Promise<string | undefined> {
    return metadata.metadataBatch(this.#db, role, version);
  }

  stagedBatches(): Promise<{ batch: string; records: MetadataRecord[] }[]> {
    return metadata.stagedBatches(this.#db);
  }

  commitMetadata(
    records: { role: MetadataRole; version: number }[],
    alsoUpdateRelease?: { id: number; patch: ReleasePatch },
  ): Promise<void> {
    return metadata.commitMetadata(
      this.#db,
      () => {
        for (const listener of this.#commitListeners) listener();
      },
      records,
      alsoUpdateRelease,
    );
  }

  abandonMetadata(records: { role: MetadataRole; version: number }[]): Promise<void> {
    return metadata.abandonMetadata(this.#db, records);
  }

  discardFailedBootstrap(): Promise<void> {
    return metadata.discardFailedBootstrap(this.#db);
  }

  createRelease(input: { targetNames: string[]; targetsVersion: number }): Promise<ReleaseRecord> {
    return releases.createRelease(this.#db, input);
  }

  updateRelease(id: number, patch: ReleasePatch): Promise<void> {
    return releases.updateRelease(this.#db, id, patch);
  }

  release(id: number): Promise<ReleaseRecord | undefined> {
    return releases.release(this.#db, id);
  }

  releases(): Promise<ReleaseRecord[]> {
    return releases.releases(this.#db);
  }

  putLogOutbox(r: LogOutboxRecord): Promise<void> {
    return releases.putLogOutbox(this.#db, r);
  }

  logOutbox(): Promise<LogOutboxRecord[]> {
    return releases.logOutbox(this.#db);
  }

  deleteLogOutbox(id: string): Promise<void> {
    return releases.deleteLogOutbox(this.#db, id);
  }

  recordBlob(blob: BlobRecord): Promise<void> {
    return uploads.recordBlob(this.#db, blob);
  }

  blobBySha256(sha256: string): Promise<BlobRecord | undefined> {
    return uploads.blobBySha256(this.#db, sha256);
  }

  blobBySha512(sha512: string): Promise<BlobRecord | undefined> {
    return uploads.blobBySha512(this.#db, sha512);
  }

  putUpload(upload: UploadRecord): Promise<void> {
    return uploads.putUpload(this.#db, upload);
  }

  upload(name: string): Promise<UploadRecord | undefined> {
    return uploads.upload(this.#db, name);
  }

  recordRevokedDigests(records: RevokedDigestRecord[]): Promise<void> {
    return uploads.recordRevokedDigests(this.#db, records);
  }

  revokedDigest(sha256: string): Promise<RevokedDigestRecord | undefined> {
    return uploads.revokedDigest(this.#db, sha256);
  }

  idempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return tokens.idempotency(this.#db, key);
  }

  saveIdempotency(r: IdempotencyRecord): Promise<void> {
    return tokens.saveIdempotency(this.#db, r);
  }

  deleteIdempotencyBefore(createdAt: string): Promise<void> {
    return tokens.deleteIdempotencyBefore(this.#db, createdAt);
  }

  insertToken(t: TokenRecord): Promise<void> {
    return tokens.insertToken(this.#db, t);
  }

  token(id: string): Promise<TokenRecord | undefined> {
    return tokens.token(this.#db, id);
  }

  tokens(): Promise<TokenRecord[]> {
    return tokens.tokens(this.#db);
  }

  revokeToken(id: string, revokedAt: string): Promise<RevokeTokenOutcome> {
    return tokens.revokeToken(this.#db, id, revokedAt);
  }

  touchToken(id: string, usedAt: string, minIntervalMs: number): Promise<void> {
    return tokens.touchToken(this.#db, id, usedAt, minIntervalMs);
  }

  insertAttestation(
    input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
      reportSha256: string;
      counter: number;
    },
  ): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
    return reports.insertAttestation(this.#db, input);
  }

  setAttestationLogIndex(id: number, logIndex: number): Promise<void> {
    return reports.setAttestationLogIndex(this.#db, id, logIndex);
  }

  attestations(opts?: { afterId?: number; limit?: number }): Promise<AttestationRecord[]> {
    return reports.attestations(this.#db, opts);
  }

  insertVehicleCertificate(r: VehicleCertificateRecord): Promise<void> {
    return vehicles.insertVehicleCertificate(this.#db, r);
  }

  vehicleCertificate(serialNumber: string): Promise<VehicleCertificateRecord | undefined> {
    return vehicles.vehicleCertificate(this.#db, serialNumber);
  }

  vehicleCertificateSuccessors(serialNumber: string): Promise<VehicleCertificateRecord[]> {
    return vehicles.vehicleCertificateSuccessors(this.#db, serialNumber);
  }

  vehicleCertificatesByKey(publicKeySha256: string): Promise<VehicleCertificateRecord[]> {
    return vehicles.vehicleCertificatesByKey(this.#db, publicKeySha256);
  }

  revokeVehicleCertificate(
    serialNumber: string,
    revokedAt: string,
    reason: RevocationReason,
  ): Promise<RevokeVehicleOutcome> {
    return vehicles.revokeVehicleCertificate(this.#db, serialNumber, revokedAt, reason);
  }

  revokedVehicleCertificates(): Promise<VehicleCertificateRecord[]> {
    return vehicles.revokedVehicleCertificates(this.#db);
  }

  latestVehicleCrl(): Promise<VehicleCrlRecord | undefined> {
    return vehicles.latestVehicleCrl(this.#db);
  }

  insertVehicleCrl(r: VehicleCrlRecord): Promise<boolean> {
    return vehicles.insertVehicleCrl(this.#db, r);
  }
}
