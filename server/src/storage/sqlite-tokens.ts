import { num, str, toToken } from './rows.js';
import { settle, type Row, type SqliteDb } from './sqlite-db.js';
import type { IdempotencyRecord, RevokeTokenOutcome, TokenRecord } from './store.js';

export function idempotency(db: SqliteDb, key: string): Promise<IdempotencyRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM idempotency_keys WHERE key = ?', key);
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

export function saveIdempotency(db: SqliteDb, r: IdempotencyRecord): Promise<void> {
  return settle(() => {
    db.run(
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

export function deleteIdempotencyBefore(db: SqliteDb, createdAt: string): Promise<void> {
  return settle(() => {
    db.run('DELETE FROM idempotency_keys WHERE created_at < ?', createdAt);
  });
}

export function insertToken(db: SqliteDb, t: TokenRecord): Promise<void> {
  return settle(() => {
    db.run(
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

export function token(db: SqliteDb, id: string): Promise<TokenRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM api_tokens WHERE id = ?', id);
    return row ? toSqliteToken(row) : undefined;
  });
}

export function tokens(db: SqliteDb): Promise<TokenRecord[]> {
  return settle(() => {
    return db.all('SELECT * FROM api_tokens ORDER BY created_at, id').map(toSqliteToken);
  });
}

export function revokeToken(
  db: SqliteDb,
  id: string,
  revokedAt: string,
): Promise<RevokeTokenOutcome> {
  return settle(() => {
    const outcome = db.transaction((): RevokeTokenOutcome => {
      const row = db.get('SELECT revoked, revoked_at FROM api_tokens WHERE id = ?', id);
      if (!row) return 'NOT_FOUND';
      if (row.revoked_at != null || num(row.revoked) === 1) return 'ALREADY_REVOKED';
      db.run('UPDATE api_tokens SET revoked = 1, revoked_at = ? WHERE id = ?', revokedAt, id);
      return 'REVOKED';
    });
    return outcome;
  });
}

export function touchToken(
  db: SqliteDb,
  id: string,
  usedAt: string,
  minIntervalMs: number,
): Promise<void> {
  return settle(() => {
    const before = new Date(Date.parse(usedAt) - minIntervalMs).toISOString();
    db.run(
      'UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)',
      usedAt,
      id,
      before,
    );
  });
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
