/**
 * Which engine the server integration tests keep the repository store in: SQLite in the data dir
 * (default), or, with TUFCHAIN_DB=postgres, a fresh database on the PostgreSQL cluster that the
 * `server-postgres` vitest project starts once (.config/postgres-global-setup.ts).
 */
import { inject } from 'vitest';
import {
  openRepository,
  type OpenedRepository,
  type OpenRepositoryOptions,
} from '../../src/storage/open.js';
import { createDatabaseOn } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set by .config/postgres-global-setup.ts. */
    postgresAdminUrl: string;
  }
}

export type TestEngine = 'sqlite' | 'postgres';

export function testEngine(): TestEngine {
  const engine = process.env['TUFCHAIN_DB'] ?? 'sqlite';
  if (engine !== 'sqlite' && engine !== 'postgres') {
    throw new Error(`TUFCHAIN_DB=${engine}: sqlite or postgres`);
  }
  return engine;
}

/**
 * A new, empty PostgreSQL database on the project's cluster (its URL), or undefined on SQLite,
 * where the database is the data dir's file. Replicas of one test open the same URL.
 */
export async function newTestDatabaseUrl(): Promise<string | undefined> {
  if (testEngine() === 'sqlite') return undefined;
  const adminUrl = inject('postgresAdminUrl');
  if (!adminUrl) {
    throw new Error(
      'TUFCHAIN_DB=postgres needs the cluster of .config/postgres-global-setup.ts (vitest project server-postgres)',
    );
  }
  return createDatabaseOn(adminUrl);
}

export async function openTestRepository(
  opts: Omit<OpenRepositoryOptions, 'databaseUrl'>,
): Promise<OpenedRepository> {
  const databaseUrl = await newTestDatabaseUrl();
  return openRepository(databaseUrl === undefined ? opts : { ...opts, databaseUrl });
}
