import { ServerError } from '../error.js';
import { num, str, versionTaken } from './rows.js';
import { onKeyViolation, settle, type Row, type SqliteDb } from './sqlite-db.js';
import { applyReleasePatch } from './sqlite-releases.js';
import type { MetadataRecord, MetadataRole, NewMetadataRecord, ReleasePatch } from './store.js';

export function currentMetadata(
  db: SqliteDb,
  role: MetadataRole,
): Promise<MetadataRecord | undefined> {
  return settle(() => {
    const row = db.get(
      `SELECT m.* FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = ?`,
      role,
    );
    return row ? toMetadata(row) : undefined;
  });
}

export function currentMetadataDigest(
  db: SqliteDb,
  role: MetadataRole,
): Promise<{ version: number; sha256: string; expires: string } | undefined> {
  return settle(() => {
    const row = db.get(
      `SELECT m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = ?`,
      role,
    );
    return row
      ? { version: num(row.version), sha256: str(row.sha256), expires: str(row.expires) }
      : undefined;
  });
}

export function currentMetadataDigests(
  db: SqliteDb,
): Promise<Map<MetadataRole, { version: number; sha256: string; expires: string }>> {
  return settle(() => {
    const rows = db.all(
      `SELECT c.role, m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version`,
    );
    return new Map(
      rows.map((r) => [
        str(r.role),
        { version: num(r.version), sha256: str(r.sha256), expires: str(r.expires) },
      ]),
    );
  });
}

export function publishedMetadata(
  db: SqliteDb,
  role: MetadataRole,
  version: number,
): Promise<MetadataRecord | undefined> {
  return settle(() => {
    const row = db.get(
      `SELECT * FROM metadata WHERE role = ? AND version = ? AND state = 'published'`,
      role,
      version,
    );
    return row ? toMetadata(row) : undefined;
  });
}

export function publishedVersions(db: SqliteDb, role: MetadataRole): Promise<number[]> {
  return settle(() => {
    return db
      .all(
        `SELECT version FROM metadata WHERE role = ? AND state = 'published' ORDER BY version`,
        role,
      )
      .map((r) => Number(r.version));
  });
}

export function maxVersion(db: SqliteDb, role: MetadataRole): Promise<number> {
  return settle(() => {
    const row = db.get('SELECT MAX(version) AS v FROM metadata WHERE role = ?', role);
    return row?.v == null ? 0 : num(row.v);
  });
}

export function stageMetadata(
  db: SqliteDb,
  records: NewMetadataRecord[],
  batch = 'unnamed',
): Promise<void> {
  return settle(() => {
    const now = new Date().toISOString();
    db.transaction(() => {
      for (const r of records) {
        onKeyViolation(
          () =>
            db.run(
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

export function metadataBatch(
  db: SqliteDb,
  role: MetadataRole,
  version: number,
): Promise<string | undefined> {
  return settle(() => {
    const row = db.get('SELECT batch FROM metadata WHERE role = ? AND version = ?', role, version);
    return row?.batch == null ? undefined : str(row.batch);
  });
}

export function stagedBatches(
  db: SqliteDb,
): Promise<{ batch: string; records: MetadataRecord[] }[]> {
  return settle(() => {
    const rows = db.all(
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

/** Calls `committed` once the transaction has committed. */
export function commitMetadata(
  db: SqliteDb,
  committed: () => void,
  records: { role: MetadataRole; version: number }[],
  alsoUpdateRelease?: { id: number; patch: ReleasePatch },
): Promise<void> {
  return settle(() => {
    db.transaction(() => {
      for (const r of records) {
        const changed = db.run(
          `UPDATE metadata SET state = 'published' WHERE role = ? AND version = ? AND state = 'staged'`,
          r.role,
          r.version,
        );
        if (changed.changes !== 1) {
          throw new ServerError('STORAGE_FAILED', `no staged ${r.role} v${r.version} to commit`);
        }
        db.run(
          `INSERT INTO current_metadata (role, version) VALUES (?, ?)
           ON CONFLICT (role) DO UPDATE SET version = excluded.version`,
          r.role,
          r.version,
        );
      }
      if (alsoUpdateRelease) applyReleasePatch(db, alsoUpdateRelease.id, alsoUpdateRelease.patch);
    });
    committed();
  });
}

export function abandonMetadata(
  db: SqliteDb,
  records: { role: MetadataRole; version: number }[],
): Promise<void> {
  return settle(() => {
    db.transaction(() => {
      for (const r of records) {
        db.run(
          `UPDATE metadata SET state = 'abandoned' WHERE role = ? AND version = ? AND state = 'staged'`,
          r.role,
          r.version,
        );
      }
    });
  });
}

export function discardFailedBootstrap(db: SqliteDb): Promise<void> {
  return settle(() => {
    db.transaction(() => {
      if (db.get('SELECT 1 AS x FROM current_metadata LIMIT 1')) {
        throw new ServerError(
          'REPOSITORY_ALREADY_INITIALIZED',
          'the repository is already bootstrapped',
        );
      }
      db.run(`DELETE FROM metadata WHERE state != 'published'`);
    });
  });
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
