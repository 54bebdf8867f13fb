import { canonicalize } from '@tufjs/canonical-json';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  decodeLogEntry,
  EncodedLogEntry,
  encodeLogEntry,
  type LogEntryDocument,
} from './entry.js';

const recall = (reason: string): LogEntryDocument => ({
  type: 'recall',
  subject: `0x${'ab'.repeat(32)}`,
  reason,
});

/** JSON values without floats (OLPC canonical JSON has none). */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    // any UTF-16 code unit: control characters and lone surrogates too
    fc.string({ unit: fc.nat(0xffff).map((n) => String.fromCharCode(n)) }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('encodeLogEntry', () => {
  it.each([
    { desc: 'a NUL', reason: 'brake\u0000regression' },
    { desc: 'every C0 control character', reason: String.fromCharCode(...Array(32).keys()) },
    { desc: 'DEL and the C1 controls', reason: '\u007f\u0085\u009f' },
    { desc: 'U+2028 and U+2029', reason: 'line\u2028para\u2029' },
    { desc: 'a lone high surrogate', reason: 'x\ud800y' },
    { desc: 'a lone low surrogate', reason: '\udc00' },
    { desc: 'a surrogate pair', reason: '\ud83d\ude97' },
    { desc: 'quotes and backslashes', reason: '"\\"' },
  ])('writes valid JSON that reads back exactly for a string with $desc', ({ reason }) => {
    const bytes = encodeLogEntry(recall(reason));
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    expect(JSON.parse(text)).toEqual(recall(reason));
    expect(decodeLogEntry(bytes)).toEqual(recall(reason));
  });

  it('is byte for byte the OLPC canonical JSON of any document without control characters or lone surrogates (property)', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const text = canonicalize(value);
        // eslint-disable-next-line no-control-regex -- documents with control characters differ
        fc.pre(!/[\u0000-\u001f]|[\ud800-\udfff]/.test(text));
        expect(canonicalJson(value)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('reads back any document exactly (property)', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('reads an entry a server wrote before control characters were escaped', () => {
    const legacy = new TextEncoder().encode(canonicalize(recall('a\u0001b\nc')));
    expect(() => JSON.parse(new TextDecoder().decode(legacy)) as unknown).toThrow();
    expect(decodeLogEntry(legacy)).toEqual(recall('a\u0001b\nc'));
  });
});

describe('EncodedLogEntry.installAttestation (the intake encodes a report once)', () => {
  const payload = (statement: unknown): string =>
    Buffer.from(JSON.stringify(statement)).toString('base64');

  it('is byte for byte encodeLogEntry of the report, and holds the bundle as canonicalJson (property)', () => {
    fc.assert(
      fc.property(jsonValue, jsonValue, (extra, statement) => {
        const bundle = {
          mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          extra,
          dsseEnvelope: {
            payload: payload(statement),
            payloadType: 'application/vnd.in-toto+json',
          },
        };
        let doc: Uint8Array;
        try {
          doc = encodeLogEntry({ type: 'install-attestation', bundle });
        } catch (error) {
          // the same refusal (a VIN-shaped string), with the same code and path
          expect(() => EncodedLogEntry.installAttestation(bundle)).toThrow(
            expect.objectContaining({ message: (error as Error).message }),
          );
          return;
        }
        const { entry, bundleJson } = EncodedLogEntry.installAttestation(bundle);
        expect(Buffer.from(entry.data).equals(Buffer.from(doc))).toBe(true);
        expect(entry.kind).toBe('install-attestation');
        expect(bundleJson).toBe(canonicalJson(bundle));
        expect(EncodedLogEntry.is(entry)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a VIN in the signed payload with PERSONAL_DATA_REJECTED', () => {
    const bundle = { dsseEnvelope: { payload: payload({ ecu: { serial: '1HGCM82633A004352' } }) } };
    expect(() => EncodedLogEntry.installAttestation(bundle)).toThrow(
      expect.objectContaining({ code: 'PERSONAL_DATA_REJECTED' }),
    );
  });

  it('is told apart from a document that copies its fields', () => {
    const { entry } = EncodedLogEntry.installAttestation({ a: 1 });
    expect(EncodedLogEntry.is({ kind: entry.kind, data: entry.data })).toBe(false);
    expect(EncodedLogEntry.is(null)).toBe(false);
  });
});

describe('encodeLogEntry of a campaign state change', () => {
  const entry = {
    type: 'campaign',
    campaign: `urn:tufchain:campaign:${'ab'.repeat(16)}`,
    seq: 2,
    event: 'wave-started',
    at: '2026-01-01T00:00:00.000Z',
    detail: { wave: 1, membersSha256: 'c'.repeat(64) },
  } as const;

  it('encodes a change in the profile, and reads it back', () => {
    expect(decodeLogEntry(encodeLogEntry(entry))).toEqual(entry);
  });

  it.each([
    { desc: 'an unknown event', tamper: { event: 'exploded' } },
    { desc: 'a seq of 0', tamper: { seq: 0 } },
    { desc: 'a campaign that is not a campaign URN', tamper: { campaign: 'urn:tufchain:x:1' } },
    { desc: 'an extra field', tamper: { vehicle: 'c'.repeat(64) } },
  ])('refuses $desc with MALFORMED_ENTRY', ({ tamper }) => {
    expect(() => encodeLogEntry({ ...entry, ...tamper } as unknown as LogEntryDocument)).toThrow(
      expect.objectContaining({ code: 'MALFORMED_ENTRY' }),
    );
  });

  it('refuses a VIN in its details with PERSONAL_DATA_REJECTED', () => {
    expect(() => encodeLogEntry({ ...entry, detail: { reason: 'WVWZZZ1JZXW000001' } })).toThrow(
      expect.objectContaining({ code: 'PERSONAL_DATA_REJECTED' }),
    );
  });
});
