import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { TransparencyError } from '../error.js';

/** C2SP signed-note signature type for Ed25519. */
export const NOTE_ED25519 = 0x01;
/** Verifiers must accept at least 16 signatures; beyond this many the note is refused. */
const MAX_SIGNATURES = 100;
const MAX_NOTE_BYTES = 1 << 20;

export interface NoteSigner {
  readonly name: string;
  /** uint32 key ID (big-endian first four bytes of the key hash). */
  readonly keyId: number;
  sign(text: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The signed text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

const utf8 = new TextEncoder();

function checkKeyName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    /[\s+]/u.test(name) ||
    /\p{Zs}/u.test(name)
  ) {
    throw new TransparencyError(
      'MALFORMED_KEY',
      'key names must be non-empty, without spaces or "+"',
    );
  }
}

/** key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian. */
export function computeNoteKeyId(name: string, type: number, publicKey: Uint8Array): number {
  const digest = createHash('sha256')
    .update(utf8.encode(name))
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest();
  return digest.readUInt32BE(0);
}

function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new TransparencyError('MALFORMED_KEY', 'expected an Ed25519 key');
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw new TransparencyError('MALFORMED_KEY', 'Ed25519 public keys are 32 bytes');
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
      format: 'jwk',
    });
  } catch (err) {
    throw new TransparencyError('MALFORMED_KEY', 'invalid Ed25519 public key', { cause: err });
  }
}

/** Ed25519 note signer from a private KeyObject. */
export function createNoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  checkKeyName(name);
  const publicKey = rawEd25519PublicKey(createPublicKey(privateKey));
  return {
    name,
    keyId: computeNoteKeyId(name, NOTE_ED25519, publicKey),
    sign: (text) => new Uint8Array(sign(null, text, privateKey)),
  };
}

/** Ed25519 note verifier from a public KeyObject. */
export function createNoteVerifier(name: string, publicKey: KeyObject): NoteVerifier {
  checkKeyName(name);
  const raw = rawEd25519PublicKey(publicKey);
  return {
    name,
    keyId: computeNoteKeyId(name, NOTE_ED25519, raw),
    verify: (text, signature) =>
      signature.length === 64 && verify(null, text, publicKey, signature),
  };
}

/** The verifier key string `name+hex(keyId)+base64(0x01 || pubkey)`. */
export function formatVerifierKey(name: string, publicKey: KeyObject): string {
  checkKeyName(name);
  const raw = rawEd25519PublicKey(publicKey);
  const id = computeNoteKeyId(name, NOTE_ED25519, raw).toString(16).padStart(8, '0');
  return `${name}+${id}+${Buffer.concat([Buffer.from([NOTE_ED25519]), raw]).toString('base64')}`;
}

function strictBase64(s: string, what: string): Buffer {
  const b = Buffer.from(s, 'base64');
  if (s.length === 0 || b.toString('base64') !== s) {
    throw new TransparencyError('MALFORMED_KEY', `${what} is not canonical base64`);
  }
  return b;
}

/** Parses a verifier key string; only Ed25519 (type 0x01) keys are supported. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const first = vkey.indexOf('+');
  const second = vkey.indexOf('+', first + 1);
  if (first <= 0 || second < 0)
    throw new TransparencyError('MALFORMED_KEY', 'expected name+id+key');
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex))
    throw new TransparencyError('MALFORMED_KEY', 'key ID must be 8 hex digits');
  const material = strictBase64(vkey.slice(second + 1), 'key');
  if (material[0] !== NOTE_ED25519 || material.length !== 33) {
    throw new TransparencyError('MALFORMED_KEY', 'only Ed25519 (0x01) verifier keys are supported');
  }
  const raw = new Uint8Array(material.subarray(1));
  if (computeNoteKeyId(name, NOTE_ED25519, raw) !== Number.parseInt(idHex, 16)) {
    throw new TransparencyError('MALFORMED_KEY', 'key ID does not match the key');
  }
  return createNoteVerifier(name, ed25519PublicKeyFromRaw(raw));
}

/** Parses a Go-style signer key `PRIVATE+KEY+name+id+base64(0x01 || seed)` (for test vectors and tooling). */
export function parseSignerKey(skey: string): NoteSigner {
  const prefix = 'PRIVATE+KEY+';
  if (!skey.startsWith(prefix))
    throw new TransparencyError('MALFORMED_KEY', 'expected PRIVATE+KEY+');
  const rest = skey.slice(prefix.length);
  const first = rest.indexOf('+');
  const second = rest.indexOf('+', first + 1);
  if (first <= 0 || second < 0)
    throw new TransparencyError('MALFORMED_KEY', 'expected name+id+key');
  const name = rest.slice(0, first);
  const material = strictBase64(rest.slice(second + 1), 'key');
  if (material[0] !== NOTE_ED25519 || material.length !== 33) {
    throw new TransparencyError('MALFORMED_KEY', 'only Ed25519 (0x01) signer keys are supported');
  }
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const pkcs8 = Buffer.concat([
    Buffer.from('302e020100300506032b657004220420', 'hex'),
    material.subarray(1),
  ]);
  const signer = createNoteSigner(
    name,
    createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
  );
  if (signer.keyId !== Number.parseInt(rest.slice(first + 1, second), 16)) {
    throw new TransparencyError('MALFORMED_KEY', 'key ID does not match the key');
  }
  return signer;
}

