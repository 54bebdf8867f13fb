// Faults under load: two daemon replicas (src/main.ts as child processes) on one PostgreSQL
// database and one blob directory, anchoring through an RPC proxy to anvil, a small fleet polling
// and reporting through both. One replica is killed with SIGKILL under load and in the middle of
// a publish, PostgreSQL restarts, the RPC goes away; nothing acknowledged may be lost or doubled.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort, startRpcProxy, type RpcProxy } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createVehicleIdentity,
  signFirmwareAttestation,
  signStatementBundle,
} from '@tufchain/keys';
import {
  createNoteVerifier,
  decodeLogEntry,
  INSTALL_PREDICATE_TYPE,
  verifyProofBundle,
  type InstallPredicate,
} from '@tufchain/transparency';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import {
  prepareDaemon,
  spawnDaemon,
  waitReady,
  type DaemonFiles,
  type RunningDaemon,
} from './support/daemon.js';
import { createTufClient } from './support/http.js';
import { startLoad, type LoadVehicle, type RunningLoad } from './support/load.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

const ORIGIN = 'tufchain.test/faults';
const HARDWARE_ID = 'gateway-f1';
/** Enough vehicles that both replicas always have reports in flight, few enough for 2 CI cores. */
const VEHICLES = 50;
/** After a fault heals, clients may still meet its tail (a dropped pool connection) this long. */
const GRACE_MS = 3_000;

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Replica {
  name: 'a' | 'b';
  baseUrl: string;
  env: Record<string, string>;
  daemon: RunningDaemon;
}

