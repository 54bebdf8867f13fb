import { X509Certificate } from 'node:crypto';
import { verifyVehicleCertificate, type VerifiedVehicleCertificate } from '@tufchain/keys/vehicle';

export interface VehicleCertificateFacts extends Omit<VerifiedVehicleCertificate, 'expired'> {
  /** The end of the CA certificate's validity, which bounds the vehicle certificate's. */
  caNotAfter: Date;
}

/**
 * Verifies a vehicle certificate against the pinned CA (its signature, a vehicle subject with one
 * VIN commitment and one ECU serial, a P-256 key) without the vehicle's clock: a clock set back
 * must not make a certificate issued today look "not yet valid", nor any update depend on it.
 * Whether the certificate has expired or is due for renewal is the caller's question, asked with a
 * trusted time (`certificateExpired`). Throws @tufchain/keys' KeysError for anything else.
 */
export function verifyVehicleCertificateTimeless(
  certificatePem: string,
  caCertificatePem: string,
): VehicleCertificateFacts {
  let inside: Date | undefined;
  let caNotAfter = new Date(0);
  try {
    const ca = new X509Certificate(caCertificatePem);
    const cert = new X509Certificate(certificatePem);
    // A moment inside both validity periods (when they meet; else allowExpired lets it pass).
    inside = new Date(Math.max(cert.validFromDate.getTime(), ca.validFromDate.getTime()));
    caNotAfter = ca.validToDate;
  } catch {
    // unparsable: verifyVehicleCertificate below says which with its own code
  }
  const { expired: _atThatMoment, ...verified } = verifyVehicleCertificate(
    certificatePem,
    caCertificatePem,
    { ...(inside ? { at: inside } : {}), allowExpired: true },
  );
  return { ...verified, caNotAfter };
}

/** Whether the certificate (or its CA's) has expired at `at`. */
export function certificateExpired(facts: VehicleCertificateFacts, at: Date): boolean {
  return at > facts.notAfter || at > facts.caNotAfter;
}
