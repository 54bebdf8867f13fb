// node-forge's ASN.1 codec, for PKCS#8 key files and PKCS#12 bundles: small structures, BER
// from other tools read too. CRLs use the hand-written der-bytes.ts (README "ASN.1 codecs").
import type * as Forge from 'node-forge';
import { forge } from './forge.js';

const { asn1 } = forge;
export type Asn1 = Forge.asn1.Asn1;

const U = asn1.Class.UNIVERSAL;

export function toBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('binary');
}

export function fromBinary(s: string): Buffer {
  return Buffer.from(s, 'binary');
}

export function seq(items: Asn1[]): Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, items);
}

export function set(items: Asn1[]): Asn1 {
  return asn1.create(U, asn1.Type.SET, true, items);
}

export function oid(dotted: string): Asn1 {
  return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

export function octets(bytes: Uint8Array): Asn1 {
  return asn1.create(U, asn1.Type.OCTETSTRING, false, toBinary(bytes));
}

export function int(n: number): Asn1 {
  return asn1.create(U, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
}

export function nullValue(): Asn1 {
  return asn1.create(U, asn1.Type.NULL, false, '');
}

/** forge encodes and decodes BMPString itself (UTF-16BE), so the value stays a JS string. */
export function bmpString(s: string): Asn1 {
  return asn1.create(U, asn1.Type.BMPSTRING, false, s);
}

export function explicit(tagNumber: number, inner: Asn1): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tagNumber, true, [inner]);
}

export function encode(node: Asn1): Buffer {
  return fromBinary(asn1.toDer(node).getBytes());
}

/** Strict DER decode of the whole buffer; throws on trailing bytes or bad encodings. */
export function decode(bytes: Uint8Array): Asn1 {
  const buffer = forge.util.createBuffer(toBinary(bytes));
  const node = asn1.fromDer(buffer, {
    strict: true,
    parseAllBytes: true,
    decodeBitStrings: false,
  } as unknown as boolean);
  return node;
}

// Readers below throw plain Errors; callers translate them into a KeysError code.

function fail(what: string): never {
  throw new Error(`ASN.1: expected ${what}`);
}

export function children(
  node: Asn1 | undefined,
  what: string,
  type: number = asn1.Type.SEQUENCE,
): Asn1[] {
  if (
    !node ||
    node.tagClass !== U ||
    node.type !== (type as Forge.asn1.Type) ||
    !Array.isArray(node.value)
  )
    fail(what);
  return node.value;
}

export function child(nodes: Asn1[], index: number, what: string): Asn1 {
  const node = nodes[index];
  if (!node) fail(what);
  return node;
}

export function readOid(node: Asn1 | undefined): string {
  if (!node || node.tagClass !== U || node.type !== asn1.Type.OID || typeof node.value !== 'string')
    fail('OID');
  return asn1.derToOid(node.value);
}

export function readOctets(node: Asn1 | undefined, what = 'OCTET STRING'): Buffer {
  if (!node || node.tagClass !== U || node.type !== asn1.Type.OCTETSTRING) fail(what);
  if (typeof node.value === 'string') return fromBinary(node.value);
  // constructed (BER) octet strings: concatenate the pieces
  return Buffer.concat(node.value.map((piece: Asn1) => readOctets(piece, what)));
}

export function readInt(node: Asn1 | undefined, what = 'INTEGER'): number {
  if (
    !node ||
    node.tagClass !== U ||
    node.type !== asn1.Type.INTEGER ||
    typeof node.value !== 'string'
  )
    fail(what);
  if (node.value.length > 6) fail(`${what} (too large)`);
  return asn1.derToInteger(node.value);
}

export function readExplicit(node: Asn1 | undefined, tagNumber: number, what: string): Asn1 {
  if (
    !node ||
    node.tagClass !== asn1.Class.CONTEXT_SPECIFIC ||
    node.type !== (tagNumber as Forge.asn1.Type) ||
    !Array.isArray(node.value)
  ) {
    fail(what);
  }
  return child(node.value, 0, what);
}

export function readBmpString(node: Asn1 | undefined): string {
  if (!node || node.type !== asn1.Type.BMPSTRING || typeof node.value !== 'string')
    fail('BMPString');
  return node.value;
}
