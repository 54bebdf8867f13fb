import { X509Certificate, sign, verify, type KeyObject } from 'node:crypto';
import { KeysError } from '../error.js';
import { parseCertificateParts } from '../util/certificate-der.js';
import {
  TAG,
  childrenOf,
  eachChild,
  encodeTime,
  expectTag,
  integerHex,
  oidBytes,
  readOidString,
  readOne,
  readSmallInteger,
  readTime,
  smallInteger,
  tlv,
  unsignedInteger,
  type Tlv,
} from '../util/der-bytes.js';
import { decodePemBlocks, encodePem } from '../util/pem.js';
import { loadVehicleCa, type VehicleCa } from './ca.js';
import { normalizeSerial } from './verify.js';

// CRLs are built and read over raw DER here: for a fleet CRL of 100k entries node-forge's ASN.1
// needs 1.5-4x the time and 3-10x the heap, asn1js far more (README "ASN.1 codecs"; the keys bench
// fails when that stops being true).

const DAY_MS = 24 * 60 * 60 * 1000;
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_CRL_BYTES = 64 * 1024 * 1024;
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_CRL_NUMBER = '2.5.29.20';
const OID_REASON_CODE = '2.5.29.21';
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';

const REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
} as const;

export type RevocationReason = keyof typeof REASONS;

/** Every RFC 5280 CRLReason by its code (7 is unused); a CRL read from elsewhere may hold any. */
const CRL_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  undefined,
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export type CrlReason = NonNullable<(typeof CRL_REASONS)[number]>;

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

function extension(oid: string, value: Buffer): Buffer {
  return tlv(TAG.SEQUENCE, oidBytes(oid), tlv(TAG.OCTET_STRING, value));
}

/** An X.509 CRL (RFC 5280 v2, with a CRL number and the authority key id) signed by the vehicle CA, as PEM. */
export function createRevocationList(
  ca: VehicleCa,
  options: CreateRevocationListOptions,
): Promise<string> {
  return new Promise((resolve) => resolve(buildRevocationList(ca, options)));
}

function buildRevocationList(ca: VehicleCa, options: CreateRevocationListOptions): string {
  loadVehicleCa(ca);
  if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) {
    throw new KeysError('INVALID_ARGUMENT', 'crlNumber must be a non-negative integer');
  }
  const thisUpdate = options.thisUpdate ?? new Date();
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS);
  if (nextUpdate <= thisUpdate)
    throw new KeysError('INVALID_ARGUMENT', 'nextUpdate must be after thisUpdate');
  const caParts = parseCertificateParts(new X509Certificate(ca.certificatePem).raw);
  const entries = options.revoked.map((entry) => {
    const serial = normalizeSerial(entry.serialNumber);
    if (!/^(0x)?[0-9a-fA-F]+$/.test(entry.serialNumber) || serial.length > 40) {
      throw new KeysError(
        'INVALID_ARGUMENT',
        `not a certificate serial number: ${entry.serialNumber}`,
      );
    }
    const reason = REASONS[entry.reason ?? 'unspecified'];
    if (reason === undefined)
      throw new KeysError('INVALID_ARGUMENT', `unknown revocation reason ${String(entry.reason)}`);
    const entryExtensions =
      reason === 0
        ? []
        : [
            tlv(
              TAG.SEQUENCE,
              extension(OID_REASON_CODE, tlv(TAG.ENUMERATED, Buffer.from([reason]))),
            ),
          ];
    return tlv(
      TAG.SEQUENCE,
      unsignedInteger(Buffer.from(serial.length % 2 ? `0${serial}` : serial, 'hex')),
      encodeTime(entry.revokedAt ?? thisUpdate),
      ...entryExtensions,
    );
  });
  const crlExtensions = [extension(OID_CRL_NUMBER, smallInteger(options.crlNumber))];
  if (caParts.subjectKeyIdentifier) {
    crlExtensions.unshift(
      extension(
        OID_AUTHORITY_KEY_IDENTIFIER,
        tlv(TAG.SEQUENCE, tlv(0x80, caParts.subjectKeyIdentifier)),
      ),
    );
  }
  const algorithm = tlv(TAG.SEQUENCE, oidBytes(OID_ECDSA_WITH_SHA256));
  const tbs = tlv(
    TAG.SEQUENCE,
    smallInteger(1), // v2
    algorithm,
    caParts.subjectRaw,
    encodeTime(thisUpdate),
    encodeTime(nextUpdate),
    ...(entries.length > 0 ? [tlv(TAG.SEQUENCE, ...entries)] : []),
    tlv(0xa0, tlv(TAG.SEQUENCE, ...crlExtensions)),
  );
  const signature = sign('sha256', tbs, { key: ca.privateKey, dsaEncoding: 'der' });
  const crl = tlv(TAG.SEQUENCE, tbs, algorithm, tlv(TAG.BIT_STRING, Buffer.from([0]), signature));
  return encodePem('X509 CRL', crl);
}

