// Minimal DER reading and writing over raw bytes, for CRLs and the certificate fields they need
// (also read by vehicle/verify.ts): byte-exact slices, and measured 1.5-4x faster with 3-10x less
// heap than node-forge's ASN.1 on a 100k-entry CRL (README "ASN.1 codecs"). PKCS#8 and PKCS#12
// use node-forge's codec (der.ts); certificates and CSRs @peculiar/x509.

export interface Tlv {
  tag: number;
  /** The whole element: header and content. */
  raw: Buffer;
  content: Buffer;
}

function fail(message: string): never {
  throw new Error(`DER: ${message}`);
}

export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) fail('truncated header');
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) fail('multi-byte tags are not used here');
  let length = buf[offset + 1] ?? 0;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) fail('unsupported length');
    if (offset + 2 + count > buf.length) fail('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] ?? 0);
    if (length < 0x80 || (count > 1 && (buf[offset + 2] ?? 0) === 0)) fail('non-minimal length');
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) fail('truncated content');
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** The whole buffer must be exactly one element. */
export function readOne(buf: Buffer, tag?: number): Tlv {
  const tlv = readTlv(buf, 0);
  if (tlv.raw.length !== buf.length) fail('trailing bytes');
  if (tag !== undefined && tlv.tag !== tag)
    fail(`expected tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  return tlv;
}

export function childrenOf(tlv: Tlv): Tlv[] {
  if (!(tlv.tag & 0x20)) fail('not a constructed element');
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < tlv.content.length) {
    const child = readTlv(tlv.content, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** The children of a constructed element one at a time, for lists too long to hold as objects. */
export function* eachChild(tlv: Tlv): Generator<Tlv> {
  if (!(tlv.tag & 0x20)) fail('not a constructed element');
  let offset = 0;
  while (offset < tlv.content.length) {
    const child = readTlv(tlv.content, offset);
    yield child;
    offset += child.raw.length;
  }
}

export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv || tlv.tag !== tag) fail(`expected ${what}`);
  return tlv;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

export function oidBytes(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out = [40 * a + b];
  for (const arc of rest) {
    const base128: number[] = [];
    let v = arc;
    do {
      base128.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < base128.length - 1; i++) base128[i] = (base128[i] ?? 0) | 0x80;
    out.push(...base128);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** A non-negative INTEGER from big-endian magnitude bytes (minimal, with a 0x00 pad when needed). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = Buffer.from(magnitude.subarray(start));
  return tlv(
    TAG.INTEGER,
    (bytes[0] ?? 0) & 0x80
      ? Buffer.concat([Buffer.from([0]), bytes])
      : bytes.length
        ? bytes
        : Buffer.from([0]),
  );
}

export function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) fail('negative or unsafe integer');
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return unsignedInteger(Buffer.from(bytes.length ? bytes : [0]));
}

export function readSmallInteger(t: Tlv): number {
  if (t.tag !== TAG.INTEGER || t.content.length === 0 || t.content.length > 7)
    fail('expected a small INTEGER');
  if ((t.content[0] ?? 0) & 0x80) fail('negative INTEGER');
  let n = 0;
  for (const byte of t.content) n = n * 256 + byte;
  return n;
}

/** Hex of a non-negative INTEGER's magnitude, lowercase, without leading zero bytes. */
export function integerHex(t: Tlv): string {
  if (t.tag !== TAG.INTEGER || t.content.length === 0) fail('expected INTEGER');
  return t.content.toString('hex').replace(/^(00)+(?=.)/, '');
}

export function readOidString(t: Tlv): string {
  if (t.tag !== TAG.OID || t.content.length === 0) fail('expected OID');
  const first = t.content[0] ?? 0;
  const arcs = [
    Math.min(2, Math.floor(first / 40)),
    first - 40 * Math.min(2, Math.floor(first / 40)),
  ];
  let v = 0;
  for (let i = 1; i < t.content.length; i++) {
    const byte = t.content[i] ?? 0;
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

export function encodeTime(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = date.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return year >= 1950 && year < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2) + 'Z'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits + 'Z'));
}

export function readTime(t: Tlv): Date {
  const text = t.content.toString('latin1');
  let m: RegExpExecArray | null;
  if (t.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    const yy = Number(m[1]);
    return new Date(
      Date.UTC(
        yy < 50 ? 2000 + yy : 1900 + yy,
        Number(m[2]) - 1,
        Number(m[3]),
        Number(m[4]),
        Number(m[5]),
        Number(m[6]),
      ),
    );
  }
  if (
    t.tag === TAG.GENERALIZED_TIME &&
    (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))
  ) {
    return new Date(
      Date.UTC(
        Number(m[1]),
        Number(m[2]) - 1,
        Number(m[3]),
        Number(m[4]),
        Number(m[5]),
        Number(m[6]),
      ),
    );
  }
  fail('expected UTCTime or GeneralizedTime');
}

export function readDirectoryString(t: Tlv): string {
  switch (t.tag) {
    case TAG.UTF8_STRING:
      return t.content.toString('utf8');
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
      return t.content.toString('latin1');
    case TAG.BMP_STRING: {
      let s = '';
      for (let i = 0; i + 1 < t.content.length; i += 2)
        s += String.fromCharCode(t.content.readUInt16BE(i));
      return s;
    }
    default:
      fail('unsupported string type');
  }
}
