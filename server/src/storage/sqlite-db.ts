import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

export type Row = Record<string, SQLInputValue>;

/** The repository's SQLite connection, as SqliteStore's modules query it. */
export class SqliteDb {
  readonly #db: DatabaseSync;
  /** Prepared statements by SQL text, least recently used first. */
  readonly #statements = new Map<string, StatementSync>();

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
    return this.#prepare(sql).get(...params);
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#prepare(sql).all(...params);
  }

  run(sql: string, ...params: SQLInputValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.#prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  // Compiling a statement cost more than running it on the publish path (bench:server's
  // 1,000-image release: ~270 ms of its CPU in prepare). The SQL texts are the modules' constants
  // and a few IN lists of varying length, so a bounded cache holds the ones in use.
  #prepare(sql: string): StatementSync {
    const cached = this.#statements.get(sql);
    if (cached) {
      this.#statements.delete(sql);
      this.#statements.set(sql, cached);
      return cached;
    }
    const statement = this.#db.prepare(sql);
    this.#statements.set(sql, statement);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    return statement;
  }
}

const STATEMENT_CACHE_SIZE = 256;

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
