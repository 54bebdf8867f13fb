import { Contract, getAddress, verifyMessage, type Signer } from 'ethers';
import { TransparencyError } from '../error.js';
import { tufchainLogInterface } from './abi.js';
import { CHAIN_ROLE_IDS, type ChainRole } from './calls.js';
import { mapChainError } from './errors.js';

export interface ChainAccountCheckOptions {
  /** The account's signer, connected to a provider. */
  signer: Signer;
  contractAddress: string;
  role: ChainRole;
  /** When set, the provider must serve this chain. */
  chainId?: number;
  /**
   * Gas of one of this role's transactions; the account must afford it at today's fees
   * (default 200k: an anchor with a consistency proof at 2^20 costs 60k).
   */
  gasPerTransaction?: bigint;
}

export interface ChainAccountStatus {
  address: string;
  role: ChainRole;
  chainId: number;
  balanceWei: bigint;
}

const SELF_TEST_MESSAGE = 'tufchain: start-up check of a chain-account signer';

/**
 * Checks at start-up that an account can do its job on chain, so that a misconfiguration fails
 * at once instead of leaving work silently pending: the provider serves `chainId`
 * (CHAIN_ID_MISMATCH), a TufchainLog lives at the address (CONTRACT_NOT_FOUND), the signer's
 * signatures are its own (SIGNER_KEY_MISMATCH), the account holds the role (NOT_PUBLISHER,
 * NOT_LOG_OPERATOR) and can pay for one transaction (INSUFFICIENT_FUNDS; a chain with free gas
 * passes). RPC_UNAVAILABLE when the chain cannot be asked.
 */
export async function checkChainAccount(
  opts: ChainAccountCheckOptions,
): Promise<ChainAccountStatus> {
  const provider = opts.signer.provider;
  if (!provider) throw new TransparencyError('INVALID_CONFIG', 'signer has no provider');
  const contractAddress = getAddress(opts.contractAddress);
  const address = getAddress(await opts.signer.getAddress());
  const what = `${opts.role} ${address}`;
  let chainId: number;
  let code: string;
  try {
    chainId = Number((await provider.getNetwork()).chainId);
    code = await provider.getCode(contractAddress);
  } catch (err) {
    throw mapChainError(err, `checking the ${what}`);
  }
  if (opts.chainId !== undefined && chainId !== opts.chainId) {
    throw new TransparencyError(
      'CHAIN_ID_MISMATCH',
      `the RPC serves chain ${chainId}, expected ${opts.chainId}`,
    );
  }
  if (code === '0x') {
    throw new TransparencyError('CONTRACT_NOT_FOUND', `no contract code at ${contractAddress}`);
  }
  const signed = await opts.signer.signMessage(SELF_TEST_MESSAGE);
  if (getAddress(verifyMessage(SELF_TEST_MESSAGE, signed)) !== address) {
    throw new TransparencyError('SIGNER_KEY_MISMATCH', `the signer does not sign as ${address}`);
  }
  const contract = new Contract(contractAddress, tufchainLogInterface, provider);
  let holds: boolean;
  try {
    holds = (await contract.getFunction('hasRole')(CHAIN_ROLE_IDS[opts.role], address)) as boolean;
  } catch (err) {
    const mapped = mapChainError(err, `checking the ${what}`);
    if (mapped.code === 'RPC_UNAVAILABLE' && !/BAD_DATA|could not decode/i.test(String(err))) {
      throw mapped;
    }
    throw new TransparencyError(
      'CONTRACT_NOT_FOUND',
      `the contract at ${contractAddress} is not a TufchainLog`,
      { cause: err },
    );
  }
  if (!holds) {
    throw new TransparencyError(
      opts.role === 'publisher' ? 'NOT_PUBLISHER' : 'NOT_LOG_OPERATOR',
      `${address} does not hold the ${opts.role} role of ${contractAddress}`,
    );
  }
  let balanceWei: bigint;
  let feePerGas: bigint;
  try {
    balanceWei = await provider.getBalance(address);
    const fees = await provider.getFeeData();
    feePerGas = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  } catch (err) {
    throw mapChainError(err, `checking the ${what}`);
  }
  const needed = (opts.gasPerTransaction ?? 200_000n) * feePerGas;
  if (balanceWei < needed) {
    throw new TransparencyError(
      'INSUFFICIENT_FUNDS',
      `${what} holds ${balanceWei} wei, less than one transaction at today's fees (${needed} wei)`,
    );
  }
  return { address, role: opts.role, chainId, balanceWei };
}
