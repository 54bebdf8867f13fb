import { readdir, readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  signFirmwareAttestation,
  signStatementBundle,
  type Signer,
} from '@tufchain/keys';
import { INSTALL_PREDICATE_TYPE } from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  createApp,
  initRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
  type ServerDeps,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';
import { openTestRepository } from './support/database.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('publishing on real parts (anvil, SQLite, HTTP, tuf-js)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let deps: ServerDeps;
  let rootBytes: Uint8Array;
  let token: string;
  let firmwareSigner: Signer;
  let vehicleCa: Awaited<ReturnType<typeof createVehicleCa>>;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-server-int-'));
    repo = await openTestRepository({ dataDir: dir });
    const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
    const online = {
      targets: signer(),
      snapshot: signer(),
      timestamp: createKeySigner(generateKeyPair('ecdsa-p256').privateKey),
    };
    firmwareSigner = signer();
    vehicleCa = await createVehicleCa({ commonName: 'Test OEM Vehicle CA' });
    // confirmations: 2 with automine means a logged entry stays unconfirmed until a block is mined.
    const writer = chain.writer({ confirmations: 2 });
    const startBlock = await chain.blockNumber();
    const init = initRepository({
      store: repo.store,
      rootSigners: [signer(), signer()],
      threshold: 2,
      onlineSigners: online,
      releaseLog: writer,
    });
    await waitForBlockThenMine(chain, startBlock);
    rootBytes = (await init).rootBytes;
    deps = {
      store: repo.store,
      blobs: repo.blobs,
      signers: online,
      releaseLog: writer,
      firmwareKey: { publicKeyPem: firmwareSigner.publicKeyPem(), keyId: firmwareSigner.keyId },
      vehicleCaPem: vehicleCa.certificatePem,
      chainProbe: () => chain.provider.getBlockNumber(),
      config: { resignIntervalMs: 0 },
    };
    server = await startServer({ port: 0, deps });
    token = (await createApiToken(repo.store, { name: 'release-ci', scopes: ['publish'] })).token;
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function upload(name: string, bytes: Uint8Array): Promise<void> {
    const res = await fetch(`${server.url}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(res.status).toBe(201);
  }

  async function releaseBody(
    name: string,
    bytes: Uint8Array,
    releaseCounter: number,
  ): Promise<string> {
    const claims = {
      hardwareIds: ['brake-ecu-v1'],
      version: `1.${releaseCounter}.0`,
      releaseCounter,
    };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(bytes), ...claims },
      firmwareSigner,
    );
    return JSON.stringify({ targets: [{ name, ...claims, attestation }] });
  }

  function post(path: string, body: string, app?: ReturnType<typeof createApp>): Promise<Response> {
    const init = {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    };
    return app ? Promise.resolve(app.request(path, init)) : fetch(`${server.url}${path}`, init);
  }

  it('logs the snapshot on chain and serves it only after the confirmation; tuf-js walks targets -> bins -> its bin', async () => {
    const image = new TextEncoder().encode('brake firmware 1.1.0');
    await upload('brake-1.1.0.bin', image);
    const before = await (await fetch(`${server.url}/metadata/timestamp.json`)).text();

    const publishing = post('/api/v1/releases', await releaseBody('brake-1.1.0.bin', image, 1));
    // The transaction is mined (automine) but not yet 2 deep: it is on chain, not visible.
    const reader = chain.reader(1);
    await expect
      .poll(async () => (await reader.releases()).length, { timeout: 10_000, interval: 50 })
      .toBe(2);
    const logged = (await reader.releases())[1]!;
    // The release already reports its chain status: logged, with the transaction and block.
    const listed = async (): Promise<{ status: string; chain: { txHash: string } | null }> => {
      const res = await fetch(`${server.url}/api/v1/releases`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const { releases } = (await res.json()) as {
        releases: { status: string; chain: { txHash: string; blockNumber: number } | null }[];
      };
      return releases.at(-1)!;
    };
    await expect.poll(async () => (await listed()).status, { timeout: 10_000 }).toBe('logged');
    expect((await listed()).chain).toMatchObject({
      txHash: logged.txHash,
      blockNumber: logged.blockNumber,
    });
    expect((await fetch(`${server.url}/metadata/timestamp.json`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/metadata/timestamp.json`)).text()).toBe(before);
    expect((await fetch(`${server.url}/metadata/2.snapshot.json`)).status).toBe(404);

    await chain.mine();
    const res = await publishing;
    expect(res.status).toBe(201);
    const { release } = (await res.json()) as {
      release: {
        metadataVersion: number;
        metadataHash: string;
        chain: { txHash: string; blockNumber: number };
      };
    };
    expect(release.metadataVersion).toBe(2);
    expect(release.metadataHash).toBe(logged.metadataHash);
    expect(release.chain.txHash).toBe(logged.txHash);

    const served = new Uint8Array(
      await (await fetch(`${server.url}/metadata/2.snapshot.json`)).arrayBuffer(),
    );
    expect(`0x${sha256(served)}`).toBe(logged.metadataHash);
    expect((await chain.reader(2).findRelease(release.metadataHash)).metadataVersion).toBe(2);

    const { updater, dir: clientDir } = await createTufClient(server.url, rootBytes);
    await updater.refresh();
    const info = await updater.getTargetInfo('brake-1.1.0.bin');
    expect(info?.custom).toMatchObject({
      kind: 'firmware',
      hardwareIds: ['brake-ecu-v1'],
      releaseCounter: 1,
      attestation: 'brake-1.1.0.bin.sigstore.json',
    });
    const path = await updater.downloadTarget(info!, join(clientDir, 'image.bin'));
    expect(new Uint8Array(await readFile(path))).toEqual(image);
    // tuf-js persisted exactly the snapshot bytes that were logged, and the bin it walked to
    expect(`0x${sha256(await readFile(join(clientDir, 'snapshot.json')))}`).toBe(
      logged.metadataHash,
    );
    const persisted = await readdir(clientDir);
    expect(persisted).toContain('bins.json');
    expect(persisted.filter((f) => /^bins-[0-9a-f]+\.json$/.test(f)).length).toBeGreaterThan(0);
    const bundleInfo = await updater.getTargetInfo('brake-1.1.0.bin.sigstore.json');
    expect(bundleInfo?.custom).toEqual({ kind: 'attestation', subject: 'brake-1.1.0.bin' });
    await rm(clientDir, { recursive: true, force: true });

    // The image straight from Node's response (not a web stream): a range, and its status in
    // the request metrics although the route wrote the response itself.
    const url = `${server.url}/targets/${sha256(image)}.brake-1.1.0.bin`;
    const ranged = await fetch(url, { headers: { range: 'bytes=6-13' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 6-13/${image.byteLength}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(image.subarray(6, 14));
    const whole = await fetch(url);
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(image);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(
      /tufchain_http_requests_total\{[^}]*route="\/targets\/:file"[^}]*status="206"[^}]*\} 1/,
    );
  });

  it('keeps serving the old metadata when the chain refuses the publisher', async () => {
    const image = new TextEncoder().encode('brake firmware 1.2.0');
    await upload('brake-1.2.0.bin', image);
    const before = await (await fetch(`${server.url}/metadata/timestamp.json`)).text();
    const rogue = createApp({ ...deps, releaseLog: chain.unauthorizedWriter() });
    const res = await post(
      '/api/v1/releases',
      await releaseBody('brake-1.2.0.bin', image, 2),
      rogue,
    );
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CHAIN_LOG_FAILED');
    expect(await (await fetch(`${server.url}/metadata/timestamp.json`)).text()).toBe(before);
    expect((await fetch(`${server.url}/metadata/3.snapshot.json`)).status).toBe(404);
    const { updater, dir: clientDir } = await createTufClient(server.url, rootBytes);
    await updater.refresh();
    expect(await updater.getTargetInfo('brake-1.2.0.bin')).toBeUndefined();
    expect(await updater.getTargetInfo('brake-1.1.0.bin')).toBeDefined();
    await rm(clientDir, { recursive: true, force: true });
  });

  it('accepts an install attestation signed by a vehicle certificate and lists it', async () => {
    const identity = await createVehicleIdentity(vehicleCa, {
      vin: 'WVWZZZ1JZXW000001',
      ecuSerial: 'ECU-0001',
    });
    const digest = sha256(new TextEncoder().encode('brake firmware 1.1.0'));
    const block = await chain.provider.getBlock('latest');
    const statement = {
      _type: 'https://in-toto.io/Statement/v1' as const,
      subject: [{ name: 'brake-1.1.0.bin', digest: { sha256: digest } }],
      predicateType: INSTALL_PREDICATE_TYPE,
      predicate: {
        vehicle: { commitment: identity.vinCommitment },
        ecu: { serial: identity.ecuSerial, hardwareId: 'brake-ecu-v1' },
        from: null,
        to: { name: 'brake-1.1.0.bin', version: '1.1.0', releaseCounter: 1, digest },
        result: 'SUCCESS',
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        odometerKm: 12,
        counter: 1,
        metadata: { targetsVersion: 2, targetsHash: '0x'.padEnd(66, 'a') },
        checkpoint: {
          chainId: chain.chain.chainId,
          blockNumber: block!.number,
          blockHash: block!.hash!,
          timestamp: block!.timestamp,
        },
      },
    };
    const bundle = await signStatementBundle(statement, createKeySigner(identity.privateKey), {
      certificatePem: identity.certificatePem,
    });
    const res = await fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bundle),
    });
    expect(res.status).toBe(201);
    const again = await fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bundle),
    });
    expect(again.status).toBe(200);
    const list = (await (await fetch(`${server.url}/api/v1/attestations`)).json()) as {
      attestations: unknown[];
    };
    expect(list.attestations).toHaveLength(1);

    // the same statement claiming another vehicle is refused
    const forged = {
      ...statement,
      predicate: {
        ...statement.predicate,
        vehicle: { commitment: computeVinCommitment('WVWZZZ1JZXW000002', new Uint8Array(32)) },
      },
    };
    const forgedBundle = await signStatementBundle(forged, createKeySigner(identity.privateKey), {
      certificatePem: identity.certificatePem,
    });
    const refused = await fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forgedBundle),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'ATTESTATION_IDENTITY_MISMATCH',
    );
  });

  it('reports ready with the database and chain reachable', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', chain: 'ok', anchoring: 'not configured' },
    });
  });
});

/** initRepository waits for 2 confirmations; mine one more block once its tx is in. */
async function waitForBlockThenMine(chain: TestChain, start: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await chain.blockNumber()) === start) {
    if (Date.now() > deadline) throw new Error('targets v1 was never sent');
    await new Promise((r) => setTimeout(r, 20));
  }
  await chain.mine();
}
