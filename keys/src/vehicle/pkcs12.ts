import {
  createHash,
  createHmac,
  createPrivateKey,
  randomBytes,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { KeysError } from '../error.js';
import { requirePrivateKey } from '../key-type.js';
import { encodePem } from '../util/pem.js';
import {
  bmpString,
  child,
  children,
  decode,
  encode,
  explicit,
  int,
  nullValue,
  octets,
  oid,
  readExplicit,
  readInt,
  readOctets,
  readOid,
  seq,
  set,
  type Asn1,
} from '../util/der.js';
import type { VehicleIdentity } from './ca.js';

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SHA1 = '1.3.14.3.2.26';

const MAC_ITERATIONS = 2048;
const MAX_MAC_ITERATIONS = 10_000_000;

/** RFC 7292 appendix B key derivation, used for the PFX integrity MAC. */
function pkcs12Kdf(
  hash: 'sha256' | 'sha1',
  password: string,
  salt: Buffer,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  const u = hash === 'sha256' ? 32 : 20;
  const v = 64;
  const pass = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) pass.writeUInt16BE(password.charCodeAt(i), i * 2);
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length] ?? 0;
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(pass)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    blocks.push(A);
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] ?? 0) + (B[k] ?? 0) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function attributes(localKeyId: Buffer, friendlyName: string | undefined): Asn1 {
  const attrs = [seq([oid(OID_LOCAL_KEY_ID), set([octets(localKeyId)])])];
  if (friendlyName) attrs.push(seq([oid(OID_FRIENDLY_NAME), set([bmpString(friendlyName)])]));
  return set(attrs);
}

function dataContentInfo(content: Buffer): Asn1 {
  return seq([oid(OID_DATA), explicit(0, octets(content))]);
}

/**
 * A PKCS#12 (PFX) provisioning bundle for the factory line: the vehicle key as a pkcs8ShroudedKeyBag
 * (PBES2, AES-256-CBC), the vehicle certificate and the CA certificate as certBags, and a
 * SHA-256 password MAC. Built from ASN.1 pieces because node-forge's PKCS#12 code is RSA-only.
 */
export function createPkcs12Bundle(
  identity: VehicleIdentity,
  caCertPem: string,
  password: string,
): Uint8Array {
  if (typeof password !== 'string' || password.length === 0) {
    throw new KeysError('EMPTY_PASSPHRASE', 'a PKCS#12 bundle needs a non-empty password');
  }
  requirePrivateKey(identity.privateKey);
  let leaf: X509Certificate;
  let ca: X509Certificate;
  try {
    leaf = new X509Certificate(identity.certificatePem);
    ca = new X509Certificate(caCertPem);
  } catch (error) {
    throw new KeysError('MALFORMED_CERTIFICATE', 'a certificate for the bundle does not parse', {
      cause: error,
    });
  }
  if (!leaf.checkPrivateKey(identity.privateKey)) {
    throw new KeysError('KEY_MISMATCH', 'the vehicle certificate does not match the vehicle key');
  }
  const localKeyId = createHash('sha1').update(leaf.raw).digest();
  const encryptedKey = identity.privateKey.export({
    type: 'pkcs8',
    format: 'der',
    cipher: 'aes-256-cbc',
    passphrase: password,
  });
  const keyBag = seq([
    oid(OID_SHROUDED_KEY_BAG),
    explicit(0, decode(encryptedKey)),
    attributes(localKeyId, `vehicle ${identity.ecuSerial}`),
  ]);
  const certBag = (der: Buffer, attrs: Asn1 | undefined): Asn1 =>
    seq([
      oid(OID_CERT_BAG),
      explicit(0, seq([oid(OID_X509_CERTIFICATE), explicit(0, octets(der))])),
      ...(attrs ? [attrs] : []),
    ]);
  const certContents = encode(
    seq([
      certBag(leaf.raw, attributes(localKeyId, `vehicle ${identity.ecuSerial}`)),
      certBag(ca.raw, undefined),
    ]),
  );
  const keyContents = encode(seq([keyBag]));
  const authSafe = encode(seq([dataContentInfo(certContents), dataContentInfo(keyContents)]));

  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf('sha256', password, macSalt, 3, MAC_ITERATIONS, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const pfx = seq([
    int(3),
    dataContentInfo(authSafe),
    seq([
      seq([seq([oid(OID_SHA256), nullValue()]), octets(mac)]),
      octets(macSalt),
      int(MAC_ITERATIONS),
    ]),
  ]);
  return new Uint8Array(encode(pfx));
}

export interface Pkcs12Contents {
  privateKey: KeyObject;
  certificatePem: string;
  caCertificatePems: string[];
}

function verifyMac(macData: Asn1 | undefined, authSafe: Buffer, password: string): void {
  if (!macData) throw new KeysError('UNSUPPORTED_PKCS12', 'the bundle has no password MAC');
  const parts = children(macData, 'MacData');
  const digestInfo = children(child(parts, 0, 'DigestInfo'), 'DigestInfo');
  const algorithm = readOid(children(child(digestInfo, 0, 'algorithm'), 'AlgorithmIdentifier')[0]);
  const expected = readOctets(digestInfo[1]);
  const salt = readOctets(parts[1]);
  const iterations = parts[2] ? readInt(parts[2]) : 1;
  if (iterations < 1 || iterations > MAX_MAC_ITERATIONS)
    throw new Error('MAC iterations out of range');
  const hash = algorithm === OID_SHA256 ? 'sha256' : algorithm === OID_SHA1 ? 'sha1' : undefined;
  if (!hash) throw new KeysError('UNSUPPORTED_PKCS12', `unsupported MAC digest ${algorithm}`);
  const key = pkcs12Kdf(hash, password, salt, 3, iterations, hash === 'sha256' ? 32 : 20);
  const actual = createHmac(hash, key).update(authSafe).digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new KeysError(
      'WRONG_PASSPHRASE',
      'the password does not match the bundle MAC (wrong password or damaged bundle)',
    );
  }
}

