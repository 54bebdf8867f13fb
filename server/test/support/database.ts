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

export async function openTestRepository(
  opts: Omit<OpenRepositoryOptions, 'databaseUrl'>,
): Promise<OpenedRepository> {
  if (testEngine() === 'sqlite') return openRepository(opts);
  const adminUrl = inject('postgresAdminUrl');
  if (!adminUrl) {
    throw new Error(
      'TUFCHAIN_DB=postgres needs the cluster of .config/postgres-global-setup.ts (vitest project server-postgres)',
    );
  }
  return openRepository({ ...opts, databaseUrl: await createDatabaseOn(adminUrl) });
}
