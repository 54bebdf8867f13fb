import { randomBytes, type KeyObject } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KeysError } from './error.js';
import { decryptPrivateKey, encryptPrivateKeyPem, type ScryptParams } from './pkcs8.js';

export interface WriteKeyFileOptions {
  /** Replace an existing file. Off by default: overwriting a key file loses a key. */
  overwrite?: boolean;
  scrypt?: ScryptParams;
}

/**
 * Writes the private key as encrypted PKCS#8 PEM (PBES2 + scrypt + AES-256-CBC) with mode 0600.
 * The file appears atomically (temp file, fsync, rename), so a crash never leaves half a key.
 */
export async function writeEncryptedKeyFile(
  path: string,
  privateKey: KeyObject,
  passphrase: string,
  options: WriteKeyFileOptions = {},
): Promise<void> {
  const pem = await encryptPrivateKeyPem(privateKey, passphrase, options.scrypt);
  if (!options.overwrite && (await exists(path))) {
    throw new KeysError('KEY_FILE_EXISTS', `refusing to overwrite key file ${path}`);
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(pem, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}

/**
 * Reads and decrypts a key file written by writeEncryptedKeyFile (or any PBES2 PKCS#8 PEM).
 * Like ssh, refuses a file that group or others can access (KEY_FILE_INSECURE) unless told not to.
 */
export async function readEncryptedKeyFile(
  path: string,
  passphrase: string,
  options: { allowGroupReadable?: boolean } = {},
): Promise<KeyObject> {
  let text: string;
  try {
    if (!options.allowGroupReadable) {
      const info = await stat(path);
      if ((info.mode & 0o077) !== 0) {
        throw new KeysError('KEY_FILE_INSECURE', `key file ${path} is readable by group or others`);
      }
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof KeysError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeysError('KEY_FILE_NOT_FOUND', `no key file at ${path}`, { cause: error });
    }
    throw error;
  }
  return decryptPrivateKey(text, passphrase);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
