import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPkcs12Bundle } from '@tufchain/keys';
import type { TestChain } from './chain.js';
import { HARDWARE_ID, type Fixture } from './fixture.js';

const bin = fileURLToPath(new URL('../../bin/tufchain-agent', import.meta.url));
export const PASSPHRASE = 'factory line secret';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/tufchain-agent as an operator would, with the passphrase in the environment. */
export function runAgentCli(
  configPath: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(bin, [...args, '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running bin/tufchain-agent (the daemon), its stdout split into lines as they come. */
export interface RunningAgent {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the lines once `enough(lines)` holds, or once the process exits. */
  until(enough: (lines: string[]) => boolean): Promise<string[]>;
  /** The exit code (null: killed by a signal), once the process is gone. */
  exited: Promise<number | null>;
}

/** Starts bin/tufchain-agent with `args` and lets it run; the caller stops it. */
export function startAgentCli(
  configPath: string,
  args: string[],
  env: Record<string, string> = {},
): RunningAgent {
  const child = spawn(bin, [...args, '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE, ...env },
  });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.length > 0));
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    lines,
    exited,
    async until(enough) {
      while (!enough(lines) && child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return lines;
    },
  };
}

/**
 * Provisions the fixture's vehicle as the factory would (trusted root, firmware key, vehicle CA,
 * PKCS#12 bundle of f.identity) and writes the agent's settings file; returns its path.
 */
export async function writeAgentSettings(
  f: Fixture,
  chain: TestChain,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const dir = f.dir;
  await writeFile(join(dir, 'root.json'), f.repo.rootBytes(1));
  await writeFile(join(dir, 'firmware.pem'), f.firmwareSigner.publicKeyPem());
  await writeFile(join(dir, 'ca.pem'), f.ca.certificatePem);
  await writeFile(
    join(dir, 'vehicle.p12'),
    createPkcs12Bundle(f.identity, f.ca.certificatePem, PASSPHRASE),
  );
  const configPath = join(dir, 'agent.json');
  await writeFile(
    configPath,
    JSON.stringify({
      serverUrl: f.repo.url,
      hardwareId: HARDWARE_ID,
      metadataDir: 'metadata',
      stateDir: 'state',
      slotsDir: 'slots',
      trustedRootPath: 'root.json',
      chain: {
        rpcUrls: [chain.chain.rpcUrl],
        contractAddress: chain.address,
        confirmations: 3,
        chainId: chain.chain.chainId,
        fromBlock: chain.deployBlock,
      },
      firmwareKey: { publicKeyPath: 'firmware.pem', keyId: f.firmwareKey.keyId },
      vehicle: { pkcs12Path: 'vehicle.p12', caCertificatePath: 'ca.pem' },
      agent: { fetchTimeoutMs: 5000 },
      ...extra,
    }),
  );
  return configPath;
}

/**
 * writeAgentSettings for a vehicle's primary (Uptane): the Director section (pinned Director root,
 * the log's key) and the secondaries (serial, hardware ID, kind, link, public key file).
 */
export async function writeVehicleSettings(
  f: Fixture,
  chain: TestChain,
  vehicle: {
    ecuSerial: string;
    hardwareId: string;
    directorRoot: Uint8Array;
    logKeys: string[];
    logOrigin?: string;
    secondaries: {
      serial: string;
      hardwareId: string;
      verification: 'full' | 'partial';
      address: string;
      publicKeyPath: string;
    }[];
  },
  extra: Record<string, unknown> = {},
): Promise<string> {
  await writeFile(join(f.dir, 'director-root.json'), vehicle.directorRoot);
  return writeAgentSettings(f, chain, {
    ecuSerial: vehicle.ecuSerial,
    hardwareId: vehicle.hardwareId,
    director: {
      trustedRootPath: 'director-root.json',
      metadataDir: 'director-metadata',
      logKeys: vehicle.logKeys,
      ...(vehicle.logOrigin ? { logOrigin: vehicle.logOrigin } : {}),
    },
    secondaries: vehicle.secondaries.map((s) => ({
      ecuSerial: s.serial,
      hardwareId: s.hardwareId,
      kind: s.verification,
      address: s.address,
      publicKeyPath: s.publicKeyPath,
    })),
    ...extra,
  });
}
