import { describe, expect, it } from 'vitest';
import { decodeTufchainLogError, tufchainLogInterface } from './tufchain-log.js';

describe('decodeTufchainLogError', () => {
  const iface = tufchainLogInterface();
  const data = iface.encodeErrorResult('VersionNotIncreasing', [7n, 3n]);

  it('decodes a custom error from raw revert data', () => {
    expect(decodeTufchainLogError(data)).toEqual({ name: 'VersionNotIncreasing', args: [7n, 3n] });
  });

  it('finds the revert data inside the nested errors ethers and RPC clients throw', () => {
    const shapes = [
      { code: 'CALL_EXCEPTION', data },
      { info: { error: { code: 3, message: 'execution reverted', data } } },
      { error: { error: { data } } },
      new Error('wrapped', { cause: { data } }),
    ];
    for (const shape of shapes) {
      expect(decodeTufchainLogError(shape)?.name).toBe('VersionNotIncreasing');
    }
  });

  it('returns undefined for errors that carry no TufchainLog custom error', () => {
    const notOurs = [
      undefined,
      'execution reverted',
      { data: '0x' },
      { data: '0x08c379a0' }, // Error(string) selector without a body
      { data: `0xdeadbeef${'00'.repeat(32)}` },
      { data: tufchainLogInterface().encodeErrorResult('Error(string)', ['plain revert']) },
      {
        data: tufchainLogInterface()
          .encodeErrorResult('VersionNotIncreasing', [1n, 1n])
          .slice(0, 40),
      },
    ];
    for (const x of notOurs) expect(decodeTufchainLogError(x)).toBeUndefined();
  });
});
