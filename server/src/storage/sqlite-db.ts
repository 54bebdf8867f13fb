import { DatabaseSync, type SQLInputValue } from 'node:sqlite';

export type Row = Record<string, SQLInputValue>;

/** The repository's SQLite connection, as SqliteStore's modules query it. */
export class SqliteDb {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  close(): void {
    this.#db.close();
  }

  transaction<T>(fn: () => T): T {
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

  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...params);
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#db.prepare(sql).all(...params);
  }

  run(sql: string, ...params: SQLInputValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.#db.prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }
}

/**
 * SQLITE_CONSTRAINT_PRIMARYKEY or SQLITE_CONSTRAINT_UNIQUE (node:sqlite puts SQLite's extended
 * result code in `errcode`).
 */
function isKeyViolation(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return code === 1555 || code === 2067;
}

/** Runs `fn`; a key violation becomes `toError(it)`, any other error passes. */
export function onKeyViolation<T>(fn: () => T, toError: (cause: unknown) => Error): T {
  try {
    return fn();
  } catch (error) {
    throw isKeyViolation(error) ? toError(error) : error;
  }
}

/**
 * Runs SQLite work as a promise: a refusal (a constraint, a closed database) rejects it rather
 * than throwing before the caller holds a promise, as a networked store's would.
 */
export function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}
