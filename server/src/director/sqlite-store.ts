import { inTransaction } from '@tufchain/transparency';
import { openSideConnection } from '../storage/sqlite-side.js';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { num, str, versionTaken } from '../storage/rows.js';
import { onKeyViolation, settle } from '../storage/sqlite-store.js';
import {
  assignmentFilter,
  correlationIdTaken,
  inventoryConflict,
  MANIFEST_COLUMNS,
  manifestRecorded,
  manifestValues,
  toAssignment,
  toDirectorMetadata,
  toDirectorRoot,
  toInventory,
  toManifest,
} from './rows.js';
import type {
  AssignmentRecord,
  AssignmentStatus,
  DirectorMetadataRecord,
  DirectorRole,
  DirectorRootRecord,
  DirectorStore,
  EcuReportRecord,
  InventoryVersion,
  ManifestRecord,
} from './store.js';

type Row = Record<string, SQLInputValue>;

/**
 * The Director's tables in the repository's SQLite file, on a connection of its own (WAL lets
 * both connections work side by side). Open it after SqliteStore, which applies the migrations.
 */
export class SqliteDirectorStore implements DirectorStore {
  readonly #db: DatabaseSync;
  #closed = false;

  constructor(path: string) {
    this.#db = openSideConnection(path, 10, 'Director');
  }

