import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readEncryptedKeyFile } from '../src/key-file.js';
import { createKeySigner } from '../src/signer.js';
import { tempDir } from './helpers.js';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

describe('the tufchain-keys executable', () => {
  it('generates an encrypted key file, reading the passphrase from the environment only', async () => {
    const out = join(dir, 'build.key');
    const result = spawnSync(
      process.execPath,
      [tsx, '--conditions=@tufchain/source', main, 'keygen', '--type', 'ecdsa-p256', '--out', out],
      {
        env: { ...process.env, TUFCHAIN_KEY_PASSPHRASE: 'from-env' },
        encoding: 'utf8',
      },
    );
    expect(result.status, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as { keyid: string };
    expect(result.stdout).not.toContain('from-env');
    expect(await readFile(out, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(createKeySigner(await readEncryptedKeyFile(out, 'from-env')).keyId).toBe(printed.keyid);
  });
});
