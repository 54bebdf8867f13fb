import type pg from 'pg';
import { queryRow, queryRows } from './postgres-db.js';
import { num, str, toToken } from './rows.js';
import type { IdempotencyRecord, RevokeTokenOutcome, TokenRecord } from './store.js';

export async function idempotency(
  pool: pg.Pool,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM idempotency_keys WHERE key = $1', [key]);
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

export async function saveIdempotency(pool: pg.Pool, r: IdempotencyRecord): Promise<void> {
  await pool.query(
    `INSERT INTO idempotency_keys (key, route, request_sha256, status, response_json, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [r.key, r.route, r.requestSha256, r.status, r.responseJson, r.createdAt],
  );
}

export async function deleteIdempotencyBefore(pool: pg.Pool, createdAt: string): Promise<void> {
  await pool.query('DELETE FROM idempotency_keys WHERE created_at < $1 COLLATE "C"', [createdAt]);
}

export async function insertToken(pool: pg.Pool, t: TokenRecord): Promise<void> {
  await pool.query(
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

export async function token(pool: pg.Pool, id: string): Promise<TokenRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM api_tokens WHERE id = $1', [id]);
  return row ? toToken(row) : undefined;
}

export async function tokens(pool: pg.Pool): Promise<TokenRecord[]> {
  const rows = await queryRows(
    pool,
    'SELECT * FROM api_tokens ORDER BY created_at COLLATE "C", id COLLATE "C"',
  );
  return rows.map(toToken);
}

export async function revokeToken(
  pool: pg.Pool,
  id: string,
  revokedAt: string,
): Promise<RevokeTokenOutcome> {
  const revoked = await pool.query(
    'UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
    [revokedAt, id],
  );
  if (revoked.rowCount === 1) return 'REVOKED';
  return (await queryRow(pool, 'SELECT 1 AS x FROM api_tokens WHERE id = $1', [id]))
    ? 'ALREADY_REVOKED'
    : 'NOT_FOUND';
}

export async function touchToken(
  pool: pg.Pool,
  id: string,
  usedAt: string,
  minIntervalMs: number,
): Promise<void> {
  const before = new Date(Date.parse(usedAt) - minIntervalMs).toISOString();
  await pool.query(
    `UPDATE api_tokens SET last_used_at = $1
     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3 COLLATE "C")`,
    [usedAt, id, before],
  );
}
