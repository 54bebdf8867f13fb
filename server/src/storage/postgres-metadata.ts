import type pg from 'pg';
import type { QueryResultRow } from 'pg';
import { ServerError } from '../error.js';
import { inTransaction, onUniqueViolation, queryRow, queryRows } from './postgres-db.js';
import { METADATA_CHANNEL } from './postgres-notify.js';
import { updateRelease } from './postgres-releases.js';
import { bytes, num, str, versionTaken } from './rows.js';
import type { MetadataRecord, MetadataRole, NewMetadataRecord, ReleasePatch } from './store.js';

export async function currentMetadata(
  pool: pg.Pool,
  role: MetadataRole,
): Promise<MetadataRecord | undefined> {
  const row = await queryRow(
    pool,
    `SELECT m.* FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = $1`,
    [role],
  );
  return row ? toMetadata(row) : undefined;
}

export async function currentMetadataDigest(
  pool: pg.Pool,
  role: MetadataRole,
): Promise<{ version: number; sha256: string; expires: string } | undefined> {
  const row = await queryRow(
    pool,
    `SELECT m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version WHERE c.role = $1`,
    [role],
  );
  return row
    ? { version: num(row.version), sha256: str(row.sha256), expires: str(row.expires) }
    : undefined;
}

export async function currentMetadataDigests(
  pool: pg.Pool,
): Promise<Map<MetadataRole, { version: number; sha256: string; expires: string }>> {
  const rows = await queryRows(
    pool,
    `SELECT c.role, m.version, m.sha256, m.expires FROM current_metadata c JOIN metadata m ON m.role = c.role AND m.version = c.version`,
    [],
  );
  return new Map(
    rows.map((r) => [
      str(r.role),
      { version: num(r.version), sha256: str(r.sha256), expires: str(r.expires) },
    ]),
  );
}

export async function publishedMetadata(
  pool: pg.Pool,
  role: MetadataRole,
  version: number,
): Promise<MetadataRecord | undefined> {
  const row = await queryRow(
    pool,
    `SELECT * FROM metadata WHERE role = $1 AND version = $2 AND state = 'published'`,
    [role, version],
  );
  return row ? toMetadata(row) : undefined;
}

export async function publishedVersions(pool: pg.Pool, role: MetadataRole): Promise<number[]> {
  const rows = await queryRows(
    pool,
    `SELECT version FROM metadata WHERE role = $1 AND state = 'published' ORDER BY version`,
    [role],
  );
  return rows.map((r) => num(r.version));
}

export async function maxVersion(pool: pg.Pool, role: MetadataRole): Promise<number> {
  const row = await queryRow(pool, 'SELECT MAX(version) AS v FROM metadata WHERE role = $1', [
    role,
  ]);
  return row?.v == null ? 0 : num(row.v);
}

export async function stageMetadata(
  pool: pg.Pool,
  records: NewMetadataRecord[],
  batch = 'unnamed',
): Promise<void> {
  const now = new Date().toISOString();
  await inTransaction(pool, async (tx) => {
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

export async function metadataBatch(
  pool: pg.Pool,
  role: MetadataRole,
  version: number,
): Promise<string | undefined> {
  const row = await queryRow(pool, 'SELECT batch FROM metadata WHERE role = $1 AND version = $2', [
    role,
    version,
  ]);
  return row?.batch == null ? undefined : str(row.batch);
}

export async function stagedBatches(
  pool: pg.Pool,
): Promise<{ batch: string; records: MetadataRecord[] }[]> {
  const rows = await queryRows(
    pool,
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

export async function commitMetadata(
  pool: pg.Pool,
  records: { role: MetadataRole; version: number }[],
  alsoUpdateRelease?: { id: number; patch: ReleasePatch },
): Promise<void> {
  await inTransaction(pool, async (tx) => {
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

export async function abandonMetadata(
  pool: pg.Pool,
  records: { role: MetadataRole; version: number }[],
): Promise<void> {
  await inTransaction(pool, async (tx) => {
    for (const r of records) {
      await tx.query(
        `UPDATE metadata SET state = 'abandoned' WHERE role = $1 AND version = $2 AND state = 'staged'`,
        [r.role, r.version],
      );
    }
  });
}

export async function discardFailedBootstrap(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (tx) => {
    // Keeps a concurrent first commit out between the check and the delete.
    await tx.query('LOCK TABLE current_metadata IN EXCLUSIVE MODE');
    if (await queryRow(tx, 'SELECT 1 AS x FROM current_metadata LIMIT 1')) {
      throw new ServerError(
        'REPOSITORY_ALREADY_INITIALIZED',
        'the repository is already bootstrapped',
      );
    }
    await tx.query(`DELETE FROM metadata WHERE state != 'published'`);
  });
}

function toMetadata(row: QueryResultRow): MetadataRecord {
  return {
    role: str(row.role),
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
    state: str(row.state) as MetadataRecord['state'],
  };
}
