import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
} from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, initRepository, startServer, type RunningServer } from '../src/index.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { PostgresAdvisoryLock } from '../src/storage/postgres-lock.js';
import { PostgresStore } from '../src/storage/postgres-store.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ed25519 = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let postgres: TestPostgres;
beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(async () => {
  await postgres.stop();
});

describe('the publish lock across processes on one PostgreSQL database', () => {
  /**
   * Runs `rounds` overlapping critical sections, alternating between the locks (each on a pool of
   * its own, as two replicas have), and returns how many were ever inside at once.
   */
  async function maxInside(locks: readonly PostgresAdvisoryLock[], rounds: number) {
    let inside = 0;
    let max = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: rounds }, (_, i) =>
        locks[i % locks.length]!.run(async () => {
          inside += 1;
          max = Math.max(max, inside);
          await sleep(15);
          inside -= 1;
          done.push(i);
        }),
      ),
    );
    return { max, done: done.length };
  }

  it('lets one replica at a time in; two names do not exclude each other (so the check can fail)', async () => {
    const url = await postgres.createDatabase();
    const stores = [
      await PostgresStore.open({ connectionString: url }),
      await PostgresStore.open({ connectionString: url }),
    ];
    try {
      const shared = await maxInside(
        stores.map((s) => s.publishLock()),
        8,
      );
      expect(shared).toEqual({ max: 1, done: 8 });

      // The same overlap check with locks that do not share a name sees both inside at once.
      const pools = await Promise.all(
        ['a', 'b'].map(async (name) => {
          const pg = await import('pg');
          const pool = new pg.default.Pool({ connectionString: url });
          return { pool, lock: new PostgresAdvisoryLock(pool, `tufchain:test:${name}`) };
        }),
      );
      try {
        const apart = await maxInside(
          pools.map((p) => p.lock),
          8,
        );
        expect(apart.max).toBe(2);
      } finally {
        await Promise.all(pools.map((p) => p.pool.end()));
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('is released when the callback throws, and the error reaches the caller', async () => {
    const url = await postgres.createDatabase();
    const a = await PostgresStore.open({ connectionString: url });
    const b = await PostgresStore.open({ connectionString: url });
    try {
      await expect(
        a.publishLock().run(() => Promise.reject(new Error('publish failed'))),
      ).rejects.toThrow('publish failed');
      // Were the lock still held by a's session, this would wait forever (and time out).
      await expect(b.publishLock().run(() => Promise.resolve('entered'))).resolves.toBe('entered');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('two server replicas on one PostgreSQL database and one blob directory (anvil, HTTP, tuf-js)', () => {
  let chain: TestChain;
  let dir: string;
  const replicas: { repo: OpenedRepository; server: RunningServer }[] = [];
  let token: string;
  let firmware: Signer;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-replicas-'));
    const databaseUrl = await postgres.createDatabase();
    const online = { targets: ed25519(), snapshot: ed25519(), timestamp: ed25519() };
    firmware = ed25519();
    const vehicleCa = await createVehicleCa({ commonName: 'Replicas Vehicle CA' });
    for (const name of ['a', 'b']) {
      const repo = await openRepository({
        dataDir: join(dir, name),
        databaseUrl,
        blobDir: join(dir, 'blobs'),
      });
      if (name === 'a') {
        await initRepository({
          store: repo.store,
          rootSigners: [ed25519()],
          threshold: 1,
          onlineSigners: online,
          releaseLog: chain.writer(),
        });
      }
      const server = await startServer({
        port: 0,
        deps: {
          store: repo.store,
          blobs: repo.blobs,
          signers: online,
          // One publisher account for both: the lock also keeps their nonces apart.
          releaseLog: chain.writer(),
          firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
          vehicleCa,
          publishLock: repo.publishLock,
          config: { resignIntervalMs: 0 },
        },
      });
      replicas.push({ repo, server });
    }
    token = (
      await createApiToken(replicas[0]!.repo.store, { name: 'replicas', scopes: ['publish'] })
    ).token;
  });

  afterAll(async () => {
    for (const r of replicas) {
      await r.server.close();
      await r.repo.close();
    }
    await chain?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (url: string, method: string, path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body instanceof Uint8Array ? {} : { 'content-type': 'application/json' }),
      },
      body: body instanceof Uint8Array ? body : JSON.stringify(body),
    });

  it('publishes concurrently through both, exactly once each, and both serve the same repository', async () => {
    const releases = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const { server } = replicas[i % 2]!;
        const name = `ecu-${i.toString()}-1.0.0.img`;
        const image = randomBytes(2048);
        const put = await call(server.url, 'PUT', `/api/v1/firmware/${name}`, image);
        expect(put.status, await put.clone().text()).toBeLessThan(300);
        const claims = {
          hardwareIds: [`ecu-${i.toString()}`],
          version: '1.0.0',
          releaseCounter: 1,
        };
        const attestation = await signFirmwareAttestation(
          { name, sha256: sha256(image), ...claims },
          firmware,
        );
        const res = await call(server.url, 'POST', '/api/v1/releases', {
          targets: [{ name, ...claims, attestation }],
        });
        expect(res.status, await res.clone().text()).toBe(201);
        return { name, image };
      }),
    );

    // Six publishes, one snapshot version each on top of v1: none taken twice, none lost.
    const store = replicas[0]!.repo.store;
    expect(await store.maxVersion('snapshot')).toBe(7);
    expect((await store.currentMetadata('snapshot'))?.version).toBe(7);

    const served = await Promise.all(
      replicas.map(async ({ server }) => {
        const res = await fetch(`${server.url}/metadata/timestamp.json`);
        expect(res.status).toBe(200);
        return Buffer.from(await res.arrayBuffer()).toString('hex');
      }),
    );
    expect(served[1]).toBe(served[0]);

    // A client that trusts root v1 finds every image through the replica that did not publish it.
    const root = (await store.currentMetadata('root'))!.bytes;
    for (const [i, { name, image }] of releases.entries()) {
      const other = replicas[(i + 1) % 2]!.server.url;
      const { updater } = await createTufClient(other, root);
      await updater.refresh();
      const info = await updater.getTargetInfo(name);
      expect(info?.hashes['sha256']).toBe(sha256(image));
    }
  });
});
