import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KeysError } from '../error.js';
import type { RootCeremony } from './root-ceremony.js';

/** Reads a ceremony file as JSON (its contents are checked by the ceremony functions). */
export async function readCeremonyFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeysError('MALFORMED_CEREMONY', `no ceremony file at ${path}`, { cause: error });
    }
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new KeysError('MALFORMED_CEREMONY', 'the ceremony file is not JSON', { cause: error });
  }
}

/** Writes the ceremony file atomically, so a holder's crash never leaves a half-written file. */
export async function writeCeremonyFile(path: string, ceremony: RootCeremony): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(JSON.stringify(ceremony, null, 2) + '\n', 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}
