import {
  createRevocationList,
  createVehicleCa,
  createVehicleIdentity,
  verifyVehicleCertificate,
  type RevocationReason,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InstallPredicate } from '../wire/install.js';
import { checkInstallCertificate, loadVehicleRevocations } from './revocation.js';
import type { AuditFinding, AuditSource } from './source.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.parse('2026-06-01T12:00:00Z');

function sourceServing(crl: string | null | Error): AuditSource {
  return {
    snapshotVersions: () => Promise.resolve([]),
    metadata: () => Promise.reject(new Error('unused')),
    rootMetadata: () => Promise.resolve(null),
    attestations: () => Promise.resolve([]),
    revocationList: () => (crl instanceof Error ? Promise.reject(crl) : Promise.resolve(crl)),
  };
}

function predicate(
  vehicle: VehicleIdentity,
  finishedAt: number,
  blockTime = finishedAt - 60_000,
): InstallPredicate {
  return {
    vehicle: { commitment: vehicle.vinCommitment },
    ecu: { serial: vehicle.ecuSerial, hardwareId: 'gw' },
    from: null,
    to: { name: 'gw.img', version: '1.0.0', releaseCounter: 1, digest: 'a'.repeat(64) },
    result: 'SUCCESS',
    startedAt: new Date(finishedAt - 120_000).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    odometerKm: 1,
    counter: 1,
    metadata: { targetsVersion: 1, targetsHash: `0x${'b'.repeat(64)}` },
    checkpoint: {
      chainId: 1,
      blockNumber: 1,
      blockHash: `0x${'c'.repeat(64)}`,
      timestamp: Math.floor(blockTime / 1000),
    },
  };
}

