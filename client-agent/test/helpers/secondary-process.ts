/**
 * A secondary ECU as a process of its own (`tufchain-agent secondary --config FILE`, the bin with
 * its Node flags), with its own encrypted key, A/B slots and state, listening on a Unix socket.
 * Used by the CLI test of the primary and by bench:agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createKeySigner,
  generateKeyPair,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import { FileSlotStore } from '../../src/slots/ab-slots.js';

const bin = fileURLToPath(new URL('../../bin/tufchain-agent', import.meta.url));
export const SECONDARY_PASSPHRASE = 'secondary passphrase';

export interface SecondaryProcessInput {
  dir: string;
  serial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  directorRoot: Uint8Array;
  /** The `full` section of the secondary's settings (image root path written here). */
  full?: {
    imageRoot: Uint8Array;
    rpcUrls: string[];
    contractAddress: string;
    chainId: number;
    confirmations: number;
    fromBlock?: number;
    vehicleCommitment: string;
    logKeys: string[];
    logOrigin?: string;
  };
}

export interface SecondaryProcess {
  serial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  signer: Signer;
  publicKeyPath: string;
  address: string;
  slots: FileSlotStore;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startSecondaryProcess(s: SecondaryProcessInput): Promise<SecondaryProcess> {
  const dir = join(s.dir, 'ecu', s.serial);
  await mkdir(join(dir, 'state'), { recursive: true });
  const slots = await FileSlotStore.provision(join(dir, 'slots'), {
    image: Buffer.from(`factory ${s.serial}\n`),
    name: 'factory.img',
    version: '1.0.0',
    releaseCounter: 1,
  });
  const key = generateKeyPair('ed25519');
  const signer = createKeySigner(key.privateKey);
  const keyFile = join(dir, 'key.pem');
  await writeEncryptedKeyFile(keyFile, key.privateKey, SECONDARY_PASSPHRASE);
  const publicKeyPath = join(dir, 'public.pem');
  await writeFile(publicKeyPath, key.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'director-root.json'), s.directorRoot);
  let full: Record<string, unknown> | undefined;
  if (s.full) {
    const { imageRoot, ...rest } = s.full;
    await writeFile(join(dir, 'image-root.json'), imageRoot);
    full = { ...rest, imageRoot: join(dir, 'image-root.json') };
  }
  const address = `unix:${join(dir, 'link.sock')}`;
  const configPath = join(dir, 'secondary.json');
  await writeFile(
    configPath,
    JSON.stringify({
      ecuSerial: s.serial,
      hardwareId: s.hardwareId,
      verification: s.verification,
      keyFile,
      slotsDir: join(dir, 'slots'),
      stateDir: join(dir, 'state'),
      listen: address,
      directorRoot: join(dir, 'director-root.json'),
      ...(full ? { full } : {}),
    }),
  );
  const child = spawn(bin, ['secondary', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      TUFCHAIN_SECONDARY_PASSPHRASE: SECONDARY_PASSPHRASE,
      // bench:agent profiles secondaries with this (e.g. --cpu-prof --cpu-prof-dir=DIR).
      ...(process.env['TUFCHAIN_BENCH_SECONDARY_NODE_OPTIONS']
        ? { NODE_OPTIONS: process.env['TUFCHAIN_BENCH_SECONDARY_NODE_OPTIONS'] }
        : {}),
    },
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`secondary ${s.serial} exited ${code}`)));
  });
  child.removeAllListeners('exit');
  return {
    serial: s.serial,
    hardwareId: s.hardwareId,
    verification: s.verification,
    signer,
    publicKeyPath,
    address,
    slots,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
