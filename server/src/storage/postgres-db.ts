/**
 * What every PostgreSQL store of the server shares: the pool, the migration runner, transactions
 * and the mapping of constraint violations (the repository store, postgres-store.ts, and the
 * Director's, director/postgres-store.ts, on one database).
 */
import pg, { type PoolClient, type PoolConfig, type QueryResultRow } from 'pg';
import { ServerError } from '../error.js';
import { postgresMigrations } from './postgres-migrations.js';
import { num } from './rows.js';

/** A pool or one client of it inside a transaction. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, or a full pool configuration. */
  connectionString?: string;
  pool?: PoolConfig;
}

/**
 * Key of the session advisory lock under which migrations run: replicas that start together
 * wait for the first one to migrate, then find every migration applied. Any constant works as
 * long as nothing else in the database uses it; this one is "tufchain" in ASCII.
 */
const MIGRATION_LOCK_KEY = 0x74756663686169n;
/** SQLSTATE unique_violation: two writers inserted the same key at once. */
const UNIQUE_VIOLATION = '23505';

export function clientConfigOf(opts: PostgresStoreOptions): pg.ClientConfig {
  return {
    ...opts.pool,
    ...(opts.connectionString === undefined ? {} : { connectionString: opts.connectionString }),
  };
}

/** A pool of `config` whose schema is migrated (once across replicas: under an advisory lock). */
export async function openMigratedPool(config: pg.PoolConfig): Promise<pg.Pool> {
  const pool = new pg.Pool(config);
  // An idle connection that PostgreSQL dropped (a restart) is replaced by the pool; the next
  // query reports a failure that lasts. Without a listener, the error would end the process.
  pool.on('error', () => undefined);
  // pg-pool listens for errors only on idle clients: one checked out when the server goes away
  // (a restart mid-transaction) emits 'error' as well as failing its query, which would end the
  // process. The query's own rejection is what callers handle.
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw new ServerError('STORAGE_FAILED', 'PostgreSQL migration failed', { cause: error });
  }
  return pool;
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const applied = new Set(
        (await client.query<{ id: unknown }>('SELECT id FROM migrations')).rows.map((r) =>
          num(r.id),
        ),
      );
      for (const m of postgresMigrations) {
        if (applied.has(m.id)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO migrations (id, name, applied_at) VALUES ($1, $2, $3)', [
            m.id,
            m.name,
            new Date().toISOString(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    client.release();
  }
}

/** Runs `fn` in one transaction on one connection of `pool`: committed if it resolves. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  const client: PoolClient = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      // The connection is unusable: the pool must not hand it out again.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

export async function queryRow(
  db: Queryable,
  sql: string,
  params: unknown[] = [],
): Promise<QueryResultRow | undefined> {
  return (await db.query(sql, params)).rows[0];
}

export async function queryRows(
  db: Queryable,
  sql: string,
  params: unknown[] = [],
): Promise<QueryResultRow[]> {
  return (await db.query(sql, params)).rows;
}

export function isUniqueViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION;
}

/** A `.catch` handler: a unique violation becomes `toError(it)`; any other error passes. */
export function onUniqueViolation(toError: (cause: unknown) => Error): (error: unknown) => never {
  return (error) => {
    throw isUniqueViolation(error) ? toError(error) : error;
  };
}
