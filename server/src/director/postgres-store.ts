import type pg from 'pg';
import { ServerError } from '../error.js';
import {
  clientConfigOf,
  inTransaction,
  onUniqueViolation,
  openMigratedPool,
  type PostgresStoreOptions,
  type Queryable,
} from '../storage/postgres-db.js';
import { num, str, versionTaken, type StoredRow } from '../storage/rows.js';
import * as rows from './rows.js';
import type * as Director from './store.js';

/**
 * The Director's tables in PostgreSQL (migration 4), for several replicas on one database. Same
 * semantics and error codes as SqliteDirectorStore: where SQLite serializes writers with
 * BEGIN IMMEDIATE, two replicas here race to the table's unique key and the loser gets the
 * error SQLite would give a second writer (METADATA_VERSION_TAKEN, INVENTORY_CONFLICT, …).
 */
export class PostgresDirectorStore implements Director.DirectorStore {
  readonly #pool: pg.Pool;
  /** Whether close() ends the pool (false on the repository store's pool, which it ends). */
  readonly #ownsPool: boolean;
  #closed = false;

  private constructor(pool: pg.Pool, ownsPool: boolean) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
  }

  /** On a pool of its own; runs pending migrations as PostgresStore.open does. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresDirectorStore> {
    return new PostgresDirectorStore(await openMigratedPool(clientConfigOf(opts)), true);
  }

  /** On a pool whose database is migrated (PostgresStore's); close() leaves the pool open. */
  static onPool(pool: pg.Pool): PostgresDirectorStore {
    return new PostgresDirectorStore(pool, false);
  }

  async #get(sql: string, params: unknown[] = [], db: Queryable = this.#pool) {
    return (await db.query<StoredRow>(sql, params)).rows[0];
  }

  /** The first row of `sql`, mapped by `to`. */
  async #one<T>(to: (row: StoredRow) => T, sql: string, params: unknown[] = []) {
    const row = await this.#get(sql, params);
    return row ? to(row) : undefined;
  }

  async #many<T>(to: (row: StoredRow) => T, sql: string, params: unknown[] = []) {
    return (await this.#pool.query<StoredRow>(sql, params)).rows.map(to);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end();
  }

  async currentDirectorRoot(): Promise<Director.DirectorRootRecord | undefined> {
    return this.#one(
      rows.toDirectorRoot,
      'SELECT * FROM director_roots ORDER BY version DESC LIMIT 1',
    );
  }

  async directorRoot(version: number): Promise<Director.DirectorRootRecord | undefined> {
    return this.#one(rows.toDirectorRoot, 'SELECT * FROM director_roots WHERE version = $1', [
      version,
    ]);
  }

  async insertDirectorRoot(r: Director.DirectorRootRecord, createdAt: string): Promise<void> {
    await this.#pool
      .query(
        'INSERT INTO director_roots (version, bytes, sha256, expires, created_at) VALUES ($1, $2, $3, $4, $5)',
        [r.version, Buffer.from(r.bytes), r.sha256, r.expires, createdAt],
      )
      .catch(onUniqueViolation((error) => versionTaken({ role: 'root', ...r }, error)));
  }

  async maxDirectorVersion(vehicle: string, role: Director.DirectorRole): Promise<number> {
    const row = await this.#get(
      'SELECT COALESCE(MAX(version), 0) AS v FROM director_metadata WHERE vehicle = $1 AND role = $2',
      [vehicle, role],
    );
    return num(row?.v ?? 0);
  }

  async currentDirectorMetadata(
    vehicle: string,
    role: Director.DirectorRole,
  ): Promise<Director.DirectorMetadataRecord | undefined> {
    return this.#one(
      rows.toDirectorMetadata,
      `SELECT * FROM director_metadata WHERE vehicle = $1 AND role = $2 AND published
       ORDER BY version DESC LIMIT 1`,
      [vehicle, role],
    );
  }

  async publishedDirectorMetadata(
    vehicle: string,
    role: Director.DirectorRole,
    version: number,
  ): Promise<Director.DirectorMetadataRecord | undefined> {
    return this.#one(
      rows.toDirectorMetadata,
      'SELECT * FROM director_metadata WHERE vehicle = $1 AND role = $2 AND version = $3 AND published',
      [vehicle, role, version],
    );
  }

  async stageDirectorMetadata(records: Director.DirectorMetadataRecord[]): Promise<void> {
    await inTransaction(this.#pool, async (tx) => {
      for (const r of records) {
        await tx
          .query(
            `INSERT INTO director_metadata
               (vehicle, role, version, bytes, sha256, expires, published, log_index, log_entry, ecu_salt, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, false, NULL, $7, $8, $9)`,
            [
              r.vehicle,
              r.role,
              r.version,
              Buffer.from(r.bytes),
              r.sha256,
              r.expires,
              r.logEntry === null ? null : JSON.stringify(r.logEntry),
              r.ecuSalt === null ? null : Buffer.from(r.ecuSalt),
              r.createdAt,
            ],
          )
          .catch(onUniqueViolation((error) => versionTaken(r, error)));
      }
    });
  }

  async publishDirectorMetadata(
    records: { vehicle: string; role: Director.DirectorRole; version: number }[],
    targetsLogIndex: number | null = null,
  ): Promise<void> {
    await inTransaction(this.#pool, async (tx) => {
      for (const r of records) {
        await tx.query(
          `UPDATE director_metadata SET published = true,
             log_index = CASE WHEN role = 'targets' THEN $1::bigint ELSE log_index END
           WHERE vehicle = $2 AND role = $3 AND version = $4`,
          [targetsLogIndex, r.vehicle, r.role, r.version],
        );
      }
    });
  }

  async stagedDirectorMetadata(): Promise<Director.DirectorMetadataRecord[]> {
    return this.#many(
      rows.toDirectorMetadata,
      'SELECT * FROM director_metadata WHERE NOT published ORDER BY seq',
    );
  }

  async publishedDirectorTargets(vehicle?: string): Promise<Director.DirectorMetadataRecord[]> {
    return vehicle === undefined
      ? this.#many(
          rows.toDirectorMetadata,
          `SELECT * FROM director_metadata WHERE role = 'targets' AND published
           ORDER BY vehicle COLLATE "C", version`,
        )
      : this.#many(
          rows.toDirectorMetadata,
          `SELECT * FROM director_metadata WHERE role = 'targets' AND published AND vehicle = $1
           ORDER BY version`,
          [vehicle],
        );
  }

  async latestInventory(vehicle: string): Promise<Director.InventoryVersion | undefined> {
    return this.#one(
      rows.toInventory,
      'SELECT * FROM ecu_inventory_versions WHERE vehicle = $1 ORDER BY version DESC LIMIT 1',
      [vehicle],
    );
  }

  async appendInventory(
    input: Omit<Director.InventoryVersion, 'version'>,
    expectedPrevious: number,
  ): Promise<Director.InventoryVersion> {
    return inTransaction(this.#pool, async (tx) => {
      const row = await this.#get(
        'SELECT COALESCE(MAX(version), 0) AS v FROM ecu_inventory_versions WHERE vehicle = $1',
        [input.vehicle],
        tx,
      );
      const current = num(row?.v ?? 0);
      if (current !== expectedPrevious) throw rows.inventoryConflict();
      const version = current + 1;
      // A replica that read the same `current` inserts the same (vehicle, version): one of the
      // two waits for the other's commit, then fails on the key.
      await tx
        .query(
          `INSERT INTO ecu_inventory_versions (vehicle, version, registration_json, signer_serial, created_at)
           VALUES ($1, $2, $3, $4, $5)`,
          [
            input.vehicle,
            version,
            JSON.stringify(input.registration),
            input.signerSerial,
            input.createdAt,
          ],
        )
        .catch(onUniqueViolation((error) => rows.inventoryConflict(error)));
      return { ...input, version };
    });
  }

  async inventoryHistory(vehicle: string): Promise<Director.InventoryVersion[]> {
    return this.#many(
      rows.toInventory,
      'SELECT * FROM ecu_inventory_versions WHERE vehicle = $1 ORDER BY version',
      [vehicle],
    );
  }

  async insertAssignment(
    input: Omit<Director.AssignmentRecord, 'id' | 'manifestId' | 'updatedAt'>,
  ): Promise<Director.AssignmentRecord> {
    const row = await this.#get(
      `INSERT INTO director_assignments
         (vehicle, correlation_id, atomic, status, images_json, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
      [
        input.vehicle,
        input.correlationId,
        input.atomic,
        input.status,
        JSON.stringify(input.images),
        input.createdBy,
        input.createdAt,
      ],
    ).catch(onUniqueViolation((error) => rows.correlationIdTaken(input.correlationId, error)));
    return { ...input, id: num(row?.id), updatedAt: input.createdAt, manifestId: null };
  }

  async assignment(id: number): Promise<Director.AssignmentRecord | undefined> {
    return this.#one(rows.toAssignment, 'SELECT * FROM director_assignments WHERE id = $1', [id]);
  }

  async assignmentByCorrelationId(
    correlationId: string,
  ): Promise<Director.AssignmentRecord | undefined> {
    return this.#one(
      rows.toAssignment,
      'SELECT * FROM director_assignments WHERE correlation_id = $1',
      [correlationId],
    );
  }

  async assignments(filter: {
    vehicle?: string;
    status?: Director.AssignmentStatus;
  }): Promise<Director.AssignmentRecord[]> {
    const { where, params } = rows.assignmentFilter(filter, (n) => `$${n.toString()}`);
    return this.#many(
      rows.toAssignment,
      `SELECT * FROM director_assignments${where} ORDER BY id`,
      params,
    );
  }

  async setAssignmentStatus(
    id: number,
    status: Director.AssignmentStatus,
    updatedAt: string,
    manifestId?: number,
  ): Promise<void> {
    await this.#pool.query(
      `UPDATE director_assignments
       SET status = $1, updated_at = $2, manifest_id = COALESCE($3::bigint, manifest_id)
       WHERE id = $4`,
      [status, updatedAt, manifestId ?? null, id],
    );
  }

  async manifestBySha256(sha256: string): Promise<Director.ManifestRecord | undefined> {
    return this.#one(
      rows.toManifest,
      'SELECT * FROM director_manifests WHERE manifest_sha256 = $1',
      [sha256],
    );
  }

  async manifests(vehicle: string): Promise<Director.ManifestRecord[]> {
    return this.#many(
      rows.toManifest,
      'SELECT * FROM director_manifests WHERE vehicle = $1 ORDER BY id',
      [vehicle],
    );
  }

  async insertManifest(
    input: Omit<Director.ManifestRecord, 'id'>,
    reports: Director.EcuReportRecord[],
  ): Promise<Director.ManifestRecord> {
    return inTransaction(this.#pool, async (tx) => {
      const row = await this.#get(
        `INSERT INTO director_manifests (${rows.MANIFEST_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        rows.manifestValues(input),
        tx,
      ).catch(onUniqueViolation((error) => rows.manifestRecorded(input.manifestSha256, error)));
      if (!row) throw new ServerError('STORAGE_FAILED', 'manifest row vanished');
      const id = num(row.id);
      // One statement for all reports: a column array each.
      await tx.query(
        `INSERT INTO director_ecu_reports
           (manifest_id, vehicle, ecu_serial, report_counter, nonce, filepath, sha256, trusted)
         SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::boolean[])`,
        [
          id,
          input.vehicle,
          reports.map((r) => r.ecuSerial),
          reports.map((r) => r.reportCounter),
          reports.map((r) => r.nonce),
          reports.map((r) => r.filepath),
          reports.map((r) => r.sha256),
          reports.map((r) => r.trusted),
        ],
      );
      return { ...input, id };
    });
  }

  async lastReportCounter(vehicle: string, ecuSerial: string): Promise<number | undefined> {
    const row = await this.#get(
      `SELECT MAX(report_counter) AS c FROM director_ecu_reports
       WHERE vehicle = $1 AND ecu_serial = $2 AND trusted`,
      [vehicle, ecuSerial],
    );
    return row?.c == null ? undefined : num(row.c);
  }

  async nonceSeen(vehicle: string, nonce: string): Promise<boolean> {
    const row = await this.#get(
      'SELECT 1 AS x FROM director_ecu_reports WHERE vehicle = $1 AND nonce = $2 LIMIT 1',
      [vehicle, nonce],
    );
    return row !== undefined;
  }

  async firstReportedImage(
    vehicle: string,
    ecuSerial: string,
  ): Promise<{ filepath: string; sha256: string } | undefined> {
    const row = await this.#get(
      `SELECT filepath, sha256 FROM director_ecu_reports
       WHERE vehicle = $1 AND ecu_serial = $2 AND trusted ORDER BY manifest_id LIMIT 1`,
      [vehicle, ecuSerial],
    );
    return row ? { filepath: str(row.filepath), sha256: str(row.sha256) } : undefined;
  }
}
