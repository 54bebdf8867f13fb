import type pg from 'pg';
import { ServerError } from '../error.js';
import { Mutex } from '../mutex.js';

/**
 * A lock that serializes a critical section across every process on one PostgreSQL database: a
 * session advisory lock on the 64-bit hash of `name`, held on a connection of its own for the
 * whole callback. Callers in this process queue on a FIFO mutex first, so a burst of local
 * publishes holds one connection, not one per waiter.
 *
 * If the lock's connection dies while the callback runs, PostgreSQL releases the lock and another
 * replica may enter. The callback is not interrupted; what keeps that overlap safe is the store
 * itself (a metadata version commits once: the second commit waits on its row lock, then finds
 * the version taken). The lock turns that rare conflict into the normal case of waiting.
 */
export class PostgresAdvisoryLock {
  readonly #pool: pg.Pool;
  readonly #name: string;
  readonly #local = new Mutex();

  constructor(pool: pg.Pool, name: string) {
    this.#pool = pool;
    this.#name = name;
  }

  /** Callers waiting in this process (not counting other replicas). */
  get pending(): number {
    return this.#local.pending;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.#local.run(async () => {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (error) {
        throw new ServerError('STORAGE_FAILED', 'PostgreSQL is unreachable for the publish lock', {
          cause: error,
        });
      }
      let broken: Error | undefined;
      // An error event on a checked-out client (the server went away) must not end the process.
      const onError = (error: Error): void => {
        broken = error;
      };
      client.on('error', onError);
      try {
        try {
          await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [this.#name]);
        } catch (error) {
          broken = error instanceof Error ? error : new Error(String(error));
          throw new ServerError('STORAGE_FAILED', 'could not take the publish lock', {
            cause: error,
          });
        }
        try {
          return await fn();
        } finally {
          await client
            .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [this.#name])
            .catch((error: unknown) => {
              // The session is gone, and with it the lock; the connection must not be reused.
              broken = error instanceof Error ? error : new Error(String(error));
            });
        }
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    });
  }
}
