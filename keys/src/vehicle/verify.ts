import { X509Certificate, type KeyObject } from 'node:crypto';
import { KeysError } from '../error.js';
import { detectKeyType } from '../key-type.js';
import { isVinCommitment } from './commitment.js';
import { parseCertificateParts } from '../util/certificate-der.js';
import { OID_CLIENT_AUTH, OID_COMMON_NAME, OID_SERIAL_NUMBER } from './oids.js';

export interface VerifyVehicleCertificateOptions {
  /** Verification time; defaults to now. */
  at?: Date;
  /**
   * Accept a certificate past its notAfter and report `expired: true`. For receiving updates only:
   * an expired certificate must never brick a vehicle, but it must re-enroll before it reports.
   */
  allowExpired?: boolean;
  /** Serial numbers (lowercase hex) revoked by the CA, e.g. from checkRevoked's list. */
  revokedSerials?: ReadonlySet<string>;
}

export interface VerifiedVehicleCertificate {
  vinCommitment: string;
  ecuSerial: string;
  publicKey: KeyObject;
  /** Lowercase hex, no leading zeros stripped beyond what the certificate holds. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  expired: boolean;
}

function parseCertificate(
  pem: string,
  code: 'MALFORMED_CERTIFICATE' | 'CA_CERTIFICATE_INVALID',
): X509Certificate {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new KeysError(code, 'expected a PEM certificate');
  }
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new KeysError(code, 'the certificate does not parse', { cause: error });
  }
}

/** Canonical hex of a serial number: lowercase, whole bytes, no leading zero bytes ('00' for zero). */
export function normalizeSerial(serial: string): string {
  const digits = serial.toLowerCase().replace(/^0x/, '').replace(/^0+/, '');
  if (digits.length === 0) return '00';
  return digits.length % 2 ? `0${digits}` : digits;
}

/**
 * Verifies a vehicle certificate against the vehicle CA with node:crypto and returns what it binds.
 * Codes: MALFORMED_CERTIFICATE, CA_CERTIFICATE_INVALID, CERTIFICATE_UNTRUSTED, CERTIFICATE_NOT_YET_VALID,
 * CERTIFICATE_EXPIRED, CERTIFICATE_NOT_VEHICLE, CERTIFICATE_REVOKED.
 */
export function verifyVehicleCertificate(
  certPem: string,
  caCertPem: string,
  atOrOptions?: Date | VerifyVehicleCertificateOptions,
): VerifiedVehicleCertificate {
  const options: VerifyVehicleCertificateOptions =
    atOrOptions instanceof Date ? { at: atOrOptions } : (atOrOptions ?? {});
  const at = options.at ?? new Date();
  const ca = parseCertificate(caCertPem, 'CA_CERTIFICATE_INVALID');
  const cert = parseCertificate(certPem, 'MALFORMED_CERTIFICATE');
  if (!ca.ca)
    throw new KeysError('CA_CERTIFICATE_INVALID', 'the trust anchor is not a CA certificate');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new KeysError(
      'CERTIFICATE_UNTRUSTED',
      'the certificate was not issued by this vehicle CA',
    );
  }
  if (cert.ca)
    throw new KeysError('CERTIFICATE_NOT_VEHICLE', 'a CA certificate is not a vehicle certificate');
  if (!(cert.keyUsage ?? []).includes(OID_CLIENT_AUTH)) {
    throw new KeysError(
      'CERTIFICATE_NOT_VEHICLE',
      'the certificate lacks the clientAuth extended key usage',
    );
  }
  if (at < cert.validFromDate) {
    throw new KeysError(
      'CERTIFICATE_NOT_YET_VALID',
      `the certificate is valid from ${cert.validFromDate.toISOString()}`,
    );
  }
  const expired = at > cert.validToDate || at > ca.validToDate;
  if (at < ca.validFromDate) {
    throw new KeysError('CERTIFICATE_NOT_YET_VALID', 'the CA certificate is not yet valid');
  }
  if (expired && !options.allowExpired) {
    throw new KeysError(
      'CERTIFICATE_EXPIRED',
      `the certificate expired at ${cert.validToDate.toISOString()}`,
    );
  }
  const serialNumber = normalizeSerial(cert.serialNumber);
  if (options.revokedSerials?.has(serialNumber)) {
    throw new KeysError('CERTIFICATE_REVOKED', `certificate ${serialNumber} is revoked`);
  }
  let attributes: [string, string][];
  try {
    attributes = parseCertificateParts(cert.raw).subjectAttributes;
  } catch (error) {
    throw new KeysError('CERTIFICATE_NOT_VEHICLE', 'the subject does not parse', { cause: error });
  }
  const commitments = attributes.filter(([oid]) => oid === OID_COMMON_NAME).map(([, v]) => v);
  const ecuSerials = attributes.filter(([oid]) => oid === OID_SERIAL_NUMBER).map(([, v]) => v);
  const vinCommitment = commitments[0];
  const ecuSerial = ecuSerials[0];
  if (
    commitments.length !== 1 ||
    ecuSerials.length !== 1 ||
    !vinCommitment ||
    !ecuSerial ||
    !isVinCommitment(vinCommitment)
  ) {
    throw new KeysError(
      'CERTIFICATE_NOT_VEHICLE',
      'the subject does not bind one VIN commitment and one ECU serial',
    );
  }
  const publicKey = cert.publicKey;
  if (detectKeyType(publicKey) !== 'ecdsa-p256') {
    throw new KeysError(
      'CERTIFICATE_NOT_VEHICLE',
      'a vehicle certificate holds an ECDSA P-256 key',
    );
  }
  return {
    vinCommitment,
    ecuSerial,
    publicKey,
    serialNumber,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    expired,
  };
}
