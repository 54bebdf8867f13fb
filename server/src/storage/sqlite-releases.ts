import type { SQLInputValue } from 'node:sqlite';
import { ServerError } from '../error.js';
import { toLogOutbox, toRelease } from './rows.js';
import { settle, type SqliteDb } from './sqlite-db.js';
import type { LogOutboxRecord, ReleasePatch, ReleaseRecord } from './store.js';

export function createRelease(
  db: SqliteDb,
  input: { targetNames: string[]; targetsVersion: number },
): Promise<ReleaseRecord> {
  return settle(() => {
    const now = new Date().toISOString();
    const { lastInsertRowid } = db.run(
      `INSERT INTO releases (status, target_names, targets_version, created_at, updated_at) VALUES ('pending', ?, ?, ?, ?)`,
      JSON.stringify(input.targetNames),
      input.targetsVersion,
      now,
      now,
    );
    const row = db.get('SELECT * FROM releases WHERE id = ?', lastInsertRowid);
    if (!row) throw new ServerError('STORAGE_FAILED', 'release row vanished');
    return toRelease(row);
  });
}

export function applyReleasePatch(db: SqliteDb, id: number, patch: ReleasePatch): void {
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
  db.run(`UPDATE releases SET ${sets.join(', ')} WHERE id = ?`, ...params, id);
}

export function updateRelease(db: SqliteDb, id: number, patch: ReleasePatch): Promise<void> {
  return settle(() => {
    applyReleasePatch(db, id, patch);
  });
}

export function release(db: SqliteDb, id: number): Promise<ReleaseRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM releases WHERE id = ?', id);
    return row ? toRelease(row) : undefined;
  });
}

export function releases(db: SqliteDb): Promise<ReleaseRecord[]> {
  return settle(() => {
    return db.all('SELECT * FROM releases ORDER BY id').map(toRelease);
  });
}

export function putLogOutbox(db: SqliteDb, r: LogOutboxRecord): Promise<void> {
  return settle(() => {
    db.run(
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

export function logOutbox(db: SqliteDb): Promise<LogOutboxRecord[]> {
  return settle(() => db.all('SELECT * FROM log_outbox ORDER BY created_at, id').map(toLogOutbox));
}

export function deleteLogOutbox(db: SqliteDb, id: string): Promise<void> {
  return settle(() => {
    db.run('DELETE FROM log_outbox WHERE id = ?', id);
  });
}