function checkText(text: string, code: 'MALFORMED_NOTE'): void {
  if (!text.endsWith('\n')) throw new TransparencyError(code, 'note text must end with a newline');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) {
    throw new TransparencyError(code, 'note contains control characters');
  }
  if (text.includes('\uFFFD')) throw new TransparencyError(code, 'note is not valid UTF-8');
}

/** Signs `text` (which must end in a newline) with every signer, as a C2SP signed note. */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  checkText(text, 'MALFORMED_NOTE');
  if (signers.length === 0)
    throw new TransparencyError('MALFORMED_NOTE', 'a note needs at least one signature');
  const bytes = utf8.encode(text);
  let out = text + '\n';
  for (const s of signers) {
    const sig = await s.sign(bytes);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId >>> 0);
    out += `\u2014 ${s.name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
  }
  return out;
}

/** Splits a signed note into its text and signature lines. Throws MALFORMED_NOTE. */
export function parseNote(input: string | Uint8Array): ParsedNote {
  let note: string;
  if (typeof input === 'string') {
    note = input;
  } else {
    if (input.length > MAX_NOTE_BYTES)
      throw new TransparencyError('MALFORMED_NOTE', 'note too large');
    try {
      note = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (err) {
      throw new TransparencyError('MALFORMED_NOTE', 'note is not valid UTF-8', { cause: err });
    }
  }
  if (note.length > MAX_NOTE_BYTES) throw new TransparencyError('MALFORMED_NOTE', 'note too large');
  checkText(note, 'MALFORMED_NOTE');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new TransparencyError('MALFORMED_NOTE', 'note has no signature block');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw new TransparencyError('MALFORMED_NOTE', 'too many signatures');
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m) throw new TransparencyError('MALFORMED_NOTE', 'malformed signature line');
    const name = m[1]!;
    if (name.includes('+')) throw new TransparencyError('MALFORMED_NOTE', 'key name contains "+"');
    const blob = Buffer.from(m[2]!, 'base64');
    if (blob.toString('base64') !== m[2] || blob.length < 5) {
      throw new TransparencyError('MALFORMED_NOTE', 'malformed signature encoding');
    }
    return { name, keyId: blob.readUInt32BE(0), signature: new Uint8Array(blob.subarray(4)) };
  });
  if (signatures.length === 0)
    throw new TransparencyError('MALFORMED_NOTE', 'note has no signatures');
  return { text, signatures };
}

/**
 * Verifies a signed note against trusted verifiers and returns its text. Signatures by unknown
 * keys are ignored; a known key whose signature fails rejects the note (NOTE_SIGNATURE_INVALID);
 * no verified known signature -> NOTE_UNSIGNED_BY_TRUSTED_KEY.
 */
export function openNote(
  input: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): { text: string; verifiedBy: { name: string; keyId: number }[] } {
  const parsed = parseNote(input);
  const bytes = utf8.encode(parsed.text);
  const verifiedBy: { name: string; keyId: number }[] = [];
  for (const sig of parsed.signatures) {
    const verifier = verifiers.find((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (!verifier) continue;
    if (!verifier.verify(bytes, sig.signature)) {
      throw new TransparencyError(
        'NOTE_SIGNATURE_INVALID',
        `signature by ${sig.name} does not verify`,
      );
    }
    if (!verifiedBy.some((v) => v.name === sig.name && v.keyId === sig.keyId)) {
      verifiedBy.push({ name: sig.name, keyId: sig.keyId });
    }
  }
  if (verifiedBy.length === 0) {
    throw new TransparencyError('NOTE_UNSIGNED_BY_TRUSTED_KEY', 'no signature by a trusted key');
  }
  return { text: parsed.text, verifiedBy };
}
