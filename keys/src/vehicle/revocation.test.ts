import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, runOpenssl, tempDir } from '../../test/helpers.js';
import {
  createVehicleCa,
  createVehicleIdentity,
  type VehicleCa,
  type VehicleIdentity,
} from './ca.js';
import { checkRevoked, createRevocationList, loadRevocationList } from './revocation.js';
import { verifyVehicleCertificate } from './verify.js';

const DAY = 86_400_000;
let ca: VehicleCa;
let revokedVehicle: VehicleIdentity;
let goodVehicle: VehicleIdentity;
let crlPem: string;
let revokedSerial: string;

beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
  revokedVehicle = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-1' });
  goodVehicle = await createVehicleIdentity(ca, { vin: '1HGCM82633A004353', ecuSerial: 'GW-2' });
  revokedSerial = verifyVehicleCertificate(
    revokedVehicle.certificatePem,
    ca.certificatePem,
  ).serialNumber;
  crlPem = await createRevocationList(ca, {
    crlNumber: 3,
    revoked: [{ serialNumber: revokedSerial, reason: 'keyCompromise' }],
  });
});

describe('createRevocationList', () => {
  it('makes an X.509 CRL that OpenSSL verifies against the CA and uses to reject the certificate', () => {
    if (!openssl) return expect(crlPem).toContain('-----BEGIN X509 CRL-----');
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      writeFileSync(join(dir, 'crl.pem'), crlPem);
      writeFileSync(join(dir, 'revoked.pem'), revokedVehicle.certificatePem);
      writeFileSync(join(dir, 'good.pem'), goodVehicle.certificatePem);
      const text = runOpenssl([
        'crl',
        '-in',
        join(dir, 'crl.pem'),
        '-CAfile',
        join(dir, 'ca.pem'),
        '-noout',
        '-text',
      ]);
      expect(text).toMatch(/verify OK/);
      expect(text).toMatch(/Key Compromise/);
      expect(text.toLowerCase()).toContain(revokedSerial.slice(0, 8).toUpperCase().toLowerCase());
      const args = [
        'verify',
        '-crl_check',
        '-CAfile',
        join(dir, 'ca.pem'),
        '-CRLfile',
        join(dir, 'crl.pem'),
      ];
      expect(runOpenssl([...args, join(dir, 'good.pem')])).toMatch(/OK/);
      expect(() => runOpenssl([...args, join(dir, 'revoked.pem')])).toThrow(/revoked/);
    } finally {
      cleanup();
    }
  });
});

describe('loadRevocationList and checkRevoked', () => {
  it('lists the revoked serial and rejects that certificate, accepting the other', async () => {
    const list = await loadRevocationList(crlPem, ca.certificatePem);
    expect(list.crlNumber).toBe(3);
    expect(list.stale).toBe(false);
    expect(() => checkRevoked(revokedVehicle.certificatePem, list)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_REVOKED' }),
    );
    expect(() => checkRevoked(revokedSerial.toUpperCase(), list)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_REVOKED' }),
    );
    expect(() => checkRevoked(goodVehicle.certificatePem, list)).not.toThrow();
    expect(() =>
      verifyVehicleCertificate(revokedVehicle.certificatePem, ca.certificatePem, {
        revokedSerials: list.revokedSerials,
      }),
    ).toThrow(expect.objectContaining({ code: 'CERTIFICATE_REVOKED' }));
  });

  it.each([
    {
      desc: 'another CA signed it',
      make: async () => ({
        crl: crlPem,
        caPem: (await createVehicleCa({ commonName: 'ACME Vehicle CA' })).certificatePem,
      }),
      wantCode: 'REVOCATION_LIST_UNTRUSTED',
    },
    {
      desc: 'a signature byte is flipped',
      make: () => {
        const der = Buffer.from(crlPem.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
        der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0x01;
        return Promise.resolve({
          crl: `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`,
          caPem: ca.certificatePem,
        });
      },
      wantCode: 'REVOCATION_LIST_UNTRUSTED',
    },
    {
      desc: 'it is not a CRL',
      make: () => Promise.resolve({ crl: ca.certificatePem, caPem: ca.certificatePem }),
      wantCode: 'MALFORMED_REVOCATION_LIST',
    },
    {
      desc: 'its nextUpdate has passed',
      make: async () => ({
        crl: await createRevocationList(ca, {
          crlNumber: 1,
          revoked: [],
          thisUpdate: new Date(Date.now() - 10 * DAY),
          nextUpdate: new Date(Date.now() - DAY),
        }),
        caPem: ca.certificatePem,
      }),
      wantCode: 'REVOCATION_LIST_STALE',
    },
    {
      desc: 'its thisUpdate is in the future',
      make: async () => ({
        crl: await createRevocationList(ca, {
          crlNumber: 1,
          revoked: [],
          thisUpdate: new Date(Date.now() + DAY),
        }),
        caPem: ca.certificatePem,
      }),
      wantCode: 'REVOCATION_LIST_NOT_YET_VALID',
    },
  ])('throws $wantCode when $desc', async ({ make, wantCode }) => {
    const { crl, caPem } = await make();
    await expect(loadRevocationList(crl, caPem)).rejects.toMatchObject({
      name: 'KeysError',
      code: wantCode,
    });
  });

  it('accepts a stale list when told to, and says so', async () => {
    const stale = await createRevocationList(ca, {
      crlNumber: 1,
      revoked: [],
      thisUpdate: new Date(Date.now() - 10 * DAY),
      nextUpdate: new Date(Date.now() - DAY),
    });
    await expect(
      loadRevocationList(stale, ca.certificatePem, { allowStale: true }),
    ).resolves.toMatchObject({ stale: true });
  });

  it('matches serials however they are written (case, 0x, odd length, leading zeros)', async () => {
    const crl = await loadRevocationList(
      await createRevocationList(ca, {
        crlNumber: 2,
        revoked: [{ serialNumber: 'A' }, { serialNumber: '0x00ff01' }],
      }),
      ca.certificatePem,
    );
    for (const serial of ['0a', '0x0A', 'a', 'ff01', 'FF01']) {
      expect(() => checkRevoked(serial, crl)).toThrow(
        expect.objectContaining({ code: 'CERTIFICATE_REVOKED' }),
      );
    }
    expect(() => checkRevoked('0b', crl)).not.toThrow();
  });

  it('throws INVALID_ARGUMENT for a serial that is not hex', async () => {
    await expect(
      createRevocationList(ca, { crlNumber: 1, revoked: [{ serialNumber: 'VIN123' }] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