describe('two daemon replicas under load, through kill -9, a PostgreSQL restart and an RPC outage', () => {
  let chain: TestChain;
  let postgres: TestPostgres;
  let proxy: RpcProxy;
  let files: DaemonFiles;
  let databaseUrl: string;
  let rootBytes: Uint8Array;
  let token: string;
  const replicas: Replica[] = [];
  let load: RunningLoad;
  /** [start, end] of each fault, in ms since the epoch: failures outside them are bugs. */
  const windows: { fault: string; start: number; end: number }[] = [];
  let faultRelease: { name: string; image: Uint8Array } | undefined;

  const auth = () => ({ authorization: `Bearer ${token}` });
  const replica = (name: 'a' | 'b') => replicas.find((r) => r.name === name)!;

  async function startReplica(r: Omit<Replica, 'daemon'>): Promise<Replica> {
    const daemon = spawnDaemon(r.env);
    try {
      await waitReady(daemon, r.baseUrl);
    } catch (error) {
      // Not in `replicas` yet, so afterAll would not stop it.
      await daemon.kill();
      throw error;
    }
    return { ...r, daemon };
  }

  async function restartReplica(name: 'a' | 'b'): Promise<void> {
    const i = replicas.findIndex((r) => r.name === name);
    replicas[i] = await startReplica(replicas[i]!);
  }

  /** The metadata versions and hashes the chain logged, oldest first. */
  async function chainReleases(): Promise<{ metadataVersion: number; metadataHash: string }[]> {
    const reader = chain.reader();
    try {
      return await reader.releases();
    } finally {
      reader.destroy();
    }
  }

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  async function waitFor(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await ok().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`${what} within ${ms.toString()} ms`);
      await sleep(100);
    }
  }

  const ready = async (r: Replica) =>
    (await fetch(`${r.baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200;

  beforeAll(async () => {
    [chain, postgres] = await Promise.all([startTestChain(), startTestPostgres()]);
    proxy = await startRpcProxy(chain.chain.rpcUrl);
    databaseUrl = await postgres.createDatabase();
    files = await prepareDaemon(chain, ORIGIN);
    await mkdir(join(files.dir, 'blobs'));
    const shared = {
      ...files.env,
      DATABASE_URL: databaseUrl,
      TUFCHAIN_BLOB_DIR: join(files.dir, 'blobs'),
      TUFCHAIN_RPC_URL: proxy.url,
      TUFCHAIN_LOG_LEVEL: 'warn',
      // Anchor often and take jobs and the anchoring lease over within ~2 s of a death, so the
      // run fits in CI time; the defaults (60 s, 5 s) only stretch the same behaviour out.
      TUFCHAIN_LOG_BATCH_SIZE: '50',
      TUFCHAIN_LOG_INTERVAL_MS: '500',
      TUFCHAIN_RESIGN_INTERVAL_MS: '500',
      TUFCHAIN_LOG_LEASE_CHECK_MS: '500',
    };
    for (const name of ['a', 'b'] as const) {
      const port = await findFreePort();
      replicas.push(
        await startReplica({
          name,
          baseUrl: `http://127.0.0.1:${port.toString()}`,
          env: {
            ...shared,
            TUFCHAIN_DATA_DIR: join(files.dir, `data-${name}`),
            TUFCHAIN_PORT: String(port),
          },
        }),
      );
    }
    rootBytes = await readFile(join(files.dir, '1.root.json'));
    token = (await readFile(join(files.dir, 'admin.token'), 'utf8')).trim();

    // The release every vehicle reports installing.
    const image = new TextEncoder().encode('gateway f1 1.0.0');
    const published = await publish(replica('a').baseUrl, 'gw-f1-1.0.0.img', image, 1);
    expect(published.status).toBe(201);
    const { release } = (await published.json()) as {
      release: { metadataVersion: number; metadataHash: string };
    };
    const block = (await chain.provider.getBlock('latest'))!;
    const vehicles: LoadVehicle[] = [];
    for (let i = 0; i < VEHICLES; i++) {
      const identity = await createVehicleIdentity(files.vehicleCa, {
        vin: `WVWZZZ1JZXW${String(100000 + i)}`,
        ecuSerial: `GWF-${i.toString()}`,
      });
      const signer = createKeySigner(identity.privateKey);
      vehicles.push({
        name: identity.ecuSerial,
        signReport: async (counter) => {
          const predicate: InstallPredicate = {
            vehicle: { commitment: identity.vinCommitment },
            ecu: { serial: identity.ecuSerial, hardwareId: HARDWARE_ID },
            from: null,
            to: {
              name: 'gw-f1-1.0.0.img',
              version: '1.0.0',
              releaseCounter: 1,
              digest: sha256(image),
            },
            result: 'SUCCESS',
            startedAt: new Date(Date.now() - 60_000).toISOString(),
            finishedAt: new Date().toISOString(),
            odometerKm: 1000 + counter,
            counter,
            metadata: {
              targetsVersion: release.metadataVersion,
              targetsHash: release.metadataHash,
            },
            checkpoint: {
              chainId: chain.chain.chainId,
              blockNumber: block.number,
              blockHash: block.hash!,
              timestamp: block.timestamp,
            },
          };
          return signStatementBundle(
            {
              _type: 'https://in-toto.io/Statement/v1',
              subject: [{ name: 'gw-f1-1.0.0.img', digest: { sha256: sha256(image) } }],
              predicateType: INSTALL_PREDICATE_TYPE,
              predicate,
            },
            signer,
            { certificatePem: identity.certificatePem },
          );
        },
      });
    }
    load = startLoad({
      replicas: replicas.map((r) => r.baseUrl),
      vehicles,
      pollIntervalMs: 1_000,
      reportEvery: 4,
      requestTimeoutMs: 5_000,
    });
    // Warm: both replicas have acknowledged reports before the first fault.
    await waitFor(
      'both replicas acknowledge reports',
      () => Promise.resolve(new Set(load.ledger.acknowledged.map((r) => r.replica)).size === 2),
      30_000,
    );
  });

  afterAll(async () => {
    await load?.stop(0);
    for (const r of replicas) await r.daemon.kill();
    await proxy?.close();
    await chain?.stop();
    await postgres?.stop();
    if (files) await rm(files.dir, { recursive: true, force: true });
  });

  /** Uploads `image` as `name` and posts its release through `baseUrl`; the release response. */
  async function publish(
    baseUrl: string,
    name: string,
    image: Uint8Array,
    releaseCounter: number,
  ): Promise<Response> {
    const put = await fetch(`${baseUrl}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: auth(),
      body: image,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: [HARDWARE_ID], version: `1.${releaseCounter}.0`, releaseCounter };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(image), ...claims },
      files.firmwareKey,
    );
    return fetch(`${baseUrl}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name, ...claims, attestation }] }),
    });
  }

  it('a: kill -9 of replica b under load: the fleet carries on through replica a', async () => {
    const start = Date.now();
    let killedAt = start;
    try {
      await replica('b').daemon.kill();
      killedAt = Date.now();
      await sleep(3_000);
    } finally {
      await restartReplica('b');
      windows.push({ fault: 'a', start, end: Date.now() + GRACE_MS });
    }
    // Vehicles that prefer b (odd ones) were acknowledged by a meanwhile.
    const ofB = load.ledger.acknowledged.filter(
      (r) =>
        r.at > killedAt && r.at < killedAt + 3_000 && Number(r.vehicle.split('-')[1]) % 2 === 1,
    );
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofB.every((r) => r.replica === replica('a').baseUrl)).toBe(true);
  });

  it('b: kill -9 of replica a in the middle of a publish: replica b completes it exactly once', async () => {
    const start = Date.now();
    const name = 'gw-f1-1.2.0.img';
    const image = new TextEncoder().encode('gateway f1 1.2.0');
    // The release transaction waits in the mempool: the chain will log it after a is gone.
    await chain.provider.send('evm_setAutomine', [false]);
    let answered: Response | Error;
    try {
      const pending = publish(replica('a').baseUrl, name, image, 2).catch((e: unknown) =>
        e instanceof Error ? e : new Error(String(e)),
      );
      // The publisher's transaction, not the log operator's anchors (they wait there too).
      const publisher = chain.publisher().address.toLowerCase();
      await waitFor('the publish sent its transaction', async () => {
        const pool = (await chain.provider.send('txpool_content', [])) as {
          pending: Record<string, unknown>;
        };
        return Object.keys(pool.pending).some((from) => from.toLowerCase() === publisher);
      });
      await replica('a').daemon.kill();
      answered = await pending;
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
    }
    await chain.mine();
    expect(answered).toBeInstanceOf(Error);
    faultRelease = { name, image };
    try {
      await checkOrphanCompleted(name, image);
    } finally {
      await restartReplica('a');
      windows.push({ fault: 'b', start, end: Date.now() + GRACE_MS });
    }
  });

  async function checkOrphanCompleted(name: string, image: Uint8Array): Promise<void> {
    // Replica b, once it holds the jobs lease, finds the staged batch the chain logged and commits it.
    type Listed = {
      releases: { targets: string[]; status: string; metadataHash: string | null }[];
    };
    let listed: Listed['releases'] = [];
    await waitFor('replica b confirms the orphaned release', async () => {
      const res = await fetch(`${replica('b').baseUrl}/api/v1/releases`, { headers: auth() });
      listed = ((await res.json()) as Listed).releases.filter((r) => r.targets.includes(name));
      return listed.some((r) => r.status === 'confirmed');
    });
    expect(listed).toHaveLength(1);
    const logged = (await chainReleases()).map((r) => r.metadataHash);
    expect(logged.filter((h) => h === listed[0]!.metadataHash)).toHaveLength(1);

    // A vehicle's TUF client sees it once, and fetches its image (from the shared blob dir) via b.
    const { updater, dir } = await createTufClient(replica('b').baseUrl, rootBytes);
    try {
      await updater.refresh();
      const info = await updater.getTargetInfo(name);
      expect(info?.hashes['sha256']).toBe(sha256(image));
      const path = await updater.downloadTarget(info!, join(dir, name));
      expect(sha256(await readFile(path))).toBe(sha256(image));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('c: PostgreSQL restarts under load: both replicas recover by themselves', async () => {
    const start = Date.now();
    const pidBefore = postgres.pid;
    await postgres.restart({ downMs: 2_000 });
    expect(postgres.pid).not.toBe(pidBefore);
    for (const r of replicas) await waitFor(`replica ${r.name} ready again`, () => ready(r));
    const end = Date.now() + GRACE_MS;
    windows.push({ fault: 'c', start, end });
    await sleep(GRACE_MS + 1_000);
    // Reports are acknowledged again, by both replicas.
    const after = load.ledger.acknowledged.filter((r) => r.at > end);
    expect(new Set(after.map((r) => r.replica)).size).toBe(2);
    // What clients asked while the database was down met a clear "unavailable, retry", never a 500.
    const answers = load.ledger.failures
      .filter((f) => f.startedAt >= start && f.startedAt <= end)
      .flatMap((f) => f.answers);
    expect(answers.filter((a) => !/^503 (DATABASE_UNAVAILABLE|NOT_READY)$/.test(a))).toEqual([]);
  });

  it('d: the RPC goes away for 3 s and comes back: reports go on, anchoring resumes', async () => {
    const start = Date.now();
    proxy.setFailing('all');
    try {
      await sleep(1_000);
      // The outage is real: a replica is not ready without its chain.
      const readyz = await fetch(`${replica('a').baseUrl}/readyz`, {
        signal: AbortSignal.timeout(1_500),
      }).then(
        async (res) =>
          `${res.status.toString()} ${((await res.json()) as { error: { code: string } }).error.code}`,
        () => 'no answer',
      );
      expect(['503 CHAIN_UNAVAILABLE', 'no answer']).toContain(readyz);
      await sleep(Math.max(0, start + 3_000 - Date.now()));
    } finally {
      proxy.setFailing(null);
      windows.push({ fault: 'd', start, end: Date.now() + GRACE_MS });
    }
    // Reports do not need the chain: they were acknowledged throughout.
    expect(load.ledger.acknowledged.filter((r) => r.at > start).length).toBeGreaterThan(10);
    // Anchoring resumes (the end checks that it covers the whole log).
    for (const r of replicas) await waitFor(`replica ${r.name} ready again`, () => ready(r));
  });

  it('in the end: every acknowledged report is in the log exactly once, anchored, and the publish happened once', async () => {
    const ledger = await load.stop(15_000);
    // Errors only while a fault lasted: each failed request overlaps a fault window.
    const outside = ledger.failures.filter(
      (f) => !windows.some((w) => f.at >= w.start && f.startedAt <= w.end),
    );
    expect(outside).toEqual([]);
    expect([...ledger.statuses.keys()].filter((s) => s.startsWith('500'))).toEqual([]);
    expect(ledger.acknowledged.length).toBeGreaterThan(100);

    // The log is anchored up to its size: the outbox has nothing open, a proof of its last entry verifies.
    let size = 0;
    await waitFor(
      'anchoring covers the whole log',
      async () => {
        const [row] = await query<{ size: string }>('SELECT size FROM tlog_size');
        size = Number(row!.size);
        const [open] = await query<{ n: string; top: string | null }>(
          `SELECT (SELECT COUNT(*) FROM tlog_anchors WHERE status IN ('pending', 'sent')) AS n,
                  (SELECT MAX(size) FROM tlog_anchors WHERE status = 'confirmed') AS top`,
        );
        return Number(open!.n) === 0 && Number(open!.top) === size;
      },
      30_000,
    );
    for (const r of replicas) await waitFor(`replica ${r.name} ready`, () => ready(r));
    const res = await fetch(
      `${replica('b').baseUrl}/api/v1/log/proof-bundle?index=${(size - 1).toString()}`,
    );
    expect(res.status).toBe(200);
    const reader = chain.reader();
    try {
      await verifyProofBundle(await res.json(), {
        logVerifiers: [createNoteVerifier(ORIGIN, files.noteKey.publicKey)],
        origin: ORIGIN,
        chain: reader,
      });
    } finally {
      reader.destroy();
    }

    // Every entry, read through replica a, decoded: no entry twice, every acknowledged report once.
    const leaves: string[] = [];
    for (let startAt = 0; startAt < size; startAt += 1000) {
      const end = Math.min(size, startAt + 1000);
      const page = await fetch(
        `${replica('a').baseUrl}/api/v1/log/entries?start=${startAt.toString()}&end=${end.toString()}`,
      );
      expect(page.status).toBe(200);
      leaves.push(...((await page.json()) as { entries: string[] }).entries);
    }
    expect(leaves).toHaveLength(size);
    expect(new Set(leaves).size).toBe(leaves.length);
    const logged = new Map<string, number>();
    for (const leaf of leaves) {
      const doc = decodeLogEntry(Buffer.from(leaf, 'base64'));
      if (doc.type !== 'install-attestation') continue;
      const sig = (doc.bundle as { dsseEnvelope: { signatures: { sig: string }[] } }).dsseEnvelope
        .signatures[0]!.sig;
      logged.set(sig, (logged.get(sig) ?? 0) + 1);
    }
    const acknowledged = new Set(ledger.acknowledged.map((r) => r.signature));
    expect([...acknowledged].filter((sig) => logged.get(sig) !== 1)).toEqual([]);
    expect([...logged.values()].filter((n) => n !== 1)).toEqual([]);

    // The publish of fault b: once on chain, once in the metadata, no snapshot version twice.
    const versions = (
      (await (await fetch(`${replica('a').baseUrl}/api/v1/audit/snapshot-versions`)).json()) as {
        versions: number[];
      }
    ).versions;
    expect(new Set(versions).size).toBe(versions.length);
    const onChain = (await chainReleases()).map((r) => r.metadataVersion);
    expect(new Set(onChain).size).toBe(onChain.length);
    const { updater, dir } = await createTufClient(replica('a').baseUrl, rootBytes);
    try {
      await updater.refresh();
      expect((await updater.getTargetInfo(faultRelease!.name))?.hashes['sha256']).toBe(
        sha256(faultRelease!.image),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
