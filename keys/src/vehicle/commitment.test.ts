import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeVinCommitment } from './commitment.js';

const VIN_CHARS = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ'.split('');
const vinArb = fc
  .array(fc.constantFrom(...VIN_CHARS), { minLength: 17, maxLength: 17 })
  .map((c) => c.join(''));
const saltArb = fc.uint8Array({ minLength: 16, maxLength: 64 });

describe('computeVinCommitment', () => {
  it('is 64 hex characters, deterministic, and case-insensitive in the VIN (property)', () => {
    fc.assert(
      fc.property(vinArb, saltArb, (vin, salt) => {
        const c = computeVinCommitment(vin, salt);
        expect(c).toMatch(/^[0-9a-f]{64}$/);
        expect(computeVinCommitment(vin.toLowerCase(), salt)).toBe(c);
        expect(c).not.toContain(vin.toLowerCase());
      }),
    );
  });

  it('changes with the salt and with the VIN (property)', () => {
    fc.assert(
      fc.property(vinArb, vinArb, saltArb, saltArb, (a, b, s1, s2) => {
        fc.pre(a !== b && Buffer.compare(s1, s2) !== 0);
        expect(computeVinCommitment(a, s1)).not.toBe(computeVinCommitment(b, s1));
        expect(computeVinCommitment(a, s1)).not.toBe(computeVinCommitment(a, s2));
      }),
    );
  });

  it.each([
    {
      desc: 'a VIN of 16 characters',
      vin: '1HGCM82633A00435',
      salt: new Uint8Array(16),
      wantCode: 'INVALID_VIN',
    },
    {
      desc: 'a VIN with the letter O',
      vin: '1HGCM82633A0O4352',
      salt: new Uint8Array(16),
      wantCode: 'INVALID_VIN',
    },
    {
      desc: 'a salt of 8 bytes',
      vin: '1HGCM82633A004352',
      salt: new Uint8Array(8),
      wantCode: 'INVALID_SALT',
    },
  ])('throws $wantCode for $desc', ({ vin, salt, wantCode }) => {
    expect(() => computeVinCommitment(vin, salt)).toThrow(
      expect.objectContaining({ code: wantCode }),
    );
  });
});
