/**
 * The tufchain-agent command line, run as an operator runs it (bin/tufchain-agent with a settings
 * file, a PKCS#12 vehicle bundle and the passphrase in the environment), against anvil and a
 * loopback TUF repository.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPkcs12Bundle } from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestChain } from './helpers/chain.js';
import { Fixture, HARDWARE_ID } from './helpers/fixture.js';

const bin = fileURLToPath(new URL('../bin/tufchain-agent', import.meta.url));
const PASSPHRASE = 'factory line secret';

let chain: TestChain;
let f: Fixture;
let configPath: string;

function agent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

beforeAll(async () => {
  chain = await TestChain.start();
  f = await Fixture.create();
  const dir = f.dir;
  await writeFile(join(dir, 'root.json'), f.repo.rootBytes(1));
  await writeFile(join(dir, 'firmware.pem'), f.firmwareSigner.publicKeyPem());
  await writeFile(join(dir, 'ca.pem'), f.ca.certificatePem);
  await writeFile(
    join(dir, 'vehicle.p12'),
    createPkcs12Bundle(f.identity, f.ca.certificatePem, PASSPHRASE),
  );
  configPath = join(dir, 'agent.json');
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
});

afterAll(async () => {
  await f.cleanup();
  await chain.stop();
});

describe('bin/tufchain-agent', () => {
  it('installs a logged release with run-once --json and shows it in status --json', async () => {
    const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
    await chain.log(rel.entry);
    const run = await agent(['run-once', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'UPDATED',
      activeSlot: 'b',
      target: { name: rel.name, releaseCounter: 2 },
    });
    const status = await agent(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      journal: 'IDLE',
      trustedTargetsVersion: rel.published.targetsVersion,
      slots: { active: 'b', slots: { b: { sha256: rel.sha256 } } },
      reports: { queued: 1 },
    });
  });

  it('exits 1 with the error code as JSON for an unlogged release', async () => {
    await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
    const run = await agent(['run-once', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'METADATA_NOT_LOGGED' } });
  });

  it('syncs the chain, builds an offline bundle and installs it without the server', async () => {
    const rel = await f.addRelease({ version: '4.0.0', releaseCounter: 4 });
    await chain.log(rel.entry);
    const sync = await agent(['sync-chain', '--json']);
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ releases: 2 });
    const bundlePath = join(f.dir, 'dealer.tar');
    const made = await agent([
      'bundle',
      'create',
      '--server',
      f.repo.url,
      '--hardware-id',
      HARDWARE_ID,
      '--out',
      bundlePath,
      '--json',
    ]);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ target: rel.name });
    await f.repo.stop();
    const run = await agent(['install-bundle', bundlePath, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'UPDATED',
      target: { releaseCounter: 4 },
    });
  });
});
