import { createHash, type KeyObject } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { KeysError } from './error.js';
import { detectKeyType, toPublicKeyObject } from './key-type.js';

export interface TufPublicKey {
  keytype: 'ed25519' | 'ecdsa';
  scheme: 'ed25519' | 'ecdsa-sha2-nistp256';
  keyval: { public: string };
}

/**
 * The TUF form of a public key: ed25519 as 32 raw bytes in hex, ECDSA P-256 as SPKI PEM.
 * A private key is accepted too; only its public half is used.
 */
export function toTufPublicKey(key: KeyObject): TufPublicKey {
  const publicKey = toPublicKeyObject(key);
  switch (detectKeyType(publicKey)) {
    case 'ed25519': {
      const jwk = publicKey.export({ format: 'jwk' });
      if (typeof jwk.x !== 'string') throw new KeysError('WRONG_KEY_TYPE', 'ed25519 key without x');
      return {
        keytype: 'ed25519',
        scheme: 'ed25519',
        keyval: { public: Buffer.from(jwk.x, 'base64url').toString('hex') },
      };
    }
    case 'ecdsa-p256':
      return {
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: { public: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
      };
  }
}

/** TUF key ID: hex SHA-256 of the canonical JSON of the key object. */
export function computeKeyId(key: TufPublicKey): string {
  const canonical = canonicalize({
    keytype: key.keytype,
    scheme: key.scheme,
    keyval: { public: key.keyval.public },
  });
  return createHash('sha256').update(canonical).digest('hex');
}