export interface RevocationList {
  revokedSerials: ReadonlySet<string>;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  crlNumber: number | undefined;
  stale: boolean;
}

/** One CRL entry as `loadRevocationListDetailed` reads it. */
export interface RevokedCertificate {
  revokedAt: Date;
  /** From the entry's reasonCode extension; `unspecified` when it has none or an unknown code. */
  reason: CrlReason;
}

export interface DetailedRevocationList extends RevocationList {
  /** By serial number, in the form of `revokedSerials`. */
  revoked: ReadonlyMap<string, RevokedCertificate>;
}

interface ParsedCrl {
  tbs: Tlv;
  signature: Buffer;
}

function parseOuter(der: Buffer): ParsedCrl {
  const [tbs, algorithm, signatureValue, ...extra] = childrenOf(readOne(der, TAG.SEQUENCE));
  if (extra.length > 0) throw new Error('DER: extra fields in CertificateList');
  const algorithmOid = readOidString(
    expectTag(
      childrenOf(expectTag(algorithm, TAG.SEQUENCE, 'signatureAlgorithm'))[0],
      TAG.OID,
      'algorithm',
    ),
  );
  if (algorithmOid !== OID_ECDSA_WITH_SHA256) {
    throw new KeysError(
      'REVOCATION_LIST_UNTRUSTED',
      `unsupported CRL signature algorithm ${algorithmOid}`,
    );
  }
  const bits = expectTag(signatureValue, TAG.BIT_STRING, 'signatureValue').content;
  if (bits[0] !== 0) throw new Error('DER: signature BIT STRING with unused bits');
  return {
    tbs: expectTag(tbs, TAG.SEQUENCE, 'tbsCertList'),
    signature: Buffer.from(bits.subarray(1)),
  };
}

/**
 * Parses a CRL and checks that the vehicle CA signed it and that it is current.
 * Codes: MALFORMED_REVOCATION_LIST, CA_CERTIFICATE_INVALID, REVOCATION_LIST_UNTRUSTED,
 * REVOCATION_LIST_NOT_YET_VALID, REVOCATION_LIST_STALE (unless allowStale, then `stale: true`).
 */
export function loadRevocationList(
  crlPem: string,
  caCertPem: string,
  options: { at?: Date; allowStale?: boolean } = {},
): Promise<RevocationList> {
  return new Promise((resolve) => resolve(readRevocationList(crlPem, caCertPem, options, null)));
}

/**
 * `loadRevocationList` that also reads each entry's revocation date and reason, for an auditor
 * that must tell a report signed before the revocation from one signed after it. The same checks
 * and codes; an entry whose date or extensions do not parse makes the list MALFORMED_REVOCATION_LIST.
 */
export function loadRevocationListDetailed(
  crlPem: string,
  caCertPem: string,
  options: { at?: Date; allowStale?: boolean } = {},
): Promise<DetailedRevocationList> {
  return new Promise((resolve) => {
    const revoked = new Map<string, RevokedCertificate>();
    resolve({ ...readRevocationList(crlPem, caCertPem, options, revoked), revoked });
  });
}

/** The reasonCode of a CRL entry's extensions, `unspecified` without one. */
function readEntryReason(extensions: Tlv | undefined): CrlReason {
  if (!extensions) return 'unspecified';
  for (const ext of childrenOf(expectTag(extensions, TAG.SEQUENCE, 'crlEntryExtensions'))) {
    const parts = childrenOf(expectTag(ext, TAG.SEQUENCE, 'Extension'));
    if (readOidString(expectTag(parts[0], TAG.OID, 'extnID')) !== OID_REASON_CODE) continue;
    const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
    const code = readOne(value.content, TAG.ENUMERATED).content;
    return (code.length === 1 ? CRL_REASONS[code[0] ?? 0] : undefined) ?? 'unspecified';
  }
  return 'unspecified';
}

