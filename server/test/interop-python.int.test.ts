import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveInteropRepository } from '../scripts/interop-serve.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../scripts/interop-python-tuf.py', import.meta.url));

/**
 * python-tuf's ngclient (the reference TUF client) against the real server: hashed bins and a
 * supplier role. Opt-in: neither PyPI nor Debian ships python-tuf 5 here, so it runs only when
 * TUFCHAIN_PYTHON_TUF_PATH is a PYTHONPATH holding python-tuf and securesystemslib; tuf-js
 * covers the same walk in publish.int.test.ts on every run.
 */
const pythonPath = process.env['TUFCHAIN_PYTHON_TUF_PATH'];
if (!pythonPath) {
  console.warn(
    'interop-python.int.test.ts: skipped, set TUFCHAIN_PYTHON_TUF_PATH to a PYTHONPATH with python-tuf to run it',
  );
}

describe.skipIf(!pythonPath)(
  'python-tuf ngclient against the server (TUFCHAIN_PYTHON_TUF_PATH)',
  () => {
    let out: string;
    let served: { close(): Promise<void> };
    beforeAll(async () => {
      out = await mkdtemp(join(tmpdir(), 'tufchain-python-tuf-'));
      served = await serveInteropRepository(out);
    }, 60_000);
    afterAll(async () => {
      await served?.close();
      await rm(out, { recursive: true, force: true });
    });

    it('refreshes, walks targets -> bins -> bin and targets -> supplier role, and downloads both targets', async () => {
      const { stdout } = await run('python3', [script, out], {
        env: { ...process.env, PYTHONPATH: pythonPath },
      });
      expect(stdout).toContain('ok gateway-2.0.0.img');
      expect(stdout).toContain('ok acme-brake/brake-4.1.0.bin');
      expect(stdout).toMatch(/metadata walked: .*bins-[0-9a-f]+\.json.*supplier-acme\.json/);
    });
  },
);
