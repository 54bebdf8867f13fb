import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  writeEncryptedKeyFile,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import { Metadata } from '@tufjs/models';
import { buildRoot, expiryAfter, serializeMetadata, signMetadata } from '../../src/index.js';
import type { TestChain } from './chain.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const mainTs = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface DaemonFiles {
  dir: string;
  passphrase: string;
  firmwareKey: Signer;
  noteKey: { privateKey: KeyObject; publicKey: KeyObject };
  /** The vehicle CA whose certificate the daemon trusts (TUFCHAIN_VEHICLE_CA_FILE). */
  vehicleCa: VehicleCa;
  /** The environment of a daemon with the transparency log and anchoring turned on. */
  env: Record<string, string>;
  baseUrl: string;
}

/** Key files (TUF, log note, chain accounts), a root and the env the daemon (src/main.ts) reads. */
export async function prepareDaemon(chain: TestChain, origin: string): Promise<DaemonFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-daemon-'));
  const passphrase = 'daemon test passphrase';
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
  const noteKey = generateKeyPairSync('ed25519');
  await writeEncryptedKeyFile(join(dir, 'log-note.key'), noteKey.privateKey, passphrase);
  await chain.writeKeyFile('publisher', join(dir, 'publisher.key'), passphrase);
  await chain.writeKeyFile('log-operator', join(dir, 'operator.key'), passphrase);
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
  const firmwareKey = createKeySigner(generateKeyPair('ed25519').privateKey);
  await writeFile(join(dir, 'firmware.pem'), firmwareKey.publicKeyPem());
  const vehicleCa = await createVehicleCa({ commonName: 'Daemon CA' });
  await writeFile(join(dir, 'vehicle-ca.pem'), vehicleCa.certificatePem);
  const port = await findFreePort();
  return {
    dir,
    passphrase,
    firmwareKey,
    noteKey,
    vehicleCa,
    baseUrl: `http://127.0.0.1:${port}`,
    env: {
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
      TUFCHAIN_LOG_LEVEL: 'info',
      TUFCHAIN_LOG_NOTE_KEY_FILE: join(dir, 'log-note.key'),
      TUFCHAIN_LOG_ORIGIN: origin,
      TUFCHAIN_LOG_OPERATOR_KEY_FILE: join(dir, 'operator.key'),
      TUFCHAIN_LOG_FROM_BLOCK: String(chain.deployBlock),
    },
  };
}

export interface RunningDaemon {
  proc: ChildProcess;
  /** Everything written so far (pino logs to stdout). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

/** Runs src/main.ts as its own process with exactly `env`. */
export function spawnDaemon(env: Record<string, string>): RunningDaemon {
  const proc = spawn(
    process.execPath,
    ['--conditions=@tufchain/source', '--import', 'tsx', mainTs],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until /readyz answers 200; throws with the daemon's output if it exits or never does. */
export async function waitReady(daemon: RunningDaemon, baseUrl: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (daemon.proc.exitCode !== null)
      throw new Error(`server exited ${daemon.proc.exitCode}: ${daemon.stderr()}`);
    const ok = await fetch(`${baseUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server never became ready: ${daemon.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
