import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import {
  deployTufchainLog,
  startAnvil,
  TUFCHAIN_LOG_ABI,
  type DevChain,
} from '@tufchain/contracts';

export interface TestChain {
  chain: DevChain;
  provider: JsonRpcProvider;
  admin: Wallet;
  publisher: Wallet;
  operator: Wallet;
  stranger: Wallet;
  address: string;
  deployBlock: number;
  /** The contract connected as the publisher. */
  asPublisher: Contract;
  mine(blocks?: number): Promise<void>;
  /** Deploys another TufchainLog (same roles), for a test that needs a fresh anchor state. */
  deploy(): Promise<{ address: string; deployBlock: number }>;
  stop(): Promise<void>;
}

/** Spawns anvil, deploys TufchainLog with one publisher and one log operator. */
export async function startTestChain(opts: { blockTimeSeconds?: number } = {}): Promise<TestChain> {
  const chain = await startAnvil(
    opts.blockTimeSeconds === undefined ? {} : { blockTimeSeconds: opts.blockTimeSeconds },
  );
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  });
  provider.pollingInterval = 100;
  const [a, p, o, s] = chain.accounts;
  const admin = new Wallet(a!.privateKey, provider);
  const publisher = new Wallet(p!.privateKey, provider);
  const operator = new Wallet(o!.privateKey, provider);
  const stranger = new Wallet(s!.privateKey, provider);
  const deployment = await deployTufchainLog(new NonceManager(admin), {
    admin: admin.address,
    publishers: [publisher.address],
    logOperators: [operator.address],
  });
  return {
    chain,
    provider,
    admin,
    publisher,
    operator,
    stranger,
    address: deployment.address,
    deployBlock: deployment.blockNumber,
    asPublisher: new Contract(deployment.address, TUFCHAIN_LOG_ABI as never, publisher),
    async mine(blocks = 1) {
      await provider.send('anvil_mine', ['0x' + blocks.toString(16)]);
    },
    async deploy() {
      const d = await deployTufchainLog(new NonceManager(admin), {
        admin: admin.address,
        publishers: [publisher.address],
        logOperators: [operator.address],
      });
      return { address: d.address, deployBlock: d.blockNumber };
    },
    async stop() {
      provider.destroy();
      await chain.stop();
    },
  };
}