describe('vehicle revocation in the audit', () => {
  let ca: VehicleCa;
  let vehicle: VehicleIdentity;
  let serial: string;

  beforeAll(async () => {
    ca = await createVehicleCa({ commonName: 'CA', notBefore: new Date(T0 - 400 * DAY) });
    vehicle = await createVehicleIdentity(ca, {
      vin: 'WVWZZZ1JZXW000001',
      ecuSerial: 'GW-1',
      notBefore: new Date(T0 - 100 * DAY),
      validDays: 200,
    });
    serial = verifyVehicleCertificate(
      vehicle.certificatePem,
      ca.certificatePem,
      new Date(T0),
    ).serialNumber;
  });

  async function revocations(revokedAt: number, reason: RevocationReason) {
    const crl = await createRevocationList(ca, {
      crlNumber: 3,
      thisUpdate: new Date(revokedAt),
      revoked: [{ serialNumber: serial, revokedAt: new Date(revokedAt), reason }],
    });
    const findings: AuditFinding[] = [];
    const list = await loadVehicleRevocations(
      sourceServing(crl),
      ca.certificatePem,
      (f) => findings.push(f),
      {
        at: new Date(revokedAt + DAY),
      },
    );
    expect(findings).toEqual([]);
    return list;
  }

  describe('checkInstallCertificate', () => {
    it.each([
      {
        desc: 'signed after the revocation',
        revokedAt: T0,
        reason: 'superseded',
        finishedAt: T0 + 60_000,
        want: 'REVOKED',
        codes: ['ATTESTATION_FROM_REVOKED_VEHICLE'],
      },
      {
        desc: 'signed within the revocation second (CRL times are whole seconds)',
        revokedAt: T0,
        reason: 'superseded',
        finishedAt: T0 + 999,
        want: 'OK',
        codes: [],
      },
      {
        desc: 'backdated below a checkpoint after the revocation',
        revokedAt: T0,
        reason: 'superseded',
        finishedAt: T0 - DAY,
        blockTime: T0 + 1000,
        want: 'REVOKED',
        codes: ['ATTESTATION_FROM_REVOKED_VEHICLE'],
      },
      {
        desc: 'signed before a routine revocation',
        revokedAt: T0,
        reason: 'cessationOfOperation',
        finishedAt: T0 - DAY,
        want: 'OK',
        codes: [],
      },
      {
        desc: 'signed before a key-compromise revocation',
        revokedAt: T0,
        reason: 'keyCompromise',
        finishedAt: T0 - DAY,
        want: 'OK',
        codes: ['ATTESTATION_FROM_COMPROMISED_KEY'],
      },
      {
        desc: 'signed after the certificate expired, never revoked',
        revokedAt: undefined,
        reason: 'unspecified',
        finishedAt: T0 + 150 * DAY,
        want: 'EXPIRED',
        codes: ['ATTESTATION_CERTIFICATE_EXPIRED'],
      },
    ] as const)(
      '$desc: $want $codes',
      async ({ revokedAt, reason, finishedAt, want, codes, ...rest }) => {
        const list = revokedAt === undefined ? undefined : await revocations(revokedAt, reason);
        const blockTime = 'blockTime' in rest ? rest.blockTime : undefined;
        const findings: AuditFinding[] = [];
        const standing = checkInstallCertificate(
          {
            certificatePem: vehicle.certificatePem,
            predicate: predicate(vehicle, finishedAt, blockTime),
          },
          list,
          (f) => findings.push(f),
          'attestation:0',
        );
        expect(standing).toBe(want);
        expect(findings.map((f) => f.code)).toEqual(codes);
        expect(findings.every((f) => f.subject === 'attestation:0')).toBe(true);
      },
    );
  });

  describe('loadVehicleRevocations', () => {
    it.each([
      { desc: 'no CRL served', crl: null, required: false, codes: [] as string[] },
      {
        desc: 'no CRL served, CRL required',
        crl: null,
        required: true,
        codes: ['REVOCATION_LIST_UNAVAILABLE'],
      },
      {
        desc: 'the CRL fetch fails',
        crl: new Error('ECONNREFUSED'),
        required: false,
        codes: ['REVOCATION_LIST_UNAVAILABLE'],
      },
      { desc: 'garbage', crl: 'not a crl', required: false, codes: ['REVOCATION_LIST_INVALID'] },
    ])('$desc: $codes', async ({ crl, required, codes }) => {
      const findings: AuditFinding[] = [];
      const list = await loadVehicleRevocations(
        sourceServing(crl),
        ca.certificatePem,
        (f) => findings.push(f),
        { required },
      );
      expect(list).toBeUndefined();
      expect(findings.map((f) => f.code)).toEqual(codes);
    });

    it('refuses a CRL signed by another CA as REVOCATION_LIST_INVALID (error)', async () => {
      const other = await createVehicleCa({ commonName: 'CA' });
      const crl = await createRevocationList(other, {
        crlNumber: 1,
        revoked: [{ serialNumber: serial }],
      });
      const findings: AuditFinding[] = [];
      expect(
        await loadVehicleRevocations(sourceServing(crl), ca.certificatePem, (f) =>
          findings.push(f),
        ),
      ).toBeUndefined();
      expect(findings.map((f) => [f.code, f.severity])).toEqual([
        ['REVOCATION_LIST_INVALID', 'error'],
      ]);
    });

    it('uses a stale CRL and warns REVOCATION_LIST_STALE', async () => {
      const crl = await createRevocationList(ca, {
        crlNumber: 9,
        thisUpdate: new Date(T0),
        nextUpdate: new Date(T0 + DAY),
        revoked: [{ serialNumber: serial, revokedAt: new Date(T0), reason: 'keyCompromise' }],
      });
      const findings: AuditFinding[] = [];
      const list = await loadVehicleRevocations(
        sourceServing(crl),
        ca.certificatePem,
        (f) => findings.push(f),
        {
          at: new Date(T0 + 10 * DAY),
        },
      );
      expect(findings.map((f) => f.code)).toEqual(['REVOCATION_LIST_STALE']);
      expect(list?.crlNumber).toBe(9);
      expect(list?.revoked.get(serial)).toEqual({
        revokedAt: new Date(T0),
        reason: 'keyCompromise',
      });
    });
  });
});
