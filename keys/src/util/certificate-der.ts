import {
  TAG,
  childrenOf,
  expectTag,
  readDirectoryString,
  readOidString,
  readOne,
  type Tlv,
} from './der-bytes.js';

const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';

export interface CertificateParts {
  /** The subject Name, byte for byte (an issuer field that names this certificate must equal it). */
  subjectRaw: Buffer;
  /** Subject attributes in order: [oid, value] per AttributeTypeAndValue. */
  subjectAttributes: [string, string][];
  subjectKeyIdentifier: Buffer | undefined;
  /** The SubjectPublicKeyInfo, byte for byte. */
  subjectPublicKeyInfo: Buffer;
}

function tbsFields(der: Buffer): Tlv[] {
  const certificate = childrenOf(readOne(der, TAG.SEQUENCE));
  const fields = childrenOf(expectTag(certificate[0], TAG.SEQUENCE, 'tbsCertificate'));
  // skip the optional [0] version so that index 0 is the serial number
  return fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
}

export function parseNameAttributes(name: Tlv): [string, string][] {
  const attributes: [string, string][] = [];
  for (const rdn of childrenOf(expectTag(name, TAG.SEQUENCE, 'Name'))) {
    for (const atv of childrenOf(expectTag(rdn, TAG.SET, 'RelativeDistinguishedName'))) {
      const [type, value, ...extra] = childrenOf(
        expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'),
      );
      if (!value || extra.length > 0) throw new Error('DER: malformed AttributeTypeAndValue');
      attributes.push([
        readOidString(expectTag(type, TAG.OID, 'attribute type')),
        readDirectoryString(value),
      ]);
    }
  }
  return attributes;
}

/**
 * The serial number (hex of the INTEGER's content bytes) and the SubjectPublicKeyInfo, byte for
 * byte, read without verifying anything: enough to find a certificate's record.
 */
export function parseCertificateIdentity(der: Buffer): {
  serialHex: string;
  subjectPublicKeyInfo: Buffer;
} {
  const fields = tbsFields(der);
  return {
    serialHex: expectTag(fields[0], TAG.INTEGER, 'serialNumber').content.toString('hex'),
    subjectPublicKeyInfo: expectTag(fields[5], TAG.SEQUENCE, 'subjectPublicKeyInfo').raw,
  };
}

/** Reads the parts of an X.509 certificate that node:crypto does not expose as bytes. */
export function parseCertificateParts(der: Buffer): CertificateParts {
  const fields = tbsFields(der);
  const subject = expectTag(fields[4], TAG.SEQUENCE, 'subject');
  const spki = expectTag(fields[5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let subjectKeyIdentifier: Buffer | undefined;
  const extensionsField = fields.find((f) => f.tag === 0xa3);
  if (extensionsField) {
    const extensions = childrenOf(
      expectTag(childrenOf(extensionsField)[0], TAG.SEQUENCE, 'Extensions'),
    );
    for (const extension of extensions) {
      const parts = childrenOf(extension);
      if (readOidString(expectTag(parts[0], TAG.OID, 'extnID')) !== OID_SUBJECT_KEY_IDENTIFIER)
        continue;
      const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
      subjectKeyIdentifier = Buffer.from(readOne(value.content, TAG.OCTET_STRING).content);
    }
  }
  return {
    subjectRaw: Buffer.from(subject.raw),
    subjectAttributes: parseNameAttributes(subject),
    subjectKeyIdentifier,
    subjectPublicKeyInfo: Buffer.from(spki.raw),
  };
}
