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
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepository,
  startServer,
  type ConfigInput,
  type ReleaseLog,
  type RunningServer,
} from '../src/index.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { PostgresAdvisoryLock } from '../src/storage/postgres-lock.js';
import { PostgresStore } from '../src/storage/postgres-store.js';
import { startTestChain } from './support/chain.js';
import { HeldRequests, untilStatus } from './support/held-requests.js';
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
  await postgres?.stop();
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
      const pools = ['a', 'b'].map((name) => {
        const pool = new pg.Pool({ connectionString: url });
        return { pool, lock: new PostgresAdvisoryLock(pool, `tufchain:test:${name}`) };
      });
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

describe('the background-job lease on PostgreSQL', () => {
  it('has one holder at a time, renews for it, and passes to another when the holder stops renewing', async () => {
    const url = await postgres.createDatabase();
    const a = await PostgresStore.open({ connectionString: url });
    const b = await PostgresStore.open({ connectionString: url });
    let c: PostgresStore | undefined;
    try {
      const ttlMs = 600;
      const first = a.jobLease('job', ttlMs);
      const second = b.jobLease('job', ttlMs);
      expect(await first.hold()).toBe(true);
      expect(await second.hold()).toBe(false);
      expect(await first.hold()).toBe(true);
      // Another job's lease is independent.
      expect(await b.jobLease('other job', ttlMs).hold()).toBe(true);
      // The holder dies (it stops renewing): the lease is still its own until it expires...
      await a.close();
      expect(await second.hold()).toBe(false);
      await sleep(ttlMs + 100);
      // ...and then the next tick of another replica takes it over.
      expect(await second.hold()).toBe(true);
      // The dead replica, restarted, is a new holder and waits its turn.
      c = await PostgresStore.open({ connectionString: url });
      const reborn = c.jobLease('job', ttlMs);
      expect(await reborn.hold()).toBe(false);
      await second.release();
      expect(await reborn.hold()).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await c?.close();
    }
  });

  it('refuses a lease without a positive whole ttl (CONFIG_INVALID)', async () => {
    const url = await postgres.createDatabase();
    const store = await PostgresStore.open({ connectionString: url });
    try {
      for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
        expect(() => store.jobLease('job', ttlMs)).toThrow(
          expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
        );
      }
    } finally {
      await store.close();
    }
  });
});

interface Replicas {
  databaseUrl: string;
  replicas: { repo: OpenedRepository; server: RunningServer }[];
  firmware: Signer;
  /** A publish-scope token, in the shared store. */
  token: string;
  close(): Promise<void>;
}

/**
 * Two servers as two replicas are deployed: one PostgreSQL database, one blob directory, a data
 * dir each, the same online keys and chain account, and the database's publish lock and lease.
 */
