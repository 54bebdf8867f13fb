import type { Command } from 'commander';
import type { ChainReader } from '@tufchain/transparency/chain';
import { collect, parsePositiveInt } from './context.js';
import { CliError } from './error.js';

/** The options naming the chain a command reads: RPC endpoints (a quorum), contract, depth. */
export interface ChainOptions {
  rpc?: string[];
  contract?: string;
  quorum?: string;
  confirmations: string;
  fromBlock?: string;
  chainId?: string;
}

export function addChainOptions(cmd: Command, rpcHelp: string): Command {
  return cmd
    .option('--rpc <url>', rpcHelp, collect)
    .option('--contract <address>', 'TufchainLog contract address')
    .option('--quorum <k>', 'endpoints that must agree (default: a majority)')
    .option('--confirmations <n>', 'confirmation depth required on chain', '1')
    .option('--from-block <n>', 'first block to search (the contract deployment block)')
    .option('--chain-id <id>', 'every endpoint must serve this chain');
}

/** A ChainReader over `--rpc` (k of n endpoints must agree) for `--contract`. */
export async function createChainReader(opts: ChainOptions): Promise<ChainReader> {
  const rpc = opts.rpc ?? [];
  if (rpc.length === 0)
    throw new CliError('USAGE_ERROR', '--rpc is required (repeat for a quorum)');
  if (opts.contract === undefined || !/^0x[0-9a-fA-F]{40}$/.test(opts.contract)) {
    throw new CliError('USAGE_ERROR', '--rpc needs --contract with the TufchainLog address');
  }
  const quorum =
    opts.quorum === undefined
      ? Math.floor(rpc.length / 2) + 1
      : parsePositiveInt(opts.quorum, '--quorum');
  // Loaded on use: ethers is heavy, and most commands never touch the chain.
  const { ChainReader } = await import('@tufchain/transparency/chain');
  return new ChainReader({
    rpcUrls: rpc,
    quorum,
    contractAddress: opts.contract,
    confirmations: parsePositiveInt(opts.confirmations, '--confirmations'),
    ...(opts.chainId === undefined
      ? {}
      : { chainId: parsePositiveInt(opts.chainId, '--chain-id') }),
    ...(opts.fromBlock === undefined
      ? {}
      : {
          fromBlock: opts.fromBlock === '0' ? 0 : parsePositiveInt(opts.fromBlock, '--from-block'),
        }),
  });
}
