// The life of one vehicle identity, told through its actors: factory, vehicle, OEM backend, hacker.
import { describe, expect, it } from 'vitest';
import { signStatementBundle, verifyStatementBundleDetailed } from '../attestation/bundle.js';
import { IN_TOTO_STATEMENT_TYPE, type InTotoStatement } from '../attestation/statement.js';
import { createKeySigner } from '../signer.js';
import { createVehicleCa, createVehicleIdentity } from './ca.js';
import { createVehicleCsr, issueVehicleCertificateFromCsr } from './csr.js';
import { createPkcs12Bundle, readPkcs12Bundle } from './pkcs12.js';
import { createRevocationList, loadRevocationList } from './revocation.js';
import { verifyVehicleCertificate } from './verify.js';

const DAY = 86_400_000;
const report = (ecuSerial: string): InTotoStatement => ({
  _type: IN_TOTO_STATEMENT_TYPE,
  subject: [{ name: 'gw-2.0.0.bin', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://tufchain.dev/attestation/install/v1',
  predicate: { ecu: { serial: ecuSerial }, result: 'SUCCESS' },
});

describe('a vehicle identity from the factory line to revocation', () => {
  it('is provisioned, expires without bricking, re-enrolls, and once revoked is refused everywhere', async () => {
    // OEM: the vehicle CA
    const ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    const now = Date.now();

    // factory: identity issued 400 days ago for one year, shipped as PKCS#12
    const issued = await createVehicleIdentity(ca, {
      vin: 'WVWZZZ1JZXW000001',
      ecuSerial: 'GW-00017',
      validDays: 365,
      notBefore: new Date(now - 400 * DAY),
    });
    const p12 = createPkcs12Bundle(issued, ca.certificatePem, 'line-7');

    // vehicle: installs the bundle
    const vehicle = readPkcs12Bundle(p12, 'line-7');
    const signer = createKeySigner(vehicle.privateKey);

    // vehicle: its certificate has expired, but updates still verify (TUF + chain), so it keeps going
    const own = verifyVehicleCertificate(vehicle.certificatePem, ca.certificatePem, {
      allowExpired: true,
    });
    expect(own.expired).toBe(true);

    // backend: an install report under the expired certificate is refused for the record...
    const staleReport = await signStatementBundle(report('GW-00017'), signer, {
      certificatePem: vehicle.certificatePem,
    });
    await expect(
      verifyStatementBundleDetailed(staleReport, { caCertificatePem: ca.certificatePem }),
    ).rejects.toMatchObject({
      code: 'CERTIFICATE_EXPIRED',
    });
    // ...but can be received as evidence, flagged expired
    const received = await verifyStatementBundleDetailed(
      staleReport,
      { caCertificatePem: ca.certificatePem },
      { allowExpiredCertificate: true },
    );
    expect(received.signer).toMatchObject({
      kind: 'certificate',
      expired: true,
      ecuSerial: 'GW-00017',
    });

    // vehicle: re-enrolls with a CSR from the same key; backend keeps the binding
    const csr = await createVehicleCsr(vehicle.privateKey, {
      vinCommitment: own.vinCommitment,
      ecuSerial: own.ecuSerial,
    });
    const renewedPem = await issueVehicleCertificateFromCsr(ca, csr, {
      previousCertificatePem: vehicle.certificatePem,
    });
    const freshReport = await signStatementBundle(report('GW-00017'), signer, {
      certificatePem: renewedPem,
    });
    const accepted = await verifyStatementBundleDetailed(freshReport, {
      caCertificatePem: ca.certificatePem,
    });
    expect(accepted.signer).toMatchObject({
      kind: 'certificate',
      expired: false,
      vinCommitment: own.vinCommitment,
    });

    // hacker: steals the vehicle key. Re-enrollment accepts any unrevoked previous certificate, even an
    // expired one, so the OEM revokes every certificate it issued for the compromised key.
    const serials = [issued.certificatePem, renewedPem].map(
      (pem) =>
        verifyVehicleCertificate(pem, ca.certificatePem, { allowExpired: true }).serialNumber,
    );
    const crl = await loadRevocationList(
      await createRevocationList(ca, {
        crlNumber: 1,
        revoked: serials.map((serialNumber) => ({
          serialNumber,
          reason: 'keyCompromise' as const,
        })),
      }),
      ca.certificatePem,
    );
    const forged = await signStatementBundle(report('GW-00017'), signer, {
      certificatePem: renewedPem,
    });
    await expect(
      verifyStatementBundleDetailed(
        forged,
        { caCertificatePem: ca.certificatePem },
        { revokedSerials: crl.revokedSerials },
      ),
    ).rejects.toMatchObject({ code: 'CERTIFICATE_REVOKED' });
    // hacker: tries to launder the identity by re-enrolling from either certificate
    for (const previousCertificatePem of [renewedPem, issued.certificatePem]) {
      await expect(
        issueVehicleCertificateFromCsr(ca, csr, {
          previousCertificatePem,
          revokedSerials: crl.revokedSerials,
        }),
      ).rejects.toMatchObject({ code: 'CERTIFICATE_REVOKED' });
    }
  });
});
