import { deployTufchainLog, startAnvil, type DevChain } from '@tufchain/contracts';
import { importSecp256k1PrivateKey, writeEncryptedKeyFile } from '@tufchain/keys';
import { ChainReader, ReleaseLogWriter } from '@tufchain/transparency';
import { JsonRpcProvider, Wallet } from 'ethers';

export interface TestChain {
  chain: DevChain;
  provider: JsonRpcProvider;
  contractAddress: string;
  deployBlock: number;
  /** Writer whose account is an authorized publisher. */
  writer(opts?: { confirmations?: number }): ReleaseLogWriter;
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

/** A real anvil on a free loopback port with TufchainLog deployed (publisher = account 1). */
export async function startTestChain(): Promise<TestChain> {
  const chain = await startAnvil();
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    polling: true,
    pollingInterval: 50,
    // ethers caches call results for 250 ms by default, which hands back-to-back sends a stale nonce
    cacheTimeout: -1,
  });
  const [admin, publisher, stranger, operator] = chain.accounts;
  if (!admin || !publisher || !stranger || !operator)
    throw new Error('anvil has too few dev accounts');
  const deployer = new Wallet(admin.privateKey, provider);
  const deployment = await deployTufchainLog(deployer, {
    admin: admin.address,
    publishers: [publisher.address],
    logOperators: [operator.address],
  });
  const wallet = (key: string): Wallet => new Wallet(key, provider);
  return {
    chain,
    provider,
    contractAddress: deployment.address,
    deployBlock: deployment.blockNumber,
    writer: (opts = {}) =>
      new ReleaseLogWriter({
        signer: wallet(publisher.privateKey),
        contractAddress: deployment.address,
        confirmations: opts.confirmations ?? 1,
        pollIntervalMs: 50,
        timeoutMs: 30_000,
      }),
    operator: () => wallet(operator.privateKey),
    unauthorizedWriter: () =>
      new ReleaseLogWriter({
        signer: wallet(stranger.privateKey),
        contractAddress: deployment.address,
        confirmations: 1,
        pollIntervalMs: 50,
        timeoutMs: 30_000,
      }),
    reader: (confirmations = 1) =>
      new ChainReader({
        rpcUrls: [chain.rpcUrl],
        quorum: 1,
        contractAddress: deployment.address,
        confirmations,
        chainId: chain.chainId,
        fromBlock: deployment.blockNumber,
      }),
    async blockNumber() {
      return Number(await provider.send('eth_blockNumber', []));
    },
    async writeKeyFile(role, path, passphrase) {
      const hex = (role === 'publisher' ? publisher : operator).privateKey.slice(2);
      await writeEncryptedKeyFile(
        path,
        importSecp256k1PrivateKey(Buffer.from(hex, 'hex')),
        passphrase,
      );
    },
    async mine(blocks = 1) {
      for (let i = 0; i < blocks; i++) await provider.send('evm_mine', []);
    },
    async stop() {
      provider.destroy();
      await chain.stop();
    },
  };
}
