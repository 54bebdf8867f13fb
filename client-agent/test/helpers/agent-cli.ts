import { spawn } from 'node:child_process';
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
export function runAgentCli(configPath: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(bin, [...args, '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Provisions the fixture's vehicle as the factory would (trusted root, firmware key, vehicle CA,
 * PKCS#12 bundle of f.identity) and writes the agent's settings file; returns its path.
 */
export async function writeAgentSettings(f: Fixture, chain: TestChain): Promise<string> {
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
    }),
  );
  return configPath;
}
