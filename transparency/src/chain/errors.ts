import { isError } from 'ethers';
import { TransparencyError, type TransparencyErrorCode } from '../error.js';
import { tufchainLogInterface } from './abi.js';

function revertNameFromData(data: unknown): string | undefined {
  if (typeof data !== 'string' || data.length < 10) return undefined;
  try {
    return tufchainLogInterface.parseError(data)?.name;
  } catch {
    return undefined;
  }
}

/** Maps a decoded custom error name of TufchainLog to our error code. */
function codeForRevert(name: string): TransparencyErrorCode {
  if (name === 'VersionNotIncreasing') return 'VERSION_NOT_INCREASING';
  if (name === 'MinimumVersionNotIncreasing') return 'MINIMUM_VERSION_NOT_INCREASING';
  if (name === 'AlreadyRecalled') return 'ALREADY_RECALLED';
  if (/publisher/i.test(name)) return 'NOT_PUBLISHER';
  if (/operator/i.test(name)) return 'NOT_LOG_OPERATOR';
  if (/admin/i.test(name)) return 'NOT_ADMIN';
  if (/consisten|anchor|checkpoint|root|size|proof/i.test(name)) return 'ANCHOR_REJECTED';
  return 'TX_REVERTED';
}

function isConnectionFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|UND_ERR_\w+)$/.test(code)
    ) {
      return true;
    }
    const message = (e as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      /fetch failed|ECONNREFUSED|socket hang up|other side closed/i.test(message)
    ) {
      return true;
    }
    e = (e as { cause?: unknown; error?: unknown }).cause ?? (e as { error?: unknown }).error;
  }
  return false;
}

function messageOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const m = (e as { message?: unknown; shortMessage?: unknown }).message;
    if (typeof m === 'string') parts.push(m);
    e = (e as { cause?: unknown; error?: unknown }).cause ?? (e as { error?: unknown }).error;
  }
  return parts.join(' | ');
}

/**
 * Why a node refused to take a signed transaction, or undefined when it already has it (or had
 * it: the receipt decides). INSUFFICIENT_FUNDS, TX_REJECTED (underpriced, fee cap below the base
 * fee, nonce gap...), RPC_UNAVAILABLE.
 */
export function broadcastRefusal(err: unknown, context: string): TransparencyError | undefined {
  if (/already known|nonce too low|known transaction|already imported/i.test(messageOf(err))) {
    return undefined;
  }
  const mapped = mapChainError(err, context);
  if (mapped.code === 'INSUFFICIENT_FUNDS') return mapped;
  if (
    isConnectionFailure(err) ||
    isError(err, 'NETWORK_ERROR') ||
    isError(err, 'TIMEOUT') ||
    isError(err, 'SERVER_ERROR')
  ) {
    return mapped;
  }
  return new TransparencyError(
    'TX_REJECTED',
    `${context}: the node refused the transaction (${messageOf(err).slice(0, 200)})`,
    { cause: err },
  );
}

/** Turns an ethers error from a write into a TransparencyError with a specific code. */
export function mapChainError(err: unknown, context: string): TransparencyError {
  if (err instanceof TransparencyError) return err;
  if (isError(err, 'CALL_EXCEPTION')) {
    const name = err.revert?.name ?? revertNameFromData(err.data);
    if (name) {
      return new TransparencyError(codeForRevert(name), `${context}: reverted with ${name}`, {
        cause: err,
      });
    }
    return new TransparencyError('TX_REVERTED', `${context}: reverted`, { cause: err });
  }
  if (
    isError(err, 'NETWORK_ERROR') ||
    isError(err, 'TIMEOUT') ||
    isError(err, 'SERVER_ERROR') ||
    isConnectionFailure(err)
  ) {
    return new TransparencyError('RPC_UNAVAILABLE', `${context}: RPC endpoint unavailable`, {
      cause: err,
    });
  }
  if (isError(err, 'INSUFFICIENT_FUNDS') || /insufficient funds/i.test(messageOf(err))) {
    return new TransparencyError(
      'INSUFFICIENT_FUNDS',
      `${context}: the account cannot pay for gas`,
      { cause: err },
    );
  }
  return new TransparencyError(
    'RPC_UNAVAILABLE',
    `${context}: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
