import {
  loadRevocationListDetailed,
  normalizeCertificateSerial as normalizeSerial,
  type RevokedCertificate,
} from '@tufchain/keys';
import { X509Certificate } from 'node:crypto';
import type { InstallPredicate } from '../wire/install.js';
import type { AuditFinding, AuditSource } from './source.js';

export type RevokedVehicleCertificate = RevokedCertificate;

/** The vehicle CA's CRL as the auditor verified it. */
export interface VehicleRevocations {
  /** By certificate serial number (lowercase hex, no leading zero bytes). */
  revoked: ReadonlyMap<string, RevokedVehicleCertificate>;
  crlNumber: number | undefined;
  thisUpdate: Date;
  stale: boolean;
}

type Report = (finding: AuditFinding) => void;

/**
 * Fetches the CRL from the source and verifies it against the vehicle CA (signature, not from the
 * future). Not served: no revocation checks, an error only when `required`. Not signed by the CA
 * or unparseable: an error. Past its nextUpdate: a warning, and it is still used.
 */
export async function loadVehicleRevocations(
  source: AuditSource,
  vehicleCaPem: string,
  report: Report,
  opts: { required?: boolean; at?: Date } = {},
): Promise<VehicleRevocations | undefined> {
  const at = opts.at ?? new Date();
  let pem: string | null;
  try {
    pem = source.revocationList ? await source.revocationList() : null;
  } catch (err) {
    report({
      code: 'REVOCATION_LIST_UNAVAILABLE',
      severity: opts.required ? 'error' : 'warning',
      message: `the vehicle CRL could not be fetched: ${err instanceof Error ? err.message : String(err)}`,
    });
    return undefined;
  }
  if (pem === null) {
    // A repository without a vehicle CA key serves no CRL; only a required one is a finding.
    if (opts.required) {
      report({
        code: 'REVOCATION_LIST_UNAVAILABLE',
        severity: 'error',
        message: 'the source serves no vehicle CRL; revoked vehicles cannot be detected',
      });
    }
    return undefined;
  }
  let list;
  try {
    list = await loadRevocationListDetailed(pem, vehicleCaPem, { at, allowStale: true });
  } catch (err) {
    report({
      code: 'REVOCATION_LIST_INVALID',
      severity: 'error',
      message: `the vehicle CRL does not verify against the vehicle CA: ${(err as { code?: string }).code ?? String(err)}`,
    });
    return undefined;
  }
  if (list.stale) {
    report({
      code: 'REVOCATION_LIST_STALE',
      severity: 'warning',
      message: `the vehicle CRL (number ${list.crlNumber ?? '?'}) was due for renewal at ${list.nextUpdate?.toISOString() ?? '?'}`,
    });
  }
  return {
    revoked: list.revoked,
    crlNumber: list.crlNumber,
    thisUpdate: list.thisUpdate,
    stale: list.stale,
  };
}

/**
 * The revocation and expiry check of one verified install attestation. Signing time is the later
 * of the vehicle's `finishedAt` and the chain checkpoint it cites (it cannot have signed before that
 * block existed). Signed in a second after the revocation: ATTESTATION_FROM_REVOKED_VEHICLE (error). Key
 * compromise revoked later: ATTESTATION_FROM_COMPROMISED_KEY (warning; a key thief can backdate).
 * Signed after the certificate expired: ATTESTATION_CERTIFICATE_EXPIRED (warning; accepted by
 * design, the vehicle must re-enroll).
 */
export function checkInstallCertificate(
  install: { certificatePem: string; predicate: InstallPredicate },
  revocations: VehicleRevocations | undefined,
  report: Report,
  subject: string,
): 'REVOKED' | 'EXPIRED' | 'OK' {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(install.certificatePem);
  } catch {
    return 'OK';
  }
  const p = install.predicate;
  const finishedAt = Date.parse(p.finishedAt);
  const checkpointAt = p.checkpoint.timestamp * 1000;
  const signedAt = Math.max(
    Number.isNaN(finishedAt) ? 0 : finishedAt,
    Number.isFinite(checkpointAt) ? checkpointAt : 0,
  );
  const serial = normalizeSerial(certificate.serialNumber);
  const revoked = revocations?.revoked.get(serial);
  if (revoked) {
    // CRL times have one-second resolution and block times are whole seconds, so only a report
    // signed in a later second than the revocation is provably after it; a tie is not an error.
    if (Math.floor(signedAt / 1000) > Math.floor(revoked.revokedAt.getTime() / 1000)) {
      report({
        code: 'ATTESTATION_FROM_REVOKED_VEHICLE',
        severity: 'error',
        message: `vehicle ${p.vehicle.commitment} ECU ${p.ecu.serial} signed with certificate ${serial}, revoked (${revoked.reason}) at ${revoked.revokedAt.toISOString()}, at ${new Date(signedAt).toISOString()}`,
        subject,
      });
      return 'REVOKED';
    }
    if (revoked.reason === 'keyCompromise') {
      report({
        code: 'ATTESTATION_FROM_COMPROMISED_KEY',
        severity: 'warning',
        message: `certificate ${serial} was revoked for key compromise at ${revoked.revokedAt.toISOString()}; this report claims an earlier time`,
        subject,
      });
    }
  }
  if (Date.parse(certificate.validTo) < signedAt) {
    report({
      code: 'ATTESTATION_CERTIFICATE_EXPIRED',
      severity: 'warning',
      message: `vehicle ${p.vehicle.commitment} reported with certificate ${serial}, expired at ${new Date(certificate.validTo).toISOString()}; it must re-enroll`,
      subject,
    });
    return 'EXPIRED';
  }
  return 'OK';
}