async function startReplicas(
  config: ConfigInput,
  opts: { releaseLogOf?: (replica: string, writer: ReleaseLog) => ReleaseLog } = {},
): Promise<Replicas> {
  // A repository of its own on a chain of its own: the contract allows one version 1 per log.
  const chain = await startTestChain();
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-replicas-'));
  const databaseUrl = await postgres.createDatabase();
  const online = { targets: ed25519(), snapshot: ed25519(), timestamp: ed25519() };
  const firmware = ed25519();
  const vehicleCa = await createVehicleCa({ commonName: 'Replicas Vehicle CA' });
  const replicas: Replicas['replicas'] = [];
  for (const name of ['a', 'b']) {
    const repo = await openRepository({
      dataDir: join(dir, name),
      // Names its sessions in pg_stat_activity, so that a test can end them as kill -9 would.
      databaseUrl: `${databaseUrl}?application_name=replica-${name}`,
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
        releaseLog: opts.releaseLogOf?.(name, chain.writer()) ?? chain.writer(),
        chainLookup: chain.reader(),
        firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
        vehicleCa,
        publishLock: repo.publishLock,
        jobLease: repo.jobLease,
        config,
      },
    });
    replicas.push({ repo, server });
  }
  const token = (
    await createApiToken(replicas[0]!.repo.store, { name: 'replicas', scopes: ['publish'] })
  ).token;
  return {
    databaseUrl,
    replicas,
    firmware,
    token,
    async close() {
      for (const r of replicas) {
        await r.server.close();
        await r.repo.close();
      }
      await chain.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Uploads one image of hardware ID `hardwareId` through `server` and posts its release. */
function postRelease(setup: Replicas, server: RunningServer, hardwareId: string) {
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${setup.token}`,
        ...(body instanceof Uint8Array ? {} : { 'content-type': 'application/json' }),
      },
      body: body instanceof Uint8Array ? body : JSON.stringify(body),
    });
  const name = `${hardwareId}-1.0.0.img`;
  const image = randomBytes(2048);
  const response = (async () => {
    const put = await call('PUT', `/api/v1/firmware/${name}`, image);
    expect(put.status, await put.clone().text()).toBeLessThan(300);
    const claims = { hardwareIds: [hardwareId], version: '1.0.0', releaseCounter: 1 };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(image), ...claims },
      setup.firmware,
    );
    return call('POST', '/api/v1/releases', { targets: [{ name, ...claims, attestation }] });
  })();
  return { name, image, response };
}

/** postRelease, and expects 201. */
async function publishVia(setup: Replicas, server: RunningServer, hardwareId: string) {
  const { name, image, response } = postRelease(setup, server, hardwareId);
  const res = await response;
  expect(res.status, await res.clone().text()).toBe(201);
  return { name, image };
}

describe('two server replicas on one PostgreSQL database and one blob directory (anvil, HTTP, tuf-js)', () => {
  let setup: Replicas;
  let replicas: Replicas['replicas'];

  beforeAll(async () => {
    setup = await startReplicas({ resignIntervalMs: 0 });
    ({ replicas } = setup);
  });

  afterAll(async () => {
    await setup?.close();
  });

  const publishThrough = (server: RunningServer, hardwareId: string) =>
    publishVia(setup, server, hardwareId);

  const servedTimestamp = async (server: RunningServer): Promise<string> => {
    const res = await fetch(`${server.url}/metadata/timestamp.json`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer()).toString('hex');
  };

  it('publishes concurrently through both, exactly once each, and both serve the same repository', async () => {
    const releases = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        publishThrough(replicas[i % 2]!.server, `ecu-${i.toString()}`),
      ),
    );

    // Six publishes, one snapshot version each on top of v1: none taken twice, none lost.
    const store = replicas[0]!.repo.store;
    expect(await store.maxVersion('snapshot')).toBe(7);
    expect((await store.currentMetadata('snapshot'))?.version).toBe(7);

    const served = await Promise.all(replicas.map(({ server }) => servedTimestamp(server)));
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

  it('a replica drops its cached timestamp.json when another publishes (LISTEN/NOTIFY), and keeps none while it cannot hear', async () => {
    const [a, b] = replicas.map((r) => r.server) as [RunningServer, RunningServer];
    // What the database holds as current.
    const ownTimestamp = async () =>
      Buffer.from((await replicas[0]!.repo.store.currentMetadata('timestamp'))!.bytes).toString(
        'hex',
      );
    const postgresQuery = async (sql: string): Promise<unknown[]> => {
      const client = new pg.Client({ connectionString: setup.databaseUrl });
      await client.connect();
      try {
        return (await client.query(sql)).rows as unknown[];
      } finally {
        await client.end();
      }
    };
    // The NOTIFY reaches b a moment after a's commit (a's answer can beat it to the test), but
    // without it b would serve its cached timestamp.json until that expires, hours from now.
    const servesCurrent = async (server: RunningServer): Promise<void> => {
      const current = await ownTimestamp();
      for (let i = 0; (await servedTimestamp(server)) !== current; i++) {
        expect(i, 'b serves the new timestamp.json within 2 s').toBeLessThan(40);
        await sleep(50);
      }
    };
    // b answers timestamp.json from memory after the first read...
    await servedTimestamp(b);
    expect(await servedTimestamp(b)).toBe(await ownTimestamp());
    // ...and once a's publish commits, serves the new one: a's NOTIFY emptied b's cache.
    await publishThrough(a, 'after-cache');
    await servesCurrent(b);
    expect(await servedTimestamp(b)).toBe(await servedTimestamp(a));

    // Both replicas' listening connections die: until they are back, b reads the store.
    const killed = await postgresQuery(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = 'LISTEN tufchain_metadata'`,
    );
    expect(killed.length).toBe(2);
    await servedTimestamp(b);
    await publishThrough(a, 'while-deaf');
    expect(await servedTimestamp(b)).toBe(await ownTimestamp());
    // They listen again (backoff from 100 ms), and b hears a's next publish.
    for (let i = 0; ; i++) {
      const listening = await postgresQuery(
        `SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN tufchain_metadata'`,
      );
      if (listening.length === 2) break;
      expect(i, 'the replicas listen again within 5 s').toBeLessThan(100);
      await sleep(50);
    }
    await servedTimestamp(b);
    await publishThrough(a, 'heard-again');
    await servesCurrent(b);
  });
});

