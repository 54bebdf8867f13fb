import { Transaction, type Provider, type TransactionResponse } from 'ethers';
import { TransparencyError } from '../error.js';
import { mapChainError } from './errors.js';
import type { ChainReceipt } from './types.js';

export interface WaitOptions {
  confirmations: number;
  pollIntervalMs: number;
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until `tx` is `confirmations` blocks deep (its own block counts as one) on the
 * canonical chain. If the transaction is reorged out, the same signed transaction is
 * broadcast again, so it is included exactly once.
 */
export async function waitForConfirmations(
  provider: Provider,
  tx: TransactionResponse,
  opts: WaitOptions,
  onMined?: (receipt: ChainReceipt) => void,
): Promise<ChainReceipt> {
  const raw = Transaction.from(tx).serialized;
  const deadline = Date.now() + opts.timeoutMs;
  let seenMined = false;
  let reportedBlock: string | undefined;
  for (;;) {
    try {
      const receipt = await provider.getTransactionReceipt(tx.hash);
      if (receipt) {
        seenMined = true;
        if (receipt.status === 0) {
          throw new TransparencyError('TX_REVERTED', `transaction ${tx.hash} reverted`);
        }
        if (onMined && reportedBlock !== receipt.blockHash) {
          reportedBlock = receipt.blockHash;
          onMined({
            txHash: tx.hash,
            blockNumber: receipt.blockNumber,
            blockHash: receipt.blockHash,
          });
        }
        const head = await provider.getBlockNumber();
        if (head - receipt.blockNumber + 1 >= opts.confirmations) {
          const block = await provider.getBlock(receipt.blockNumber);
          if (block?.hash === receipt.blockHash) {
            return {
              txHash: tx.hash,
              blockNumber: receipt.blockNumber,
              blockHash: receipt.blockHash,
            };
          }
        }
      } else if (seenMined) {
        seenMined = false;
        await provider.broadcastTransaction(raw).catch(() => undefined);
      }
    } catch (err) {
      const mapped = mapChainError(err, 'waiting for confirmations');
      if (mapped.code !== 'RPC_UNAVAILABLE') throw mapped;
      if (Date.now() > deadline) throw mapped;
    }
    if (Date.now() > deadline) {
      throw new TransparencyError('TX_TIMEOUT', `transaction ${tx.hash} not confirmed in time`);
    }
    await sleep(opts.pollIntervalMs);
  }
}
