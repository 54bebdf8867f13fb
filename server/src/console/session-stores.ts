import type { DatabaseSync } from 'node:sqlite';
import { inTransaction as sqliteTransaction } from '@tufchain/transparency';
import type pg from 'pg';
import { inTransaction } from '../storage/postgres-db.js';
import { num, str } from '../storage/rows.js';
import { openSideConnection } from '../storage/sqlite-side.js';
import {
  MAX_SESSIONS_PER_TOKEN,
  type ConsoleSessionRecord,
  type ConsoleSessionStore,
} from './session.js';

const toRecord = (r: Record<string, unknown>): ConsoleSessionRecord => ({
  idSha256: str(r.id_sha256),
  tokenId: str(r.token_id),
  createdAt: str(r.created_at),
  expiresAt: num(r.expires_at),
});

/** Console sessions in the repository's SQLite file (migration 14), on a connection of their own. */
export class SqliteSessionStore implements ConsoleSessionStore {
  readonly #db: DatabaseSync;
  #closed = false;

  constructor(path: string) {
    this.#db = openSideConnection(path, 14, 'console sessions');
  }

  insertSession(r: ConsoleSessionRecord): Promise<void> {
    return Promise.resolve().then(() =>
      sqliteTransaction(this.#db, () => {
        this.#db
          .prepare(
            'INSERT INTO console_sessions (id_sha256, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
          )
          .run(r.idSha256, r.tokenId, r.createdAt, r.expiresAt);
        this.#db
          .prepare(
            `DELETE FROM console_sessions WHERE token_id = ? AND id_sha256 NOT IN (
               SELECT id_sha256 FROM console_sessions WHERE token_id = ?
               ORDER BY expires_at DESC, id_sha256 LIMIT ?)`,
          )
          .run(r.tokenId, r.tokenId, MAX_SESSIONS_PER_TOKEN);
      }),
    );
  }

  session(idSha256: string): Promise<ConsoleSessionRecord | undefined> {
    return Promise.resolve().then(() => {
      const row = this.#db
        .prepare('SELECT * FROM console_sessions WHERE id_sha256 = ?')
        .get(idSha256);
      return row ? toRecord(row) : undefined;
    });
  }

  deleteSession(idSha256: string): Promise<void> {
    return Promise.resolve().then(() => {
      this.#db.prepare('DELETE FROM console_sessions WHERE id_sha256 = ?').run(idSha256);
    });
  }

  deleteExpiredSessions(nowMs: number): Promise<number> {
    return Promise.resolve().then(() =>
      Number(
        this.#db.prepare('DELETE FROM console_sessions WHERE expires_at <= ?').run(nowMs).changes,
      ),
    );
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

/** Console sessions in PostgreSQL (migration 10), on the repository store's pool. */
export class PostgresSessionStore implements ConsoleSessionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async insertSession(r: ConsoleSessionRecord): Promise<void> {
    await inTransaction(this.#pool, async (tx) => {
      await tx.query(
        'INSERT INTO console_sessions (id_sha256, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [r.idSha256, r.tokenId, r.createdAt, r.expiresAt],
      );
      await tx.query(
        `DELETE FROM console_sessions WHERE token_id = $1 AND id_sha256 NOT IN (
           SELECT id_sha256 FROM console_sessions WHERE token_id = $1
           ORDER BY expires_at DESC, id_sha256 COLLATE "C" LIMIT $2)`,
        [r.tokenId, MAX_SESSIONS_PER_TOKEN],
      );
    });
  }

  async session(idSha256: string): Promise<ConsoleSessionRecord | undefined> {
    const row = (
      await this.#pool.query('SELECT * FROM console_sessions WHERE id_sha256 = $1', [idSha256])
    ).rows[0] as Record<string, unknown> | undefined;
    return row ? toRecord(row) : undefined;
  }

  async deleteSession(idSha256: string): Promise<void> {
    await this.#pool.query('DELETE FROM console_sessions WHERE id_sha256 = $1', [idSha256]);
  }

  async deleteExpiredSessions(nowMs: number): Promise<number> {
    return (
      (await this.#pool.query('DELETE FROM console_sessions WHERE expires_at <= $1', [nowMs]))
        .rowCount ?? 0
    );
  }

  /** The pool is the repository store's, which ends it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
