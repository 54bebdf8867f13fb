import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { KeysError } from './error.js';
import { readEncryptedKeyFile } from './key-file.js';
import type { KeyType } from './key-type.js';
import { requirePrivateKey } from './key-type.js';
import { decryptPrivateKey } from './pkcs8.js';
import { computeKeyId, toTufPublicKey, type TufPublicKey } from './tuf-key.js';

/**
 * The signing seam. Implement it for an HSM (PKCS#11) or a cloud KMS: return ed25519 signatures
 * raw (64 bytes) and ECDSA P-256 signatures DER-encoded over SHA-256 of `data`.
 */
export interface Signer {
  readonly keyType: KeyType;
  /** TUF key id of the public key. */
  readonly keyId: string;
  readonly publicKey: TufPublicKey;
  /** SPKI PEM of the public key. */
  publicKeyPem(): string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A signer over an in-memory private key. */
export function createKeySigner(privateKey: KeyObject): Signer {
  const keyType = requirePrivateKey(privateKey);
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = toTufPublicKey(publicKeyObject);
  const keyId = computeKeyId(publicKey);
  const pem = publicKeyObject.export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyType,
    keyId,
    publicKey,
    publicKeyPem: () => pem,
    sign: (data) => {
      const signature =
        keyType === 'ed25519'
          ? cryptoSign(null, data, privateKey)
          : cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
      return Promise.resolve(new Uint8Array(signature));
    },
  };
}

/** A signer over an encrypted PKCS#8 key file (see writeEncryptedKeyFile). */
export async function createFileSigner(path: string, passphrase: string): Promise<Signer> {
  return createKeySigner(await readEncryptedKeyFile(path, passphrase));
}

/**
 * A signer over an encrypted PKCS#8 key handed over in an environment variable. `envValue` is the
 * variable's value (the caller reads the environment): the PEM itself, or base64 of the PEM or DER.
 */
export function createEnvSigner(envValue: string, passphrase: string): Signer {
  const value = envValue.trim();
  if (value.length === 0) throw new KeysError('MALFORMED_PEM', 'the key variable is empty');
  if (value.includes('-----BEGIN')) return createKeySigner(decryptPrivateKey(value, passphrase));
  if (!/^[A-Za-z0-9+/\s]+={0,2}$/.test(value)) {
    throw new KeysError('MALFORMED_PEM', 'the key variable is neither PEM nor base64');
  }
  const decoded = Buffer.from(value.replace(/\s/g, ''), 'base64');
  const text = decoded.toString('utf8');
  return createKeySigner(
    decryptPrivateKey(text.includes('-----BEGIN') ? text : decoded, passphrase),
  );
}
