import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
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
import {
  createNoteVerifier,
  openCheckpoint,
  verifyProofBundle,
  type ProofBundle,
} from '@tufchain/transparency';
import { Metadata } from '@tufjs/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRoot, expiryAfter, serializeMetadata, signMetadata } from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ORIGIN = 'tufchain.test/daemon-log';

/** The daemon (src/main.ts as its own process) with the transparency log and anchoring turned on by env. */
describe('the server daemon with TUFCHAIN_LOG_* set', () => {
  let chain: TestChain;
  let dir: string;
  let child: ChildProcess | undefined;
  let stderr = '';
  let baseUrl: string;
  let firmwareKey: Signer;
  const noteKey = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-log-daemon-'));
    const passphrase = 'log daemon test passphrase';
    await chain.writeKeyFile('publisher', join(dir, 'publisher.key'), passphrase);
    await chain.writeKeyFile('log-operator', join(dir, 'operator.key'), passphrase);
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
    await writeEncryptedKeyFile(join(dir, 'log-note.key'), noteKey.privateKey, passphrase);
    const rootKey = createKeySigner(generateKeyPair('ed25519').privateKey);
    const root = new Metadata(
      buildRoot({
        version: 1,
        expires: expiryAfter(new Date(), 365 * 86400),
        roles: {
          root: { keys: [rootKey], threshold: 1 },
          targets: { keys: [online.targets], threshold: 1 },
          snapshot: { keys: [online.snapshot], threshold: 1 },
          timestamp: { keys: [online.timestamp], threshold: 1 },
        },
      }),
    );
    await signMetadata(root, [rootKey]);
    await writeFile(join(dir, '1.root.json'), serializeMetadata(root));
    firmwareKey = createKeySigner(generateKeyPair('ed25519').privateKey);
    await writeFile(join(dir, 'firmware.pem'), firmwareKey.publicKeyPem());
    await writeFile(
      join(dir, 'vehicle-ca.pem'),
      (await createVehicleCa({ commonName: 'Daemon CA' })).certificatePem,
    );
    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const env = {
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
      TUFCHAIN_LOG_NOTE_KEY_FILE: join(dir, 'log-note.key'),
      TUFCHAIN_LOG_ORIGIN: ORIGIN,
      TUFCHAIN_LOG_OPERATOR_KEY_FILE: join(dir, 'operator.key'),
      TUFCHAIN_LOG_FROM_BLOCK: String(chain.deployBlock),
    };
    const proc = spawn(
      process.execPath,
      ['--conditions=@tufchain/source', '--import', 'tsx', mainTs],
      { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child = proc;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${stderr}`);
      const ok = await fetch(`${baseUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`server never became ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    const proc = child;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs a publish in the transparency log and anchors it at once; the proof verifies on chain', async () => {
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    const auth = { authorization: `Bearer ${token}` };
    const image = new TextEncoder().encode('daemon image');
    const put = await fetch(`${baseUrl}/api/v1/firmware/gw-1.img`, {
      method: 'PUT',
      headers: auth,
      body: image,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: ['gw'], version: '1.0.0', releaseCounter: 1 };
    const attestation = await signFirmwareAttestation(
      { name: 'gw-1.img', sha256: createHash('sha256').update(image).digest('hex'), ...claims },
      firmwareKey,
    );
    const rel = await fetch(`${baseUrl}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name: 'gw-1.img', ...claims, attestation }] }),
    });
    expect(rel.status).toBe(201);

    const logVerifiers = [createNoteVerifier(ORIGIN, noteKey.publicKey)];
    let bundle: ProofBundle | undefined;
    const deadline = Date.now() + 20_000;
    while (!bundle) {
      const res = await fetch(`${baseUrl}/api/v1/log/proof-bundle?index=0`);
      if (res.status === 200) bundle = (await res.json()) as ProofBundle;
      else if (Date.now() > deadline) throw new Error(`never anchored: ${stderr}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    const reader = chain.reader();
    const verified = await verifyProofBundle(bundle, {
      logVerifiers,
      origin: ORIGIN,
      chain: reader,
    });
    reader.destroy();
    expect(verified.entry.type).toBe('release');
    const { checkpoints } = (await (await fetch(`${baseUrl}/api/v1/log/checkpoints`)).json()) as {
      checkpoints: string[];
    };
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const note of checkpoints) openCheckpoint(note, logVerifiers, ORIGIN);
  });

  it('stops gracefully on SIGTERM (HTTP server, then the anchoring service, then the store)', async () => {
    const proc = child!;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
