/**
 * The on-chain minimum version, end to end on real parts: anvil on loopback, the contract, the
 * Hono server whose publisher key is an encrypted key file, the OEM CLI (`server/bin/tufchain`
 * as a process), and the vehicle agent. After the OEM raises the floor, a vehicle refuses an
 * older release with BELOW_MINIMUM_VERSION and keeps its active slot.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSlotStore, runUpdate, type UpdateOptions } from '@tufchain/client-agent';
import { deployTufchainLog, startAnvil, type DevChain } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createSecp256k1FileSigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  generateSecp256k1KeyPair,
  signFirmwareAttestation,
  writeEncryptedKeyFile,
  type Signer,
  type VehicleIdentity,
} from '@tufchain/keys';
import {
  createApiToken,
  initRepository,
  openRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '@tufchain/server';
import {
  ChainReader,
  checkChainAccount,
  createChainSigner,
  ReleaseLogWriter,
} from '@tufchain/transparency';
import { JsonRpcProvider, parseEther, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainedFirmware, runTufchain } from './oem-cli.js';

const HARDWARE_ID = 'acme-gateway-ecu-rev3';
interface CliResult {
  code: number;
  json: { error?: { code: string } } & Record<string, unknown>;
}

describe('raising the on-chain minimum version with the OEM CLI', () => {
  let dir: string;
  let chain: DevChain;
  let provider: JsonRpcProvider;
  let repo: OpenedRepository;
  let server: RunningServer;
  let reader: ChainReader;
  let rootBytes: Uint8Array;
  let buildKey: Signer;
  let identity: VehicleIdentity;
  let slots: FileSlotStore;
  let publishToken: string;
  let securityToken: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-min-version-e2e-'));
    chain = await startAnvil();
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    const admin = new Wallet(chain.accounts[0]!.privateKey, provider);
    // The publisher's key exists only as an encrypted key file; the server signs through it.
    const passphrase = 'publisher key passphrase';
    const keyPath = join(dir, 'publisher.key');
    await writeEncryptedKeyFile(keyPath, generateSecp256k1KeyPair().privateKey, passphrase);
    const publisher = createChainSigner(
      await createSecp256k1FileSigner(keyPath, passphrase),
      provider,
    );
    await (await admin.sendTransaction({ to: publisher.address, value: parseEther('10') })).wait();
    const deployment = await deployTufchainLog(admin, {
      admin: admin.address,
      publishers: [publisher.address],
    });
    await checkChainAccount({
      signer: publisher,
      contractAddress: deployment.address,
      role: 'publisher',
      chainId: chain.chainId,
    });
    const releaseLog = new ReleaseLogWriter({
      signer: publisher,
      contractAddress: deployment.address,
      confirmations: 1,
      pollIntervalMs: 50,
    });
    const key = (type: 'ed25519' | 'ecdsa-p256'): Signer =>
      createKeySigner(generateKeyPair(type).privateKey);
    const online = { targets: key('ed25519'), snapshot: key('ed25519'), timestamp: key('ed25519') };
    buildKey = key('ecdsa-p256');
    const ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    identity = await createVehicleIdentity(ca, { vin: 'WAC9D1234RZ000077', ecuSerial: 'GW-0077' });
    repo = await openRepository({ dataDir: join(dir, 'server') });
    rootBytes = (
      await initRepository({
        store: repo.store,
        rootSigners: [key('ed25519'), key('ecdsa-p256')],
        threshold: 2,
        onlineSigners: online,
        releaseLog,
      })
    ).rootBytes;
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog,
        firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
        vehicleCaPem: ca.certificatePem,
        config: { resignIntervalMs: 0 },
      },
    });
    publishToken = (await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] })).token;
    securityToken = (await createApiToken(repo.store, { name: 'psirt', scopes: ['revoke'] })).token;
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
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    reader?.destroy();
    provider?.destroy();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const firmware = (version: string): Uint8Array => chainedFirmware(version, 64 * 1024);

  async function publish(version: string, releaseCounter: number): Promise<void> {
    const name = `gateway-${version}.img`;
    const image = firmware(version);
    const auth = { authorization: `Bearer ${publishToken}` };
    const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(put.status).toBe(201);
    const attestation = await signFirmwareAttestation(
      {
        name,
        sha256: createHash('sha256').update(image).digest('hex'),
        hardwareIds: [HARDWARE_ID],
        version,
        releaseCounter,
      },
      buildKey,
    );
    const res = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: [{ name, hardwareIds: [HARDWARE_ID], version, releaseCounter, attestation }],
      }),
    });
    expect(res.status).toBe(201);
  }

  function vehicle(odometerKm: number): UpdateOptions {
    return {
      serverUrl: server.url,
      metadataDir: join(dir, 'vehicle', 'tuf'),
      trustedRootJson: rootBytes,
      hardwareId: HARDWARE_ID,
      ecuSerial: identity.ecuSerial,
      chain: reader,
      chainId: chain.chainId,
      firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      slots,
      vehicle: {
        signer: createKeySigner(identity.privateKey),
        certificatePem: identity.certificatePem,
        vinCommitment: identity.vinCommitment,
      },
      odometerKm,
    };
  }

  /** The real `tufchain` executable, with the security officer's token. */
  async function tufchain(args: string[]): Promise<CliResult> {
    const run = await runTufchain(dir, [...args, '--json'], {
      TUFCHAIN_SERVER: server.url,
      TUFCHAIN_TOKEN: securityToken,
    });
    return { code: run.code, json: JSON.parse(run.stdout) as CliResult['json'] };
  }

  it('installs 1.0.0 (release 1) while no minimum is set', async () => {
    await publish('1.0.0', 1);
    const result = await runUpdate(vehicle(10_000));
    expect(result.status).toBe('UPDATED');
    expect(result.target?.version).toBe('1.0.0');
  });

  it('raises the minimum to 3 with `tufchain min-version set`, confirmed on chain', async () => {
    const set = await tufchain(['min-version', 'set', HARDWARE_ID, '3', '--yes']);
    expect(set.code).toBe(0);
    expect(set.json).toMatchObject({
      hardwareId: HARDWARE_ID,
      minimumVersion: 3,
      previousVersion: 0,
    });
    expect(await reader.minimumVersion(HARDWARE_ID)).toBe(3);
    const shown = await tufchain(['min-version', 'show', HARDWARE_ID]);
    expect(shown.json).toMatchObject({ minimumVersion: 3 });
  });

  it('refuses the older release 2.0.0 (release 2) with BELOW_MINIMUM_VERSION and keeps its active slot', async () => {
    await publish('2.0.0', 2);
    const before = await slots.readState();
    const refused = await runUpdate(vehicle(10_100)).then(
      () => 'INSTALLED',
      (err: unknown) => (err as { code?: string }).code,
    );
    expect(refused).toBe('BELOW_MINIMUM_VERSION');
    const after = await slots.readState();
    expect(after.active).toBe(before.active);
    expect(after.slots[after.active]).toEqual(before.slots[before.active]);
    expect(after.slots[after.active]?.version).toBe('1.0.0');
  });

  it('refuses to lower the minimum (MINIMUM_VERSION_NOT_INCREASING) and the chain keeps 3', async () => {
    const lower = await tufchain(['min-version', 'set', HARDWARE_ID, '2', '--yes']);
    expect(lower.code).toBe(1);
    expect(lower.json.error?.code).toBe('MINIMUM_VERSION_NOT_INCREASING');
    expect(await reader.minimumVersion(HARDWARE_ID)).toBe(3);
  });

  it('installs 3.0.0 (release 3), which meets the minimum', async () => {
    await publish('3.0.0', 3);
    const result = await runUpdate(vehicle(10_200));
    expect(result.status).toBe('UPDATED');
    expect(result.target?.version).toBe('3.0.0');
  });
});
