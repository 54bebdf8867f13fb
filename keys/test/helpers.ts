import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
if (!openssl) {
  console.warn(
    '[keys tests] system openssl not found: cross-checks against OpenSSL do not run; node:crypto checks still do',
  );
}

/** Runs the system openssl; returns stdout followed by stderr (where it prints -info), throws on failure. */
export function runOpenssl(args: string[], input?: string | Uint8Array): string {
  const result = spawnSync('openssl', args, {
    ...(input !== undefined ? { input } : {}),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tufchain-keys-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fast scrypt for tests that exercise structure rather than cost. */
export const fastScrypt = { N: 1024, r: 8, p: 1 };
