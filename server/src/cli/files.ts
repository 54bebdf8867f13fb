import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CliError } from './error.js';

/** Writes a file atomically (temp file, fsync, rename): a crash never leaves half a file. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  if (opts.overwrite === false && (await exists(path))) {
    throw new CliError('FILE_EXISTS', `refusing to overwrite ${path}`);
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(temp, 'wx', opts.mode ?? 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'IO_ERROR', `cannot write ${path}`, {
      cause: error,
    });
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw new CliError('IO_ERROR', `cannot write ${path}`, { cause: error });
  }
  await handle.close();
  await rename(temp, path);
}

export async function writeJsonFile(
  path: string,
  value: unknown,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, opts);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
