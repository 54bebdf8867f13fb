import {
  createDecipheriv,
  createHash,
  createHmac,
  pbkdf2Sync,
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
import { forge } from '../util/forge.js';
import type { VehicleIdentity } from './ca.js';

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
type MacHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
/** Digest OID -> hash with its output size u and block size v (RFC 7292 appendix B). */
const MAC_HASHES: Record<string, { hash: MacHash; u: number; v: number }> = {
  '1.3.14.3.2.26': { hash: 'sha1', u: 20, v: 64 },
  [OID_SHA256]: { hash: 'sha256', u: 32, v: 64 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', u: 48, v: 128 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', u: 64, v: 128 },
};

const MAC_ITERATIONS = 2048;
const MAX_MAC_ITERATIONS = 1_000_000;

/** RFC 7292 appendix B key derivation, used for the PFX integrity MAC. */
function pkcs12Kdf(
  hash: MacHash,
  password: string,
  salt: Buffer,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  const { u, v } = Object.values(MAC_HASHES).find((h) => h.hash === hash) ?? { u: 32, v: 64 };
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

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const CIPHERS: Record<string, { name: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
};

/** PBES2 (PBKDF2 + AES-CBC) decryption, as OpenSSL 3 writes encrypted certificate safes by default. */
function decryptPbes2(algorithm: Asn1 | undefined, ciphertext: Buffer, password: string): Buffer {
  const alg = children(algorithm, 'AlgorithmIdentifier');
  const algOid = readOid(alg[0]);
  if (algOid !== OID_PBES2) {
    throw new KeysError(
      'UNSUPPORTED_PKCS12',
      `unsupported safe encryption ${algOid} (legacy PKCS#12 PBE); re-export with PBES2`,
    );
  }
  const params = children(alg[1], 'PBES2-params');
  const kdf = children(child(params, 0, 'keyDerivationFunc'), 'AlgorithmIdentifier');
  if (readOid(kdf[0]) !== OID_PBKDF2)
    throw new KeysError('UNSUPPORTED_PKCS12', 'unsupported key derivation');
  const kdfParams = children(kdf[1], 'PBKDF2-params');
  const salt = readOctets(kdfParams[0]);
  const iterations = readInt(kdfParams[1]);
  if (iterations < 1 || iterations > MAX_MAC_ITERATIONS)
    throw new Error('PBKDF2 iterations out of range');
  let prf = 'sha1';
  for (const extra of kdfParams.slice(2)) {
    if (extra.type === forge.asn1.Type.SEQUENCE) {
      const prfOid = readOid(children(extra, 'prf')[0]);
      const hash = PRFS[prfOid];
      if (!hash) throw new KeysError('UNSUPPORTED_PKCS12', `unsupported PBKDF2 PRF ${prfOid}`);
      prf = hash;
    }
  }
  const scheme = children(child(params, 1, 'encryptionScheme'), 'AlgorithmIdentifier');
  const cipher = CIPHERS[readOid(scheme[0])];
  if (!cipher) throw new KeysError('UNSUPPORTED_PKCS12', 'unsupported safe cipher');
  const iv = readOctets(scheme[1]);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, cipher.keyLength, prf);
  try {
    const decipher = createDecipheriv(cipher.name, key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (error) {
    // the MAC already proved the password, so this is a damaged bundle
    throw new KeysError('MALFORMED_PKCS12', 'an encrypted safe does not decrypt', { cause: error });
  }
}

function decryptEncryptedData(node: Asn1, password: string): Buffer {
  const encryptedData = children(node, 'EncryptedData');
  const info = children(child(encryptedData, 1, 'EncryptedContentInfo'), 'EncryptedContentInfo');
  if (readOid(info[0]) !== OID_DATA) throw new Error('encrypted content is not data');
  const content = info[2];
  if (
    !content ||
    content.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC ||
    content.type !== forge.asn1.Type.NONE
  ) {
    throw new Error('missing encryptedContent');
  }
  // [0] IMPLICIT OCTET STRING: primitive bytes, or constructed pieces in BER
  const ciphertext =
    typeof content.value === 'string'
      ? Buffer.from(content.value, 'binary')
      : Buffer.concat(content.value.map((piece) => readOctets(piece)));
  return decryptPbes2(info[1], ciphertext, password);
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
  const hash = MAC_HASHES[algorithm];
  if (!hash) throw new KeysError('UNSUPPORTED_PKCS12', `unsupported MAC digest ${algorithm}`);
  const key = pkcs12Kdf(hash.hash, password, salt, 3, iterations, hash.u);
  const actual = createHmac(hash.hash, key).update(authSafe).digest();
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
      let safeContentsDer: Buffer;
      if (type === OID_ENCRYPTED_DATA) {
        safeContentsDer = decryptEncryptedData(readExplicit(parts[1], 0, 'content'), password);
      } else if (type === OID_DATA) {
        safeContentsDer = readOctets(readExplicit(parts[1], 0, 'content'));
      } else {
        throw new KeysError('UNSUPPORTED_PKCS12', `unsupported content type ${type}`);
      }
      const safeContents = children(decode(safeContentsDer), 'SafeContents');
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
