import { createSecp256k1FileSigner } from '@tufchain/keys';
import {
  checkChainAccount,
  createChainSigner,
  type ChainRole,
  type ChainSigner,
} from '@tufchain/transparency';
import type { Provider } from 'ethers';
import { ServerError } from '../error.js';

/** Variables that once took a raw 0x private key; the daemon refuses to start with either set. */
export const RAW_CHAIN_KEY_VARIABLES = [
  'TUFCHAIN_PUBLISHER_KEY',
  'TUFCHAIN_LOG_OPERATOR_KEY',
] as const;

/**
 * Refuses a plain chain-account key in the environment (it would sit in clear in the process
 * environment, in `ps e`, in unit files): the key goes in an encrypted key file. Names the
 * variable, never its value.
 */
export function refuseRawChainKeys(env: Record<string, string | undefined>): void {
  for (const name of RAW_CHAIN_KEY_VARIABLES) {
    if (env[name] !== undefined && env[name] !== '') {
      throw new ServerError(
        'RAW_CHAIN_KEY_IN_ENVIRONMENT',
        `${name} holds a plain private key; chain-account keys are encrypted at rest like every ` +
          `TUF key: encrypt it with \`npm run cli -w @tufchain/keys -- keygen --type secp256k1 ` +
          `--import --out FILE\` (the key on stdin) and set ${name}_FILE instead`,
      );
    }
  }
}

export interface OpenChainAccountOptions {
  /** Encrypted PKCS#8 secp256k1 key file (keys' writeEncryptedKeyFile, mode 0600). */
  keyFile: string;
  passphrase: string;
  provider: Provider;
  contractAddress: string;
  role: ChainRole;
  chainId?: number;
}

/**
 * Opens a chain account from its encrypted key file and checks, before the server starts, that
 * it can do its job (keys' codes for the file; CHAIN_ID_MISMATCH, CONTRACT_NOT_FOUND,
 * SIGNER_KEY_MISMATCH, NOT_PUBLISHER / NOT_LOG_OPERATOR, INSUFFICIENT_FUNDS from the chain).
 */
export async function openChainAccount(opts: OpenChainAccountOptions): Promise<ChainSigner> {
  const key = await createSecp256k1FileSigner(opts.keyFile, opts.passphrase);
  const signer = createChainSigner(key, opts.provider);
  await checkChainAccount({
    signer,
    contractAddress: opts.contractAddress,
    role: opts.role,
    ...(opts.chainId === undefined ? {} : { chainId: opts.chainId }),
  });
  return signer;
}
