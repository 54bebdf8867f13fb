import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
} from '@tufchain/keys';
import { createNoteSigner, LogService } from '@tufchain/transparency';
import { Metadata } from '@tufjs/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRoot,
  createApiToken,
  expiryAfter,
  initRepository,
  serializeMetadata,
  signMetadata,
  startServer,
  type OpenedRepository,
  type ReleaseLog,
  type RunningServer,
  type ServerDeps,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient, reopenTufClient } from './support/http.js';
import { openTestRepository } from './support/database.js';
import { signSuccessReport } from './support/install-report.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

describe('repository lifecycle on real parts (anvil, SQLite, HTTP, tuf-js, transparency log)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let deps: ServerDeps;
  let logService: LogService;
  let rootBytes: Uint8Array;
  let token: string;
  const keys = {
    root: [ed(), ed(), ed(), ed(), ed()],
    targets: [ed(), ed()],
    snapshot: ed(),
    timestamp: [ed(), ed()],
    firmware: ed(),
  };
  let vehicleCa: Awaited<ReturnType<typeof createVehicleCa>>;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-server-lifecycle-'));
    repo = await openTestRepository({ dataDir: dir });
    vehicleCa = await createVehicleCa({ commonName: 'Lifecycle Vehicle CA' });
    const writer = chain.writer();
    logService = new LogService({
      database: join(dir, 'log.sqlite'),
      origin: 'tufchain.test/server-log',
      signers: [
        createNoteSigner('tufchain.test/server-log', generateKeyPairSync('ed25519').privateKey),
      ],
      anchoring: {
        signer: chain.operator(),
        contractAddress: chain.contractAddress,
        chainId: chain.chain.chainId,
        config: { confirmations: 1, pollIntervalMs: 20 },
      },
    });
    rootBytes = (
      await initRepository({
        store: repo.store,
        rootSigners: keys.root.slice(0, 3),
        threshold: 2,
        onlineSigners: {
          targets: keys.targets[0]!,
          snapshot: keys.snapshot,
          timestamp: keys.timestamp[0]!,
        },
        releaseLog: writer,
      })
    ).rootBytes;
    deps = {
      store: repo.store,
      blobs: repo.blobs,
      // key rings: the server signs with whichever keys the current root authorizes
      signers: { targets: keys.targets, snapshot: keys.snapshot, timestamp: keys.timestamp },
      releaseLog: writer,
      firmwareKey: { publicKeyPem: keys.firmware.publicKeyPem(), keyId: keys.firmware.keyId },
      vehicleCaPem: vehicleCa.certificatePem,
      transparencyLog: logService,
      config: { resignIntervalMs: 0 },
    };
    server = await startServer({ port: 0, deps });
    token = (await createApiToken(repo.store, { name: 'ops', scopes: ['admin'] })).token;
  });

  afterAll(async () => {
    await server?.close();
    await logService?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const authed = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.headers as Record<string, string> | undefined),
    },
  });

  async function publish(
    name: string,
    releaseCounter: number,
    base = server.url,
  ): Promise<Response> {
    const image = new TextEncoder().encode(`${name} image bytes`);
    const put = await fetch(
      `${base}/api/v1/firmware/${name}`,
      authed({ method: 'PUT', body: image }),
    );
    expect(put.status).toBe(201);
    const claims = {
      hardwareIds: ['gateway-v2'],
      version: `2.${releaseCounter}.0`,
      releaseCounter,
    };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(image), ...claims },
      keys.firmware,
    );
    return fetch(
      `${base}/api/v1/releases`,
      authed({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ targets: [{ name, ...claims, attestation }] }),
      }),
    );
  }

  it('appends each publish to the transparency log and gives install reports a log index with a proof', async () => {
    expect((await publish('gw-2.1.0.img', 1)).status).toBe(201);
    const identity = await createVehicleIdentity(vehicleCa, {
      vin: 'WVWZZZ1JZXW000003',
      ecuSerial: 'GW-1',
    });
    const digest = sha256('gw-2.1.0.img image bytes');
    const bundle = await signSuccessReport({
      chain,
      vehicle: identity,
      hardwareId: 'gateway-v2',
      to: { name: 'gw-2.1.0.img', version: '2.1.0', releaseCounter: 1, digest },
      metadata: { targetsVersion: 2, targetsHash: `0x${'b'.repeat(64)}` },
      odometerKm: 5,
    });
    const res = await fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bundle),
    });
    expect(res.status).toBe(201);
    const { logIndex } = (await res.json()) as { logIndex: number };
    expect(logIndex).toBe(1); // entry 0 is the release
    const entries = (await (
      await fetch(`${server.url}/api/v1/log/entries?start=0&end=2`)
    ).json()) as { entries: string[] };
    expect(entries.entries).toHaveLength(2);
    const beyond = await fetch(`${server.url}/api/v1/log/entries?start=0&end=99`);
    expect(beyond.status).toBe(400);
    await logService.anchors!.anchorNow();
    const proof = await fetch(`${server.url}/api/v1/log/proof-bundle?index=${logIndex}`);
    expect(proof.status).toBe(200);
    const checkpoints = (await (await fetch(`${server.url}/api/v1/log/checkpoints`)).json()) as {
      checkpoints: string[];
    };
    expect(checkpoints.checkpoints.length).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/api/v1/log/proof-bundle?index=99`)).status).toBe(404);
  });

  it('rotates root twice (timestamp key, then targets key); tuf-js walks 1 -> 2 -> 3 and revoked keys sign nothing', async () => {
    const { updater: early, dir: earlyDir } = await createTufClient(server.url, rootBytes);
    await early.refresh();

    const rotate = async (
      version: number,
      rootKeys: Signer[],
      signers: Signer[],
      roles: { targets: Signer; timestamp: Signer },
    ): Promise<void> => {
      const root = buildRoot({
        version,
        expires: expiryAfter(new Date(), 365 * 86400),
        roles: {
          root: { keys: rootKeys, threshold: 2 },
          targets: { keys: [roles.targets], threshold: 1 },
          snapshot: { keys: [keys.snapshot], threshold: 1 },
          timestamp: { keys: [roles.timestamp], threshold: 1 },
        },
      });
      const md = new Metadata(root);
      await signMetadata(md, signers);
      const res = await fetch(
        `${server.url}/api/v1/metadata/root`,
        authed({ method: 'PUT', body: serializeMetadata(md) }),
      );
      expect(res.status).toBe(201);
    };
    const [r0, r1, , r3, r4] = keys.root as [Signer, Signer, Signer, Signer, Signer];
    // v2: root key r2 replaced by r3, timestamp key 0 replaced by 1; signed by 2 old + 2 new
    await rotate(2, [r0, r1, r3], [r0, r1, r3], {
      targets: keys.targets[0]!,
      timestamp: keys.timestamp[1]!,
    });
    const chainBefore = (await chain.reader().releases()).length;
    // v3: root key r0 replaced by r4, targets key 0 replaced by 1 -> targets is re-signed and logged
    await rotate(3, [r1, r3, r4], [r1, r3, r4], {
      targets: keys.targets[1]!,
      timestamp: keys.timestamp[1]!,
    });
    const releases = await chain.reader().releases();
    expect(releases.length).toBe(chainBefore + 1);

    const ts = (await (await fetch(`${server.url}/metadata/timestamp.json`)).json()) as {
      signatures: { keyid: string }[];
    };
    expect(ts.signatures.map((s) => s.keyid)).toEqual([keys.timestamp[1]!.keyId]);
    const snapshotVersion = releases.at(-1)!.metadataVersion;
    const snapshot = (await (
      await fetch(`${server.url}/metadata/${snapshotVersion}.snapshot.json`)
    ).json()) as { signed: { meta: Record<string, { version: number }> } };
    const targetsVersion = snapshot.signed.meta['targets.json']!.version;
    const targets = (await (
      await fetch(`${server.url}/metadata/${targetsVersion}.targets.json`)
    ).json()) as { signatures: { keyid: string }[] };
    expect(targets.signatures.map((s) => s.keyid)).toEqual([keys.targets[1]!.keyId]);

    const returning = { updater: reopenTufClient(server.url, earlyDir), dir: earlyDir };
    for (const { updater, dir: d } of [await createTufClient(server.url, rootBytes), returning]) {
      await updater.refresh();
      const trusted = JSON.parse(await readFile(join(d, 'root.json'), 'utf8')) as {
        signed: { version: number };
      };
      expect(trusted.signed.version).toBe(3);
      expect(await updater.getTargetInfo('gw-2.1.0.img')).toBeDefined();
      await rm(d, { recursive: true, force: true });
    }
  });

  it('revokes a release: its re-signed bins are logged in a new snapshot, its digest recalled on chain, and tuf-js no longer offers the image', async () => {
    const res = await publish('gw-2.2.0.img', 2);
    const { release } = (await res.json()) as { release: { id: number } };
    const before = await createTufClient(server.url, rootBytes);
    await before.updater.refresh();
    const digest = `0x${(await before.updater.getTargetInfo('gw-2.2.0.img'))?.hashes.sha256}`;
    await rm(before.dir, { recursive: true, force: true });
    const reader = chain.reader();
    expect(await reader.isRecalled(digest)).toBe(false);
    const revoked = await fetch(
      `${server.url}/api/v1/releases/${release.id}/revoke`,
      authed({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'brake regression' }),
      }),
    );
    expect(revoked.status).toBe(200);
    const body = (await revoked.json()) as {
      release: { status: string; revocation: { metadataVersion: number; metadataHash: string } };
    };
    expect(body.release.status).toBe('revoked');
    const logged = await chain.reader().findRelease(body.release.revocation.metadataHash);
    expect(logged.metadataVersion).toBe(body.release.revocation.metadataVersion);
    expect(await reader.isRecalled(digest)).toBe(true);
    const { updater, dir: d } = await createTufClient(server.url, rootBytes);
    await updater.refresh();
    expect(await updater.getTargetInfo('gw-2.2.0.img')).toBeUndefined();
    expect(await updater.getTargetInfo('gw-2.1.0.img')).toBeDefined();
    await rm(d, { recursive: true, force: true });
  });

  it('shuts down gracefully: an in-flight publish completes and nothing is half-written', async () => {
    let reached!: () => void;
    const atChain = new Promise<void>((r) => (reached = r));
    let proceed!: () => void;
    const gate = new Promise<void>((r) => (proceed = r));
    const gated: ReleaseLog = {
      async logRelease(entry) {
        reached();
        await gate;
        return deps.releaseLog.logRelease(entry);
      },
    };
    const { transparencyLog, ...withoutLog } = deps;
    expect(transparencyLog).toBeDefined();
    const second = await startServer({ port: 0, deps: { ...withoutLog, releaseLog: gated } });
    const publishing = publish('gw-2.3.0.img', 3, second.url);
    await atChain;
    const closing = second.close();
    expect((await fetch(`${second.url}/readyz`).catch(() => undefined))?.status ?? 503).toBe(503);
    proceed();
    expect((await publishing).status).toBe(201);
    await closing;
    await expect(fetch(`${second.url}/healthz`)).rejects.toThrow();
    // the main server sees the committed release
    const { updater, dir: d } = await createTufClient(server.url, rootBytes);
    await updater.refresh();
    expect(await updater.getTargetInfo('gw-2.3.0.img')).toBeDefined();
    await rm(d, { recursive: true, force: true });
  });
});
