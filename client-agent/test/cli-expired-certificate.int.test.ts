/**
 * An expired vehicle certificate must never brick updates (the failure mode RAUC users hit):
 * bin/tufchain-agent still starts, verifies and installs, tries to re-enroll, and a renewed
 * certificate saved in the state dir wins over the one in the factory PKCS#12 bundle.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createVehicleIdentity, issueVehicleCertificate } from '@tufchain/keys';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCli, writeAgentSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture } from './helpers/fixture.js';

const DAY_MS = 86_400_000;

let chain: TestChain;
let f: Fixture;
let configPath: string;

const agent = (args: string[]) => runAgentCli(configPath, args);

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
  configPath = await writeAgentSettings(f, chain);
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
