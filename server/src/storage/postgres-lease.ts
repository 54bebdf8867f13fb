import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ServerError } from '../error.js';

/**
 * Who runs a background job (the expiry re-sign, the idempotency cleanup) when several replicas
 * could: the holder of its lease. `hold()` takes the lease when it is free or expired, renews it
 * when this holder has it, and answers whether this holder may run the job now. A replica that
 * dies stops renewing, and another takes over at its first tick after the lease expires.
 */
export interface JobLease {
  hold(): Promise<boolean>;
  /** Gives the lease up (at shutdown), so another replica need not wait for it to expire. */
  release(): Promise<void>;
}

/** The lease of a process that owns its database alone (SQLite): always held. */
export const soleProcessLease: JobLease = {
  hold: () => Promise.resolve(true),
  release: () => Promise.resolve(),
};

/**
 * A lease row in PostgreSQL (`job_leases`). Expiry is compared with the database's clock, so
 * replicas whose clocks disagree still agree on who holds it. Holders are random per process.
 */
export class PostgresJobLease implements JobLease {
  readonly #pool: pg.Pool;
  readonly #name: string;
  readonly #ttlMs: number;
  readonly holder: string;

  constructor(pool: pg.Pool, name: string, opts: { ttlMs: number; holder?: string }) {
    if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs <= 0) {
      throw new ServerError('CONFIG_INVALID', 'a job lease needs a positive whole ttlMs');
    }
    this.#pool = pool;
    this.#name = name;
    this.#ttlMs = opts.ttlMs;
    this.holder = opts.holder ?? randomUUID();
  }

  async hold(): Promise<boolean> {
    try {
      const result = await this.#pool.query(
        `INSERT INTO job_leases (name, holder, expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE
           SET holder = excluded.holder, expires_at = excluded.expires_at
           WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= now()
         RETURNING holder`,
        [this.#name, this.holder, this.#ttlMs],
      );
      return result.rowCount === 1;
    } catch (error) {
      throw new ServerError('STORAGE_FAILED', `could not take the ${this.#name} lease`, {
        cause: error,
      });
    }
  }

  async release(): Promise<void> {
    await this.#pool.query('DELETE FROM job_leases WHERE name = $1 AND holder = $2', [
      this.#name,
      this.holder,
    ]);
  }
}
