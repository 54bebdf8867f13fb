/**
 * Deltas in a flat repository signed offline, end to end on real parts: anvil on loopback, the
 * contract, the Hono server holding only the snapshot and timestamp keys, the OEM CLI
 * (`server/bin/tufchain` as a process) for the offline ceremonies and every release, and the
 * vehicle agent. The targets holders list the delta the server made (`POST /api/v1/deltas`) in
 * the targets they sign; the vehicle on 1.0.0 installs 2.0.0 from it and says so in its signed
 * install report.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSlotStore, runUpdate, type UpdateOptions } from '@tufchain/client-agent';
import { deployTufchainLog, startAnvil, type DevChain } from '@tufchain/contracts/dev';
import {
  createFileSigner,
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  verifyStatementBundle,
  writeEncryptedKeyFile,
  type Signer,
  type VehicleIdentity,
} from '@tufchain/keys';
import {
  createApiToken,
  initRepositoryFromRoot,
  openRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '@tufchain/server';
import { ChainReader, parseInstallPredicate, ReleaseLogWriter } from '@tufchain/transparency';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainedFirmware, runTufchain } from './oem-cli.js';

const HARDWARE_ID = 'acme-gateway-ecu-rev3';
const PASSPHRASE = 'offline holders passphrase';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const firmware = (version: string): Buffer => chainedFirmware(version, 256 * 1024);

describe('deltas in a flat repository signed offline (OEM CLI, server, anvil, vehicle agent)', () => {
  let dir: string;
  let chain: DevChain;
  let provider: JsonRpcProvider;
  let repo: OpenedRepository;
  let server: RunningServer;
  let reader: ChainReader;
  let rootBytes: Uint8Array;
  let build: Signer;
  let caPem: string;
  let identity: VehicleIdentity;
  let slots: FileSlotStore;
  let env: Record<string, string>;
  const v1 = firmware('1.0.0');
  // 2.0.0: 1.0.0 with a few bytes changed and 2 KiB inserted.
  const v2 = Buffer.concat([
    v1.subarray(0, 100_000),
    firmware('patch').subarray(0, 2048),
    v1.subarray(100_000),
  ]);
  for (const at of [10, 150_000, 250_000]) v2[at] = (v2[at]! + 1) & 0xff;

  async function ok(args: string[]): Promise<Record<string, unknown>> {
    const r = await runTufchain(dir, [...args, '--json'], env);
    expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }
  async function keyFile(name: string): Promise<Signer> {
    const path = join(dir, name);
    await writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, PASSPHRASE);
    const signer = await createFileSigner(path, PASSPHRASE);
    await writeFile(`${path}.pub`, signer.publicKeyPem());
    return signer;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-flat-deltas-e2e-'));
    env = { TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE };
    await keyFile('root.key');
    await keyFile('targets-1.key');
    await keyFile('targets-2.key');
    build = await keyFile('build.key');
    const online = {
      snapshot: await keyFile('snapshot.key'),
      timestamp: await keyFile('timestamp.key'),
    };
    // The offline bootstrap: root v1, then a flat top-level targets v1 signed by 2 of 2 holders.
    for (const args of [
      [
        'repo',
        'init',
        '--root-key',
        'root.key.pub',
        '--threshold',
        '1',
        '--targets-key',
        'targets-1.key.pub',
        '--targets-key',
        'targets-2.key.pub',
        '--targets-threshold',
        '2',
        '--snapshot-key',
        'snapshot.key.pub',
        '--timestamp-key',
        'timestamp.key.pub',
        '--out',
        'root-ceremony.json',
      ],
      ['sign', '--role', 'root', 'root-ceremony.json', '--key', 'root.key'],
      ['repo', 'finalize', 'root-ceremony.json'],
      [
        'repo',
        'targets-v1',
        '--root',
        '1.root.json',
        '--no-bins',
        '--out',
        'targets-ceremony.json',
      ],
      ['sign', '--role', 'targets', 'targets-ceremony.json', '--key', 'targets-1.key'],
      ['sign', '--role', 'targets', 'targets-ceremony.json', '--key', 'targets-2.key'],
      ['repo', 'finalize-targets', 'targets-ceremony.json', '--root', '1.root.json'],
    ]) {
      await ok(args);
    }
    rootBytes = await readFile(join(dir, '1.root.json'));

    chain = await startAnvil();
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    const admin = new Wallet(chain.accounts[0]!.privateKey, provider);
    const deployment = await deployTufchainLog(admin, {
      admin: admin.address,
      publishers: [admin.address],
    });
    const releaseLog = new ReleaseLogWriter({
      signer: admin,
      contractAddress: deployment.address,
      confirmations: 1,
      pollIntervalMs: 50,
    });
    const ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    caPem = ca.certificatePem;
    identity = await createVehicleIdentity(ca, { vin: 'WAC9D1234RZ000088', ecuSerial: 'GW-0088' });
    repo = await openRepository({ dataDir: join(dir, 'server') });
    await initRepositoryFromRoot({
      store: repo.store,
      rootBytes,
      onlineSigners: online,
      signedTargets: await readFile(join(dir, '1.targets.json')),
      releaseLog,
    });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog,
        firmwareKey: { publicKeyPem: build.publicKeyPem(), keyId: build.keyId },
        vehicleCaPem: ca.certificatePem,
        config: { resignIntervalMs: 0 },
      },
    });
    const { token } = await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] });
    env = { ...env, TUFCHAIN_SERVER: server.url, TUFCHAIN_TOKEN: token };
    reader = new ChainReader({
      rpcUrls: [chain.rpcUrl],
      quorum: 1,
      contractAddress: deployment.address,
      confirmations: 1,
      chainId: chain.chainId,
      fromBlock: deployment.blockNumber,
    });
    slots = await FileSlotStore.provision(join(dir, 'vehicle', 'slots'), {
      image: firmware('0.9.0'),
      name: 'gateway-0.9.0.img',
      version: '0.9.0',
      releaseCounter: 0,
    });
  }, 180_000);

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    reader?.destroy();
    provider?.destroy();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function vehicle(odometerKm: number): UpdateOptions {
    return {
      serverUrl: server.url,
      metadataDir: join(dir, 'vehicle', 'tuf'),
      trustedRootJson: rootBytes,
      hardwareId: HARDWARE_ID,
      ecuSerial: identity.ecuSerial,
      chain: reader,
      chainId: chain.chainId,
      firmwareKey: { publicKeyPem: build.publicKeyPem(), keyId: build.keyId },
      slots,
      vehicle: {
        signer: createKeySigner(identity.privateKey),
        certificatePem: identity.certificatePem,
        vinCommitment: identity.vinCommitment,
      },
      odometerKm,
    };
  }

  /** `targets add`, `publish --offline-targets`, 2 of 2 holders sign, `publish --signed-targets`. */
  async function offlineRelease(version: string, counter: number, image: Buffer) {
    const file = `gateway-${version}.img`;
    await writeFile(join(dir, file), image);
    await ok([
      'targets',
      'add',
      file,
      '--hardware-id',
      HARDWARE_ID,
      '--version',
      version,
      '--release-counter',
      String(counter),
      '--build-key',
      'build.key',
      '--manifest',
      `release-${version}.json`,
    ]);
    const prepared = await ok([
      'publish',
      `release-${version}.json`,
      '--offline-targets',
      '--out',
      `targets-${version}.json`,
    ]);
    await ok(['sign', '--role', 'targets', `targets-${version}.json`, '--key', 'targets-1.key']);
    await ok(['sign', '--role', 'targets', `targets-${version}.json`, '--key', 'targets-2.key']);
    const uploaded = await ok(['publish', '--signed-targets', `targets-${version}.json`]);
    return {
      prepared: prepared as { deltas?: { target: string; length: number }[] },
      release: uploaded.release as {
        status: string;
        metadataVersion: number;
        deltas: { target: string }[];
      },
    };
  }

  it('installs 1.0.0 whole: a first release has no delta', async () => {
    const { prepared, release } = await offlineRelease('1.0.0', 1, v1);
    expect(prepared.deltas).toEqual([]);
    expect(release.status).toBe('confirmed');
    const result = await runUpdate(vehicle(10_000));
    expect(result).toMatchObject({ status: 'UPDATED', install: { path: 'full' } });
    expect(result.target?.version).toBe('1.0.0');
  });

  it('installs 2.0.0 from the delta the holders signed, and its signed install report says delta', async () => {
    const { prepared, release } = await offlineRelease('2.0.0', 2, v2);
    const deltaName = `gateway-2.0.0.img.from-${sha256(v1).slice(0, 16)}.delta`;
    expect(prepared.deltas?.map((d) => d.target)).toEqual([deltaName]);
    expect(release.status).toBe('confirmed');
    expect(release.deltas.map((d) => d.target)).toEqual([deltaName]);

    const result = await runUpdate(vehicle(10_100));
    expect(result.status).toBe('UPDATED');
    expect(result.target?.sha256).toBe(sha256(v2));
    expect(result.install?.path).toBe('delta');
    expect(result.install?.fallback).toBeUndefined();
    expect(result.install!.networkBytes).toBe(prepared.deltas![0]!.length);
    expect(result.install!.networkBytes).toBeLessThan(v2.length / 10);
    const state = await slots.readState();
    const active = (await readFile(slots.slotPath(state.active))).subarray(0, v2.length);
    expect(active.equals(v2)).toBe(true);

    expect(result.report?.sent).toBe(true);
    const statement = await verifyStatementBundle(result.report!.bundle, {
      caCertificatePem: caPem,
    });
    const predicate = parseInstallPredicate(statement.predicate);
    expect(predicate.result).toBe('SUCCESS');
    expect(predicate.install).toEqual({
      path: 'delta',
      networkBytes: result.install!.networkBytes,
    });
  });
});
