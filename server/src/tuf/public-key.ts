import { createPublicKey, type KeyObject } from 'node:crypto';
import { toTufPublicKey, type TufPublicKey } from '@tufchain/keys';
import { ServerError } from '../error.js';

/**
 * Refuses a TUF public key that is not a key of its declared type written the one way signers
 * write it (ed25519: 32 bytes of lower-case hex; ecdsa: a P-256 SPKI PEM). Anything else would be
 * delegated under a key id no signature can ever carry.
 */
export function assertTufPublicKey(key: TufPublicKey): void {
  let parsed: KeyObject;
  let canonical: TufPublicKey;
  try {
    parsed =
      key.keytype === 'ed25519'
        ? createPublicKey({
            key: {
              kty: 'OKP',
              crv: 'Ed25519',
              x: Buffer.from(key.keyval.public, 'hex').toString('base64url'),
            },
            format: 'jwk',
          })
        : createPublicKey(key.keyval.public);
    canonical = toTufPublicKey(parsed);
  } catch (error) {
    throw new ServerError('PUBLIC_KEY_INVALID', `not a ${key.keytype} public key`, {
      cause: error,
    });
  }
  if (
    canonical.keytype !== key.keytype ||
    canonical.scheme !== key.scheme ||
    canonical.keyval.public !== key.keyval.public
  ) {
    throw new ServerError(
      'PUBLIC_KEY_INVALID',
      `a ${canonical.keytype} key is written as { keytype: ${canonical.keytype}, scheme: ${canonical.scheme} } with its public value in canonical form`,
    );
  }
}
