import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { ServerError } from '../error.js';
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
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    const ok = this.#db.prepare('SELECT 1 FROM migrations WHERE id = 10').get();
    if (!ok) throw new ServerError('STORAGE_FAILED', 'the Director migration has not been applied');
  }

  #tx<T>(fn: () => T): T {
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
    return later(() => {
      const row = this.#get('SELECT * FROM director_roots ORDER BY version DESC LIMIT 1');
      return row ? rootOf(row) : undefined;
    });
  }

  directorRoot(version: number): Promise<DirectorRootRecord | undefined> {
    return later(() => {
      const row = this.#get('SELECT * FROM director_roots WHERE version = ?', version);
      return row ? rootOf(row) : undefined;
    });
  }

  insertDirectorRoot(r: DirectorRootRecord, createdAt: string): Promise<void> {
    return later(() => {
      this.#run(
        'INSERT INTO director_roots (version, bytes, sha256, expires, created_at) VALUES (?, ?, ?, ?, ?)',
        r.version,
        r.bytes,
        r.sha256,
        r.expires,
        createdAt,
      );
    });
  }

  maxDirectorVersion(vehicle: string, role: DirectorRole): Promise<number> {
    return later(() =>
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
    return later(() => {
      const row = this.#get(
        'SELECT * FROM director_metadata WHERE vehicle = ? AND role = ? AND published = 1 ORDER BY version DESC LIMIT 1',
        vehicle,
        role,
      );
      return row ? metadataOf(row) : undefined;
    });
  }

  publishedDirectorMetadata(
    vehicle: string,
    role: DirectorRole,
    version: number,
  ): Promise<DirectorMetadataRecord | undefined> {
    return later(() => {
      const row = this.#get(
        'SELECT * FROM director_metadata WHERE vehicle = ? AND role = ? AND version = ? AND published = 1',
        vehicle,
        role,
        version,
      );
      return row ? metadataOf(row) : undefined;
    });
  }

  stageDirectorMetadata(records: DirectorMetadataRecord[]): Promise<void> {
    return later(() =>
      this.#tx(() => {
        for (const r of records) {
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
          );
        }
      }),
    );
  }

  publishDirectorMetadata(
    records: { vehicle: string; role: DirectorRole; version: number }[],
    targetsLogIndex: number | null = null,
  ): Promise<void> {
    return later(() =>
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
    return later(() =>
      this.#all('SELECT * FROM director_metadata WHERE published = 0 ORDER BY rowid').map(
        metadataOf,
      ),
    );
  }

  publishedDirectorTargets(vehicle?: string): Promise<DirectorMetadataRecord[]> {
    return later(() =>
      (vehicle === undefined
        ? this.#all(
            "SELECT * FROM director_metadata WHERE role = 'targets' AND published = 1 ORDER BY vehicle, version",
          )
        : this.#all(
            "SELECT * FROM director_metadata WHERE role = 'targets' AND published = 1 AND vehicle = ? ORDER BY version",
            vehicle,
          )
      ).map(metadataOf),
    );
  }

  latestInventory(vehicle: string): Promise<InventoryVersion | undefined> {
    return later(() => {
      const row = this.#get(
        'SELECT * FROM ecu_inventory_versions WHERE vehicle = ? ORDER BY version DESC LIMIT 1',
        vehicle,
      );
      return row ? inventoryOf(row) : undefined;
    });
  }

  appendInventory(
    input: Omit<InventoryVersion, 'version'>,
    expectedPrevious: number,
  ): Promise<InventoryVersion> {
    return later(() =>
      this.#tx(() => {
        const current = num(
          this.#get(
            'SELECT COALESCE(MAX(version), 0) AS v FROM ecu_inventory_versions WHERE vehicle = ?',
            input.vehicle,
          )?.v ?? 0,
        );
        if (current !== expectedPrevious) {
          throw new ServerError('INVENTORY_CONFLICT', 'the ECU inventory changed meanwhile; retry');
        }
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
    return later(() =>
      this.#all(
        'SELECT * FROM ecu_inventory_versions WHERE vehicle = ? ORDER BY version',
        vehicle,
      ).map(inventoryOf),
    );
  }

  insertAssignment(
    input: Omit<AssignmentRecord, 'id' | 'manifestId' | 'updatedAt'>,
  ): Promise<AssignmentRecord> {
    return later(() => {
      const id = this.#run(
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
      );
      return { ...input, id, updatedAt: input.createdAt, manifestId: null };
    });
  }

  assignment(id: number): Promise<AssignmentRecord | undefined> {
    return later(() => {
      const row = this.#get('SELECT * FROM director_assignments WHERE id = ?', id);
      return row ? assignmentOf(row) : undefined;
    });
  }

  assignmentByCorrelationId(correlationId: string): Promise<AssignmentRecord | undefined> {
    return later(() => {
      const row = this.#get(
        'SELECT * FROM director_assignments WHERE correlation_id = ?',
        correlationId,
      );
      return row ? assignmentOf(row) : undefined;
    });
  }

  assignments(filter: {
    vehicle?: string;
    status?: AssignmentStatus;
  }): Promise<AssignmentRecord[]> {
    return later(() => {
      const where: string[] = [];
      const params: SQLInputValue[] = [];
      if (filter.vehicle !== undefined) {
        where.push('vehicle = ?');
        params.push(filter.vehicle);
      }
      if (filter.status !== undefined) {
        where.push('status = ?');
        params.push(filter.status);
      }
      const sql = `SELECT * FROM director_assignments${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
      return this.#all(sql, ...params).map(assignmentOf);
    });
  }

  setAssignmentStatus(
    id: number,
    status: AssignmentStatus,
    updatedAt: string,
    manifestId?: number,
  ): Promise<void> {
    return later(() => {
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
    return later(() => {
      const row = this.#get('SELECT * FROM director_manifests WHERE manifest_sha256 = ?', sha256);
      return row ? manifestOf(row) : undefined;
    });
  }

  manifests(vehicle: string): Promise<ManifestRecord[]> {
    return later(() =>
      this.#all('SELECT * FROM director_manifests WHERE vehicle = ? ORDER BY id', vehicle).map(
        manifestOf,
      ),
    );
  }

  insertManifest(
    input: Omit<ManifestRecord, 'id'>,
    reports: EcuReportRecord[],
  ): Promise<ManifestRecord> {
    return later(() =>
      this.#tx(() => {
        const id = this.#run(
          `INSERT INTO director_manifests
             (vehicle, manifest_sha256, manifest_json, flags_json, completed_json, received_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
          input.vehicle,
          input.manifestSha256,
          JSON.stringify(input.manifest),
          JSON.stringify(input.flags),
          JSON.stringify(input.completedAssignments),
          input.receivedAt,
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
    return later(() => {
      const row = this.#get(
        'SELECT MAX(report_counter) AS c FROM director_ecu_reports WHERE vehicle = ? AND ecu_serial = ? AND trusted = 1',
        vehicle,
        ecuSerial,
      );
      return row?.c === null || row?.c === undefined ? undefined : num(row.c);
    });
  }

  nonceSeen(vehicle: string, nonce: string): Promise<boolean> {
    return later(
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
    return later(() => {
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

function later<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

function str(v: SQLInputValue | undefined): string {
  if (typeof v !== 'string') throw new ServerError('STORAGE_FAILED', 'expected a text column');
  return v;
}

function num(v: SQLInputValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new ServerError('STORAGE_FAILED', 'expected an integer column');
}

function bytes(v: SQLInputValue | undefined): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new ServerError('STORAGE_FAILED', 'expected a blob column');
}

function json<T>(v: SQLInputValue | undefined): T {
  return JSON.parse(str(v)) as T;
}

function rootOf(row: Row): DirectorRootRecord {
  return {
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
  };
}

function metadataOf(row: Row): DirectorMetadataRecord {
  return {
    vehicle: str(row.vehicle),
    role: str(row.role) as DirectorRole,
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
    logEntry: row.log_entry === null ? null : json(row.log_entry),
    logIndex: row.log_index === null ? null : num(row.log_index),
    ecuSalt: row.ecu_salt === null || row.ecu_salt === undefined ? null : bytes(row.ecu_salt),
    createdAt: str(row.created_at),
  };
}

function inventoryOf(row: Row): InventoryVersion {
  return {
    vehicle: str(row.vehicle),
    version: num(row.version),
    registration: json(row.registration_json),
    signerSerial: str(row.signer_serial),
    createdAt: str(row.created_at),
  };
}

function assignmentOf(row: Row): AssignmentRecord {
  return {
    id: num(row.id),
    vehicle: str(row.vehicle),
    correlationId: str(row.correlation_id),
    atomic: num(row.atomic) === 1,
    status: str(row.status) as AssignmentStatus,
    images: json(row.images_json),
    createdBy: str(row.created_by),
    createdAt: str(row.created_at),
    updatedAt: str(row.updated_at),
    manifestId: row.manifest_id === null ? null : num(row.manifest_id),
  };
}

function manifestOf(row: Row): ManifestRecord {
  return {
    id: num(row.id),
    vehicle: str(row.vehicle),
    manifestSha256: str(row.manifest_sha256),
    manifest: json(row.manifest_json),
    flags: json(row.flags_json),
    completedAssignments: json(row.completed_json),
    receivedAt: str(row.received_at),
  };
}
