/**
 * The shared test chain of '@tufchain/contracts/dev' (a real anvil with TufchainLog), written by
 * @tufchain/transparency's ReleaseLogWriter and read by its ChainReader, as the agent reads it.
 */
import type { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { hardwareIdHash } from '@tufchain/contracts';
import {
  startTestChain,
  type EvmChain,
  type TestChain as SharedTestChain,
} from '@tufchain/contracts/dev';
import { ChainReader, ReleaseLogWriter, type ReleaseEntry } from '@tufchain/transparency';

export const CONFIRMATIONS = 3;

export class TestChain {
  readonly chain: EvmChain;
  readonly provider: JsonRpcProvider;
  readonly publisher: Wallet;
  readonly address: string;
  readonly deployBlock: number;
  readonly writer: ReleaseLogWriter;
  readonly contract: Contract;

  private constructor(private readonly shared: SharedTestChain) {
    this.chain = shared.chain;
    this.provider = shared.provider;
    this.publisher = shared.publisher;
    this.address = shared.address;
    this.deployBlock = shared.deployBlock;
    this.writer = new ReleaseLogWriter({
      signer: shared.publisher,
      contractAddress: shared.address,
      confirmations: 1,
      pollIntervalMs: 20,
    });
    this.contract = shared.connect();
  }

  static async start(): Promise<TestChain> {
    return new TestChain(await startTestChain());
  }

  reader(opts: { rpcUrls?: string[]; quorum?: number; confirmations?: number } = {}): ChainReader {
    return new ChainReader({
      rpcUrls: opts.rpcUrls ?? [this.chain.rpcUrl],
      quorum: opts.quorum ?? 1,
      contractAddress: this.address,
      confirmations: opts.confirmations ?? CONFIRMATIONS,
      chainId: this.chain.chainId,
      fromBlock: this.deployBlock,
    });
  }

  async mine(blocks = CONFIRMATIONS): Promise<void> {
    await this.shared.mine(blocks);
  }

  /** Logs a release and mines until it is confirmed to CONFIRMATIONS. */
  async log(entry: ReleaseEntry, opts: { confirm?: boolean } = {}): Promise<void> {
    await this.writer.logRelease(entry);
    if (opts.confirm ?? true) await this.mine(CONFIRMATIONS);
  }

  async recall(subject: string): Promise<void> {
    const tx = (await this.contract.getFunction('recall')(subject, 'test recall')) as {
      wait(): Promise<unknown>;
    };
    await tx.wait();
    await this.mine(CONFIRMATIONS);
  }

  async setMinimumVersion(hardwareId: string, version: number): Promise<void> {
    const tx = (await this.contract.getFunction('setMinimumVersion')(
      hardwareIdHash(hardwareId),
      version,
    )) as {
      wait(): Promise<unknown>;
    };
    await tx.wait();
    await this.mine(CONFIRMATIONS);
  }

  /** Moves chain time forward (the next mined blocks carry it). */
  async advanceTime(seconds: number): Promise<void> {
    await this.shared.increaseTime(seconds);
    await this.mine(CONFIRMATIONS + 1);
  }

  snapshot(): Promise<string> {
    return this.shared.snapshot();
  }

  revert(id: string): Promise<void> {
    return this.shared.revert(id);
  }

  stop(): Promise<void> {
    return this.shared.stop();
  }
}
