import type { RevocationReason } from '@tufchain/keys';
import { GroupCommit, type LogStores } from '@tufchain/transparency';
import type pg from 'pg';
import type { QueryResultRow } from 'pg';
import { PostgresDirectorStore } from '../director/postgres-store.js';
import { ServerError } from '../error.js';
import { LOG_CHANNEL, PostgresAnchorOutbox, PostgresLogStorage } from '../log/postgres-log.js';
import { PostgresJobLease } from './postgres-lease.js';
import { METADATA_CHANNEL, watchChannel, watchMetadataCommits } from './postgres-notify.js';
import { PostgresAdvisoryLock } from './postgres-lock.js';
import {
  clientConfigOf,
  inTransaction,
  isUniqueViolation,
  onUniqueViolation,
  openMigratedPool,
  type PostgresStoreOptions,
  type Queryable,
} from './postgres-db.js';
import {
  attestationValues,
  bytes,
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

type Row = QueryResultRow;

/**
 * The repository store on PostgreSQL (`pg`), for several server replicas on one database. Same
 * semantics and error codes as SqliteStore; where SQLite serializes writers (BEGIN IMMEDIATE), this
 * store takes row locks or transaction-scoped advisory locks on the key in question.
 */
export class PostgresStore implements RepositoryStore {
  readonly #pool: pg.Pool;
  readonly #clientConfig: pg.ClientConfig;
  #closed = false;
  #publishLock: PostgresAdvisoryLock | undefined;

  /** Log indexes of reports, written a batch per statement (group commit). */
  readonly #logIndexes = new GroupCommit<{ id: number; logIndex: number }, void>(async (batch) => {
    await this.#pool.query(
      `UPDATE install_attestations AS a SET log_index = v.log_index
       FROM unnest($1::bigint[], $2::bigint[]) AS v(id, log_index) WHERE a.id = v.id`,
      [batch.map((b) => b.id), batch.map((b) => b.logIndex)],
    );
    return batch.map(() => undefined);
  });

  private constructor(pool: pg.Pool, clientConfig: pg.ClientConfig) {
    this.#pool = pool;
    this.#clientConfig = clientConfig;
  }

  /** Connects and runs pending migrations (once across replicas: under an advisory lock). */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const clientConfig = clientConfigOf(opts);
    return new PostgresStore(await openMigratedPool(clientConfig), clientConfig);
  }

  #transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }

  /** Takes a lock on `key` until the transaction ends (the key's 64-bit hash). */
  static async #lockKey(tx: Queryable, key: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }

  async #get(sql: string, params: unknown[] = [], db: Queryable = this.#pool) {
    return (await db.query(sql, params)).rows[0];
  }

  async #all(sql: string, params: unknown[] = [], db: Queryable = this.#pool) {
    return (await db.query(sql, params)).rows;
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

  async currentMetadata(role: MetadataRole): Promise<MetadataRecord | undefined> {
    const row = await this.#get(
      `SELECT m.* FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = $1`,
      [role],
    );
    return row ? toMetadata(row) : undefined;
  }

  async currentMetadataDigest(
    role: MetadataRole,
  ): Promise<{ version: number; sha256: string; expires: string } | undefined> {
    const row = await this.#get(
      `SELECT m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = $1`,
      [role],
    );
    return row
      ? { version: num(row.version), sha256: str(row.sha256), expires: str(row.expires) }
      : undefined;
  }

  async publishedMetadata(
    role: MetadataRole,
    version: number,
  ): Promise<MetadataRecord | undefined> {
    const row = await this.#get(
      `SELECT * FROM metadata WHERE role = $1 AND version = $2 AND state = 'published'`,
      [role, version],
    );
    return row ? toMetadata(row) : undefined;
  }

  async publishedVersions(role: MetadataRole): Promise<number[]> {
    const rows = await this.#all(
      `SELECT version FROM metadata WHERE role = $1 AND state = 'published' ORDER BY version`,
      [role],
    );
    return rows.map((r) => num(r.version));
  }

  async maxVersion(role: MetadataRole): Promise<number> {
    const row = await this.#get('SELECT MAX(version) AS v FROM metadata WHERE role = $1', [role]);
    return row?.v == null ? 0 : num(row.v);
  }

  async stageMetadata(records: NewMetadataRecord[], batch = 'unnamed'): Promise<void> {
    const now = new Date().toISOString();
    await this.#transaction(async (tx) => {
      for (const r of records) {
        await tx
          .query(
            `INSERT INTO metadata (role, version, bytes, sha256, expires, state, created_at, batch)
             VALUES ($1, $2, $3, $4, $5, 'staged', $6, $7)`,
            [r.role, r.version, Buffer.from(r.bytes), r.sha256, r.expires, now, batch],
          )
          .catch(onUniqueViolation((error) => versionTaken(r, error)));
      }
    });
  }

  async metadataBatch(role: MetadataRole, version: number): Promise<string | undefined> {
    const row = await this.#get('SELECT batch FROM metadata WHERE role = $1 AND version = $2', [
      role,
      version,
    ]);
    return row?.batch == null ? undefined : str(row.batch);
  }

  async stagedBatches(): Promise<{ batch: string; records: MetadataRecord[] }[]> {
    const rows = await this.#all(
      `SELECT * FROM metadata WHERE state = 'staged'
       ORDER BY created_at COLLATE "C", role COLLATE "C", version`,
    );
    const batches = new Map<string, MetadataRecord[]>();
    for (const row of rows) {
      const batch = row.batch == null ? 'unnamed' : str(row.batch);
      const list = batches.get(batch) ?? [];
      list.push(toMetadata(row));
      batches.set(batch, list);
    }
    return [...batches].map(([batch, records]) => ({ batch, records }));
  }

  async commitMetadata(
    records: { role: MetadataRole; version: number }[],
    alsoUpdateRelease?: { id: number; patch: ReleasePatch },
  ): Promise<void> {
    await this.#transaction(async (tx) => {
      for (const r of records) {
        // The row lock makes a second commit of the same version wait, then find it published.
        const changed = await tx.query(
          `UPDATE metadata SET state = 'published' WHERE role = $1 AND version = $2 AND state = 'staged'`,
          [r.role, r.version],
        );
        if (changed.rowCount !== 1) {
          throw new ServerError('STORAGE_FAILED', `no staged ${r.role} v${r.version} to commit`);
        }
        await tx.query(
          `INSERT INTO current_metadata (role, version) VALUES ($1, $2)
           ON CONFLICT (role) DO UPDATE SET version = excluded.version`,
          [r.role, r.version],
        );
      }
      if (alsoUpdateRelease) {
        await updateRelease(tx, alsoUpdateRelease.id, alsoUpdateRelease.patch);
      }
      // Delivered to every listening replica when (and only if) this transaction commits.
      await tx.query('SELECT pg_notify($1, $2)', [METADATA_CHANNEL, '']);
    });
  }

  async abandonMetadata(records: { role: MetadataRole; version: number }[]): Promise<void> {
    await this.#transaction(async (tx) => {
      for (const r of records) {
        await tx.query(
          `UPDATE metadata SET state = 'abandoned' WHERE role = $1 AND version = $2 AND state = 'staged'`,
          [r.role, r.version],
        );
      }
    });
  }

  async discardFailedBootstrap(): Promise<void> {
    await this.#transaction(async (tx) => {
      // Keeps a concurrent first commit out between the check and the delete.
      await tx.query('LOCK TABLE current_metadata IN EXCLUSIVE MODE');
      if (await this.#get('SELECT 1 AS x FROM current_metadata LIMIT 1', [], tx)) {
        throw new ServerError(
          'REPOSITORY_ALREADY_INITIALIZED',
          'the repository is already bootstrapped',
        );
      }
      await tx.query(`DELETE FROM metadata WHERE state != 'published'`);
    });
  }

  async recordBlob(blob: BlobRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [blob.sha256, blob.sha512, blob.length, new Date().toISOString()],
    );
  }

  async blobBySha256(sha256: string): Promise<BlobRecord | undefined> {
    const row = await this.#get('SELECT * FROM blobs WHERE sha256 = $1', [sha256]);
    return row ? toBlob(row) : undefined;
  }

  async blobBySha512(sha512: string): Promise<BlobRecord | undefined> {
    const row = await this.#get('SELECT * FROM blobs WHERE sha512 = $1', [sha512]);
    return row ? toBlob(row) : undefined;
  }

  async putUpload(upload: UploadRecord): Promise<void> {
    await this.#transaction(async (tx) => {
      // The same lock as recordRevokedDigests: a revocation and an upload of these bytes do not
      // interleave between the check and the insert.
      await PostgresStore.#lockKey(tx, `tufchain:digest:${upload.sha256}`);
      const revoked = await this.#get(
        'SELECT release_id FROM revoked_digests WHERE sha256 = $1',
        [upload.sha256],
        tx,
      );
      if (revoked) {
        throw new ServerError(
          'TARGET_REVOKED',
          `these bytes (sha256 ${upload.sha256}) were revoked with release ${num(revoked.release_id)}`,
        );
      }
      await tx.query(
        `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [upload.sha256, upload.sha512, upload.length, upload.uploadedAt],
      );
      await tx.query(
        `INSERT INTO uploads (name, sha256, uploaded_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at`,
        [upload.name, upload.sha256, upload.uploadedAt],
      );
    });
  }

  async upload(name: string): Promise<UploadRecord | undefined> {
    const row = await this.#get(
      'SELECT u.name, u.uploaded_at, b.* FROM uploads u JOIN blobs b ON b.sha256 = u.sha256 WHERE u.name = $1',
      [name],
    );
    return row
      ? { ...toBlob(row), name: str(row.name), uploadedAt: str(row.uploaded_at) }
      : undefined;
  }

  async createRelease(input: {
    targetNames: string[];
    targetsVersion: number;
  }): Promise<ReleaseRecord> {
    const now = new Date().toISOString();
    const row = await this.#get(
      `INSERT INTO releases (status, target_names, targets_version, created_at, updated_at)
       VALUES ('pending', $1, $2, $3, $4) RETURNING *`,
      [JSON.stringify(input.targetNames), input.targetsVersion, now, now],
    );
    if (!row) throw new ServerError('STORAGE_FAILED', 'release row vanished');
    return toRelease(row);
  }

  async updateRelease(id: number, patch: ReleasePatch): Promise<void> {
    await updateRelease(this.#pool, id, patch);
  }

  async release(id: number): Promise<ReleaseRecord | undefined> {
    const row = await this.#get('SELECT * FROM releases WHERE id = $1', [id]);
    return row ? toRelease(row) : undefined;
  }

  async releases(): Promise<ReleaseRecord[]> {
    return (await this.#all('SELECT * FROM releases ORDER BY id')).map(toRelease);
  }

  async idempotency(key: string): Promise<IdempotencyRecord | undefined> {
    const row = await this.#get('SELECT * FROM idempotency_keys WHERE key = $1', [key]);
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
  }

  async saveIdempotency(r: IdempotencyRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO idempotency_keys (key, route, request_sha256, status, response_json, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [r.key, r.route, r.requestSha256, r.status, r.responseJson, r.createdAt],
    );
  }

  async deleteIdempotencyBefore(createdAt: string): Promise<void> {
    await this.#pool.query('DELETE FROM idempotency_keys WHERE created_at < $1 COLLATE "C"', [
      createdAt,
    ]);
  }

  async insertToken(t: TokenRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO api_tokens (id, name, secret_sha256, scopes, created_at, expires_at, revoked_at, last_used_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        t.id,
        t.name,
        t.secretSha256,
        JSON.stringify(t.scopes),
        t.createdAt,
        t.expiresAt,
        t.revokedAt,
        t.lastUsedAt,
      ],
    );
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const row = await this.#get('SELECT * FROM api_tokens WHERE id = $1', [id]);
    return row ? toToken(row) : undefined;
  }

  async tokens(): Promise<TokenRecord[]> {
    const rows = await this.#all(
      'SELECT * FROM api_tokens ORDER BY created_at COLLATE "C", id COLLATE "C"',
    );
    return rows.map(toToken);
  }

  async revokeToken(id: string, revokedAt: string): Promise<RevokeTokenOutcome> {
    const revoked = await this.#pool.query(
      'UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [revokedAt, id],
    );
    if (revoked.rowCount === 1) return 'REVOKED';
    return (await this.#get('SELECT 1 AS x FROM api_tokens WHERE id = $1', [id]))
      ? 'ALREADY_REVOKED'
      : 'NOT_FOUND';
  }

  async touchToken(id: string, usedAt: string, minIntervalMs: number): Promise<void> {
    const before = new Date(Date.parse(usedAt) - minIntervalMs).toISOString();
    await this.#pool.query(
      `UPDATE api_tokens SET last_used_at = $1
       WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3 COLLATE "C")`,
      [usedAt, id, before],
    );
  }

  async putLogOutbox(r: LogOutboxRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO log_outbox (id, snapshot_version, calls_json, chain_json, created_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET
         snapshot_version = excluded.snapshot_version, calls_json = excluded.calls_json,
         chain_json = excluded.chain_json`,
      [r.id, r.snapshotVersion, r.callsJson, r.chainJson, r.createdAt],
    );
  }

  async logOutbox(): Promise<LogOutboxRecord[]> {
    return (await this.#all('SELECT * FROM log_outbox ORDER BY created_at, id', [])).map(
      toLogOutbox,
    );
  }

  async deleteLogOutbox(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM log_outbox WHERE id = $1', [id]);
  }

  async recordRevokedDigests(records: RevokedDigestRecord[]): Promise<void> {
    await this.#transaction(async (tx) => {
      for (const r of records) {
        await PostgresStore.#lockKey(tx, `tufchain:digest:${r.sha256}`);
        await tx.query(
          'INSERT INTO revoked_digests (sha256, release_id, revoked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [r.sha256, r.releaseId, r.revokedAt],
        );
      }
    });
  }

  async revokedDigest(sha256: string): Promise<RevokedDigestRecord | undefined> {
    const row = await this.#get('SELECT * FROM revoked_digests WHERE sha256 = $1', [sha256]);
    return row
      ? { sha256: str(row.sha256), releaseId: num(row.release_id), revokedAt: str(row.revoked_at) }
      : undefined;
  }

  async insertAttestation(
    input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
      reportSha256: string;
      counter: number;
    },
  ): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
    const attempt = async () => {
      // Reports of one ECU are checked and stored one at a time, across replicas (migration 6).
      const row = await this.#get(
        'SELECT * FROM tufchain_insert_attestation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [`tufchain:report:${input.vinCommitment}\n${input.ecuSerial}`, ...attestationValues(input)],
      );
      if (row?.o_last_counter != null) {
        throw new ServerError(
          'REPORT_COUNTER_REPLAYED',
          `ECU ${input.ecuSerial} already reported counter ${num(row.o_last_counter)}; this report has ${input.counter}`,
        );
      }
      if (row?.o_created) {
        return { id: num(row.o_id), created: true, logIndex: null, bundleJson: input.bundleJson };
      }
      return {
        id: num(row?.o_id),
        created: false,
        logIndex: row?.o_log_index == null ? null : num(row.o_log_index),
        bundleJson: str(row?.o_bundle_json),
      };
    };
    try {
      return await attempt();
    } catch (error) {
      // The same bundle under another ECU key (a different lock) got in first: answer with it.
      if (isUniqueViolation(error)) return attempt();
      throw error;
    }
  }

  setAttestationLogIndex(id: number, logIndex: number): Promise<void> {
    return this.#logIndexes.submit({ id, logIndex });
  }

  async attestations(
    opts: { afterId?: number; limit?: number } = {},
  ): Promise<AttestationRecord[]> {
    // SQLite reads a negative LIMIT as "no limit"; PostgreSQL reads NULL that way.
    const limit = opts.limit === undefined || opts.limit < 0 ? null : opts.limit;
    const rows = await this.#all(
      'SELECT * FROM install_attestations WHERE id > $1 ORDER BY id LIMIT $2',
      [opts.afterId ?? 0, limit],
    );
    return rows.map(toAttestation);
  }

  async insertVehicleCertificate(r: VehicleCertificateRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO vehicle_certificates (serial_number, vin_commitment, ecu_serial, public_key_sha256, certificate_pem,
         not_before, not_after, issued_at, enrolled_by, previous_serial_number, revoked_at, revocation_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
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
      ],
    );
  }

  async vehicleCertificate(serialNumber: string): Promise<VehicleCertificateRecord | undefined> {
    const row = await this.#get('SELECT * FROM vehicle_certificates WHERE serial_number = $1', [
      serialNumber,
    ]);
    return row ? toVehicleCertificate(row) : undefined;
  }

  async vehicleCertificateSuccessors(serialNumber: string): Promise<VehicleCertificateRecord[]> {
    const rows = await this.#all(
      `SELECT * FROM vehicle_certificates WHERE previous_serial_number = $1
       ORDER BY issued_at COLLATE "C" DESC, seq DESC`,
      [serialNumber],
    );
    return rows.map(toVehicleCertificate);
  }

  async vehicleCertificatesByKey(publicKeySha256: string): Promise<VehicleCertificateRecord[]> {
    const rows = await this.#all(
      `SELECT * FROM vehicle_certificates WHERE public_key_sha256 = $1
       ORDER BY issued_at COLLATE "C", seq`,
      [publicKeySha256],
    );
    return rows.map(toVehicleCertificate);
  }

  async revokeVehicleCertificate(
    serialNumber: string,
    revokedAt: string,
    reason: RevocationReason,
  ): Promise<RevokeVehicleOutcome> {
    const revoked = await this.#pool.query(
      `UPDATE vehicle_certificates SET revoked_at = $1, revocation_reason = $2
       WHERE serial_number = $3 AND revoked_at IS NULL`,
      [revokedAt, reason, serialNumber],
    );
    if (revoked.rowCount === 1) return 'REVOKED';
    return (await this.#get('SELECT 1 AS x FROM vehicle_certificates WHERE serial_number = $1', [
      serialNumber,
    ]))
      ? 'ALREADY_REVOKED'
      : 'NOT_FOUND';
  }

  async revokedVehicleCertificates(): Promise<VehicleCertificateRecord[]> {
    const rows = await this.#all(
      `SELECT * FROM vehicle_certificates WHERE revoked_at IS NOT NULL
       ORDER BY revoked_at COLLATE "C", serial_number COLLATE "C"`,
    );
    return rows.map(toVehicleCertificate);
  }

  async latestVehicleCrl(): Promise<VehicleCrlRecord | undefined> {
    const row = await this.#get('SELECT * FROM vehicle_crls ORDER BY crl_number DESC LIMIT 1');
    return row
      ? {
          crlNumber: num(row.crl_number),
          pem: str(row.pem),
          thisUpdate: str(row.this_update),
          nextUpdate: str(row.next_update),
        }
      : undefined;
  }

  async insertVehicleCrl(r: VehicleCrlRecord): Promise<boolean> {
    const inserted = await this.#pool.query(
      `INSERT INTO vehicle_crls (crl_number, pem, this_update, next_update) VALUES ($1, $2, $3, $4)
       ON CONFLICT (crl_number) DO NOTHING`,
      [r.crlNumber, r.pem, r.thisUpdate, r.nextUpdate],
    );
    return inserted.rowCount === 1;
  }
}

async function updateRelease(db: Queryable, id: number, patch: ReleasePatch): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [];
  const set = (column: string, value: unknown): void => {
    params.push(value);
    sets.push(`${column} = $${params.length.toString()}`);
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
  set('updated_at', new Date().toISOString());
  params.push(id);
  await db.query(
    `UPDATE releases SET ${sets.join(', ')} WHERE id = $${params.length.toString()}`,
    params,
  );
}

function toMetadata(row: Row): MetadataRecord {
  return {
    role: str(row.role),
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
    state: str(row.state) as MetadataRecord['state'],
  };
}
