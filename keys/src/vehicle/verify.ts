import { X509Certificate, type KeyObject } from 'node:crypto';
import { KeysError } from '../error.js';
import { detectKeyType } from '../key-type.js';
import { isVinCommitment } from './commitment.js';
import { parseCertificateIdentity, parseCertificateParts } from '../util/certificate-der.js';
import { rememberSpki } from '../util/spki-digest.js';
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

/** The time-independent result of checking a certificate against a CA (see checkCertificate). */
interface CheckedCertificate {
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  caNotBefore: Date;
  caNotAfter: Date;
  /** What the subject and key bind, or why they bind nothing (CERTIFICATE_NOT_VEHICLE). */
  binding: { vinCommitment: string; ecuSerial: string; publicKey: KeyObject } | { refused: string };
}

/**
 * Certificates already checked, by CA and certificate PEM, most recently used last. A vehicle
 * signs every report with one certificate (a primary, one per ECU it reports for), so its
 * signature by the CA is verified once instead of once per report. Only what the bytes alone
 * decide is kept; time and revocation are checked on every call.
 */
const checked = new Map<string, CheckedCertificate>();
const CHECKED_MAX = 4096;
const cas = new Map<string, X509Certificate>();
const CAS_MAX = 16;

function remember<V>(map: Map<string, V>, max: number, key: string, value: V): V {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
  return value;
}

/** The value under `key`, moved to most recently used. */
function recall<V>(map: Map<string, V>, key: string): V | undefined {
  const value = map.get(key);
  if (value !== undefined) {
    map.delete(key);
    map.set(key, value);
  }
  return value;
}

function trustAnchor(caCertPem: string): X509Certificate {
  const ca =
    cas.get(caCertPem) ??
    remember(cas, CAS_MAX, caCertPem, parseCertificate(caCertPem, 'CA_CERTIFICATE_INVALID'));
  if (!ca.ca)
    throw new KeysError('CA_CERTIFICATE_INVALID', 'the trust anchor is not a CA certificate');
  return ca;
}

function checkCertificate(certPem: string, caCertPem: string): CheckedCertificate {
  const key = `${caCertPem}\0${certPem}`;
  const hit = recall(checked, key);
  if (hit) return hit;
  const ca = trustAnchor(caCertPem);
  const cert = parseCertificate(certPem, 'MALFORMED_CERTIFICATE');
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
  return remember(checked, CHECKED_MAX, key, {
    serialNumber: normalizeSerial(cert.serialNumber),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    caNotBefore: ca.validFromDate,
    caNotAfter: ca.validToDate,
    binding: bindingOf(cert),
  });
}

function bindingOf(cert: X509Certificate): CheckedCertificate['binding'] {
  let parts: ReturnType<typeof parseCertificateParts>;
  try {
    parts = parseCertificateParts(cert.raw);
  } catch {
    return { refused: 'the subject does not parse' };
  }
  const attributes = parts.subjectAttributes;
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
    return { refused: 'the subject does not bind one VIN commitment and one ECU serial' };
  }
  const publicKey = cert.publicKey;
  // A P-256 SPKI in export() form needs no asking OpenSSL for the key's details.
  if (
    !rememberSpki(publicKey, parts.subjectPublicKeyInfo) &&
    detectKeyType(publicKey) !== 'ecdsa-p256'
  ) {
    return { refused: 'a vehicle certificate holds an ECDSA P-256 key' };
  }
  return { vinCommitment, ecuSerial, publicKey };
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
  return judge(checkCertificate(certPem, caCertPem), atOrOptions);
}

