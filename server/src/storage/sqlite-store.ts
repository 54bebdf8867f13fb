import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { RevocationReason } from '@tufchain/keys';
import { ServerError } from '../error.js';
import { migrations } from './migrations.js';
import {
  attestationValues,
  num,
  str,
  toAttestation,
  toBlob,
  toLogOutbox,
  toRelease,
  toToken,
  toVehicleCertificate,
  versionTaken,
} from './rows.js';
import { storedReportIdentity } from './report-identity.js';
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

type Row = Record<string, SQLInputValue>;

export class SqliteStore implements RepositoryStore {
  readonly #db: DatabaseSync;
  readonly #commitListeners = new Set<() => void>();
  #closed = false;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#migrate();
    this.#fillReportIdentities();
  }

  /** Gives reports stored before migration 7 their identity and counter (see report-identity.ts). */
  #fillReportIdentities(): void {
    const rows = this.#all(
      'SELECT id, bundle_json FROM install_attestations WHERE report_sha256 IS NULL AND counter IS NULL',
    );
    if (rows.length === 0) return;
    this.#transaction(() => {
      for (const row of rows) {
        const identity = storedReportIdentity(str(row.bundle_json));
        if (!identity) continue;
        // A report stored twice in two encodings (the replay this fixes) keeps one identity row.
        this.#run(
          `UPDATE install_attestations SET counter = ?,
             report_sha256 = CASE WHEN EXISTS (SELECT 1 FROM install_attestations WHERE report_sha256 = ?)
               THEN NULL ELSE ? END
           WHERE id = ?`,
          identity.counter,
          identity.reportSha256,
          identity.reportSha256,
          num(row.id),
        );
      }
    });
  }

  #migrate(): void {
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT',
    );
    const applied = new Set(
      this.#db
        .prepare('SELECT id FROM migrations')
        .all()
        .map((r) => num(r.id)),
    );
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      // https://www.sqlite.org/lang_altertable.html#otheralter: foreign keys off around a rebuild.
      if (m.rebuildsTable) this.#db.exec('PRAGMA foreign_keys = OFF');
      try {
        this.#transaction(() => {
          this.#db.exec(m.sql);
          if (m.rebuildsTable && this.#db.prepare('PRAGMA foreign_key_check').all().length > 0) {
            throw new ServerError('STORAGE_FAILED', `migration ${m.id} broke a foreign key`);
          }
          this.#db
            .prepare('INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)')
            .run(m.id, m.name, new Date().toISOString());
        });
      } finally {
        if (m.rebuildsTable) this.#db.exec('PRAGMA foreign_keys = ON');
      }
    }
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#db.prepare(sql).all(...params);
  }

  #run(sql: string, ...params: SQLInputValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.#db.prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  ping(): Promise<void> {
    return settle(() => {
      if (this.#closed) throw new ServerError('NOT_READY', 'database is closed');
      this.#get('SELECT 1 AS ok');
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

  currentMetadata(role: MetadataRole): Promise<MetadataRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        `SELECT m.* FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = ?`,
        role,
      );
      return row ? toMetadata(row) : undefined;
    });
  }

  currentMetadataDigest(
    role: MetadataRole,
  ): Promise<{ version: number; sha256: string; expires: string } | undefined> {
    return settle(() => {
      const row = this.#get(
        `SELECT m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = ?`,
        role,
      );
      return row
        ? { version: num(row.version), sha256: str(row.sha256), expires: str(row.expires) }
        : undefined;
    });
  }

  publishedMetadata(role: MetadataRole, version: number): Promise<MetadataRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        `SELECT * FROM metadata WHERE role = ? AND version = ? AND state = 'published'`,
        role,
        version,
      );
      return row ? toMetadata(row) : undefined;
    });
  }

  publishedVersions(role: MetadataRole): Promise<number[]> {
    return settle(() => {
      return this.#all(
        `SELECT version FROM metadata WHERE role = ? AND state = 'published' ORDER BY version`,
        role,
      ).map((r) => Number(r.version));
    });
  }

  maxVersion(role: MetadataRole): Promise<number> {
    return settle(() => {
      const row = this.#get('SELECT MAX(version) AS v FROM metadata WHERE role = ?', role);
      return row?.v == null ? 0 : num(row.v);
    });
  }

  stageMetadata(records: NewMetadataRecord[], batch = 'unnamed'): Promise<void> {
    return settle(() => {
      const now = new Date().toISOString();
      this.#transaction(() => {
        for (const r of records) {
          onKeyViolation(
            () =>
              this.#run(
                `INSERT INTO metadata (role, version, bytes, sha256, expires, state, created_at, batch) VALUES (?, ?, ?, ?, ?, 'staged', ?, ?)`,
                r.role,
                r.version,
                r.bytes,
                r.sha256,
                r.expires,
                now,
                batch,
              ),
            (error) => versionTaken(r, error),
          );
        }
      });
    });
  }

  metadataBatch(role: MetadataRole, version: number): Promise<string | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT batch FROM metadata WHERE role = ? AND version = ?',
        role,
        version,
      );
      return row?.batch == null ? undefined : str(row.batch);
    });
  }

  stagedBatches(): Promise<{ batch: string; records: MetadataRecord[] }[]> {
    return settle(() => {
      const rows = this.#all(
        `SELECT * FROM metadata WHERE state = 'staged' ORDER BY created_at, role, version`,
      );
      const batches = new Map<string, MetadataRecord[]>();
      for (const row of rows) {
        const batch = row.batch == null ? 'unnamed' : str(row.batch);
        const list = batches.get(batch) ?? [];
        list.push(toMetadata(row));
        batches.set(batch, list);
      }
      return [...batches].map(([batch, records]) => ({ batch, records }));
    });
  }

  commitMetadata(
    records: { role: MetadataRole; version: number }[],
    alsoUpdateRelease?: { id: number; patch: ReleasePatch },
  ): Promise<void> {
    return settle(() => {
      this.#transaction(() => {
        for (const r of records) {
          const changed = this.#run(
            `UPDATE metadata SET state = 'published' WHERE role = ? AND version = ? AND state = 'staged'`,
            r.role,
            r.version,
          );
          if (changed.changes !== 1) {
            throw new ServerError('STORAGE_FAILED', `no staged ${r.role} v${r.version} to commit`);
          }
          this.#run(
            `INSERT INTO current_metadata (role, version) VALUES (?, ?)
             ON CONFLICT (role) DO UPDATE SET version = excluded.version`,
            r.role,
            r.version,
          );
        }
        if (alsoUpdateRelease) this.#updateRelease(alsoUpdateRelease.id, alsoUpdateRelease.patch);
      });
      for (const listener of this.#commitListeners) listener();
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

  abandonMetadata(records: { role: MetadataRole; version: number }[]): Promise<void> {
    return settle(() => {
      this.#transaction(() => {
        for (const r of records) {
          this.#run(
            `UPDATE metadata SET state = 'abandoned' WHERE role = ? AND version = ? AND state = 'staged'`,
            r.role,
            r.version,
          );
        }
      });
    });
  }

  discardFailedBootstrap(): Promise<void> {
    return settle(() => {
      this.#transaction(() => {
        if (this.#get('SELECT 1 AS x FROM current_metadata LIMIT 1')) {
          throw new ServerError(
            'REPOSITORY_ALREADY_INITIALIZED',
            'the repository is already bootstrapped',
          );
        }
        this.#run(`DELETE FROM metadata WHERE state != 'published'`);
      });
    });
  }

  recordBlob(blob: BlobRecord): Promise<void> {
    return settle(() => {
      this.#run(
        `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        blob.sha256,
        blob.sha512,
        blob.length,
        new Date().toISOString(),
      );
    });
  }

  blobBySha256(sha256: string): Promise<BlobRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM blobs WHERE sha256 = ?', sha256);
      return row ? toBlob(row) : undefined;
    });
  }

  blobBySha512(sha512: string): Promise<BlobRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM blobs WHERE sha512 = ?', sha512);
      return row ? toBlob(row) : undefined;
    });
  }

  putUpload(upload: UploadRecord): Promise<void> {
    return settle(() =>
      this.#transaction(() => {
        const revoked = this.#get(
          'SELECT release_id FROM revoked_digests WHERE sha256 = ?',
          upload.sha256,
        );
        if (revoked) {
          throw new ServerError(
            'TARGET_REVOKED',
            `these bytes (sha256 ${upload.sha256}) were revoked with release ${num(revoked.release_id)}`,
          );
        }
        this.#run(
          `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          upload.sha256,
          upload.sha512,
          upload.length,
          upload.uploadedAt,
        );
        this.#run(
          `INSERT INTO uploads (name, sha256, uploaded_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at`,
          upload.name,
          upload.sha256,
          upload.uploadedAt,
        );
      }),
    );
  }

  upload(name: string): Promise<UploadRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT u.name, u.uploaded_at, b.* FROM uploads u JOIN blobs b ON b.sha256 = u.sha256 WHERE u.name = ?',
        name,
      );
      return row
        ? { ...toBlob(row), name: str(row.name), uploadedAt: str(row.uploaded_at) }
        : undefined;
    });
  }

  createRelease(input: { targetNames: string[]; targetsVersion: number }): Promise<ReleaseRecord> {
    return settle(() => {
      const now = new Date().toISOString();
      const { lastInsertRowid } = this.#run(
        `INSERT INTO releases (status, target_names, targets_version, created_at, updated_at) VALUES ('pending', ?, ?, ?, ?)`,
        JSON.stringify(input.targetNames),
        input.targetsVersion,
        now,
        now,
      );
      const row = this.#get('SELECT * FROM releases WHERE id = ?', lastInsertRowid);
      if (!row) throw new ServerError('STORAGE_FAILED', 'release row vanished');
      return toRelease(row);
    });
  }

  #updateRelease(id: number, patch: ReleasePatch): void {
    const sets: string[] = [];
    const params: SQLInputValue[] = [];
    const set = (column: string, value: SQLInputValue): void => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.targetsVersion !== undefined) set('targets_version', patch.targetsVersion);
    if (patch.metadataHash !== undefined) set('metadata_hash', patch.metadataHash);
    if (patch.chain !== undefined)
      set('chain_json', patch.chain ? JSON.stringify(patch.chain) : null);
    if (patch.revocation !== undefined) {
      set('revocation_json', patch.revocation ? JSON.stringify(patch.revocation) : null);
    }
    if (patch.error !== undefined) set('error', patch.error);
    sets.push('updated_at = ?');
    params.push(new Date().toISOString());
    this.#run(`UPDATE releases SET ${sets.join(', ')} WHERE id = ?`, ...params, id);
  }

  updateRelease(id: number, patch: ReleasePatch): Promise<void> {
    return settle(() => {
      this.#updateRelease(id, patch);
    });
  }

  release(id: number): Promise<ReleaseRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM releases WHERE id = ?', id);
      return row ? toRelease(row) : undefined;
    });
  }

  releases(): Promise<ReleaseRecord[]> {
    return settle(() => {
      return this.#all('SELECT * FROM releases ORDER BY id').map(toRelease);
    });
  }

  idempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM idempotency_keys WHERE key = ?', key);
      return row
        ? {
            key: str(row.key),
            route: str(row.route),
            requestSha256: str(row.request_sha256),
            status: num(row.status),
            responseJson: str(row.response_json),
            createdAt: str(row.created_at),
          }
        : undefined;
    });
  }

  saveIdempotency(r: IdempotencyRecord): Promise<void> {
    return settle(() => {
      this.#run(
        `INSERT INTO idempotency_keys (key, route, request_sha256, status, response_json, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
        r.key,
        r.route,
        r.requestSha256,
        r.status,
        r.responseJson,
        r.createdAt,
      );
    });
  }

  deleteIdempotencyBefore(createdAt: string): Promise<void> {
    return settle(() => {
      this.#run('DELETE FROM idempotency_keys WHERE created_at < ?', createdAt);
    });
  }

  insertToken(t: TokenRecord): Promise<void> {
    return settle(() => {
      this.#run(
        `INSERT INTO api_tokens (id, name, secret_sha256, scopes, created_at, revoked, expires_at, revoked_at, last_used_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        t.id,
        t.name,
        t.secretSha256,
        JSON.stringify(t.scopes),
        t.createdAt,
        t.revokedAt === null ? 0 : 1,
        t.expiresAt,
        t.revokedAt,
        t.lastUsedAt,
      );
    });
  }

  token(id: string): Promise<TokenRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM api_tokens WHERE id = ?', id);
      return row ? toSqliteToken(row) : undefined;
    });
  }

  tokens(): Promise<TokenRecord[]> {
    return settle(() => {
      return this.#all('SELECT * FROM api_tokens ORDER BY created_at, id').map(toSqliteToken);
    });
  }

  revokeToken(id: string, revokedAt: string): Promise<RevokeTokenOutcome> {
    return settle(() => {
      const outcome = this.#transaction((): RevokeTokenOutcome => {
        const row = this.#get('SELECT revoked, revoked_at FROM api_tokens WHERE id = ?', id);
        if (!row) return 'NOT_FOUND';
        if (row.revoked_at != null || num(row.revoked) === 1) return 'ALREADY_REVOKED';
        this.#run('UPDATE api_tokens SET revoked = 1, revoked_at = ? WHERE id = ?', revokedAt, id);
        return 'REVOKED';
      });
      return outcome;
    });
  }

  touchToken(id: string, usedAt: string, minIntervalMs: number): Promise<void> {
    return settle(() => {
      const before = new Date(Date.parse(usedAt) - minIntervalMs).toISOString();
      this.#run(
        'UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)',
        usedAt,
        id,
        before,
      );
    });
  }

  putLogOutbox(r: LogOutboxRecord): Promise<void> {
    return settle(() => {
      this.#run(
        `INSERT INTO log_outbox (id, snapshot_version, calls_json, chain_json, created_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
           snapshot_version = excluded.snapshot_version, calls_json = excluded.calls_json,
           chain_json = excluded.chain_json`,
        r.id,
        r.snapshotVersion,
        r.callsJson,
        r.chainJson,
        r.createdAt,
      );
    });
  }

  logOutbox(): Promise<LogOutboxRecord[]> {
    return settle(() =>
      this.#all('SELECT * FROM log_outbox ORDER BY created_at, id').map(toLogOutbox),
    );
  }

  deleteLogOutbox(id: string): Promise<void> {
    return settle(() => {
      this.#run('DELETE FROM log_outbox WHERE id = ?', id);
    });
  }

  recordRevokedDigests(records: RevokedDigestRecord[]): Promise<void> {
    return settle(() => {
      this.#transaction(() => {
        for (const r of records) {
          this.#run(
            'INSERT INTO revoked_digests (sha256, release_id, revoked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
            r.sha256,
            r.releaseId,
            r.revokedAt,
          );
        }
      });
    });
  }

  revokedDigest(sha256: string): Promise<RevokedDigestRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM revoked_digests WHERE sha256 = ?', sha256);
      return row
        ? {
            sha256: str(row.sha256),
            releaseId: num(row.release_id),
            revokedAt: str(row.revoked_at),
          }
        : undefined;
    });
  }

  insertAttestation(
    input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
      reportSha256: string;
      counter: number;
    },
  ): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
    return settle(() =>
      this.#transaction(() => {
        const existing = this.#get(
          `SELECT id, log_index, bundle_json FROM install_attestations
         WHERE report_sha256 = ? OR bundle_sha256 = ? ORDER BY id LIMIT 1`,
          input.reportSha256,
          input.bundleSha256,
        );
        if (existing) {
          const logIndex = existing.log_index == null ? null : num(existing.log_index);
          return {
            id: num(existing.id),
            created: false,
            logIndex,
            bundleJson: str(existing.bundle_json),
          };
        }
        const last = this.#get(
          'SELECT MAX(counter) AS counter FROM install_attestations WHERE vin_commitment = ? AND ecu_serial = ?',
          input.vinCommitment,
          input.ecuSerial,
        );
        if (last?.counter != null && input.counter <= num(last.counter)) {
          throw new ServerError(
            'REPORT_COUNTER_REPLAYED',
            `ECU ${input.ecuSerial} already reported counter ${num(last.counter)}; this report has ${input.counter}`,
          );
        }
        const { lastInsertRowid } = this.#run(
          `INSERT INTO install_attestations (report_sha256, counter, bundle_sha256, bundle_json, vin_commitment, ecu_serial, target_name, result, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ...attestationValues(input),
        );
        return { id: lastInsertRowid, created: true, logIndex: null, bundleJson: input.bundleJson };
      }),
    );
  }

  setAttestationLogIndex(id: number, logIndex: number): Promise<void> {
    return settle(() => {
      this.#run('UPDATE install_attestations SET log_index = ? WHERE id = ?', logIndex, id);
    });
  }

  attestations(opts: { afterId?: number; limit?: number } = {}): Promise<AttestationRecord[]> {
    return settle(() => {
      const rows = this.#all(
        'SELECT * FROM install_attestations WHERE id > ? ORDER BY id LIMIT ?',
        opts.afterId ?? 0,
        opts.limit ?? -1,
      );
      return rows.map(toAttestation);
    });
  }

  insertVehicleCertificate(r: VehicleCertificateRecord): Promise<void> {
    return settle(() => {
      this.#run(
        `INSERT INTO vehicle_certificates (serial_number, vin_commitment, ecu_serial, public_key_sha256, certificate_pem,
           not_before, not_after, issued_at, enrolled_by, previous_serial_number, revoked_at, revocation_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        r.serialNumber,
        r.vinCommitment,
        r.ecuSerial,
        r.publicKeySha256,
        r.certificatePem,
        r.notBefore,
        r.notAfter,
        r.issuedAt,
        r.enrolledBy,
        r.previousSerialNumber,
        r.revokedAt,
        r.revocationReason,
      );
    });
  }

  vehicleCertificate(serialNumber: string): Promise<VehicleCertificateRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT * FROM vehicle_certificates WHERE serial_number = ?',
        serialNumber,
      );
      return row ? toVehicleCertificate(row) : undefined;
    });
  }

  vehicleCertificateSuccessors(serialNumber: string): Promise<VehicleCertificateRecord[]> {
    return settle(() => {
      return this.#all(
        'SELECT * FROM vehicle_certificates WHERE previous_serial_number = ? ORDER BY issued_at DESC, rowid DESC',
        serialNumber,
      ).map(toVehicleCertificate);
    });
  }

  vehicleCertificatesByKey(publicKeySha256: string): Promise<VehicleCertificateRecord[]> {
    return settle(() => {
      return this.#all(
        'SELECT * FROM vehicle_certificates WHERE public_key_sha256 = ? ORDER BY issued_at, rowid',
        publicKeySha256,
      ).map(toVehicleCertificate);
    });
  }

  revokeVehicleCertificate(
    serialNumber: string,
    revokedAt: string,
    reason: RevocationReason,
  ): Promise<RevokeVehicleOutcome> {
    return settle(() => {
      const outcome = this.#transaction((): RevokeVehicleOutcome => {
        const row = this.#get(
          'SELECT revoked_at FROM vehicle_certificates WHERE serial_number = ?',
          serialNumber,
        );
        if (!row) return 'NOT_FOUND';
        if (row.revoked_at != null) return 'ALREADY_REVOKED';
        this.#run(
          'UPDATE vehicle_certificates SET revoked_at = ?, revocation_reason = ? WHERE serial_number = ?',
          revokedAt,
          reason,
          serialNumber,
        );
        return 'REVOKED';
      });
      return outcome;
    });
  }

  revokedVehicleCertificates(): Promise<VehicleCertificateRecord[]> {
    return settle(() => {
      return this.#all(
        'SELECT * FROM vehicle_certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial_number',
      ).map(toVehicleCertificate);
    });
  }

  latestVehicleCrl(): Promise<VehicleCrlRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM vehicle_crls ORDER BY crl_number DESC LIMIT 1');
      return row
        ? {
            crlNumber: num(row.crl_number),
            pem: str(row.pem),
            thisUpdate: str(row.this_update),
            nextUpdate: str(row.next_update),
          }
        : undefined;
    });
  }

  insertVehicleCrl(r: VehicleCrlRecord): Promise<boolean> {
    return settle(() => {
      const { changes } = this.#run(
        `INSERT INTO vehicle_crls (crl_number, pem, this_update, next_update) VALUES (?, ?, ?, ?)
         ON CONFLICT (crl_number) DO NOTHING`,
        r.crlNumber,
        r.pem,
        r.thisUpdate,
        r.nextUpdate,
      );
      return changes === 1;
    });
  }
}

