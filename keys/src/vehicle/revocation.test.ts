import { sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, runOpenssl, tempDir } from '../../test/helpers.js';
import { encodePem } from '../util/pem.js';
import { childrenOf, readOne, tlv, TAG } from '../util/der-bytes.js';
import {
  createVehicleCa,
  createVehicleIdentity,
  type VehicleCa,
  type VehicleIdentity,
} from './ca.js';
import {
  checkRevoked,
  createRevocationList,
  loadRevocationList,
  loadRevocationListDetailed,
  type RevocationReason,
} from './revocation.js';
import { verifyVehicleCertificate } from './verify.js';
import { ECDSA_P256_SHA256, toSigningCryptoKey, x509 } from './x509-provider.js';

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

/** The CRL with its tbsCertList replaced by `edit(tbs)` and signed again by the CA. */
function resign(crlPem: string, edit: (tbs: Buffer) => Buffer): string {
  const der = Buffer.from(crlPem.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
  const [tbs, algorithm] = childrenOf(readOne(der));
  const newTbs = edit(Buffer.from(tbs!.raw));
  const signature = sign('sha256', newTbs, { key: ca.privateKey, dsaEncoding: 'der' });
  return encodePem(
    'X509 CRL',
    tlv(TAG.SEQUENCE, newTbs, algorithm!.raw, tlv(TAG.BIT_STRING, Buffer.from([0]), signature)),
  );
}

describe('loadRevocationListDetailed', () => {
  const reasons: (RevocationReason | undefined)[] = [
    undefined,
    'unspecified',
    'keyCompromise',
    'affiliationChanged',
    'superseded',
    'cessationOfOperation',
    'privilegeWithdrawn',
  ];

  it('reads back every entry with its revocation date (to the second) and reason', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({
            serial: fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }),
            revokedAt: fc.date({
              min: new Date('1990-01-01T00:00:00Z'),
              max: new Date('2049-12-31T23:59:59Z'),
              noInvalidDate: true,
            }),
            reason: fc.constantFrom(...reasons),
          }),
          { selector: (e) => e.serial, maxLength: 20 },
        ),
        async (entries) => {
          const crl = await createRevocationList(ca, {
            crlNumber: 1,
            thisUpdate: new Date('2050-01-01T00:00:00Z'),
            revoked: entries.map((e) => ({
              serialNumber: e.serial.toString(16),
              revokedAt: e.revokedAt,
              ...(e.reason ? { reason: e.reason } : {}),
            })),
          });
          const list = await loadRevocationListDetailed(crl, ca.certificatePem, {
            at: new Date('2050-01-02T00:00:00Z'),
          });
          const want = new Map(
            entries.map((e) => {
              const hex = e.serial.toString(16);
              return [
                hex.length % 2 ? `0${hex}` : hex,
                {
                  revokedAt: new Date(Math.floor(e.revokedAt.getTime() / 1000) * 1000),
                  reason: e.reason ?? 'unspecified',
                },
              ];
            }),
          );
          expect(list.revoked).toEqual(want);
          expect(list.revokedSerials).toEqual(new Set(want.keys()));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reads the entries of a CRL @peculiar/x509 made, reasons it never writes included, as @peculiar/x509 does', async () => {
    const cert = new x509.X509Certificate(ca.certificatePem);
    const revokedAt = new Date('2026-03-01T10:00:00Z');
    const R = x509.X509CrlReason;
    const codes = [
      R.unspecified,
      R.keyCompromise,
      R.cACompromise,
      R.affiliationChanged,
      R.superseded,
      R.cessationOfOperation,
      R.certificateHold,
      R.removeFromCRL,
      R.privilegeWithdrawn,
      R.aACompromise,
    ];
    const crl = await x509.X509CrlGenerator.create({
      issuer: cert.subjectName,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + 86_400_000),
      signingAlgorithm: ECDSA_P256_SHA256,
      signingKey: toSigningCryptoKey(ca.privateKey),
      entries: codes.map((reason, i) => ({
        serialNumber: (0x7f00 + i).toString(16),
        revocationDate: revokedAt,
        ...(reason === R.unspecified ? {} : { reason }),
      })),
    });
    const list = await loadRevocationListDetailed(crl.toString('pem'), ca.certificatePem);
    expect([...list.revoked]).toEqual(
      crl.entries.map((e) => [
        e.serialNumber.toLowerCase(),
        { revokedAt: e.revocationDate, reason: R[e.reason ?? R.unspecified] },
      ]),
    );
    expect(list.revoked.get('7f02')?.reason).toBe('cACompromise');
  });

  it('throws MALFORMED_REVOCATION_LIST for a signed entry whose date does not parse, which loadRevocationList does not read', async () => {
    const good = await createRevocationList(ca, {
      crlNumber: 4,
      revoked: [{ serialNumber: '0a', revokedAt: new Date('2026-01-01T00:00:00Z') }],
    });
    // the entry's UTCTime "260101000000Z" becomes "26010100000?Z"
    const bad = resign(good, (tbs) => {
      const at = tbs.indexOf(Buffer.from('260101000000Z'));
      tbs[at + 11] = 0x3f;
      return tbs;
    });
    await expect(loadRevocationList(bad, ca.certificatePem)).resolves.toMatchObject({
      crlNumber: 4,
    });
    await expect(loadRevocationListDetailed(bad, ca.certificatePem)).rejects.toMatchObject({
      name: 'KeysError',
      code: 'MALFORMED_REVOCATION_LIST',
    });
  });

  it('keeps the checks and codes of loadRevocationList', async () => {
    const other = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    await expect(loadRevocationListDetailed(crlPem, other.certificatePem)).rejects.toMatchObject({
      code: 'REVOCATION_LIST_UNTRUSTED',
    });
    const stale = await createRevocationList(ca, {
      crlNumber: 1,
      revoked: [],
      thisUpdate: new Date(Date.now() - 10 * DAY),
      nextUpdate: new Date(Date.now() - DAY),
    });
    await expect(loadRevocationListDetailed(stale, ca.certificatePem)).rejects.toMatchObject({
      code: 'REVOCATION_LIST_STALE',
    });
    await expect(
      loadRevocationListDetailed(stale, ca.certificatePem, { allowStale: true }),
    ).resolves.toMatchObject({ stale: true, revoked: new Map() });
  });
});
