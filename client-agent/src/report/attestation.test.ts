import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  verifyStatementBundle,
} from '@tufchain/keys';
import { parseInstallPredicate } from '@tufchain/transparency/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInstallReport, type InstallReportInput } from './attestation.js';

const h = (c: string) => c.repeat(64);
let dir: string;
let caPem: string;
let input: Omit<InstallReportInput, 'install'>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'install-report-'));
  const ca = await createVehicleCa({ commonName: 'Report Test Vehicle CA' });
  caPem = ca.certificatePem;
  const identity = await createVehicleIdentity(ca, {
    vin: 'WVWZZZ1JZXW000001',
    ecuSerial: 'GW-0001',
  });
  input = {
    stateDir: dir,
    vehicle: {
      signer: createKeySigner(identity.privateKey),
      certificatePem: identity.certificatePem,
      vinCommitment: identity.vinCommitment,
    },
    ecu: { serial: 'GW-0001', hardwareId: 'gw-rev3' },
    from: { name: 'gw-1.img', version: '1.0.0', releaseCounter: 1, digest: h('a') },
    to: { name: 'gw-2.img', version: '2.0.0', releaseCounter: 2, digest: h('b') },
    result: 'SUCCESS',
    startedAt: new Date('2026-12-01T10:00:00Z'),
    finishedAt: new Date('2026-12-01T10:01:00Z'),
    odometerKm: 10,
    metadata: { targetsVersion: 3, targetsHash: h('c') },
    checkpoint: { chainId: 31337, blockNumber: 9, blockHash: '0x' + h('d'), timestamp: 1 },
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The predicate as the server reads it: the signature checked, then the schema. */
async function signedPredicate(install: InstallReportInput['install']) {
  const { bundle } = await signInstallReport({ ...input, install });
  const statement = await verifyStatementBundle(bundle, { caCertificatePem: caPem });
  return parseInstallPredicate(statement.predicate);
}

describe('signInstallReport', () => {
  describe('when the install says how the image came', () => {
    it('signs the path, the fallback code and the bytes over the network', async () => {
      expect((await signedPredicate({ path: 'delta', networkBytes: 4096 })).install).toEqual({
        path: 'delta',
        networkBytes: 4096,
      });
      const fellBack = {
        path: 'full' as const,
        fallback: { code: 'DELTA_TARGET_MISMATCH' },
        networkBytes: 70_000,
      };
      expect((await signedPredicate(fellBack)).install).toEqual(fellBack);
    });
  });

  describe('when it does not (an install from before, a recovered journal)', () => {
    it('signs a report without the field, as older agents did', async () => {
      expect(await signedPredicate(undefined)).not.toHaveProperty('install');
    });
  });

  describe('when the path is one the server would refuse', () => {
    it('leaves it out rather than sign a report that would stay in the outbox', async () => {
      const odd = { path: 'delta', fallback: { code: 'DELTA_MALFORMED' }, networkBytes: 1 };
      expect(await signedPredicate(odd as never)).not.toHaveProperty('install');
    });
  });
});
