import { keccak256, toUtf8Bytes } from 'ethers';
import { ContractsError } from './error.js';

/** keccak256(utf8(hardwareId)) as 0x-hex bytes32: how a hardware ID appears on chain. */
export function hardwareIdHash(hardwareId: string): string {
  if (hardwareId.length === 0) {
    throw new ContractsError('INVALID_HARDWARE_ID', 'hardware ID must not be empty');
  }
  return keccak256(toUtf8Bytes(hardwareId));
}
