import { fileURLToPath } from 'node:url';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const conditions = ['@tufchain/source', ...defaultServerConditions];

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@tufchain/source'] } },
  test: {
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two files at a time on the two-core CI machine (vitest's default is cores - 1 = 1): most
    // integration files wait on child processes, anvil and fsync rather than on the CPU.
    maxWorkers: 2,
    reporters: ['default', './.config/summary-reporter.ts'],
    projects: [
      {
        // `extends: true` concatenates arrays, so each project names its own `include`.
        extends: true,
        test: {
          name: 'default',
          include: [
            '*/src/**/*.test.ts',
            '*/test/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/repo/**/*.test.ts',
          ],
          // Its replicas share the server-postgres project's PostgreSQL cluster: it runs there only.
          exclude: ['server/test/fleet-simulator.int.test.ts'],
        },
      },
      {
        // The storage-facing server tests once more, with the repository store in a real
        // PostgreSQL (server/test/support/database.ts); the rest of the suite runs once.
        extends: true,
        test: {
          name: 'server-postgres',
          include: [
            'server/src/{app,metrics}.test.ts',
            'server/src/cli/commands/minimum-version.test.ts',
            'server/src/{routes,tuf}/**/*.test.ts',
            'server/test/{authz,campaign-audit,campaign-crash,campaign-kill,campaign-rollback,fleet-sim,campaign-store-contract,campaigns,campaigns-api,console-session-store-contract,director,director-audit,director-store-contract,fleet,fleet-store-contract,http-edge,install-reports,lifecycle,log,monitor-state-store-contract,publish,vehicles}.int.test.ts',
            'server/test/fleet-simulator.int.test.ts',
          ],
          env: { TUFCHAIN_DB: 'postgres' },
          globalSetup: ['./.config/postgres-global-setup.ts'],
        },
      },
    ],
  },
});
