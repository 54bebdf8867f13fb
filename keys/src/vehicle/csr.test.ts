import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, runOpenssl } from '../../test/helpers.js';
import { generateKeyPair } from '../generate.js';
import { createVehicleCa, createVehicleIdentity, type VehicleCa } from './ca.js';
import { createVehicleCsr, issueVehicleCertificateFromCsr, verifyVehicleCsr } from './csr.js';
import { verifyVehicleCertificate } from './verify.js';

const DAY = 86_400_000;
const commitment = 'c0'.repeat(32);
let ca: VehicleCa;
beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
});

describe('createVehicleCsr', () => {
  it('makes a PKCS#10 request that OpenSSL verifies and that names the vehicle', async () => {
    const { privateKey } = generateKeyPair('ecdsa-p256');
    const csr = await createVehicleCsr(privateKey, {
      vinCommitment: commitment,
      ecuSerial: 'GW-1',
    });
    const parsed = await verifyVehicleCsr(csr);
    expect(parsed).toMatchObject({ vinCommitment: commitment, ecuSerial: 'GW-1' });
    if (openssl) expect(runOpenssl(['req', '-verify', '-noout'], csr)).toMatch(/verify OK/i);
  });

  it('throws WRONG_KEY_TYPE for an ed25519 key', async () => {
    await expect(
      createVehicleCsr(generateKeyPair('ed25519').privateKey, {
        vinCommitment: commitment,
        ecuSerial: 'GW-1',
      }),
    ).rejects.toMatchObject({
      code: 'WRONG_KEY_TYPE',
    });
  });
});

describe('issueVehicleCertificateFromCsr', () => {
  it('issues a certificate for the CSR key with the enrolled binding', async () => {
    const { privateKey, publicKey } = generateKeyPair('ecdsa-p256');
    const csr = await createVehicleCsr(privateKey, {
      vinCommitment: commitment,
      ecuSerial: 'GW-1',
    });
    const pem = await issueVehicleCertificateFromCsr(ca, csr, {
      vinCommitment: commitment,
      ecuSerial: 'GW-1',
    });
    const verified = verifyVehicleCertificate(pem, ca.certificatePem);
    expect(verified).toMatchObject({
      vinCommitment: commitment,
      ecuSerial: 'GW-1',
      expired: false,
    });
    expect(verified.publicKey.equals(publicKey)).toBe(true);
  });

  describe('when the CSR is not acceptable', () => {
    it.each([
      {
        desc: 'its signature was tampered with',
        make: async () => {
          const csr = await createVehicleCsr(generateKeyPair('ecdsa-p256').privateKey, {
            vinCommitment: commitment,
            ecuSerial: 'GW-1',
          });
          const other = await createVehicleCsr(generateKeyPair('ecdsa-p256').privateKey, {
            vinCommitment: commitment,
            ecuSerial: 'GW-1',
          });
          // swap in the other request's public key: still well-formed, signature no longer matches
          const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
          const otherDer = Buffer.from(other.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
          const spkiPrefix = Buffer.from(
            '3059301306072a8648ce3d020106082a8648ce3d030107034200',
            'hex',
          );
          const at = der.indexOf(spkiPrefix);
          const otherAt = otherDer.indexOf(spkiPrefix);
          otherDer.copy(der, at, otherAt, otherAt + spkiPrefix.length + 65);
          return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
        },
        options: {},
        wantCode: 'CSR_SIGNATURE_INVALID',
      },
      {
        desc: 'it is garbage',
        make: () =>
          Promise.resolve(
            '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
          ),
        options: {},
        wantCode: 'MALFORMED_CSR',
      },
      {
        desc: 'it is not PEM',
        make: () => Promise.resolve('hello'),
        options: {},
        wantCode: 'MALFORMED_CSR',
      },
      {
        desc: 'its subject names another ECU than the enrollment record',
        make: () =>
          createVehicleCsr(generateKeyPair('ecdsa-p256').privateKey, {
            vinCommitment: commitment,
            ecuSerial: 'GW-2',
          }),
        options: { vinCommitment: commitment, ecuSerial: 'GW-1' },
        wantCode: 'CSR_SUBJECT_MISMATCH',
      },
    ])('throws $wantCode when $desc', async ({ make, options, wantCode }) => {
      const csr = await make();
      await expect(issueVehicleCertificateFromCsr(ca, csr, options)).rejects.toMatchObject({
        name: 'KeysError',
        code: wantCode,
      });
    });
  });

  describe('when an expired vehicle re-enrolls', () => {
    it('gets a fresh certificate with the same binding after its old one expired', async () => {
      const old = await createVehicleIdentity(ca, {
        vin: '1HGCM82633A004352',
        ecuSerial: 'GW-9',
        validDays: 1,
        notBefore: new Date(Date.now() - 30 * DAY),
      });
      // receiving updates still works with the expired certificate
      expect(
        verifyVehicleCertificate(old.certificatePem, ca.certificatePem, { allowExpired: true })
          .expired,
      ).toBe(true);
      // but reporting requires a valid one
      expect(() => verifyVehicleCertificate(old.certificatePem, ca.certificatePem)).toThrow(
        expect.objectContaining({ code: 'CERTIFICATE_EXPIRED' }),
      );
      const csr = await createVehicleCsr(old.privateKey, {
        vinCommitment: old.vinCommitment,
        ecuSerial: 'GW-9',
      });
      const fresh = await issueVehicleCertificateFromCsr(ca, csr, {
        previousCertificatePem: old.certificatePem,
      });
      expect(verifyVehicleCertificate(fresh, ca.certificatePem)).toMatchObject({
        vinCommitment: old.vinCommitment,
        ecuSerial: 'GW-9',
        expired: false,
      });
    });

    it('throws KEY_MISMATCH when the CSR holds a different key than the previous certificate', async () => {
      const old = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-9' });
      const csr = await createVehicleCsr(generateKeyPair('ecdsa-p256').privateKey, {
        vinCommitment: old.vinCommitment,
        ecuSerial: 'GW-9',
      });
      await expect(
        issueVehicleCertificateFromCsr(ca, csr, { previousCertificatePem: old.certificatePem }),
      ).rejects.toMatchObject({ code: 'KEY_MISMATCH' });
    });

    it('throws CERTIFICATE_REVOKED when the previous certificate was revoked', async () => {
      const old = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-9' });
      const serial = verifyVehicleCertificate(old.certificatePem, ca.certificatePem).serialNumber;
      const csr = await createVehicleCsr(old.privateKey, {
        vinCommitment: old.vinCommitment,
        ecuSerial: 'GW-9',
      });
      await expect(
        issueVehicleCertificateFromCsr(ca, csr, {
          previousCertificatePem: old.certificatePem,
          revokedSerials: new Set([serial]),
        }),
      ).rejects.toMatchObject({ code: 'CERTIFICATE_REVOKED' });
    });

    it('throws CERTIFICATE_UNTRUSTED when the previous certificate is from another CA', async () => {
      const foreign = await createVehicleIdentity(await createVehicleCa({ commonName: 'Other' }), {
        vin: '1HGCM82633A004352',
        ecuSerial: 'GW-9',
      });
      const csr = await createVehicleCsr(foreign.privateKey, {
        vinCommitment: foreign.vinCommitment,
        ecuSerial: 'GW-9',
      });
      await expect(
        issueVehicleCertificateFromCsr(ca, csr, { previousCertificatePem: foreign.certificatePem }),
      ).rejects.toMatchObject({
        code: 'CERTIFICATE_UNTRUSTED',
      });
    });
  });
});
