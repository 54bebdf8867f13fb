import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, runOpenssl, tempDir } from '../../test/helpers.js';
import { generateKeyPair } from '../generate.js';
import {
  createVehicleCa,
  createVehicleIdentity,
  issueVehicleCertificate,
  type VehicleCa,
  type VehicleIdentity,
} from './ca.js';
import { computeVinCommitment } from './commitment.js';
import {
  vehicleCertificateSerial,
  verifyRecordedVehicleCertificate,
  verifyVehicleCertificate,
  type RecordedVehicleCertificate,
} from './verify.js';

const VIN = '1HGCM82633A004352';
const DAY = 86_400_000;
let ca: VehicleCa;
let otherCa: VehicleCa;
let identity: VehicleIdentity;

beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
  otherCa = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
  identity = await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'GW-000042' });
});

describe('createVehicleCa', () => {
  it('makes a self-signed ECDSA P-256 CA limited to issuing end-entity certificates', () => {
    const cert = new X509Certificate(ca.certificatePem);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(ca.privateKey)).toBe(true);
    if (openssl)
      expect(runOpenssl(['x509', '-noout', '-text'], ca.certificatePem)).toMatch(
        /CA:TRUE, pathlen:0/,
      );
  });
});

describe('createVehicleIdentity', () => {
  it('binds the salted VIN commitment and the ECU serial, never the VIN', () => {
    expect(identity.vinCommitment).toBe(computeVinCommitment(VIN, identity.salt));
    const cert = new X509Certificate(identity.certificatePem);
    expect(cert.subject).toContain(identity.vinCommitment);
    expect(cert.subject).toContain('GW-000042');
    expect(identity.certificatePem).not.toContain(VIN);
    expect(cert.toString()).not.toContain(VIN);
    expect(cert.checkPrivateKey(identity.privateKey)).toBe(true);
  });

  it('issues a clientAuth certificate that OpenSSL verifies against the CA', () => {
    const cert = new X509Certificate(identity.certificatePem);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    if (openssl) {
      const { dir, cleanup } = tempDir();
      try {
        writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
        writeFileSync(join(dir, 'v.pem'), identity.certificatePem);
        expect(
          runOpenssl([
            'verify',
            '-purpose',
            'sslclient',
            '-CAfile',
            join(dir, 'ca.pem'),
            join(dir, 'v.pem'),
          ]),
        ).toMatch(/OK/);
      } finally {
        cleanup();
      }
    }
  });
});

