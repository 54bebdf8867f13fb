import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { KeysError } from './error.js';
import { readEncryptedKeyFile } from './key-file.js';

/**
 * The signing seam for chain accounts (the release-log publisher, the log operator): ECDSA over
 * secp256k1 of a 32-byte digest the caller computed (for EVM, keccak256 of the transaction),
 * never hashed again. The key behind it lives in an encrypted key file
 * (createSecp256k1FileSigner) or in an HSM/KMS (createExternalSecp256k1Signer); the chain side
 * wraps it as an ethers signer and checks every signature against `publicKey`.
 */
export interface Secp256k1Signer {
  readonly keyType: 'secp256k1';
  /** SEC1 uncompressed public key, 0x04 || X || Y (65 bytes). */
  readonly publicKey: Uint8Array;
  /** The account address: the last 20 bytes of keccak256(X || Y), EIP-55 checksummed. */
  readonly address: string;
  /** SPKI PEM of the public key. */
  publicKeyPem(): string;
  /** Raw r || s (64 bytes, low s) of an ECDSA signature over `digest` (32 bytes). */
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
}

export function isSecp256k1Key(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp256k1';
}

/** A new secp256k1 key pair (store the private key with writeEncryptedKeyFile). */
export function generateSecp256k1KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
}

/** A KeyObject for an existing 32-byte secp256k1 private key (to encrypt it into a key file). */
export function importSecp256k1PrivateKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32 || !secp256k1.utils.isValidPrivateKey(raw)) {
    throw new KeysError('INVALID_ARGUMENT', 'a secp256k1 private key is 32 bytes in [1, n)');
  }
  const point = secp256k1.getPublicKey(raw, false);
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
  return createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'secp256k1',
      d: b64(raw),
      x: b64(point.subarray(1, 33)),
      y: b64(point.subarray(33)),
    },
    format: 'jwk',
  });
}

function toChecksumAddress(hex40: string): string {
  const hash = Buffer.from(keccak_256(new TextEncoder().encode(hex40))).toString('hex');
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    out += Number.parseInt(hash[i]!, 16) >= 8 ? hex40[i]!.toUpperCase() : hex40[i]!;
  }
  return out;
}

/** The EIP-55 account address of a SEC1 uncompressed (65-byte) secp256k1 public key. */
export function secp256k1Address(publicKey: Uint8Array): string {
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) {
    throw new KeysError('INVALID_ARGUMENT', 'expected an uncompressed secp256k1 public key');
  }
  const hex = Buffer.from(keccak_256(publicKey.subarray(1)).subarray(12)).toString('hex');
  return toChecksumAddress(hex);
}

function uncompressedPoint(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new KeysError('MALFORMED_PEM', 'the secp256k1 public key has no coordinates');
  }
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x04]),
      Buffer.from(jwk.x, 'base64url'),
      Buffer.from(jwk.y, 'base64url'),
    ]),
  );
}

function checkDigest(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) {
    throw new KeysError('INVALID_ARGUMENT', 'a digest to sign is exactly 32 bytes');
  }
}

/** A signer over an in-memory secp256k1 private key. */
export function createSecp256k1KeySigner(privateKey: KeyObject): Secp256k1Signer {
  if (privateKey.type !== 'private') {
    throw new KeysError('WRONG_KEY_TYPE', `expected a private key, got a ${privateKey.type} key`);
  }
  if (!isSecp256k1Key(privateKey)) {
    throw new KeysError('WRONG_KEY_TYPE', 'expected a secp256k1 key (a chain account key)');
  }
  const d = privateKey.export({ format: 'jwk' }).d;
  if (typeof d !== 'string') throw new KeysError('MALFORMED_PEM', 'no private scalar');
  const scalar = new Uint8Array(Buffer.from(d, 'base64url'));
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = uncompressedPoint(publicKeyObject);
  const pem = publicKeyObject.export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyType: 'secp256k1',
    publicKey,
    address: secp256k1Address(publicKey),
    publicKeyPem: () => pem,
    // RFC 6979 deterministic nonce, low s (as Ethereum requires since EIP-2).
    signDigest: (digest) =>
      Promise.resolve(digest).then((d) => {
        checkDigest(d);
        return secp256k1.sign(d, scalar, { lowS: true }).toCompactRawBytes();
      }),
  };
}

/** A signer over an encrypted PKCS#8 secp256k1 key file (see writeEncryptedKeyFile). */
export async function createSecp256k1FileSigner(
  path: string,
  passphrase: string,
): Promise<Secp256k1Signer> {
  return createSecp256k1KeySigner(await readEncryptedKeyFile(path, passphrase));
}

export interface ExternalSecp256k1SignerOptions {
  /** SPKI PEM of the secp256k1 key held by the HSM or KMS. */
  publicKeyPem: string;
  /**
   * Signs the 32-byte digest inside the device without hashing it again (PKCS#11 `CKM_ECDSA`,
   * AWS KMS `ECDSA_SHA_256` with `MessageType: DIGEST` on an `ECC_SECG_P256K1` key, ...).
   */
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
  /** What signDigest returns: DER (KMS) or raw r || s (PKCS#11). Default DER. */
  signatureFormat?: 'der' | 'raw';
}

/**
 * The adapter for chain-account keys in an HSM or KMS: the private key never leaves the device.
 * Signatures come back as raw r || s with low s; whether they really belong to `publicKeyPem`
 * is checked by the chain side on every signature (recovering the key from it).
 */
export function createExternalSecp256k1Signer(
  options: ExternalSecp256k1SignerOptions,
): Secp256k1Signer {
  if (options.publicKeyPem.includes('PRIVATE KEY')) {
    throw new KeysError('WRONG_KEY_TYPE', 'expected a public key, got a private key');
  }
  let publicKeyObject: KeyObject;
  try {
    publicKeyObject = createPublicKey(options.publicKeyPem);
  } catch (error) {
    throw new KeysError('MALFORMED_PEM', 'the external public key does not parse', {
      cause: error,
    });
  }
  if (publicKeyObject.type !== 'public' || !isSecp256k1Key(publicKeyObject)) {
    throw new KeysError('WRONG_KEY_TYPE', 'expected a secp256k1 public key');
  }
  const publicKey = uncompressedPoint(publicKeyObject);
  const pem = publicKeyObject.export({ type: 'spki', format: 'pem' }).toString();
  const raw = options.signatureFormat === 'raw';
  return {
    keyType: 'secp256k1',
    publicKey,
    address: secp256k1Address(publicKey),
    publicKeyPem: () => pem,
    signDigest: async (digest) => {
      checkDigest(digest);
      const signature = await options.signDigest(digest);
      let parsed;
      try {
        parsed = raw
          ? secp256k1.Signature.fromCompact(signature)
          : secp256k1.Signature.fromDER(signature);
      } catch (error) {
        throw new KeysError('INVALID_ARGUMENT', 'the external signer returned no ECDSA signature', {
          cause: error,
        });
      }
      return parsed.normalizeS().toCompactRawBytes();
    },
  };
}
