import { Contract, JsonRpcProvider, Wallet, type ContractRunner } from 'ethers';
import { TUFCHAIN_LOG_ABI } from '../artifacts.js';
import { startAnvil, type EvmChain, type StartAnvilOptions } from './anvil.js';
import { startContainerChain } from './container-chain.js';
import { deployTufchainLog } from './deploy.js';

export interface TestChainOptions {
  /** 'container': anvil in a container (testcontainers); default: anvil spawned on loopback. */
  evm?: 'anvil' | 'container';
  /** For the spawned anvil, e.g. `{ blockTimeSeconds: 1 }`. */
  anvil?: StartAnvilOptions;
  /** How often the provider polls for blocks and receipts (default 50 ms). */
  pollingIntervalMs?: number;
}

/**
 * The one test chain of the project: an EVM node of its own with TufchainLog deployed, and a
 * wallet per role (anvil's dev accounts, public test vectors).
 */
export interface TestChain {
  chain: EvmChain;
  /** No response cache: back-to-back sends must not reuse a stale nonce. */
  provider: JsonRpcProvider;
  /** Account 0: deployed the contract and holds the admin role. */
  admin: Wallet;
  /** Account 1: PUBLISHER_ROLE. */
  publisher: Wallet;
  /** Account 2: LOG_OPERATOR_ROLE. */
  operator: Wallet;
  /** Account 3: no role; every write from it must be refused. */
  stranger: Wallet;
  address: string;
  deployBlock: number;
  /** The contract, as the publisher unless another runner is given. */
  connect(runner?: ContractRunner): Contract;
  /** Deploys another TufchainLog with the same roles (a fresh log state on the same chain). */
  deploy(): Promise<{ address: string; deployBlock: number }>;
  mine(blocks?: number): Promise<void>;
  /** eth_blockNumber, uncached (ethers caches getBlockNumber). */
  blockNumber(): Promise<number>;
  /** Moves chain time forward; the next mined block carries it. */
  increaseTime(seconds: number): Promise<void>;
  snapshot(): Promise<string>;
  revert(snapshotId: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a chain (anvil unless `evm: 'container'`), deploys TufchainLog and hands out the roles. */
export async function startTestChain(opts: TestChainOptions = {}): Promise<TestChain> {
  const chain =
    opts.evm === 'container' ? await startContainerChain() : await startAnvil(opts.anvil);
  let provider: JsonRpcProvider | undefined;
  try {
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
      staticNetwork: true,
      polling: true,
      pollingInterval: opts.pollingIntervalMs ?? 50,
      cacheTimeout: -1,
    });
    const rpc = provider;
    const wallet = (index: number): Wallet => {
      const account = chain.accounts[index];
      if (!account) throw new Error(`the chain has no dev account ${index.toString()}`);
      return new Wallet(account.privateKey, rpc);
    };
    const [admin, publisher, operator, stranger] = [0, 1, 2, 3].map(wallet) as [
      Wallet,
      Wallet,
      Wallet,
      Wallet,
    ];
    const deploy = async (): Promise<{ address: string; deployBlock: number }> => {
      const d = await deployTufchainLog(admin, {
        admin: admin.address,
        publishers: [publisher.address],
        logOperators: [operator.address],
      });
      return { address: d.address, deployBlock: d.blockNumber };
    };
    const first = await deploy();
    const mine = async (blocks = 1): Promise<void> => {
      await rpc.send('anvil_mine', ['0x' + blocks.toString(16)]);
    };
    return {
      chain,
      provider: rpc,
      admin,
      publisher,
      operator,
      stranger,
      address: first.address,
      deployBlock: first.deployBlock,
      connect: (runner = publisher) =>
        new Contract(first.address, TUFCHAIN_LOG_ABI as never, runner),
      deploy,
      mine,
      async blockNumber() {
        return Number(await rpc.send('eth_blockNumber', []));
      },
      async increaseTime(seconds) {
        await rpc.send('evm_increaseTime', [seconds]);
      },
      async snapshot() {
        return (await rpc.send('evm_snapshot', [])) as string;
      },
      async revert(snapshotId) {
        await rpc.send('evm_revert', [snapshotId]);
      },
      async stop() {
        rpc.destroy();
        await chain.stop();
      },
    };
  } catch (err) {
    provider?.destroy();
    await chain.stop();
    throw err;
  }
}
