import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from './checkpoint.js';
import {
  createNoteSigner,
  createNoteVerifier,
  formatVerifierKey,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from './signed-note.js';

const vector = JSON.parse(
  readFileSync(new URL('./testdata/sumdb-note-vector.json', import.meta.url), 'utf8'),
) as {
  verifierKey: string;
  signerKey: string;
  text: string;
  note: string;
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

const newKey = (name: string) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signer: createNoteSigner(name, privateKey),
    verifier: createNoteVerifier(name, publicKey),
    publicKey,
  };
};

describe('signed notes (C2SP signed-note)', () => {
  it('reproduces the published golang.org/x/mod sumdb/note vector byte for byte', async () => {
    const signer = parseSignerKey(vector.signerKey);
    expect(await signNote(vector.text, [signer])).toBe(vector.note);
    const verifier = parseVerifierKey(vector.verifierKey);
    expect(verifier.keyId).toBe(0xc74f20a3);
    expect(openNote(vector.note, [verifier]).text).toBe(vector.text);
  });

  it('formats a verifier key that parses back to the same key ID', () => {
    const { verifier, publicKey } = newKey('tufchain.example/log');
    const vkey = formatVerifierKey('tufchain.example/log', publicKey);
    expect(parseVerifierKey(vkey).keyId).toBe(verifier.keyId);
  });

  const verifier = () => parseVerifierKey(vector.verifierKey);
  const attacks: { desc: string; note: () => string | Uint8Array; wantCode: string }[] = [
    {
      desc: 'edited text',
      note: () => vector.note.replace('cryptography', 'cryptographY'),
      wantCode: 'NOTE_SIGNATURE_INVALID',
    },
    {
      desc: 'a signature by an unknown key only',
      note: () => vector.note.replace('PeterNeumann', 'EnochRoot'),
      wantCode: 'NOTE_UNSIGNED_BY_TRUSTED_KEY',
    },
    {
      desc: 'no blank line before the signatures',
      note: () => vector.note.replace('\n\n', '\n'),
      wantCode: 'MALFORMED_NOTE',
    },
    { desc: 'no final newline', note: () => vector.note.slice(0, -1), wantCode: 'MALFORMED_NOTE' },
    {
      desc: 'a control character',
      note: () => vector.note.replace('If', 'I\u0007f'),
      wantCode: 'MALFORMED_NOTE',
    },
    {
      desc: 'a hyphen instead of the em dash',
      note: () => vector.note.replace('\u2014', '-'),
      wantCode: 'MALFORMED_NOTE',
    },
    {
      desc: 'non-canonical base64',
      note: () => vector.note.replace('AM=\n', 'AM\n'),
      wantCode: 'MALFORMED_NOTE',
    },
    {
      desc: 'a truncated signature',
      note: () => vector.note.replace(/ x08go\S+/, ' x08g'),
      wantCode: 'MALFORMED_NOTE',
    },
    {
      desc: 'invalid UTF-8 bytes',
      note: () => Buffer.concat([Buffer.from([0xff]), Buffer.from(vector.note)]),
      wantCode: 'MALFORMED_NOTE',
    },
    { desc: 'no signature lines', note: () => vector.text + '\n', wantCode: 'MALFORMED_NOTE' },
  ];
  for (const { desc, note, wantCode } of attacks) {
    it(`throws ${wantCode} for ${desc}`, () => {
      expect(codeOf(() => openNote(note(), [verifier()]))).toBe(wantCode);
    });
  }

  it('ignores unknown signers and accepts a note co-signed by a trusted key', async () => {
    const a = newKey('a.example');
    const b = newKey('b.example');
    const note = await signNote('hello\n', [a.signer, b.signer]);
    expect(openNote(note, [b.verifier]).verifiedBy).toEqual([
      { name: 'b.example', keyId: b.verifier.keyId },
    ]);
    expect(parseNote(note).signatures).toHaveLength(2);
  });

  it('rejects malformed verifier keys with MALFORMED_KEY', () => {
    for (const bad of [
      '',
      'name',
      'na me+c74f20a3+AAAA',
      vector.verifierKey.replace('c74f20a3', 'c74f20a4'),
      vector.verifierKey + 'x',
    ]) {
      expect(codeOf(() => parseVerifierKey(bad))).toBe('MALFORMED_KEY');
    }
  });

  it('never throws anything but MALFORMED_NOTE or a verification code on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .string()
            .map((s) => `${s}\n\n\u2014 PeterNeumann ${Buffer.from(s).toString('base64')}\n`),
        ),
        (s) => {
          expect([
            'MALFORMED_NOTE',
            'NOTE_UNSIGNED_BY_TRUSTED_KEY',
            'NOTE_SIGNATURE_INVALID',
          ]).toContain(codeOf(() => openNote(s, [verifier()])));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  const cp: Checkpoint = {
    origin: 'tufchain.example/log',
    size: 12345,
    rootHash: new Uint8Array(32).fill(7),
    extensions: [],
  };

  it('signs and opens a checkpoint', async () => {
    const { signer, verifier } = newKey('tufchain.example/log');
    const note = await signCheckpoint(cp, [signer]);
    expect(
      note.startsWith(
        'tufchain.example/log\n12345\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u2014 tufchain.example/log ',
      ),
    ).toBe(true);
    expect(openCheckpoint(note, [verifier], 'tufchain.example/log')).toEqual(cp);
    expect(codeOf(() => openCheckpoint(note, [verifier], 'other.example/log'))).toBe(
      'ORIGIN_MISMATCH',
    );
  });

  it('round-trips any checkpoint through format and parse', () => {
    fc.assert(
      fc.property(
        fc.record({
          origin: fc.stringMatching(/^[a-z0-9./-]{1,40}$/),
          size: fc.nat(),
          rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          extensions: fc.array(fc.stringMatching(/^[ -~]{1,30}$/), { maxLength: 3 }),
        }),
        (c) => {
          expect(parseCheckpoint(formatCheckpoint(c))).toEqual(c);
        },
      ),
    );
  });

  const bodies: { desc: string; text: string }[] = [
    {
      desc: 'a size with a leading zero',
      text: 'o\n012\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
    },
    { desc: 'a negative size', text: 'o\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n' },
    { desc: 'a 31-byte root', text: 'o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==\n' },
    { desc: 'a missing root line', text: 'o\n1\n' },
    { desc: 'an empty origin', text: '\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n' },
  ];
  for (const { desc, text } of bodies) {
    it(`throws MALFORMED_CHECKPOINT for ${desc}`, () => {
      expect(codeOf(() => parseCheckpoint(text))).toBe('MALFORMED_CHECKPOINT');
    });
  }
});
