// One install attestation bundle verified against the vehicle CA: what the auditor and the audit
// packs both check of each install report.
import { verifyStatementBundleDetailed, type VerifiedStatementBundle } from '@tufchain/keys';
import { isHash32, normalizeHash32, plainHex } from '../util/hex.js';
import {
  INSTALL_PREDICATE_TYPE,
  parseInstallPredicate,
  type InstallPredicate,
} from '../wire/install.js';
import type { AuditFindingCode } from './finding-code.js';
import { errorMessage } from './findings.js';

/** One verified install, as the auditor saw it. */
export interface VerifiedInstall {
  bundle: unknown;
  predicate: InstallPredicate;
  subjectDigest: string;
  certificatePem: string;
  /** The ECU serial of the signing certificate: the primary's, also in its secondaries' reports. */
  certificateEcuSerial: string;
  /**
   * What the vehicle signed, by which key, whatever the bundle's encoding (see @tufchain/keys
   * `signedContentDigest`): two installs with the same digest are one report listed twice.
   */
  signedContentDigest: string;
  /** Index of the install's entry in the transparency log, when the log was audited. */
  logIndex?: number;
}

/** Reads the DSSE payload of a bundle without verifying it, to choose how to verify it. */
export function peekStatement(
  bundle: unknown,
): { predicateType?: unknown; predicate?: unknown; subject?: unknown } | undefined {
  try {
    const payload = (bundle as { dsseEnvelope?: { payload?: string } }).dsseEnvelope?.payload;
    if (typeof payload !== 'string') return undefined;
    const statement = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as unknown;
    return statement && typeof statement === 'object' ? statement : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies one install attestation bundle; returns the verified install or records findings. */
export async function verifyInstallBundle(
  bundle: unknown,
  vehicleCaPem: string,
  onFail: ((code: AuditFindingCode, message: string, subject: string) => void) | null,
  subject: string,
): Promise<VerifiedInstall | null> {
  const fail = (code: AuditFindingCode, message: string) => {
    onFail?.(code, message, subject);
    return null;
  };
  // Verify at the time the vehicle says it finished (the signature covers that claim), so a
  // certificate that expired since does not invalidate history.
  const claimedAt = Date.parse(
    String((peekStatement(bundle)?.predicate as { finishedAt?: unknown } | undefined)?.finishedAt),
  );
  let verified: VerifiedStatementBundle;
  try {
    verified = await verifyStatementBundleDetailed(
      bundle,
      { caCertificatePem: vehicleCaPem },
      // Expired certificates never brick reporting; checkInstallCertificate flags them.
      Number.isNaN(claimedAt)
        ? { allowExpiredCertificate: true }
        : { at: new Date(claimedAt), allowExpiredCertificate: true },
    );
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    return fail(
      /CERTIFICATE/.test(code) ? 'VEHICLE_CERTIFICATE_INVALID' : 'ATTESTATION_SIGNATURE_INVALID',
      `install attestation does not verify: ${errorMessage(err)}`,
    );
  }
  const { statement, signer, signedContentDigest } = verified;
  if (statement.predicateType !== INSTALL_PREDICATE_TYPE) {
    return fail('ATTESTATION_WRONG_TYPE', `unexpected predicate type ${statement.predicateType}`);
  }
  let predicate: InstallPredicate;
  try {
    predicate = parseInstallPredicate(statement.predicate);
  } catch (err) {
    return fail('ATTESTATION_MALFORMED', errorMessage(err));
  }
  const subjectDigest = statement.subject[0]?.digest.sha256;
  if (
    !subjectDigest ||
    !isHash32(subjectDigest) ||
    plainHex(subjectDigest) !== plainHex(predicate.to.digest)
  ) {
    return fail('ATTESTATION_SUBJECT_MISMATCH', 'subject digest differs from predicate.to.digest');
  }
  if (signer.kind !== 'certificate')
    return fail('ATTESTATION_MALFORMED', 'bundle carries no certificate');
  if (plainHex(signer.vinCommitment) !== plainHex(predicate.vehicle.commitment)) {
    return fail(
      'VEHICLE_COMMITMENT_MISMATCH',
      'predicate vehicle commitment differs from the certificate',
    );
  }
  // The primary signs the reports of its secondaries (Uptane), each carrying the secondary's own
  // signed result; the Director checks verify that result against the ECU's registered key.
  if (
    signer.ecuSerial !== predicate.ecu.serial &&
    !(predicate.director && predicate.ecuResult?.signed.ecu_serial === predicate.ecu.serial)
  ) {
    return fail('VEHICLE_COMMITMENT_MISMATCH', 'predicate ECU serial differs from the certificate');
  }
  const certificatePem = signer.certificatePem;
  return {
    bundle,
    predicate,
    subjectDigest: normalizeHash32(subjectDigest),
    certificatePem,
    certificateEcuSerial: signer.ecuSerial,
    signedContentDigest,
  };
}