describe('background jobs on two replicas (PostgreSQL lease)', () => {
  const resigns = async (server: RunningServer): Promise<number> =>
    (await server.context.metrics.resigns.get()).values.reduce((sum, v) => sum + v.value, 0);

  it('run on one replica at a time, and on the other once the first stops', async () => {
    // The timestamp is always inside its re-sign window, so every tick that runs re-signs it.
    const setup = await startReplicas({
      resignIntervalMs: 100,
      expiries: { timestamp: 3600 },
      resignWindows: { timestamp: 2 * 86_400 },
    });
    try {
      const [a, b] = setup.replicas.map((r) => r.server) as [RunningServer, RunningServer];
      // Each re-signed once at start, before serving (under the publish lock, not the lease).
      const before = [await resigns(a), await resigns(b)];
      // Three ticks of the holder: 300 ms when idle, longer on a loaded CI machine.
      let during = [0, 0];
      for (let i = 0; i < 50 && Math.max(...during) < 3; i++) {
        await sleep(100);
        during = [(await resigns(a)) - before[0]!, (await resigns(b)) - before[1]!];
      }
      const [holder, other] = during[0]! > 0 ? [a, b] : [b, a];
      expect(during.filter((n) => n > 0)).toHaveLength(1);
      expect(Math.max(...during)).toBeGreaterThanOrEqual(3);

      const otherBefore = await resigns(other);
      await holder.close(); // gives the lease up
      for (let i = 0; (await resigns(other)) - otherBefore < 2; i++) {
        expect(i, 'the other replica takes the jobs over within 5 s').toBeLessThan(50);
        await sleep(100);
      }
    } finally {
      await setup.close();
    }
  });

  it('finishes, exactly once, a publish whose replica died after the chain logged it', async () => {
    let chainLogged!: () => void;
    const atChainLogged = new Promise<void>((resolve) => (chainLogged = resolve));
    let unblock!: (error: Error) => void;
    const blocked = new Promise<never>((_, reject) => (unblock = reject));
    // Replica a logs the snapshot on chain, then never gets further (it "dies" right there).
    const setup = await startReplicas(
      { resignIntervalMs: 100 },
      {
        releaseLogOf: (replica, writer) =>
          replica !== 'a'
            ? writer
            : {
                async logRelease(entry) {
                  await writer.logRelease(entry);
                  chainLogged();
                  return blocked;
                },
              },
      },
    );
    const [a, b] = setup.replicas.map((r) => r.server) as [RunningServer, RunningServer];
    const { name, image, response } = postRelease(setup, a, 'orphaned');
    try {
      await atChainLogged;
      // kill -9 of replica a as PostgreSQL sees it: all its sessions end, its publish lock too.
      const admin = new pg.Client({ connectionString: setup.databaseUrl });
      await admin.connect();
      try {
        const ended = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'replica-a'`,
        );
        expect(ended.rowCount).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
      // Replica b's background tick (once it holds the lease) finds the batch staged under the
      // lock, sees the chain logged it, and commits it.
      const store = setup.replicas[1]!.repo.store;
      let release;
      for (let i = 0; ; i++) {
        release = (await store.releases()).find((r) => r.targetNames.includes(name));
        if (release?.status === 'confirmed') break;
        expect(
          i,
          `the release is confirmed within 10 s (now ${String(release?.status)})`,
        ).toBeLessThan(200);
        await sleep(50);
      }
      expect((await store.currentMetadata('snapshot'))?.version).toBe(2);
      expect(await store.maxVersion('snapshot')).toBe(2);
      const root = (await store.currentMetadata('root'))!.bytes;
      const { updater } = await createTufClient(b.url, root);
      await updater.refresh();
      expect((await updater.getTargetInfo(name))?.hashes['sha256']).toBe(sha256(image));
      // The next release through b lands on top of it, once.
      await publishVia(setup, b, 'after-the-orphan');
      expect((await store.currentMetadata('snapshot'))?.version).toBe(3);
    } finally {
      unblock(new Error('replica a is gone'));
      await response.catch(() => undefined);
      await setup.close();
    }
  });
});

describe('a replica reads a release ahead when another publishes it (PostgreSQL NOTIFY)', () => {
  let setup: Replicas;

  beforeAll(async () => {
    setup = await startReplicas({ resignIntervalMs: 0, maxInFlightRequests: 2 });
  });

  afterAll(async () => {
    await setup?.close();
  });

  it("answers a fleet's next poll from memory while its router is full", async () => {
    const [a, b] = setup.replicas.map((r) => r.server) as [RunningServer, RunningServer];
    const get = (path: string) => fetch(`${b.url}${path}`);
    const hint = '/api/v1/hardware/ahead/latest';
    // b's router answers these before the release: no firmware yet, root v1 only.
    expect((await get(hint)).status).toBe(404);
    expect((await get('/metadata/2.root.json')).status).toBe(404);

    const { name } = await publishVia(setup, a, 'ahead');
    const held = new HeldRequests(b.url);
    try {
      await held.hold();
      await held.hold();
      await untilStatus(b.url, '/api/v1/audit/targets-versions', 503);
      // b heard a's commit, and read the new metadata and the stale hint again without a request.
      const renewed = await untilStatus(b.url, hint, 200);
      expect(await renewed.json()).toMatchObject({ name });
      const timestamp = (await (await get('/metadata/timestamp.json')).json()) as {
        signed: { meta: Record<string, { version: number }> };
      };
      const version = timestamp.signed.meta['snapshot.json']!.version;
      expect(version).toBe(
        (await setup.replicas[0]!.repo.store.currentMetadata('snapshot'))!.version,
      );
      const snap = await get(`/metadata/${version.toString()}.snapshot.json`);
      expect(snap.status).toBe(200);
      const snapshot = (await snap.json()) as {
        signed: { meta: Record<string, { version: number }> };
      };
      for (const [file, m] of Object.entries(snapshot.signed.meta)) {
        const path = `/metadata/${m.version.toString()}.${file}`;
        expect([path, (await get(path)).status]).toEqual([path, 200]);
      }
      expect((await get('/metadata/2.root.json')).status).toBe(404);
      expect((await get('/api/v1/audit/targets-versions')).status).toBe(503);
    } finally {
      held.releaseAll();
    }
  });
});
