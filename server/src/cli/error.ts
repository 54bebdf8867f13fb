export type CliErrorCode =
  | 'USAGE_ERROR'
  | 'INVALID_ARGUMENT'
  | 'SERVER_URL_REQUIRED'
  | 'TOKEN_REQUIRED'
  | 'PASSPHRASE_REQUIRED'
  | 'PASSPHRASE_MISMATCH'
  | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS'
  | 'IO_ERROR'
  | 'MALFORMED_PUBLIC_KEY'
  | 'MALFORMED_MANIFEST'
  | 'MALFORMED_SIGNING_FILE'
  | 'DUPLICATE_TARGET'
  | 'UPLOAD_DIGEST_MISMATCH'
  | 'SERVER_UNREACHABLE'
  | 'TIMEOUT'
  | 'UNEXPECTED_RESPONSE'
  | 'RELEASE_NOT_FOUND'
  | 'NOT_A_TARGETS_KEY'
  | 'NOT_A_SUPPLIER_KEY'
  | 'SUPPLIER_NOT_FOUND'
  | 'DELEGATION_INVALID'
  | 'HARDWARE_ID_NOT_DELEGATED'
  | 'ALREADY_SIGNED'
  | 'SIGNATURE_INVALID'
  | 'THRESHOLD_NOT_MET'
  | 'ROOT_NOT_TRUSTED'
  | 'PREVIOUS_TARGETS_INVALID'
  | 'TARGETS_CHANGED'
  | 'AUDIT_FINDINGS'
  | 'CONFIRMATION_REQUIRED'
  | 'METADATA_MISMATCH'
  | 'METADATA_VERSION_MISMATCH'
  | 'TARGET_HASH_MISMATCH'
  | 'VERSIONED_FILE_CHANGED'
  | 'TIMESTAMP_ROLLBACK';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An error answer of the server API, `{ error: { code, message } }`, with its HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** 0 ok, 1 refused / verification failed / finding, 2 usage error, 3 could not run (network, files). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, ENVIRONMENT: 3 } as const;

const usageCodes = new Set<string>([
  'USAGE_ERROR',
  'INVALID_ARGUMENT',
  'SERVER_URL_REQUIRED',
  'TOKEN_REQUIRED',
  'PASSPHRASE_REQUIRED',
  'PASSPHRASE_MISMATCH',
  'EMPTY_PASSPHRASE',
  'MALFORMED_PUBLIC_KEY',
  'CONFIRMATION_REQUIRED',
]);
const environmentCodes = new Set<string>([
  'FILE_NOT_FOUND',
  'IO_ERROR',
  'SERVER_UNREACHABLE',
  'TIMEOUT',
  'KEY_FILE_NOT_FOUND',
  'RPC_UNAVAILABLE',
]);

export interface ErrorReport {
  code: string;
  message: string;
  exitCode: number;
  status?: number;
}

/** Maps any error (ours, the server's, the packages') to its code and the process exit code. */
export function describeError(error: unknown): ErrorReport {
  if (error instanceof ApiError) {
    return {
      code: error.code,
      message: error.message,
      exitCode: EXIT.FAILED,
      status: error.status,
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR'].includes(code)) {
    return {
      code: code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'IO_ERROR',
      message,
      exitCode: EXIT.ENVIRONMENT,
    };
  }
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) {
    const exitCode = usageCodes.has(code)
      ? EXIT.USAGE
      : environmentCodes.has(code)
        ? EXIT.ENVIRONMENT
        : EXIT.FAILED;
    return { code, message, exitCode };
  }
  return { code: 'INTERNAL', message, exitCode: EXIT.FAILED };
}