describe('verifyVehicleCertificate', () => {
  it('returns the VIN commitment, ECU serial and key', () => {
    const result = verifyVehicleCertificate(identity.certificatePem, ca.certificatePem);
    expect(result.vinCommitment).toBe(identity.vinCommitment);
    expect(result.ecuSerial).toBe('GW-000042');
    expect(result.expired).toBe(false);
    expect(result.publicKey.equals(new X509Certificate(identity.certificatePem).publicKey)).toBe(
      true,
    );
    expect(result.serialNumber).toBe(
      new X509Certificate(identity.certificatePem).serialNumber.toLowerCase(),
    );
  });

  describe('when the certificate is not acceptable', () => {
    it.each([
      {
        desc: 'it has expired',
        make: async () => ({
          cert: (
            await createVehicleIdentity(ca, {
              vin: VIN,
              ecuSerial: 'E1',
              validDays: 1,
              notBefore: new Date(Date.now() - 3 * DAY),
            })
          ).certificatePem,
          caPem: ca.certificatePem,
        }),
        wantCode: 'CERTIFICATE_EXPIRED',
      },
      {
        desc: 'it is not yet valid',
        make: async () => ({
          cert: (
            await createVehicleIdentity(ca, {
              vin: VIN,
              ecuSerial: 'E1',
              notBefore: new Date(Date.now() + DAY),
            })
          ).certificatePem,
          caPem: ca.certificatePem,
        }),
        wantCode: 'CERTIFICATE_NOT_YET_VALID',
      },
      {
        desc: 'another CA with the same name issued it',
        make: () =>
          Promise.resolve({ cert: identity.certificatePem, caPem: otherCa.certificatePem }),
        wantCode: 'CERTIFICATE_UNTRUSTED',
      },
      {
        desc: 'it is the CA certificate itself',
        make: () => Promise.resolve({ cert: ca.certificatePem, caPem: ca.certificatePem }),
        wantCode: 'CERTIFICATE_NOT_VEHICLE',
      },
      {
        desc: 'its PEM is garbled',
        make: () =>
          Promise.resolve({
            cert: identity.certificatePem.replace(/\n(.{10})/, '\n!!!!!!!!!!'),
            caPem: ca.certificatePem,
          }),
        wantCode: 'MALFORMED_CERTIFICATE',
      },
      {
        desc: 'its PEM is truncated',
        make: () =>
          Promise.resolve({
            cert: identity.certificatePem.slice(0, 200),
            caPem: ca.certificatePem,
          }),
        wantCode: 'MALFORMED_CERTIFICATE',
      },
      {
        desc: 'the trust anchor is a vehicle certificate',
        make: () =>
          Promise.resolve({ cert: identity.certificatePem, caPem: identity.certificatePem }),
        wantCode: 'CA_CERTIFICATE_INVALID',
      },
      {
        desc: 'its serial is revoked',
        make: () =>
          Promise.resolve({
            cert: identity.certificatePem,
            caPem: ca.certificatePem,
            revoked: true,
          }),
        wantCode: 'CERTIFICATE_REVOKED',
      },
    ])('throws $wantCode when $desc', async ({ make, wantCode }) => {
      const { cert, caPem, ...rest } = await make();
      const revokedSerials =
        'revoked' in rest
          ? new Set([new X509Certificate(cert).serialNumber.toLowerCase()])
          : undefined;
      expect(() =>
        verifyVehicleCertificate(cert, caPem, { ...(revokedSerials ? { revokedSerials } : {}) }),
      ).toThrow(expect.objectContaining({ name: 'KeysError', code: wantCode }));
    });
  });

  describe('when the same certificate is verified again (it is checked against the CA once)', () => {
    it('still decides time, revocation and the CA on every call', async () => {
      const cert = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'E7', validDays: 10 }))
        .certificatePem;
      const serial = new X509Certificate(cert).serialNumber.toLowerCase();
      expect(verifyVehicleCertificate(cert, ca.certificatePem).expired).toBe(false);
      const code = (f: () => unknown): unknown => {
        try {
          f();
        } catch (error) {
          return (error as { code?: unknown }).code;
        }
        return 'accepted';
      };
      expect(
        code(() =>
          verifyVehicleCertificate(cert, ca.certificatePem, new Date(Date.now() + 11 * DAY)),
        ),
      ).toBe('CERTIFICATE_EXPIRED');
      expect(
        code(() => verifyVehicleCertificate(cert, ca.certificatePem, new Date(Date.now() - DAY))),
      ).toBe('CERTIFICATE_NOT_YET_VALID');
      expect(
        code(() =>
          verifyVehicleCertificate(cert, ca.certificatePem, { revokedSerials: new Set([serial]) }),
        ),
      ).toBe('CERTIFICATE_REVOKED');
      expect(code(() => verifyVehicleCertificate(cert, otherCa.certificatePem))).toBe(
        'CERTIFICATE_UNTRUSTED',
      );
      expect(code(() => verifyVehicleCertificate(ca.certificatePem, ca.certificatePem))).toBe(
        'CERTIFICATE_NOT_VEHICLE',
      );
      expect(code(() => verifyVehicleCertificate(ca.certificatePem, ca.certificatePem))).toBe(
        'CERTIFICATE_NOT_VEHICLE',
      );
      expect(verifyVehicleCertificate(cert, ca.certificatePem).ecuSerial).toBe('E7');
    });
  });

  describe('when the certificate has expired and the caller tolerates expiry (update receipt)', () => {
    it('returns expired: true with the bindings intact', async () => {
      const old = await createVehicleIdentity(ca, {
        vin: VIN,
        ecuSerial: 'E9',
        validDays: 1,
        notBefore: new Date(Date.now() - 10 * DAY),
      });
      const result = verifyVehicleCertificate(old.certificatePem, ca.certificatePem, {
        allowExpired: true,
      });
      expect(result.expired).toBe(true);
      expect(result.vinCommitment).toBe(old.vinCommitment);
    });

    it('still refuses a certificate from another CA', () => {
      expect(() =>
        verifyVehicleCertificate(identity.certificatePem, otherCa.certificatePem, {
          allowExpired: true,
        }),
      ).toThrow(expect.objectContaining({ code: 'CERTIFICATE_UNTRUSTED' }));
    });
  });

  it('accepts a plain Date as the verification time', () => {
    expect(() =>
      verifyVehicleCertificate(
        identity.certificatePem,
        ca.certificatePem,
        new Date(Date.now() + 6 * 365 * DAY),
      ),
    ).toThrow(expect.objectContaining({ code: 'CERTIFICATE_EXPIRED' }));
  });
});

