import { JsonRpcProvider, Wallet } from 'ethers';
import { connectTufchainLog, decodeTufchainLogError } from '../../src/index.js';
import {
  deployTufchainLog,
  startAnvil,
  startContainerChain,
  type EvmChain,
} from '../../src/entry/dev.js';
import type { Contract } from 'ethers';

/** TUFCHAIN_EVM=container runs the integration tests against a containerized node (opt-in). */
export function selectedEvm(): 'anvil' | 'container' {
  return process.env.TUFCHAIN_EVM === 'container' ? 'container' : 'anvil';
}

/**
 * A bare node without the contract: these tests deploy it themselves, from a deployer that holds
 * no role (other packages take startTestChain() from '@tufchain/contracts/dev').
 */
export async function startSelectedEvm(): Promise<EvmChain> {
  return selectedEvm() === 'container' ? await startContainerChain() : await startAnvil();
}

export interface Actors {
  provider: JsonRpcProvider;
  deployer: Wallet;
  admin: Wallet;
  publisher: Wallet;
  operator: Wallet;
  /** Holds no role: every write from it must be refused. */
  attacker: Wallet;
  other: Wallet;
}

export function actorsOf(chain: EvmChain): Actors {
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 50,
  });
  const wallet = (i: number): Wallet => {
    const account = chain.accounts[i];
    if (!account) throw new Error(`dev account ${i.toString()} missing`);
    return new Wallet(account.privateKey, provider);
  };
  return {
    provider,
    deployer: wallet(0),
    admin: wallet(1),
    publisher: wallet(2),
    operator: wallet(3),
    attacker: wallet(4),
    other: wallet(5),
  };
}

export interface DeployedLog {
  address: string;
  blockNumber: number;
  as(wallet: Wallet): Contract;
}

export async function deployWithRoles(actors: Actors): Promise<DeployedLog> {
  const d = await deployTufchainLog(actors.deployer, {
    admin: actors.admin.address,
    publishers: [actors.publisher.address],
    logOperators: [actors.operator.address],
  });
  return {
    address: d.address,
    blockNumber: d.blockNumber,
    as: (wallet) => connectTufchainLog(d.address, wallet),
  };
}

/** Awaits a write that must revert, and returns its decoded TufchainLog custom error. */
export async function revertOf(
  action: Promise<unknown>,
): Promise<{ name: string; args: unknown[] }> {
  try {
    const tx = (await action) as { wait?: () => Promise<unknown> };
    if (typeof tx.wait === 'function') await tx.wait();
  } catch (err) {
    const decoded = decodeTufchainLogError(err);
    if (!decoded) {
      throw new Error(`reverted without a TufchainLog custom error: ${String(err)}`, {
        cause: err,
      });
    }
    return decoded;
  }
  throw new Error('expected a revert, but the call succeeded');
}