/** The checks that depend on the time and the revocation list, the same on every path. */
function judge(
  c: CheckedCertificate,
  atOrOptions?: Date | VerifyVehicleCertificateOptions,
): VerifiedVehicleCertificate {
  const options: VerifyVehicleCertificateOptions =
    atOrOptions instanceof Date ? { at: atOrOptions } : (atOrOptions ?? {});
  const at = options.at ?? new Date();
  if (at < c.notBefore) {
    throw new KeysError(
      'CERTIFICATE_NOT_YET_VALID',
      `the certificate is valid from ${c.notBefore.toISOString()}`,
    );
  }
  const expired = at > c.notAfter || at > c.caNotAfter;
  if (at < c.caNotBefore) {
    throw new KeysError('CERTIFICATE_NOT_YET_VALID', 'the CA certificate is not yet valid');
  }
  if (expired && !options.allowExpired) {
    throw new KeysError(
      'CERTIFICATE_EXPIRED',
      `the certificate expired at ${c.notAfter.toISOString()}`,
    );
  }
  if (options.revokedSerials?.has(c.serialNumber)) {
    throw new KeysError('CERTIFICATE_REVOKED', `certificate ${c.serialNumber} is revoked`);
  }
  if ('refused' in c.binding) throw new KeysError('CERTIFICATE_NOT_VEHICLE', c.binding.refused);
  return {
    ...c.binding,
    serialNumber: c.serialNumber,
    notBefore: new Date(c.notBefore),
    notAfter: new Date(c.notAfter),
    expired,
  };
}

/** What the issuing CA recorded of a vehicle certificate when it issued it (an enrollment record). */
export interface RecordedVehicleCertificate {
  certificatePem: string;
  vinCommitment: string;
  ecuSerial: string;
  notBefore: Date;
  notAfter: Date;
}

/** What verifyRecordedVehicleCertificate took from records, as `checked` holds what it verified. */
const vouched = new Map<string, CheckedCertificate>();

/** The base64 between a CERTIFICATE PEM's armor lines, without whitespace. */
function pemBase64(pem: string): string | undefined {
  const match =
    /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n-----END CERTIFICATE-----\r?\n?$/.exec(
      pem,
    );
  return match?.[1]?.replace(/\r?\n/g, '');
}

/**
 * The serial number of a certificate (lowercase hex, as verifyVehicleCertificate returns it),
 * read from its bytes and not verified: the key its record is found by. Undefined when it does
 * not parse.
 */
export function vehicleCertificateSerial(certPem: string): string | undefined {
  try {
    const body = pemBase64(certPem);
    if (body === undefined) return undefined;
    return normalizeSerial(parseCertificateIdentity(Buffer.from(body, 'base64')).serialHex);
  } catch {
    return undefined;
  }
}

/**
 * verifyVehicleCertificate for a certificate its issuer recorded when it issued it. When `certPem`
 * is byte for byte the recorded certificate and names this CA as its issuer, the record stands
 * for the CA's signature, made and checked at issuance, and for the subject and validity period;
 * time, the CA's own validity and revocation are checked as verifyVehicleCertificate checks them.
 * This spares a report from a new vehicle the certificate parse and the second P-256 verification
 * (RecordedVehicleCertificate comes from the issuer's own store, which it trusts as it trusts its
 * CA key). Undefined when it is not the recorded certificate: verify it in full.
 */
export function verifyRecordedVehicleCertificate(
  certPem: string,
  caCertPem: string,
  recorded: RecordedVehicleCertificate,
  atOrOptions?: Date | VerifyVehicleCertificateOptions,
): VerifiedVehicleCertificate | undefined {
  const body = pemBase64(certPem);
  if (body === undefined || body !== pemBase64(recorded.certificatePem)) return undefined;
  const key = `${caCertPem}\0${certPem}`;
  const hit = recall(vouched, key);
  if (hit) return judge(hit, atOrOptions);
  let cert: X509Certificate;
  let identity: ReturnType<typeof parseCertificateIdentity>;
  try {
    const der = Buffer.from(body, 'base64');
    cert = new X509Certificate(der);
    identity = parseCertificateIdentity(der);
  } catch {
    return undefined;
  }
  const ca = trustAnchor(caCertPem);
  if (!cert.checkIssued(ca)) return undefined;
  // X509Certificate's key costs a third less than createPublicKey on the SPKI (OpenSSL 3 decoders).
  const publicKey = cert.publicKey;
  if (!rememberSpki(publicKey, identity.subjectPublicKeyInfo)) return undefined;
  // Apart from `checked`: a record vouches here, and never for verifyVehicleCertificate.
  const c = remember(vouched, CHECKED_MAX, key, {
    serialNumber: normalizeSerial(identity.serialHex),
    notBefore: recorded.notBefore,
    notAfter: recorded.notAfter,
    caNotBefore: ca.validFromDate,
    caNotAfter: ca.validToDate,
    binding: { vinCommitment: recorded.vinCommitment, ecuSerial: recorded.ecuSerial, publicKey },
  });
  return judge(c, atOrOptions);
}
