import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeysError } from './error.js';

export type KeyType = 'ed25519' | 'ecdsa-p256';

/** The key type of a private or public KeyObject; throws UNSUPPORTED_KEY_TYPE for anything else. */
export function detectKeyType(key: KeyObject): KeyType {
  if (key.type === 'secret') {
    throw new KeysError('WRONG_KEY_TYPE', 'expected an asymmetric key, got a secret key');
  }
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ecdsa-p256';
  }
  const detail = key.asymmetricKeyDetails?.namedCurve ?? '';
  throw new KeysError(
    'UNSUPPORTED_KEY_TYPE',
    `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}${detail ? ` (${detail})` : ''}; use ed25519 or ecdsa-p256`,
  );
}

export function requirePrivateKey(key: KeyObject): KeyType {
  if (key.type !== 'private') {
    throw new KeysError('WRONG_KEY_TYPE', `expected a private key, got a ${key.type} key`);
  }
  return detectKeyType(key);
}

export function toPublicKeyObject(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

/**
 * What an encrypted key file may hold: a TUF key type, or a secp256k1 chain-account key (which
 * signs only through Secp256k1Signer, never as a TUF key).
 */
export function requireStorablePrivateKey(key: KeyObject): void {
  if (
    key.type === 'private' &&
    key.asymmetricKeyType === 'ec' &&
    key.asymmetricKeyDetails?.namedCurve === 'secp256k1'
  ) {
    return;
  }
  requirePrivateKey(key);
}
