import { createPublicKey } from 'node:crypto';
import { KeysError } from './error.js';
import { detectKeyType } from './key-type.js';
import type { Signer } from './signer.js';
import { computeKeyId, toTufPublicKey } from './tuf-key.js';

export interface ExternalSignerOptions {
  /** SPKI PEM of the key held by the HSM or KMS. */
  publicKeyPem: string;
  /**
   * Signs `data` inside the device. ed25519: the raw 64-byte signature. ECDSA P-256: a signature over
   * SHA-256(data) (e.g. PKCS#11 CKM_ECDSA_SHA256, AWS KMS ECDSA_SHA_256 with MessageType RAW), either
   * DER-encoded or raw r||s; say which in `ecdsaSignatureFormat`.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  ecdsaSignatureFormat?: 'der' | 'raw';
}

function derInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = Buffer.from(bytes.subarray(start));
  const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** Converts an IEEE P1363 (raw r||s, 64 bytes for P-256) ECDSA signature to DER, as TUF expects. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64)
    throw new KeysError('INVALID_ARGUMENT', 'a raw P-256 signature is 64 bytes');
  const r = derInteger(raw.subarray(0, 32));
  const s = derInteger(raw.subarray(32));
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, r.length + s.length]), r, s]));
}

/**
 * The adapter for HSM and KMS keys: the private key never leaves the device, this wraps its signing
 * call into the Signer seam (TUF key id, public key, DER signatures for ECDSA).
 */
export function createExternalSigner(options: ExternalSignerOptions): Signer {
  if (options.publicKeyPem.includes('PRIVATE KEY')) {
    throw new KeysError('WRONG_KEY_TYPE', 'expected a public key, got a private key');
  }
  let publicKeyObject;
  try {
    publicKeyObject = createPublicKey(options.publicKeyPem);
  } catch (error) {
    throw new KeysError('MALFORMED_PEM', 'the external public key does not parse', {
      cause: error,
    });
  }
  if (publicKeyObject.type !== 'public')
    throw new KeysError('WRONG_KEY_TYPE', 'expected a public key');
  const keyType = detectKeyType(publicKeyObject);
  const publicKey = toTufPublicKey(publicKeyObject);
  const pem = publicKeyObject.export({ type: 'spki', format: 'pem' }).toString();
  const raw = keyType === 'ecdsa-p256' && options.ecdsaSignatureFormat === 'raw';
  return {
    keyType,
    keyId: computeKeyId(publicKey),
    publicKey,
    publicKeyPem: () => pem,
    sign: async (data) => {
      const signature = await options.sign(data);
      return raw ? ecdsaRawToDer(signature) : signature;
    },
  };
}
