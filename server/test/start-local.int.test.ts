/**
 * `npm start` (scripts/start-local.ts) as its own process, twice over one data dir: the first run
 * creates the chain, the contract, the keys and the config and serves; the second reuses all of
 * it, and what was published before the restart is still served and still on the chain.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeySigner, readEncryptedKeyFile } from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishOverHttp } from './support/publish-over-http.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(new URL('../scripts/start-local.ts', import.meta.url));

interface Started {
  out: () => string;
  url: string;
  stop: () => Promise<number | null>;
}

async function startLocal(home: string): Promise<Started> {
  const child = spawn(
    process.execPath,
    ['--conditions=@tufchain/source', '--import', 'tsx', script],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', TUFCHAIN_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  await expect
    .poll(() => (child.exitCode !== null ? `exited: ${out}` : /tufchain is running/.test(out)), {
      timeout: 90_000,
      interval: 200,
    })
    .toBe(true);
  const url = /server {5}(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
  return {
    out: () => out,
    url,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

describe('npm start (server/scripts/start-local.ts)', () => {
  let home = '';
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'tufchain-home-'));
  });
  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('creates a local stack on the first run and reuses it, state and all, on the next', async () => {
    const first = await startLocal(home);
    const token = (await readFile(join(home, 'admin.token'), 'utf8')).trim();
    try {
      expect(first.out()).toMatch(/created/);
      expect(first.out()).toMatch(/npx tufchain publish release\.json/);
      // A release, as `tufchain targets add` + `publish` make it: signed with the build key.
      const passphrase = (await readFile(join(home, 'passphrase'), 'utf8')).trim();
      const build = createKeySigner(
        await readEncryptedKeyFile(join(home, 'keys', 'build.key'), passphrase),
      );
      await publishOverHttp(first.url, token, build, {
        name: 'dev-ecu-1.img',
        bytes: new TextEncoder().encode('dev-ecu firmware 1.0.0'),
        hardwareIds: ['dev-ecu'],
        version: '1.0.0',
        releaseCounter: 1,
      });
    } finally {
      expect(await first.stop()).toBe(0);
    }
    await expect(fetch(`${first.url}/readyz`), 'stopped: nothing answers').rejects.toThrow();

    const second = await startLocal(home);
    try {
      expect(second.out()).toMatch(/reused/);
      expect(second.url).toBe(first.url);
      const local = JSON.parse(await readFile(join(home, 'local.json'), 'utf8')) as {
        contractAddress: string;
      };
      expect(second.out()).toContain(local.contractAddress);
      // Nothing was made again: the same root, the same token, the release still confirmed.
      const releases = await fetch(`${second.url}/api/v1/releases`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(releases.status).toBe(200);
      expect(await releases.json()).toMatchObject({
        releases: [{ targets: ['dev-ecu-1.img'], status: 'confirmed' }],
      });
      const root = await fetch(`${second.url}/metadata/1.root.json`);
      expect(await root.text()).toBe(await readFile(join(home, '1.root.json'), 'utf8'));
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 240_000);
});
