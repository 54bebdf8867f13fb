import type pg from 'pg';
import { ServerError } from '../error.js';
import { queryRow, queryRows, type Queryable } from './postgres-db.js';
import { toLogOutbox, toRelease } from './rows.js';
import type { LogOutboxRecord, ReleasePatch, ReleaseRecord } from './store.js';

export async function createRelease(
  pool: pg.Pool,
  input: {
    targetNames: string[];
    targetsVersion: number;
  },
): Promise<ReleaseRecord> {
  const now = new Date().toISOString();
  const row = await queryRow(
    pool,
    `INSERT INTO releases (status, target_names, targets_version, created_at, updated_at)
     VALUES ('pending', $1, $2, $3, $4) RETURNING *`,
    [JSON.stringify(input.targetNames), input.targetsVersion, now, now],
  );
  if (!row) throw new ServerError('STORAGE_FAILED', 'release row vanished');
  return toRelease(row);
}

export async function updateRelease(db: Queryable, id: number, patch: ReleasePatch): Promise<void> {
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

export async function release(pool: pg.Pool, id: number): Promise<ReleaseRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM releases WHERE id = $1', [id]);
  return row ? toRelease(row) : undefined;
}

export async function releases(pool: pg.Pool): Promise<ReleaseRecord[]> {
  return (await queryRows(pool, 'SELECT * FROM releases ORDER BY id')).map(toRelease);
}

export async function putLogOutbox(pool: pg.Pool, r: LogOutboxRecord): Promise<void> {
  await pool.query(
    `INSERT INTO log_outbox (id, snapshot_version, calls_json, chain_json, created_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET
       snapshot_version = excluded.snapshot_version, calls_json = excluded.calls_json,
       chain_json = excluded.chain_json`,
    [r.id, r.snapshotVersion, r.callsJson, r.chainJson, r.createdAt],
  );
}

export async function logOutbox(pool: pg.Pool): Promise<LogOutboxRecord[]> {
  return (await queryRows(pool, 'SELECT * FROM log_outbox ORDER BY created_at, id', [])).map(
    toLogOutbox,
  );
}

export async function deleteLogOutbox(pool: pg.Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM log_outbox WHERE id = $1', [id]);
}
