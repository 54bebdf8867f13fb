import fc from 'fast-check';
import { keccak256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { ContractsError } from './error.js';
import { hardwareIdHash } from './hardware-id.js';

describe('hardwareIdHash', () => {
  it('is keccak256 of the UTF-8 bytes, as 0x-prefixed lowercase bytes32 hex', () => {
    // keccak256("ecu-brake-v1"), computed independently of this module.
    expect(hardwareIdHash('ecu-brake-v1')).toBe(keccak256(Buffer.from('ecu-brake-v1', 'utf8')));
    expect(hardwareIdHash('ECU-Ä')).not.toBe(hardwareIdHash('ecu-ä'));
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (id) => {
        const h = hardwareIdHash(id);
        expect(h).toMatch(/^0x[0-9a-f]{64}$/);
        expect(h).toBe(keccak256(toUtf8Bytes(id)));
      }),
    );
  });

  describe('when the hardware ID is empty', () => {
    it('throws INVALID_HARDWARE_ID', () => {
      expect(() => hardwareIdHash('')).toThrow(ContractsError);
      try {
        hardwareIdHash('');
      } catch (err) {
        expect((err as ContractsError).code).toBe('INVALID_HARDWARE_ID');
      }
    });
  });
});