/** `details`: also read each entry's date and reason into it. */
function readRevocationList(
  crlPem: string,
  caCertPem: string,
  options: { at?: Date; allowStale?: boolean },
  details: Map<string, RevokedCertificate> | null,
): RevocationList {
  const at = options.at ?? new Date();
  let caPublicKey: KeyObject;
  let caSubject: Buffer;
  try {
    const ca = new X509Certificate(caCertPem);
    if (!ca.ca) throw new Error('not a CA');
    caPublicKey = ca.publicKey;
    caSubject = parseCertificateParts(ca.raw).subjectRaw;
  } catch (error) {
    throw new KeysError('CA_CERTIFICATE_INVALID', 'the CA certificate is not usable', {
      cause: error,
    });
  }
  let der: Buffer;
  let outer: ParsedCrl;
  try {
    const blocks = decodePemBlocks(String(crlPem), 'MALFORMED_REVOCATION_LIST');
    const block = blocks.length === 1 ? blocks[0] : undefined;
    if (!block || (block.label !== 'X509 CRL' && block.label !== 'CRL'))
      throw new Error('not a PEM CRL');
    if (block.der.length > MAX_CRL_BYTES) throw new Error('revocation list too large');
    der = block.der;
    outer = parseOuter(der);
  } catch (error) {
    if (error instanceof KeysError && error.code !== 'MALFORMED_REVOCATION_LIST') throw error;
    throw new KeysError('MALFORMED_REVOCATION_LIST', 'the revocation list does not parse', {
      cause: error,
    });
  }
  let signed: boolean;
  try {
    signed = verify(
      'sha256',
      outer.tbs.raw,
      { key: caPublicKey, dsaEncoding: 'der' },
      outer.signature,
    );
  } catch {
    signed = false;
  }
  if (!signed)
    throw new KeysError(
      'REVOCATION_LIST_UNTRUSTED',
      'the revocation list was not signed by this CA',
    );

  // Signed by the CA from here on; a parse failure still means a malformed list, not an attack.
  let thisUpdate: Date;
  let nextUpdate: Date | undefined;
  let crlNumber: number | undefined;
  const revokedSerials = new Set<string>();
  try {
    const fields = childrenOf(outer.tbs);
    let i = 0;
    if (fields[i]?.tag === TAG.INTEGER) {
      if (readSmallInteger(fields[i] as Tlv) !== 1) throw new Error('only v2 CRLs are supported');
      i++;
    }
    expectTag(fields[i++], TAG.SEQUENCE, 'signature');
    const issuer = expectTag(fields[i++], TAG.SEQUENCE, 'issuer');
    if (!issuer.raw.equals(caSubject)) {
      throw new KeysError('REVOCATION_LIST_UNTRUSTED', 'the revocation list names another issuer');
    }
    thisUpdate = readTime(fields[i++] ?? expectTag(undefined, TAG.UTC_TIME, 'thisUpdate'));
    const maybeNext = fields[i];
    if (maybeNext && (maybeNext.tag === TAG.UTC_TIME || maybeNext.tag === TAG.GENERALIZED_TIME)) {
      nextUpdate = readTime(maybeNext);
      i++;
    }
    if (fields[i]?.tag === TAG.SEQUENCE) {
      for (const entry of eachChild(fields[i] as Tlv)) {
        const [serial, date, extensions] = childrenOf(
          expectTag(entry, TAG.SEQUENCE, 'revokedCertificate'),
        );
        const hex = integerHex(expectTag(serial, TAG.INTEGER, 'userCertificate'));
        revokedSerials.add(hex);
        details?.set(hex, {
          revokedAt: readTime(date ?? expectTag(undefined, TAG.UTC_TIME, 'revocationDate')),
          reason: readEntryReason(extensions),
        });
      }
      i++;
    }
    if (fields[i]?.tag === 0xa0) {
      for (const ext of childrenOf(
        expectTag(childrenOf(fields[i] as Tlv)[0], TAG.SEQUENCE, 'crlExtensions'),
      )) {
        const parts = childrenOf(ext);
        if (readOidString(expectTag(parts[0], TAG.OID, 'extnID')) === OID_CRL_NUMBER) {
          const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
          crlNumber = readSmallInteger(readOne(value.content, TAG.INTEGER));
        }
      }
      i++;
    }
    if (i !== fields.length) throw new Error('DER: unexpected fields in tbsCertList');
  } catch (error) {
    if (error instanceof KeysError) throw error;
    throw new KeysError('MALFORMED_REVOCATION_LIST', 'the revocation list does not parse', {
      cause: error,
    });
  }
  if (thisUpdate.getTime() > at.getTime() + CLOCK_SKEW_MS) {
    throw new KeysError(
      'REVOCATION_LIST_NOT_YET_VALID',
      `the revocation list starts at ${thisUpdate.toISOString()}`,
    );
  }
  const stale = nextUpdate !== undefined && nextUpdate < at;
  if (stale && !options.allowStale) {
    throw new KeysError(
      'REVOCATION_LIST_STALE',
      `the revocation list expired at ${nextUpdate?.toISOString() ?? ''}`,
    );
  }
  return { revokedSerials, thisUpdate, nextUpdate, crlNumber, stale };
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
