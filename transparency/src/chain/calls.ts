import { getAddress, id } from 'ethers';
import { hardwareIdHash } from '@tufchain/contracts';
import { TransparencyError } from '../error.js';
import { tufchainLogInterface } from './abi.js';

/** The write roles of TufchainLog. */
export type ChainRole = 'publisher' | 'log-operator';

/** The contract's role identifiers (`PUBLISHER_ROLE`, `LOG_OPERATOR_ROLE`). */
export const CHAIN_ROLE_IDS: Readonly<Record<ChainRole, string>> = Object.freeze({
  publisher: id('tufchain.role.publisher'),
  'log-operator': id('tufchain.role.log-operator'),
});

/** A call for an account to submit: a multisig proposal, a hardware wallet, a governance tool. */
export interface PreparedCall {
  to: string;
  data: string;
  /** What the call does, for the humans who approve it. */
  description: string;
}

/** Checks a minimum version: a positive integer that fits the contract's uint64. */
export function checkMinimumVersion(version: number): bigint {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TransparencyError('INVALID_ENTRY', 'a minimum version is a positive integer');
  }
  return BigInt(version);
}

function checkHardwareId(hardwareId: string): void {
  if (typeof hardwareId !== 'string' || hardwareId.length === 0) {
    throw new TransparencyError('INVALID_ENTRY', 'hardwareId must be a non-empty string');
  }
}

/**
 * `setMinimumVersion(keccak256(hardwareId), version)`: for an account that holds the publisher
 * role but does not sign with a ReleaseLogWriter (a multisig that granted itself the role).
 */
export function prepareSetMinimumVersion(
  contractAddress: string,
  hardwareId: string,
  version: number,
): PreparedCall {
  checkHardwareId(hardwareId);
  const data = tufchainLogInterface.encodeFunctionData('setMinimumVersion', [
    hardwareIdHash(hardwareId),
    checkMinimumVersion(version),
  ]);
  return {
    to: getAddress(contractAddress),
    data,
    description: `raise the minimum version of ${hardwareId} to ${version} (it can never be lowered)`,
  };
}

/** `grantRole(role, account)`: the admin (an account or a multisig) gives `account` a role. */
export function prepareGrantRole(
  contractAddress: string,
  role: ChainRole,
  account: string,
): PreparedCall {
  const data = tufchainLogInterface.encodeFunctionData('grantRole', [
    CHAIN_ROLE_IDS[role],
    getAddress(account),
  ]);
  return {
    to: getAddress(contractAddress),
    data,
    description: `grant the ${role} role to ${getAddress(account)}`,
  };
}