describe('verifyRecordedVehicleCertificate (the issuer holds a record of the certificate)', () => {
  const recordOf = (pem: string): RecordedVehicleCertificate => {
    const v = verifyVehicleCertificate(pem, ca.certificatePem, { allowExpired: true });
    return {
      certificatePem: pem,
      vinCommitment: v.vinCommitment,
      ecuSerial: v.ecuSerial,
      notBefore: v.notBefore,
      notAfter: v.notAfter,
    };
  };
  /** The same certificate, armored as a bundle's rawBytes are (64-column lines, LF). */
  const rearmored = (pem: string): string => {
    const b64 = new X509Certificate(pem).raw.toString('base64');
    return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  };

  it('returns what verifyVehicleCertificate returns, for the recorded certificate in any armor', async () => {
    const pem = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'R1' })).certificatePem;
    const full = verifyVehicleCertificate(pem, ca.certificatePem);
    const crlf = rearmored(pem).replace(/\n/g, '\r\n');
    const byRecord = verifyRecordedVehicleCertificate(crlf, ca.certificatePem, recordOf(pem));
    expect(byRecord).toBeDefined();
    expect({ ...byRecord, publicKey: undefined }).toEqual({ ...full, publicKey: undefined });
    expect(byRecord!.publicKey.equals(full.publicKey)).toBe(true);
    expect(vehicleCertificateSerial(crlf)).toBe(full.serialNumber);
  });

  it('takes the record for the CA signature: it does not verify it again', async () => {
    const pem = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'R2' })).certificatePem;
    const der = Buffer.from(new X509Certificate(pem).raw);
    der[der.length - 1]! ^= 0x01;
    const forged = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(() => verifyVehicleCertificate(forged, ca.certificatePem)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_UNTRUSTED' }),
    );
    const record = { ...recordOf(pem), certificatePem: forged };
    expect(verifyRecordedVehicleCertificate(forged, ca.certificatePem, record)?.ecuSerial).toBe(
      'R2',
    );
    // What a record vouched for is not remembered as verified for callers without the record.
    expect(() => verifyVehicleCertificate(forged, ca.certificatePem)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_UNTRUSTED' }),
    );
  });

  it('is undefined when the record holds another certificate, or the CA did not issue it', async () => {
    const pem = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'R3' })).certificatePem;
    const other = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'R3' })).certificatePem;
    expect(verifyRecordedVehicleCertificate(pem, ca.certificatePem, recordOf(other))).toBe(
      undefined,
    );
    // otherCa has the same name as ca: its certificate is not ca's, even recorded as such
    const foreign = (await createVehicleIdentity(otherCa, { vin: VIN, ecuSerial: 'R3' }))
      .certificatePem;
    expect(
      verifyRecordedVehicleCertificate(foreign, ca.certificatePem, {
        ...recordOf(pem),
        certificatePem: foreign,
      }),
    ).toBe(undefined);
    expect(vehicleCertificateSerial('not a certificate')).toBe(undefined);
  });

  it('still decides time and revocation on every call', async () => {
    const pem = (await createVehicleIdentity(ca, { vin: VIN, ecuSerial: 'R4', validDays: 10 }))
      .certificatePem;
    const record = recordOf(pem);
    const serial = vehicleCertificateSerial(pem)!;
    const code = (options: Parameters<typeof verifyRecordedVehicleCertificate>[3]): unknown => {
      try {
        return verifyRecordedVehicleCertificate(pem, ca.certificatePem, record, options)?.expired;
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
    };
    expect(code({})).toBe(false);
    expect(code({ at: new Date(Date.now() + 11 * DAY) })).toBe('CERTIFICATE_EXPIRED');
    expect(code({ at: new Date(Date.now() + 11 * DAY), allowExpired: true })).toBe(true);
    expect(code({ at: new Date(Date.now() - DAY) })).toBe('CERTIFICATE_NOT_YET_VALID');
    expect(code({ revokedSerials: new Set([serial]) })).toBe('CERTIFICATE_REVOKED');
  });
});

describe('issueVehicleCertificate', () => {
  it.each([
    {
      desc: 'an ed25519 vehicle key',
      opts: () => ({
        publicKey: generateKeyPair('ed25519').publicKey,
        vinCommitment: 'a'.repeat(64),
        ecuSerial: 'E1',
      }),
      wantCode: 'WRONG_KEY_TYPE',
    },
    {
      desc: 'a P-384 vehicle key',
      opts: () => ({
        publicKey: generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey,
        vinCommitment: 'a'.repeat(64),
        ecuSerial: 'E1',
      }),
      wantCode: 'UNSUPPORTED_KEY_TYPE',
    },
    {
      desc: 'a VIN in place of the commitment',
      opts: () => ({
        publicKey: generateKeyPair('ecdsa-p256').publicKey,
        vinCommitment: VIN,
        ecuSerial: 'E1',
      }),
      wantCode: 'INVALID_VIN_COMMITMENT',
    },
    {
      desc: 'an ECU serial with a comma',
      opts: () => ({
        publicKey: generateKeyPair('ecdsa-p256').publicKey,
        vinCommitment: 'a'.repeat(64),
        ecuSerial: 'E1,CN=x',
      }),
      wantCode: 'INVALID_ECU_SERIAL',
    },
    {
      desc: 'zero validity days',
      opts: () => ({
        publicKey: generateKeyPair('ecdsa-p256').publicKey,
        vinCommitment: 'a'.repeat(64),
        ecuSerial: 'E1',
        validDays: 0,
      }),
      wantCode: 'INVALID_ARGUMENT',
    },
  ])('throws $wantCode for $desc', async ({ opts, wantCode }) => {
    await expect(issueVehicleCertificate(ca, opts())).rejects.toMatchObject({ code: wantCode });
  });

  it('throws CA_CERTIFICATE_INVALID when the CA key does not match its certificate', async () => {
    const broken = { certificatePem: ca.certificatePem, privateKey: otherCa.privateKey };
    await expect(
      issueVehicleCertificate(broken, {
        publicKey: generateKeyPair('ecdsa-p256').publicKey,
        vinCommitment: 'a'.repeat(64),
        ecuSerial: 'E1',
      }),
    ).rejects.toMatchObject({ code: 'CA_CERTIFICATE_INVALID' });
  });
});
