import { startTestChain as startSharedTestChain, type EvmChain } from '@tufchain/contracts/dev';
import { importSecp256k1PrivateKey, writeEncryptedKeyFile } from '@tufchain/keys';
import { ChainReader, ReleaseLogWriter } from '@tufchain/transparency';
import type { JsonRpcProvider, Wallet } from 'ethers';

export interface TestChain {
  chain: EvmChain;
  provider: JsonRpcProvider;
  contractAddress: string;
  deployBlock: number;
  /** Writer whose account is an authorized publisher. */
  writer(opts?: { confirmations?: number }): ReleaseLogWriter;
  /** Wallet with the publisher role (logs releases). */
  publisher(): Wallet;
  /** Wallet with the log-operator role (anchors checkpoints). */
  operator(): Wallet;
  /** Writer whose account was never granted the publisher role. */
  unauthorizedWriter(): ReleaseLogWriter;
  reader(confirmations?: number): ChainReader;
  mine(blocks?: number): Promise<void>;
  /** Uncached eth_blockNumber (ethers caches getBlockNumber). */
  blockNumber(): Promise<number>;
  /**
   * Writes the publisher's or the log operator's key as the daemon takes it: an encrypted
   * secp256k1 key file (anvil's dev keys are public test vectors).
   */
  writeKeyFile(role: 'publisher' | 'log-operator', path: string, passphrase: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The shared test chain of '@tufchain/contracts/dev' (TufchainLog deployed, publisher = account 1,
 * log operator = account 2, account 3 without a role), with the server's writers and readers.
 */
export async function startTestChain(): Promise<TestChain> {
  const t = await startSharedTestChain();
  const writerAs = (signer: Wallet, confirmations = 1): ReleaseLogWriter =>
    new ReleaseLogWriter({
      signer,
      contractAddress: t.address,
      confirmations,
      pollIntervalMs: 50,
      timeoutMs: 30_000,
    });
  return {
    chain: t.chain,
    provider: t.provider,
    contractAddress: t.address,
    deployBlock: t.deployBlock,
    writer: (opts = {}) => writerAs(t.publisher, opts.confirmations),
    publisher: () => t.publisher,
    operator: () => t.operator,
    unauthorizedWriter: () => writerAs(t.stranger),
    reader: (confirmations = 1) =>
      new ChainReader({
        rpcUrls: [t.chain.rpcUrl],
        quorum: 1,
        contractAddress: t.address,
        confirmations,
        chainId: t.chain.chainId,
        fromBlock: t.deployBlock,
      }),
    blockNumber: () => t.blockNumber(),
    async writeKeyFile(role, path, passphrase) {
      const hex = (role === 'publisher' ? t.publisher : t.operator).privateKey.slice(2);
      await writeEncryptedKeyFile(
        path,
        importSecp256k1PrivateKey(Buffer.from(hex, 'hex')),
        passphrase,
      );
    },
    mine: (blocks) => t.mine(blocks),
    stop: () => t.stop(),
  };
}
