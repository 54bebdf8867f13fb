import { fileURLToPath } from 'node:url';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const conditions = ['@tufchain/source', ...defaultServerConditions];

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@tufchain/source'] } },
  test: {
    include: [
      '*/src/**/*.test.ts',
      '*/test/**/*.test.ts',
      'test/e2e/**/*.test.ts',
      'test/repo/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './.config/summary-reporter.ts'],
  },
});
