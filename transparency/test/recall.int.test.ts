import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainReader, ReleaseLogWriter, TransparencyError } from '../src/index.js';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';

const digest = () => '0x' + randomBytes(32).toString('hex');

let t: TestChain;
let reader: ChainReader;

beforeAll(async () => {
  t = await startTestChain();
  reader = new ChainReader({
    rpcUrls: [t.chain.rpcUrl],
    quorum: 1,
    confirmations: 1,
    contractAddress: t.address,
    chainId: t.chain.chainId,
    fromBlock: t.deployBlock,
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('ReleaseLogWriter.recallFirmware', () => {
  describe('when the publisher recalls two digests', () => {
    it('records both on chain, where the reader sees them recalled', async () => {
      const writer = new ReleaseLogWriter({
        signer: t.publisher,
        contractAddress: t.address,
        confirmations: 1,
      });
      const [a, b, untouched] = [digest(), digest(), digest()];
      const receipt = await writer.recallFirmware([a, b], 'CVE-2026-0001');
      expect(receipt.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(await reader.isRecalled(a)).toBe(true);
      expect(await reader.isRecalled(b)).toBe(true);
      expect(await reader.isRecalled(untouched)).toBe(false);
    });
  });

  describe('when a revocation is retried after the digests were already recalled', () => {
    it('succeeds with the receipt of the earlier recall instead of reverting', async () => {
      const writer = new ReleaseLogWriter({
        signer: t.publisher,
        contractAddress: t.address,
        confirmations: 1,
      });
      const d = digest();
      const first = await writer.recallFirmware([d], 'bad build');
      const again = await writer.recallFirmware([d], 'bad build');
      expect(again.txHash).toBe(first.txHash);
    });
  });

  describe('when the signer holds no publisher role', () => {
    it('throws NOT_PUBLISHER and recalls nothing', async () => {
      const writer = new ReleaseLogWriter({
        signer: t.stranger,
        contractAddress: t.address,
        confirmations: 1,
      });
      const d = digest();
      const err = await writer.recallFirmware([d], 'sabotage').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransparencyError);
      expect((err as TransparencyError).code).toBe('NOT_PUBLISHER');
      expect(await reader.isRecalled(d)).toBe(false);
    });
  });
});