/**
 * Reads a bundle written by createPkcs12Bundle (or any PFX whose safe contents are unencrypted data
 * holding certBags and one PBES2 pkcs8ShroudedKeyBag). The vehicle certificate is the one matching the key.
 */
export function readPkcs12Bundle(p12: Uint8Array, password: string): Pkcs12Contents {
  if (typeof password !== 'string' || password.length === 0) {
    throw new KeysError('EMPTY_PASSPHRASE', 'a PKCS#12 bundle needs a non-empty password');
  }
  const certs: Buffer[] = [];
  const keys: Buffer[] = [];
  try {
    const pfx = children(decode(p12), 'PFX');
    if (readInt(pfx[0]) !== 3) throw new Error('PFX version is not 3');
    const authSafeInfo = children(child(pfx, 1, 'authSafe'), 'ContentInfo');
    if (readOid(authSafeInfo[0]) !== OID_DATA)
      throw new KeysError('UNSUPPORTED_PKCS12', 'public-key integrity mode is not supported');
    const authSafe = readOctets(readExplicit(authSafeInfo[1], 0, 'authSafe content'));
    verifyMac(pfx[2], authSafe, password);
    for (const contentInfo of children(decode(authSafe), 'AuthenticatedSafe')) {
      const parts = children(contentInfo, 'ContentInfo');
      const type = readOid(parts[0]);
      if (type === OID_ENCRYPTED_DATA) {
        throw new KeysError(
          'UNSUPPORTED_PKCS12',
          'encrypted safe contents are not supported; use an unencrypted certificate safe',
        );
      }
      if (type !== OID_DATA)
        throw new KeysError('UNSUPPORTED_PKCS12', `unsupported content type ${type}`);
      const safeContents = children(
        decode(readOctets(readExplicit(parts[1], 0, 'content'))),
        'SafeContents',
      );
      for (const bag of safeContents) {
        const bagParts = children(bag, 'SafeBag');
        const bagId = readOid(bagParts[0]);
        const value = readExplicit(bagParts[1], 0, 'bagValue');
        if (bagId === OID_CERT_BAG) {
          const certBag = children(value, 'CertBag');
          if (readOid(certBag[0]) === OID_X509_CERTIFICATE)
            certs.push(readOctets(readExplicit(certBag[1], 0, 'certValue')));
        } else if (bagId === OID_SHROUDED_KEY_BAG) {
          keys.push(encode(value));
        }
      }
    }
  } catch (error) {
    if (error instanceof KeysError) throw error;
    throw new KeysError('MALFORMED_PKCS12', 'the bundle is not a valid PKCS#12 structure', {
      cause: error,
    });
  }
  if (keys.length !== 1)
    throw new KeysError('MALFORMED_PKCS12', `expected one private key, found ${keys.length}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: keys[0] as Buffer,
      format: 'der',
      type: 'pkcs8',
      passphrase: password,
    });
  } catch (error) {
    throw new KeysError('MALFORMED_PKCS12', 'the private key bag does not decrypt', {
      cause: error,
    });
  }
  requirePrivateKey(privateKey);
  let leafPem: string | undefined;
  const others: string[] = [];
  for (const der of certs) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch (error) {
      throw new KeysError('MALFORMED_PKCS12', 'a certificate bag does not parse', { cause: error });
    }
    const pem = encodePem('CERTIFICATE', der);
    if (!leafPem && cert.checkPrivateKey(privateKey)) leafPem = pem;
    else others.push(pem);
  }
  if (!leafPem)
    throw new KeysError('KEY_MISMATCH', 'no certificate in the bundle matches its private key');
  return { privateKey, certificatePem: leafPem, caCertificatePems: others };
}
