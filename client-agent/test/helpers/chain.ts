/** A real anvil with the TufchainLog contract, written by @tufchain/transparency's ReleaseLogWriter. */
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import {
  deployTufchainLog,
  hardwareIdHash,
  startAnvil,
  TUFCHAIN_LOG_ABI,
  type DevChain,
} from '@tufchain/contracts';
import { ChainReader, ReleaseLogWriter, type ReleaseEntry } from '@tufchain/transparency';

export const CONFIRMATIONS = 3;

export class TestChain {
  chain!: DevChain;
  provider!: JsonRpcProvider;
  publisher!: Wallet;
  address = '';
  deployBlock = 0;
  writer!: ReleaseLogWriter;
  contract!: Contract;

  static async start(): Promise<TestChain> {
    const t = new TestChain();
    t.chain = await startAnvil();
    t.provider = new JsonRpcProvider(t.chain.rpcUrl, t.chain.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    const [adminAccount, publisherAccount] = t.chain.accounts;
    if (!adminAccount || !publisherAccount) throw new Error('anvil has too few accounts');
    const admin = new Wallet(adminAccount.privateKey, t.provider);
    t.publisher = new Wallet(publisherAccount.privateKey, t.provider);
    const dep = await deployTufchainLog(admin, {
      admin: admin.address,
      publishers: [t.publisher.address],
    });
    t.address = dep.address;
    t.deployBlock = dep.blockNumber;
    t.writer = new ReleaseLogWriter({
      signer: t.publisher,
      contractAddress: dep.address,
      confirmations: 1,
      pollIntervalMs: 20,
    });
    t.contract = new Contract(dep.address, TUFCHAIN_LOG_ABI as never, t.publisher);
    return t;
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
    await this.provider.send('anvil_mine', ['0x' + blocks.toString(16)]);
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
    await this.provider.send('evm_increaseTime', [seconds]);
    await this.mine(CONFIRMATIONS + 1);
  }

  async snapshot(): Promise<string> {
    return (await this.provider.send('evm_snapshot', [])) as string;
  }

  async revert(id: string): Promise<void> {
    await this.provider.send('evm_revert', [id]);
  }

  async stop(): Promise<void> {
    this.provider.destroy();
    await this.chain.stop();
  }
}
