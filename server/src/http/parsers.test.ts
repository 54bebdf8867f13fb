import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../error.js';
import { isValidTargetName } from './names.js';
import { parseRange } from './range.js';

describe('parseRange', () => {
  it('returns a range inside the file, undefined, or throws RANGE_NOT_SATISFIABLE — never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.nat(10_000_000), (header, length) => {
        try {
          const r = parseRange(header, length);
          if (r) {
            expect(r.start).toBeGreaterThanOrEqual(0);
            expect(r.end).toBeGreaterThanOrEqual(r.start);
            expect(r.end).toBeLessThan(length);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(ServerError);
          expect((error as ServerError).code).toBe('RANGE_NOT_SATISFIABLE');
        }
      }),
    );
  });

  it('serves exactly the requested bytes of well-formed ranges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.nat(), (length, a, b) => {
        const start = a % length;
        const end = start + (b % (length - start));
        expect(parseRange(`bytes=${start}-${end}`, length)).toEqual({ start, end });
      }),
    );
  });
});

describe('isValidTargetName', () => {
  it('accepts only flat, printable ASCII names without traversal', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 250, unit: 'binary' }), (name) => {
        if (!isValidTargetName(name)) return;
        expect(name.length).toBeLessThanOrEqual(200);
        expect([...name].every((ch) => ch > ' ' && ch < '\x7f' && ch !== '/' && ch !== '\\')).toBe(
          true,
        );
        expect(name).not.toContain('..');
        expect(name.startsWith('.')).toBe(false);
        expect(encodeURIComponent(name)).toBe(name.replace(/\+/g, '%2B'));
      }),
    );
  });
});
