import { createPublicKey } from 'node:crypto';
import type { Signer, TufPublicKey } from '@tufchain/keys';
import { type CliContext, readTextFile, resolvePassphrase } from './context.js';
import { CliError } from './error.js';

const keysPackage = () => import('@tufchain/keys');

export interface PublicKeyInfo {
  keyId: string;
  keyType: 'ed25519' | 'ecdsa-p256';
  publicKey: TufPublicKey;
  publicKeyPem: string;
}

/** Reads an SPKI public key PEM (as written by `keys generate` next to the key file). */
export async function readPublicKeyFile(path: string): Promise<PublicKeyInfo> {
  const pem = await readTextFile(path, 'public key file');
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new CliError('MALFORMED_PUBLIC_KEY', `${path} is not an SPKI public key PEM`);
  }
  let key;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new CliError('MALFORMED_PUBLIC_KEY', `${path} does not parse as a public key`, {
      cause: error,
    });
  }
  const { computeKeyId, detectKeyType, toTufPublicKey } = await keysPackage();
  const publicKey = toTufPublicKey(key);
  return {
    keyId: computeKeyId(publicKey),
    keyType: detectKeyType(key),
    publicKey,
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Opens an encrypted PKCS#8 key file as a Signer; the passphrase never leaves this process. */
export async function openKeyFile(
  ctx: CliContext,
  path: string,
  opts: { passphraseFile?: string },
): Promise<Signer> {
  const passphrase = await resolvePassphrase(ctx, opts, { what: path });
  const { createFileSigner } = await keysPackage();
  return createFileSigner(path, passphrase);
}
