import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import { Metadata } from '@tufjs/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRoot, expiryAfter, serializeMetadata, signMetadata } from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * Crash test: the server runs as its own process (src/main.ts) and is killed
 * with SIGKILL in the middle of a publish, then restarted on the same data dir.
 */
describe('a server killed in the middle of a publish', () => {
  let chain: TestChain;
  let dir: string;
  let env: Record<string, string>;
  let child: ChildProcess | undefined;
  let baseUrl: string;
  let rootBytes: Uint8Array;
  let firmwareKey: Signer;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-crash-'));
    const passphrase = 'crash test passphrase';
    await chain.writeKeyFile('publisher', join(dir, 'publisher.key'), passphrase);
    const keyFile = async (name: string): Promise<Signer> => {
      const { privateKey } = generateKeyPair('ed25519');
      await writeEncryptedKeyFile(join(dir, `${name}.key`), privateKey, passphrase);
      return createKeySigner(privateKey);
    };
    const online = {
      targets: await keyFile('targets'),
      snapshot: await keyFile('snapshot'),
      timestamp: await keyFile('timestamp'),
    };
    const rootKeys = [
      createKeySigner(generateKeyPair('ed25519').privateKey),
      createKeySigner(generateKeyPair('ed25519').privateKey),
    ];
    const root = new Metadata(
      buildRoot({
        version: 1,
        expires: expiryAfter(new Date(), 365 * 86400),
        roles: {
          root: { keys: rootKeys, threshold: 2 },
          targets: { keys: [online.targets], threshold: 1 },
          snapshot: { keys: [online.snapshot], threshold: 1 },
          timestamp: { keys: [online.timestamp], threshold: 1 },
        },
      }),
    );
    await signMetadata(root, rootKeys);
    rootBytes = serializeMetadata(root);
    await writeFile(join(dir, '1.root.json'), rootBytes);
    firmwareKey = createKeySigner(generateKeyPair('ed25519').privateKey);
    await writeFile(join(dir, 'firmware.pem'), firmwareKey.publicKeyPem());
    await writeFile(
      join(dir, 'vehicle-ca.pem'),
      (await createVehicleCa({ commonName: 'Crash CA' })).certificatePem,
    );
    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      PATH: process.env.PATH ?? '',
      TUFCHAIN_DATA_DIR: join(dir, 'data'),
      TUFCHAIN_PORT: String(port),
      TUFCHAIN_RPC_URL: chain.chain.rpcUrl,
      TUFCHAIN_CONTRACT_ADDRESS: chain.contractAddress,
      TUFCHAIN_PUBLISHER_KEY_FILE: join(dir, 'publisher.key'),
      TUFCHAIN_CONFIRMATIONS: '1',
      TUFCHAIN_KEY_PASSPHRASE: passphrase,
      TUFCHAIN_TARGETS_KEY_FILES: join(dir, 'targets.key'),
      TUFCHAIN_SNAPSHOT_KEY_FILES: join(dir, 'snapshot.key'),
      TUFCHAIN_TIMESTAMP_KEY_FILES: join(dir, 'timestamp.key'),
      TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE: join(dir, 'firmware.pem'),
      TUFCHAIN_VEHICLE_CA_FILE: join(dir, 'vehicle-ca.pem'),
      TUFCHAIN_ROOT_FILE: join(dir, '1.root.json'),
      TUFCHAIN_ADMIN_TOKEN_FILE: join(dir, 'admin.token'),
      TUFCHAIN_LOG_LEVEL: 'warn',
    };
    await startChild();
  });

  afterAll(async () => {
    await killChild();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function startChild(): Promise<void> {
    const proc = spawn(
      process.execPath,
      ['--conditions=@tufchain/source', '--import', 'tsx', mainTs],
      {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child = proc;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${stderr}`);
      const ok = await fetch(`${baseUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`server never became ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function killChild(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  async function token(): Promise<string> {
    return (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  }

  /** Uploads an image and starts its publish; resolves with the publish response (or the error when killed). */
  async function startPublish(
    name: string,
    releaseCounter: number,
  ): Promise<{ response: Promise<Response | Error> }> {
    const auth = { authorization: `Bearer ${await token()}` };
    const image = new TextEncoder().encode(`${name} bytes`);
    const put = await fetch(`${baseUrl}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: auth,
      body: image,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: ['ecu-crash'], version: `1.${releaseCounter}.0`, releaseCounter };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(image), ...claims },
      firmwareKey,
    );
    const response = fetch(`${baseUrl}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name, ...claims, attestation }] }),
    }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    return { response };
  }

  async function waitForPendingTx(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = (await chain.provider.send('txpool_status', [])) as { pending: string };
      if (Number(status.pending) > 0) return;
      if (Date.now() > deadline) throw new Error('the publish never sent its transaction');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Refreshes a fresh tuf-js client; returns which of the images it can resolve (walking
   * targets -> bins -> bin) and the hash of the snapshot.json it trusted.
   */
  async function clientView(): Promise<{ names: string[]; snapshotHash: string }> {
    const { updater, dir: d } = await createTufClient(baseUrl, rootBytes);
    await updater.refresh();
    const names: string[] = [];
    for (const name of ['a.img', 'b.img', 'c.img', ...extraNames]) {
      if (await updater.getTargetInfo(name)) names.push(name);
    }
    const snapshotBytes = await readFile(join(d, 'snapshot.json'));
    await rm(d, { recursive: true, force: true });
    return { names, snapshotHash: `0x${sha256(snapshotBytes)}` };
  }

  const extraNames: string[] = [];

  async function loggedHashes(): Promise<string[]> {
    return (await chain.reader().releases()).map((r) => r.metadataHash);
  }

  it('publishes normally first', async () => {
    const res = await (await startPublish('a.img', 1)).response;
    expect(res).toBeInstanceOf(Response);
    expect((res as Response).status).toBe(201);
    const view = await clientView();
    expect(view.names).toEqual(['a.img']);
    expect(await loggedHashes()).toContain(view.snapshotHash);
  });

  it('killed after the transaction was sent: restart publishes what the chain logged, exactly once', async () => {
    await chain.provider.send('evm_setAutomine', [false]);
    const pending = await startPublish('b.img', 2);
    await waitForPendingTx();
    await killChild();
    expect(await pending.response).toBeInstanceOf(Error);
    await chain.provider.send('evm_setAutomine', [true]);
    await chain.mine();
    const before = await loggedHashes();
    await startChild();
    const view = await clientView();
    expect(view.names).toEqual(['a.img', 'b.img']);
    const after = await loggedHashes();
    expect(after).toEqual(before);
    expect(after.filter((h) => h === view.snapshotHash)).toHaveLength(1);
  });

  it('killed before the chain logged it: restart abandons it, and a retry publishes it under a new version', async () => {
    await chain.provider.send('evm_setAutomine', [false]);
    const pending = await startPublish('c.img', 3);
    await waitForPendingTx();
    await killChild();
    expect(await pending.response).toBeInstanceOf(Error);
    await chain.provider.send('anvil_dropAllTransactions', []);
    await chain.provider.send('evm_setAutomine', [true]);
    const before = await loggedHashes();
    await startChild();
    const view = await clientView();
    expect(view.names).toEqual(['a.img', 'b.img']);
    expect(await loggedHashes()).toEqual(before);
    expect(before).toContain(view.snapshotHash);

    const retry = (await (await startPublish('c.img', 3)).response) as Response;
    expect(retry.status).toBe(201);
    const { release } = (await retry.json()) as {
      release: { metadataVersion: number; metadataHash: string };
    };
    const final = await clientView();
    expect(final.names).toEqual(['a.img', 'b.img', 'c.img']);
    expect(final.snapshotHash).toBe(release.metadataHash);
    const versions = (await chain.reader().releases()).map((r) => r.metadataVersion);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('killed at random points across publishes: every restart serves a verifiable, logged set, and nothing is logged twice', async () => {
    // A real block time, so a kill can land before the send, while mined-but-shallow, or after.
    await chain.provider.send('evm_setIntervalMining', [1]);
    try {
      for (let i = 0; i < 6; i++) {
        const name = `r${i}.img`;
        extraNames.push(name);
        const pending = await startPublish(name, 10 + i);
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
        await killChild();
        const answered = await pending.response;
        await startChild();
        const view = await clientView();
        const logged = await loggedHashes();
        // What is served is logged, and no snapshot was logged twice.
        expect(logged).toContain(view.snapshotHash);
        expect(new Set(logged).size).toBe(logged.length);
        // A publish that answered 201 before the kill is served; otherwise it is served exactly
        // when the chain logged it, and its release record agrees.
        const releases = (await (
          await fetch(`${baseUrl}/api/v1/releases`, {
            headers: { authorization: `Bearer ${await token()}` },
          })
        ).json()) as {
          releases: { targets: string[]; status: string; metadataHash: string | null }[];
        };
        const release = releases.releases.find((r) => r.targets.includes(name));
        const served = view.names.includes(name);
        if (answered instanceof Response && answered.status === 201) expect(served).toBe(true);
        if (served) {
          expect(release?.status).toBe('confirmed');
          expect(logged).toContain(release?.metadataHash);
        } else {
          expect(['failed', undefined]).toContain(release?.status);
        }
      }
    } finally {
      await chain.provider.send('evm_setIntervalMining', [0]);
      await chain.provider.send('evm_setAutomine', [true]);
    }
  }, 120_000);
});
