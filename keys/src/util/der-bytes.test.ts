import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  childrenOf,
  eachChild,
  encodeTime,
  integerHex,
  oidBytes,
  readOidString,
  readOne,
  readTime,
  smallInteger,
  readSmallInteger,
  tlv,
  unsignedInteger,
} from './der-bytes.js';

describe('der-bytes encodings (property)', () => {
  it('round-trips OIDs', () => {
    const oid = fc
      .tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(fc.nat({ max: 2 ** 31 }), { maxLength: 8 }),
      )
      .map(([a, b, rest]) => [a, b, ...rest].join('.'));
    fc.assert(
      fc.property(oid, (dotted) => {
        expect(readOidString(readOne(oidBytes(dotted)))).toBe(dotted);
      }),
    );
  });

  it('round-trips non-negative integers of any size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const hex = integerHex(readOne(unsignedInteger(bytes)));
        expect(BigInt(`0x${hex}`)).toBe(BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
        // whole bytes, and no leading zero byte except for the value zero itself
        expect(hex.length % 2).toBe(0);
        expect(hex === '00' || !hex.startsWith('00')).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(readSmallInteger(readOne(smallInteger(n)))).toBe(n);
      }),
    );
  });

  it('round-trips times to the second, as UTCTime before 2050 and GeneralizedTime after', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1950-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (date) => {
          const encoded = encodeTime(date);
          expect(encoded[0]).toBe(date.getUTCFullYear() < 2050 ? 0x17 : 0x18);
          expect(readTime(readOne(encoded)).getTime()).toBe(
            Math.floor(date.getTime() / 1000) * 1000,
          );
        },
      ),
    );
  });

  it('encodes lengths in minimal long form and reads them back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (n) => {
        const encoded = tlv(0x04, Buffer.alloc(n));
        expect(readOne(encoded).content.length).toBe(n);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects truncated, padded and non-minimal encodings', () => {
    expect(() => readOne(Buffer.from([0x04, 0x05, 1, 2]))).toThrow(/truncated/);
    expect(() => readOne(Buffer.from([0x04, 0x01, 1, 2]))).toThrow(/trailing/);
    expect(() => readOne(Buffer.from([0x04, 0x81, 0x01, 1]))).toThrow(/non-minimal/);
  });
});

describe('eachChild', () => {
  it('yields the children childrenOf lists, one at a time', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (contents) => {
        const list = readOne(tlv(0x30, ...contents.map((c) => tlv(0x04, c))));
        const yielded = [...eachChild(list)];
        expect(yielded.map((c) => c.raw)).toEqual(childrenOf(list).map((c) => c.raw));
        expect(yielded.map((c) => Buffer.from(c.content))).toEqual(
          contents.map((c) => Buffer.from(c)),
        );
      }),
    );
  });

  it('refuses a primitive element and a truncated child', () => {
    expect(() => [...eachChild(readOne(tlv(0x04, Buffer.from([1]))))]).toThrow(/constructed/);
    expect(() => [...eachChild(readOne(Buffer.from([0x30, 0x02, 0x04, 0x05])))]).toThrow(
      /truncated/,
    );
  });
});
