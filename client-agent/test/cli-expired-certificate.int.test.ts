/**
 * An expired vehicle certificate must never brick updates (the failure mode RAUC users hit):
 * bin/tufchain-agent still starts, verifies and installs, tries to re-enroll, and a renewed
 * certificate saved in the state dir wins over the one in the factory PKCS#12 bundle.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPkcs12Bundle, createVehicleIdentity, issueVehicleCertificate } from '@tufchain/keys';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestChain } from './helpers/chain.js';
import { Fixture, HARDWARE_ID } from './helpers/fixture.js';

const bin = fileURLToPath(new URL('../bin/tufchain-agent', import.meta.url));
const PASSPHRASE = 'factory line secret';
const DAY_MS = 86_400_000;

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
  // Issued 400 days ago for 365 days: expired for a month.
  const expired = await createVehicleIdentity(f.ca, {
    vin: 'WVWZZZ1JZXW000002',
    ecuSerial: 'GW-0002',
    notBefore: new Date(Date.now() - 400 * DAY_MS),
    validDays: 365,
  });
  f.identity = expired;
  await writeFile(join(f.dir, 'root.json'), f.repo.rootBytes(1));
  await writeFile(join(f.dir, 'firmware.pem'), f.firmwareSigner.publicKeyPem());
  await writeFile(join(f.dir, 'ca.pem'), f.ca.certificatePem);
  await writeFile(
    join(f.dir, 'vehicle.p12'),
    createPkcs12Bundle(expired, f.ca.certificatePem, PASSPHRASE),
  );
  configPath = join(f.dir, 'agent.json');
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
  await f?.cleanup();
  await chain?.stop();
});

describe('bin/tufchain-agent with an expired vehicle certificate', () => {
  it('still installs a logged release and reports that re-enrollment failed', async () => {
    const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
    await chain.log(rel.entry);
    const run = await agent(['run-once', '--json']);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as {
      status: string;
      certificate: { status: string; expired: boolean };
    };
    expect(out.status).toBe('UPDATED');
    // This loopback repository has no enrollment routes, so renewal cannot succeed here.
    expect(out.certificate).toMatchObject({ status: 'RENEWAL_FAILED', expired: true });
  });

  it('signs with a renewed certificate saved in the state dir instead of the expired one', async () => {
    const renewed = await issueVehicleCertificate(f.ca, {
      publicKey: createPublicKey(f.identity.privateKey),
      vinCommitment: f.identity.vinCommitment,
      ecuSerial: f.identity.ecuSerial,
      validDays: 365,
    });
    await writeFile(join(f.dir, 'state', 'vehicle-certificate.pem'), renewed);
    const rel = await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
    await chain.log(rel.entry);
    const run = await agent(['run-once', '--json']);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as {
      status: string;
      certificate: { status: string; certificatePem: string };
    };
    expect(out.status).toBe('UPDATED');
    expect(out.certificate.status).toBe('VALID');
    expect(out.certificate.certificatePem).toBe(renewed);
  });
});
