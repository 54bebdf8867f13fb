import { createHash, type KeyObject } from 'node:crypto';

/** SPKI DER of a named-curve P-256 key up to the point: what KeyObject.export writes for one. */
const P256_SPKI_PREFIX = Buffer.from(
  '3059301306072a8648ce3d020106082a8648ce3d03010703420004',
  'hex',
);
const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 64;

const digests = new WeakMap<KeyObject, Buffer>();
const p256 = new WeakSet<KeyObject>();

/** Whether rememberSpki saw this key's SPKI as P-256 (false: not known, ask the key). */
export function knownP256(key: KeyObject): boolean {
  return p256.has(key);
}

/** SHA-256 of the key's SPKI DER as `key.export({ type: 'spki', format: 'der' })` writes it. */
export function spkiSha256(key: KeyObject): Buffer {
  let digest = digests.get(key);
  if (!digest) {
    digest = createHash('sha256')
      .update(key.export({ type: 'spki', format: 'der' }))
      .digest();
    digests.set(key, digest);
  }
  return digest;
}

/**
 * Records the SPKI a certificate carries for `key`, when it is byte for byte what export() would
 * write (P-256, named curve, uncompressed point): OpenSSL 3's encoder costs a tenth of a
 * millisecond, as much as a signature verification. True when it did: the key is P-256.
 */
export function rememberSpki(key: KeyObject, spkiDer: Uint8Array): boolean {
  if (
    spkiDer.length !== P256_SPKI_LENGTH ||
    !P256_SPKI_PREFIX.equals(spkiDer.subarray(0, P256_SPKI_PREFIX.length))
  )
    return false;
  digests.set(key, createHash('sha256').update(spkiDer).digest());
  p256.add(key);
  return true;
}