/**
 * SQLITE_CONSTRAINT_PRIMARYKEY or SQLITE_CONSTRAINT_UNIQUE (node:sqlite puts SQLite's extended
 * result code in `errcode`).
 */
function isKeyViolation(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return code === 1555 || code === 2067;
}

/** Runs `fn`; a key violation becomes `toError(it)`, any other error passes. */
export function onKeyViolation<T>(fn: () => T, toError: (cause: unknown) => Error): T {
  try {
    return fn();
  } catch (error) {
    throw isKeyViolation(error) ? toError(error) : error;
  }
}

/**
 * Runs SQLite work as a promise: a refusal (a constraint, a closed database) rejects it rather
 * than throwing before the caller holds a promise, as a networked store's would.
 */
export function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

function toMetadata(row: Row): MetadataRecord {
  return {
    role: str(row.role),
    version: num(row.version),
    bytes: row.bytes as Uint8Array,
    sha256: str(row.sha256),
    expires: str(row.expires),
    state: str(row.state) as MetadataRecord['state'],
  };
}

/** SQLite keeps the legacy `revoked` flag of tokens revoked before `revoked_at` existed. */
function toSqliteToken(row: Row): TokenRecord {
  const revokedAt =
    row.revoked_at != null
      ? str(row.revoked_at)
      : num(row.revoked) === 1
        ? str(row.created_at)
        : null;
  return { ...toToken(row), revokedAt };
}
