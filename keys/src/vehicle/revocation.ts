import { X509Certificate } from 'node:crypto';
import { KeysError } from '../error.js';
import { decode, encode, int, readInt } from '../util/der.js';
import { decodePemBlocks, encodePem } from '../util/pem.js';
import { loadVehicleCa, type VehicleCa } from './ca.js';
import { normalizeSerial } from './verify.js';
import { ECDSA_P256_SHA256, x509 } from './x509-provider.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const OID_CRL_NUMBER = '2.5.29.20';
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'privilegeWithdrawn';

export interface RevokedCertificateEntry {
  /** Hex serial number of the vehicle certificate (as verifyVehicleCertificate reports it). */
  serialNumber: string;
  revokedAt?: Date;
  reason?: RevocationReason;
}

export interface CreateRevocationListOptions {
  revoked: RevokedCertificateEntry[];
  /** Monotonic CRL number; relying parties keep the highest seen. */
  crlNumber: number;
  thisUpdate?: Date;
  /** Default 7 days after thisUpdate. */
  nextUpdate?: Date;
}

/** An X.509 CRL (RFC 5280, v2, with a CRL number) signed by the vehicle CA, as PEM. */
export async function createRevocationList(
  ca: VehicleCa,
  options: CreateRevocationListOptions,
): Promise<string> {
  const { cert, signingKey } = loadVehicleCa(ca);
  if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) {
    throw new KeysError('INVALID_ARGUMENT', 'crlNumber must be a non-negative integer');
  }
  const thisUpdate = options.thisUpdate ?? new Date();
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS);
  if (nextUpdate <= thisUpdate)
    throw new KeysError('INVALID_ARGUMENT', 'nextUpdate must be after thisUpdate');
  const entries = options.revoked.map((entry) => {
    const serialNumber = normalizeSerial(entry.serialNumber);
    if (!/^[0-9a-f]{1,40}$/.test(serialNumber)) {
      throw new KeysError(
        'INVALID_ARGUMENT',
        `not a certificate serial number: ${entry.serialNumber}`,
      );
    }
    return {
      serialNumber,
      revocationDate: entry.revokedAt ?? thisUpdate,
      reason: x509.X509CrlReason[entry.reason ?? 'unspecified'],
    };
  });
  const crl = await x509.X509CrlGenerator.create({
    issuer: cert.subjectName,
    thisUpdate,
    nextUpdate,
    signingAlgorithm: ECDSA_P256_SHA256,
    signingKey,
    entries,
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(cert),
      new x509.Extension(OID_CRL_NUMBER, false, encode(int(options.crlNumber))),
    ],
  });
  // RFC 7468 label; @peculiar/x509 writes plain "CRL", which OpenSSL does not read.
  return encodePem('X509 CRL', new Uint8Array(crl.rawData));
}

export interface RevocationList {
  revokedSerials: ReadonlySet<string>;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  crlNumber: number | undefined;
  stale: boolean;
}

/**
 * Parses a CRL and checks that the vehicle CA signed it and that it is current.
 * Codes: MALFORMED_REVOCATION_LIST, CA_CERTIFICATE_INVALID, REVOCATION_LIST_UNTRUSTED,
 * REVOCATION_LIST_NOT_YET_VALID, REVOCATION_LIST_STALE (unless allowStale, then `stale: true`).
 */
export async function loadRevocationList(
  crlPem: string,
  caCertPem: string,
  options: { at?: Date; allowStale?: boolean } = {},
): Promise<RevocationList> {
  const at = options.at ?? new Date();
  let crl: x509.X509Crl;
  try {
    const blocks = decodePemBlocks(String(crlPem), 'MALFORMED_REVOCATION_LIST');
    const block = blocks.length === 1 ? blocks[0] : undefined;
    if (!block || (block.label !== 'X509 CRL' && block.label !== 'CRL'))
      throw new Error('not a PEM CRL');
    crl = new x509.X509Crl(new Uint8Array(block.der));
  } catch (error) {
    throw new KeysError('MALFORMED_REVOCATION_LIST', 'the revocation list does not parse', {
      cause: error,
    });
  }
  let ca: x509.X509Certificate;
  try {
    if (!new X509Certificate(caCertPem).ca) throw new Error('not a CA');
    ca = new x509.X509Certificate(caCertPem);
  } catch (error) {
    throw new KeysError('CA_CERTIFICATE_INVALID', 'the CA certificate is not usable', {
      cause: error,
    });
  }
  let signed: boolean;
  try {
    signed = crl.issuer === ca.subject && (await crl.verify({ publicKey: ca.publicKey }));
  } catch {
    signed = false;
  }
  if (!signed)
    throw new KeysError(
      'REVOCATION_LIST_UNTRUSTED',
      'the revocation list was not signed by this CA',
    );
  if (crl.thisUpdate.getTime() > at.getTime() + CLOCK_SKEW_MS) {
    throw new KeysError(
      'REVOCATION_LIST_NOT_YET_VALID',
      `the revocation list starts at ${crl.thisUpdate.toISOString()}`,
    );
  }
  const stale = crl.nextUpdate !== undefined && crl.nextUpdate < at;
  if (stale && !options.allowStale) {
    throw new KeysError(
      'REVOCATION_LIST_STALE',
      `the revocation list expired at ${crl.nextUpdate?.toISOString() ?? ''}`,
    );
  }
  const numberExtension = crl.getExtension(OID_CRL_NUMBER);
  let crlNumber: number | undefined;
  if (numberExtension) {
    try {
      crlNumber = readInt(decode(Buffer.from(numberExtension.value)));
    } catch (error) {
      throw new KeysError('MALFORMED_REVOCATION_LIST', 'the CRL number does not parse', {
        cause: error,
      });
    }
  }
  return {
    revokedSerials: new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber))),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    crlNumber,
    stale,
  };
}

/** Throws CERTIFICATE_REVOKED when the certificate (PEM) or serial number is on the list. */
export function checkRevoked(certificateOrSerial: string, list: RevocationList): void {
  let serial: string;
  if (certificateOrSerial.includes('-----BEGIN CERTIFICATE-----')) {
    try {
      serial = new X509Certificate(certificateOrSerial).serialNumber;
    } catch (error) {
      throw new KeysError('MALFORMED_CERTIFICATE', 'the certificate does not parse', {
        cause: error,
      });
    }
  } else {
    serial = certificateOrSerial;
  }
  const normalized = normalizeSerial(serial);
  if (list.revokedSerials.has(normalized)) {
    throw new KeysError('CERTIFICATE_REVOKED', `certificate ${normalized} is revoked`);
  }
}
