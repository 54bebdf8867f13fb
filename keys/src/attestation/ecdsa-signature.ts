import { TAG, childrenOf, readOne, tlv, unsignedInteger } from '../util/der-bytes.js';

// ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. A signature is canonical
// when it is strict DER and its s is in the lower half (as Bitcoin's BIP 62 and Go's crypto
// require for "low-s"), so a signed statement has exactly one valid encoding.

/** The order n of P-256 (SEC 2, secp256r1). */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const P256_HALF_ORDER = P256_ORDER >> 1n;

function readDerSignature(der: Uint8Array): { r: bigint; s: bigint } | undefined {
  try {
    const sequence = readOne(Buffer.from(der), TAG.SEQUENCE);
    const parts = childrenOf(sequence);
    if (parts.length !== 2) return undefined;
    const values: bigint[] = [];
    for (const part of parts) {
      const c = part.content;
      if (part.tag !== TAG.INTEGER || c.length === 0) return undefined;
      if ((c[0] ?? 0) & 0x80) return undefined; // negative
      // A needless leading zero is BER, not DER.
      if (c[0] === 0 && c.length > 1 && !((c[1] ?? 0) & 0x80)) return undefined;
      values.push(BigInt(`0x${c.toString('hex')}`));
    }
    const [r = 0n, s = 0n] = values;
    if (r <= 0n || r >= P256_ORDER || s <= 0n || s >= P256_ORDER) return undefined;
    return { r, s };
  } catch {
    return undefined;
  }
}

function encodeDerSignature(r: bigint, s: bigint): Uint8Array {
  const magnitude = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
  return new Uint8Array(
    tlv(TAG.SEQUENCE, unsignedInteger(magnitude(r)), unsignedInteger(magnitude(s))),
  );
}

/** True when `der` is a strict-DER P-256 ECDSA signature with 0 < r < n and 0 < s <= n/2. */
export function isCanonicalEcdsaSignature(der: Uint8Array): boolean {
  const sig = readDerSignature(der);
  return (
    sig !== undefined &&
    sig.s <= P256_HALF_ORDER &&
    Buffer.from(der).equals(encodeDerSignature(sig.r, sig.s))
  );
}

/**
 * The canonical form of a P-256 ECDSA signature: strict DER with s replaced by n - s when s is
 * in the upper half. Node's crypto (OpenSSL) returns either; both verify. A signature that is
 * not DER is returned unchanged (verification refuses it).
 */
export function normalizeEcdsaSignature(der: Uint8Array): Uint8Array {
  const sig = readDerSignature(der);
  if (!sig) return der;
  return encodeDerSignature(sig.r, sig.s > P256_HALF_ORDER ? P256_ORDER - sig.s : sig.s);
}
