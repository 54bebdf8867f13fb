import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import {
  createNoteVerifier,
  hashLeaf,
  openCheckpoint,
  verifyProofBundle,
  verifyInclusion,
  verifyProofBundleOffline,
  type LogService,
  type ProofBundle,
} from '@tufchain/transparency';
import { JsonRpcProvider, Wallet } from 'ethers';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRpcProxy, type RpcProxy } from '@tufchain/contracts/dev';
import {
  createApiToken,
  initRepository,
  openServerLog,
  startServer,
  type InclusionPromise,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';
import { signSuccessReport } from './support/install-report.js';

const ORIGIN = 'tufchain.test/log-int';
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('the server transparency log on real parts (anvil, SQLite, HTTP)', () => {
  let chain: TestChain;
  let proxy: RpcProxy;
  let proxyProvider: JsonRpcProvider;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let logService: LogService;
  let vehicleCa: VehicleCa;
  let token: string;
  let counter = 0;
  const noteKey = generateKeyPairSync('ed25519');
  const logVerifiers = [createNoteVerifier(ORIGIN, noteKey.publicKey)];
  const firmware = ed();
  const image = new TextEncoder().encode('gw-3.0.0 image bytes');

  beforeAll(async () => {
    chain = await startTestChain();
    proxy = await startRpcProxy(chain.chain.rpcUrl);
    proxyProvider = new JsonRpcProvider(proxy.url, chain.chain.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    dir = await mkdtemp(join(tmpdir(), 'tufchain-server-log-'));
    repo = await openTestRepository({ dataDir: dir });
    vehicleCa = await createVehicleCa({ commonName: 'Log Vehicle CA' });
    const writer = chain.writer();
    const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
    await initRepository({
      store: repo.store,
      rootSigners: [ed()],
      threshold: 1,
      onlineSigners: online,
      releaseLog: writer,
    });
    // The log operator reaches the chain through a loopback proxy the test can cut.
    logService = await openServerLog({
      dataDir: dir,
      origin: ORIGIN,
      noteKey: noteKey.privateKey,
      anchoring: {
        signer: new Wallet(chain.operator().privateKey, proxyProvider),
        contractAddress: chain.contractAddress,
        chainId: chain.chain.chainId,
        fromBlock: chain.deployBlock,
        config: { confirmations: 1, pollIntervalMs: 20, intervalMs: 100, batchSize: 1 },
      },
      logger: pino({ level: 'silent' }),
    });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
        vehicleCaPem: vehicleCa.certificatePem,
        transparencyLog: logService,
        config: { resignIntervalMs: 0 },
      },
    });
    token = (await createApiToken(repo.store, { name: 'ops', scopes: ['admin'] })).token;
    const auth = { authorization: `Bearer ${token}` };
    expect(
      (
        await fetch(`${server.url}/api/v1/firmware/gw-3.0.0.img`, {
          method: 'PUT',
          headers: auth,
          body: image,
        })
      ).status,
    ).toBe(201);
    const claims = { hardwareIds: ['gateway-v3'], version: '3.0.0', releaseCounter: 1 };
    const attestation = await signFirmwareAttestation(
      { name: 'gw-3.0.0.img', sha256: sha256(image), ...claims },
      firmware,
    );
    const published = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name: 'gw-3.0.0.img', ...claims, attestation }] }),
    });
    expect(published.status).toBe(201);
  });

  afterAll(async () => {
    await server?.close();
    await logService?.close();
    await repo?.close();
    proxyProvider?.destroy();
    await proxy?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function report(vin: string): Promise<Response> {
    return send(await signedReport(vin));
  }

  function send(bundle: unknown, body = JSON.stringify(bundle)): Promise<Response> {
    return fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  }

  async function signedReport(vin: string): Promise<unknown> {
    const identity = await createVehicleIdentity(vehicleCa, { vin, ecuSerial: 'GW-3' });
    const digest = sha256(image);
    counter += 1;
    return signSuccessReport({
      chain,
      vehicle: identity,
      hardwareId: 'gateway-v3',
      to: { name: 'gw-3.0.0.img', version: '3.0.0', releaseCounter: 1, digest },
      metadata: { targetsVersion: 2, targetsHash: `0x${'c'.repeat(64)}` },
      counter,
      odometerKm: 10,
    });
  }

  async function proofBundleOnceAnchored(index: number, timeoutMs = 20_000): Promise<ProofBundle> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(`${server.url}/api/v1/log/proof-bundle?index=${index}`);
      if (res.status === 200) {
        expect(res.headers.get('cache-control')).toMatch(/^public/);
        return (await res.json()) as ProofBundle;
      }
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_ANCHORED');
      if (Date.now() > deadline) throw new Error(`entry ${index} was not anchored in time`);
      await sleep(50);
    }
  }

  describe('when a vehicle reports an install', () => {
    it('answers with a signed inclusion promise, then serves a proof bundle that verifies offline and on chain', async () => {
      const res = await report('WVWZZZ1JZXW000101');
      expect(res.status).toBe(201);
      const body = (await res.json()) as { logIndex: number; promise: InclusionPromise };
      expect(body.logIndex).toBe(1); // entry 0 is the release statement
      expect(body.promise.logIndex).toBe(1);
      const cp = openCheckpoint(body.promise.checkpoint, logVerifiers, ORIGIN);
      expect(cp.size).toBe(body.promise.treeSize);
      expect(cp.size).toBeGreaterThan(body.logIndex);

      const bundle = await proofBundleOnceAnchored(body.logIndex);
      const offline = verifyProofBundleOffline(bundle, { logVerifiers, origin: ORIGIN });
      expect(offline.entry.type).toBe('install-attestation');
      const leaf = hashLeaf(new Uint8Array(Buffer.from(bundle.entry.data, 'base64')));
      expect(`0x${Buffer.from(leaf).toString('hex')}`).toBe(body.promise.leafHash);
      const reader = chain.reader();
      const online = await verifyProofBundle(bundle, {
        logVerifiers,
        origin: ORIGIN,
        chain: reader,
      });
      expect(online.anchor.size).toBe(bundle.anchor.size);
      reader.destroy();
      // A forged log key does not verify the same bundle.
      const stranger = [createNoteVerifier(ORIGIN, generateKeyPairSync('ed25519').publicKey)];
      expect(() => verifyProofBundleOffline(bundle, { logVerifiers: stranger })).toThrow(
        expect.objectContaining({ name: 'TransparencyError' }) as Error,
      );
    });

    it('answers reports sent together with promises that each prove inclusion under their signed checkpoint', async () => {
      const bundles = await Promise.all(
        Array.from({ length: 12 }, (_, i) => signedReport(`WVWZZZ1JZXW0002${10 + i}`)),
      );
      const answers = await Promise.all(bundles.map((b) => send(b)));
      const promises: InclusionPromise[] = [];
      for (const res of answers) {
        expect(res.status).toBe(201);
        promises.push(((await res.json()) as { promise: InclusionPromise }).promise);
      }
      expect(new Set(promises.map((p) => p.logIndex)).size).toBe(12);
      for (const p of promises) {
        const cp = openCheckpoint(p.checkpoint, logVerifiers, ORIGIN);
        expect(cp.size).toBe(p.treeSize);
        expect(p.treeSize).toBeGreaterThan(p.logIndex);
        const leaf = hashLeaf((await logService.log.entry(p.logIndex)).data);
        expect(`0x${Buffer.from(leaf).toString('hex')}`).toBe(p.leafHash);
        const proof = await logService.log.inclusionProof(p.logIndex, p.treeSize);
        expect(() =>
          verifyInclusion(leaf, p.logIndex, p.treeSize, proof, cp.rootHash),
        ).not.toThrow();
      }
    });

    it('gives a resent report the same index (no second log entry)', async () => {
      const size = await logService.log.size();
      const bundle = await signedReport('WVWZZZ1JZXW000102');
      const first = await send(bundle);
      expect(first.status).toBe(201);
      const { id, logIndex } = (await first.json()) as { id: number; logIndex: number };
      expect(logIndex).toBe(size);
      // The agent resends after a lost answer: byte for byte, then re-serialized.
      for (const body of [JSON.stringify(bundle), JSON.stringify(bundle, null, 2)]) {
        const again = await send(bundle, body);
        expect(again.status).toBe(200);
        expect(await again.json()).toMatchObject({
          id,
          logIndex,
          duplicate: true,
          promise: { logIndex },
        });
      }
      expect(await logService.log.size()).toBe(size + 1);
    });
  });

  describe('when the RPC endpoint is down during anchoring', () => {
    it('loses nothing, serves NOT_ANCHORED meanwhile, and anchors exactly once after recovery', async () => {
      await logService.anchors!.flush(10_000);
      const reader = chain.reader();
      const before = (await reader.anchors()).map((a) => a.size);
      proxy.setFailing('all');
      const res = await report('WVWZZZ1JZXW000103');
      expect(res.status).toBe(201);
      const { logIndex } = (await res.json()) as { logIndex: number };
      await sleep(500); // several anchoring attempts fail meanwhile
      const pending = await fetch(`${server.url}/api/v1/log/proof-bundle?index=${logIndex}`);
      expect(pending.status).toBe(404);
      expect(pending.headers.get('cache-control')).toBe('no-store');
      expect(((await pending.json()) as { error: { code: string } }).error.code).toBe(
        'NOT_ANCHORED',
      );
      expect((await reader.anchors()).map((a) => a.size)).toEqual(before);

      proxy.setFailing(null);
      const bundle = await proofBundleOnceAnchored(logIndex);
      expect(bundle.anchor.size).toBe(logIndex + 1);
      await verifyProofBundle(bundle, { logVerifiers, chain: reader });
      const sizes = (await reader.anchors()).map((a) => a.size);
      expect(sizes).toEqual([...before, logIndex + 1]);
      expect(new Set(sizes).size).toBe(sizes.length);
      reader.destroy();
    });
  });

  describe('the public log routes', () => {
    it.each([
      { desc: 'a negative start', query: 'start=-1&end=1', status: 400, code: 'INVALID_REQUEST' },
      {
        desc: 'a range past the end',
        query: 'start=0&end=9999',
        status: 400,
        code: 'INVALID_RANGE',
      },
      { desc: 'a missing end', query: 'start=0', status: 400, code: 'INVALID_REQUEST' },
    ])('answer $code for $desc', async ({ query, status, code }) => {
      const res = await fetch(`${server.url}/api/v1/log/entries?${query}`);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('serve immutable entry pages and briefly cached checkpoints, without auth', async () => {
      const entries = await fetch(`${server.url}/api/v1/log/entries?start=0&end=2`);
      expect(entries.status).toBe(200);
      expect(entries.headers.get('cache-control')).toContain('immutable');
      const cps = await fetch(`${server.url}/api/v1/log/checkpoints`);
      expect(cps.headers.get('cache-control')).toBe('public, max-age=10');
      const { checkpoints } = (await cps.json()) as { checkpoints: string[] };
      for (const note of checkpoints) openCheckpoint(note, logVerifiers, ORIGIN);
      const missing = await fetch(`${server.url}/api/v1/log/proof-bundle?index=99999`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe(
        'LOG_ENTRY_NOT_FOUND',
      );
    });
  });

  describe('when a release or recall would put something shaped like a VIN in the log', () => {
    const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    async function release(name: string, hardwareId: string): Promise<Response> {
      const bytes = new TextEncoder().encode(`${name} bytes`);
      const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body: bytes,
      });
      expect(put.status).toBe(201);
      const claims = { hardwareIds: [hardwareId], version: '1.0.0', releaseCounter: 1 };
      const attestation = await signFirmwareAttestation(
        { name, sha256: sha256(bytes), ...claims },
        firmware,
      );
      return fetch(`${server.url}/api/v1/releases`, {
        method: 'POST',
        headers: auth(),
        body: JSON.stringify({ targets: [{ name, ...claims, attestation }] }),
      });
    }
    const codeOf = async (res: Response) =>
      ((await res.json()) as { error?: { code: string } }).error?.code;
    const timestampVersion = async () =>
      (
        (await (await fetch(`${server.url}/metadata/timestamp.json`)).json()) as {
          signed: { version: number };
        }
      ).signed.version;

    it('refuses a release for a VIN-shaped hardware ID with 422 PERSONAL_DATA_REJECTED: nothing published, nothing logged', async () => {
      const size = await logService.log.size();
      const version = await timestampVersion();
      const res = await release('odd-1.0.0.img', 'WAUZZZ8K9BA012345');
      expect([res.status, await codeOf(res)]).toEqual([422, 'PERSONAL_DATA_REJECTED']);
      expect(await logService.log.size()).toBe(size);
      expect(await timestampVersion()).toBe(version);
    });

    it('refuses a recall whose reason is shaped like a VIN with 422 PERSONAL_DATA_REJECTED: the release stays confirmed, nothing logged', async () => {
      const published = await release('gw-3.0.1.img', 'gateway-v3');
      expect(published.status).toBe(201);
      const { release: r } = (await published.json()) as { release: { id: number } };
      const size = await logService.log.size();
      const res = await fetch(`${server.url}/api/v1/releases/${r.id}/revoke`, {
        method: 'POST',
        headers: auth(),
        body: JSON.stringify({ reason: 'WAUZZZ8K9BA012345' }),
      });
      expect([res.status, await codeOf(res)]).toEqual([422, 'PERSONAL_DATA_REJECTED']);
      expect(await logService.log.size()).toBe(size);
      const after = await fetch(`${server.url}/api/v1/releases/${r.id}`, { headers: auth() });
      expect(((await after.json()) as { release: { status: string } }).release.status).toBe(
        'confirmed',
      );
    });
  });
});
