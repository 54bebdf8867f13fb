import { Contract, Interface, type ContractRunner, type InterfaceAbi } from 'ethers';
import { TUFCHAIN_LOG_ABI } from './artifacts.js';

let iface: Interface | undefined;

/** ethers Interface of TufchainLog, for encoding calls and decoding events and custom errors. */
export function tufchainLogInterface(): Interface {
  iface ??= new Interface(TUFCHAIN_LOG_ABI as InterfaceAbi);
  return iface;
}

/** An ethers Contract bound to a deployed TufchainLog. */
export function connectTufchainLog(address: string, runner: ContractRunner): Contract {
  return new Contract(address, tufchainLogInterface(), runner);
}

export interface DecodedCustomError {
  name: string;
  args: unknown[];
}

/**
 * Decodes a TufchainLog custom error from revert data or from an error ethers threw
 * (it carries the revert data in `data` or `info.error.data`). Returns undefined otherwise.
 */
export function decodeTufchainLogError(errorOrData: unknown): DecodedCustomError | undefined {
  const data = findRevertData(errorOrData);
  if (!data) return undefined;
  try {
    const parsed = tufchainLogInterface().parseError(data);
    // parseError also knows the built-in Error(string) and Panic(uint256); they are not ours.
    if (!parsed || parsed.name === 'Error' || parsed.name === 'Panic') return undefined;
    return { name: parsed.name, args: [...parsed.args] as unknown[] };
  } catch {
    return undefined; // a known selector with a truncated body
  }
}

function findRevertData(x: unknown, depth = 0): string | undefined {
  if (typeof x === 'string') return /^0x[0-9a-fA-F]{8,}$/.test(x) ? x : undefined;
  if (depth > 4 || typeof x !== 'object' || x === null) return undefined;
  const o = x as Record<string, unknown>;
  for (const key of ['data', 'error', 'info', 'cause']) {
    if (key in o) {
      const found = findRevertData(o[key], depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}
