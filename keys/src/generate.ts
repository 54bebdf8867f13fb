import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { KeysError } from './error.js';
import type { KeyType } from './key-type.js';

export function generateKeyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (type) {
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    default:
      throw new KeysError('UNSUPPORTED_KEY_TYPE', `unsupported key type ${String(type)}`);
  }
}