  #tx<T>(fn: () => T): T {
    return inTransaction(this.#db, fn);
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#db.prepare(sql).all(...params);
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#db.prepare(sql).run(...params).lastInsertRowid);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  currentDirectorRoot(): Promise<DirectorRootRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM director_roots ORDER BY version DESC LIMIT 1');
      return row ? toDirectorRoot(row) : undefined;
    });
  }

  directorRoot(version: number): Promise<DirectorRootRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM director_roots WHERE version = ?', version);
      return row ? toDirectorRoot(row) : undefined;
    });
  }

  insertDirectorRoot(r: DirectorRootRecord, createdAt: string): Promise<void> {
    return settle(() => {
      onKeyViolation(
        () =>
          this.#run(
            'INSERT INTO director_roots (version, bytes, sha256, expires, created_at) VALUES (?, ?, ?, ?, ?)',
            r.version,
            r.bytes,
            r.sha256,
            r.expires,
            createdAt,
          ),
        (error) => versionTaken({ role: 'root', ...r }, error),
      );
    });
  }

  maxDirectorVersion(vehicle: string, role: DirectorRole): Promise<number> {
    return settle(() =>
      num(
        this.#get(
          'SELECT COALESCE(MAX(version), 0) AS v FROM director_metadata WHERE vehicle = ? AND role = ?',
          vehicle,
          role,
        )?.v ?? 0,
      ),
    );
  }

  currentDirectorMetadata(
    vehicle: string,
    role: DirectorRole,
  ): Promise<DirectorMetadataRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT * FROM director_metadata WHERE vehicle = ? AND role = ? AND published = 1 ORDER BY version DESC LIMIT 1',
        vehicle,
        role,
      );
      return row ? toDirectorMetadata(row) : undefined;
    });
  }

  publishedDirectorMetadata(
    vehicle: string,
    role: DirectorRole,
    version: number,
  ): Promise<DirectorMetadataRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT * FROM director_metadata WHERE vehicle = ? AND role = ? AND version = ? AND published = 1',
        vehicle,
        role,
        version,
      );
      return row ? toDirectorMetadata(row) : undefined;
    });
  }

  stageDirectorMetadata(records: DirectorMetadataRecord[]): Promise<void> {
    return settle(() =>
      this.#tx(() => {
        for (const r of records) {
          onKeyViolation(
            () =>
              this.#run(
                `INSERT INTO director_metadata
                   (vehicle, role, version, bytes, sha256, expires, published, log_index, log_entry, ecu_salt, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)`,
                r.vehicle,
                r.role,
                r.version,
                r.bytes,
                r.sha256,
                r.expires,
                r.logEntry === null ? null : JSON.stringify(r.logEntry),
                r.ecuSalt,
                r.createdAt,
              ),
            (error) => versionTaken(r, error),
          );
        }
      }),
    );
  }

  publishDirectorMetadata(
    records: { vehicle: string; role: DirectorRole; version: number }[],
    targetsLogIndex: number | null = null,
  ): Promise<void> {
    return settle(() =>
      this.#tx(() => {
        for (const r of records) {
          this.#run(
            `UPDATE director_metadata SET published = 1,
               log_index = CASE WHEN role = 'targets' THEN ? ELSE log_index END
             WHERE vehicle = ? AND role = ? AND version = ?`,
            targetsLogIndex,
            r.vehicle,
            r.role,
            r.version,
          );
        }
      }),
    );
  }

  stagedDirectorMetadata(): Promise<DirectorMetadataRecord[]> {
    return settle(() =>
      this.#all('SELECT * FROM director_metadata WHERE published = 0 ORDER BY rowid').map(
        toDirectorMetadata,
      ),
    );
  }

  publishedDirectorTargets(vehicle?: string): Promise<DirectorMetadataRecord[]> {
    return settle(() =>
      (vehicle === undefined
        ? this.#all(
            "SELECT * FROM director_metadata WHERE role = 'targets' AND published = 1 ORDER BY vehicle, version",
          )
        : this.#all(
            "SELECT * FROM director_metadata WHERE role = 'targets' AND published = 1 AND vehicle = ? ORDER BY version",
            vehicle,
          )
      ).map(toDirectorMetadata),
    );
  }

  latestInventory(vehicle: string): Promise<InventoryVersion | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT * FROM ecu_inventory_versions WHERE vehicle = ? ORDER BY version DESC LIMIT 1',
        vehicle,
      );
      return row ? toInventory(row) : undefined;
    });
  }

  appendInventory(
    input: Omit<InventoryVersion, 'version'>,
    expectedPrevious: number,
  ): Promise<InventoryVersion> {
    return settle(() =>
      this.#tx(() => {
        const current = num(
          this.#get(
            'SELECT COALESCE(MAX(version), 0) AS v FROM ecu_inventory_versions WHERE vehicle = ?',
            input.vehicle,
          )?.v ?? 0,
        );
        if (current !== expectedPrevious) throw inventoryConflict();
        const version = current + 1;
        this.#run(
          `INSERT INTO ecu_inventory_versions (vehicle, version, registration_json, signer_serial, created_at)
           VALUES (?, ?, ?, ?, ?)`,
          input.vehicle,
          version,
          JSON.stringify(input.registration),
          input.signerSerial,
          input.createdAt,
        );
        return { ...input, version };
      }),
    );
  }

  inventoryHistory(vehicle: string): Promise<InventoryVersion[]> {
    return settle(() =>
      this.#all(
        'SELECT * FROM ecu_inventory_versions WHERE vehicle = ? ORDER BY version',
        vehicle,
      ).map(toInventory),
    );
  }

  insertAssignment(
    input: Omit<AssignmentRecord, 'id' | 'manifestId' | 'updatedAt'>,
  ): Promise<AssignmentRecord> {
    return settle(() => {
      const id = onKeyViolation(
        () =>
          this.#run(
            `INSERT INTO director_assignments
           (vehicle, correlation_id, atomic, status, images_json, created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            input.vehicle,
            input.correlationId,
            input.atomic ? 1 : 0,
            input.status,
            JSON.stringify(input.images),
            input.createdBy,
            input.createdAt,
            input.createdAt,
          ),
        (error) => correlationIdTaken(input.correlationId, error),
      );
      return { ...input, id, updatedAt: input.createdAt, manifestId: null };
    });
  }

  assignment(id: number): Promise<AssignmentRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM director_assignments WHERE id = ?', id);
      return row ? toAssignment(row) : undefined;
    });
  }

  assignmentByCorrelationId(correlationId: string): Promise<AssignmentRecord | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT * FROM director_assignments WHERE correlation_id = ?',
        correlationId,
      );
      return row ? toAssignment(row) : undefined;
    });
  }

  assignments(filter: {
    vehicle?: string;
    status?: AssignmentStatus;
  }): Promise<AssignmentRecord[]> {
    return settle(() => {
      const { where, params } = assignmentFilter(filter, () => '?');
      return this.#all(`SELECT * FROM director_assignments${where} ORDER BY id`, ...params).map(
        toAssignment,
      );
    });
  }

  setAssignmentStatus(
    id: number,
    status: AssignmentStatus,
    updatedAt: string,
    manifestId?: number,
  ): Promise<void> {
    return settle(() => {
      this.#run(
        'UPDATE director_assignments SET status = ?, updated_at = ?, manifest_id = COALESCE(?, manifest_id) WHERE id = ?',
        status,
        updatedAt,
        manifestId ?? null,
        id,
      );
    });
  }

  manifestBySha256(sha256: string): Promise<ManifestRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM director_manifests WHERE manifest_sha256 = ?', sha256);
      return row ? toManifest(row) : undefined;
    });
  }

  manifests(vehicle: string): Promise<ManifestRecord[]> {
    return settle(() =>
      this.#all('SELECT * FROM director_manifests WHERE vehicle = ? ORDER BY id', vehicle).map(
        toManifest,
      ),
    );
  }

  insertManifest(
    input: Omit<ManifestRecord, 'id'>,
    reports: EcuReportRecord[],
  ): Promise<ManifestRecord> {
    return settle(() =>
      this.#tx(() => {
        const id = onKeyViolation(
          () =>
            this.#run(
              `INSERT INTO director_manifests (${MANIFEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
              ...manifestValues(input),
            ),
          (error) => manifestRecorded(input.manifestSha256, error),
        );
        for (const r of reports) {
          this.#run(
            `INSERT INTO director_ecu_reports
               (manifest_id, vehicle, ecu_serial, report_counter, nonce, filepath, sha256, trusted)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            id,
            input.vehicle,
            r.ecuSerial,
            r.reportCounter,
            r.nonce,
            r.filepath,
            r.sha256,
            r.trusted ? 1 : 0,
          );
        }
        return { ...input, id };
      }),
    );
  }

  lastReportCounter(vehicle: string, ecuSerial: string): Promise<number | undefined> {
    return settle(() => {
      const row = this.#get(
        'SELECT MAX(report_counter) AS c FROM director_ecu_reports WHERE vehicle = ? AND ecu_serial = ? AND trusted = 1',
        vehicle,
        ecuSerial,
      );
      return row?.c === null || row?.c === undefined ? undefined : num(row.c);
    });
  }

  nonceSeen(vehicle: string, nonce: string): Promise<boolean> {
    return settle(
      () =>
        this.#get(
          'SELECT 1 AS x FROM director_ecu_reports WHERE vehicle = ? AND nonce = ? LIMIT 1',
          vehicle,
          nonce,
        ) !== undefined,
    );
  }

  firstReportedImage(
    vehicle: string,
    ecuSerial: string,
  ): Promise<{ filepath: string; sha256: string } | undefined> {
    return settle(() => {
      const row = this.#get(
        `SELECT filepath, sha256 FROM director_ecu_reports
         WHERE vehicle = ? AND ecu_serial = ? AND trusted = 1 ORDER BY manifest_id LIMIT 1`,
        vehicle,
        ecuSerial,
      );
      return row ? { filepath: str(row.filepath), sha256: str(row.sha256) } : undefined;
    });
  }
}
