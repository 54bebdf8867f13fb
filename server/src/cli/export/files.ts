/**
 * The export directory's writes. Every file lands by temp file + fsync + rename, so a web server
 * reading the directory meanwhile sees the old file or the new one, never half of one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../error.js';
import { writeFileAtomic } from '../files.js';
import type { ExportTarget } from './layout.js';

export type WriteOutcome = 'written' | 'unchanged';

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('IO_ERROR', `cannot read ${path}`, { cause: error });
  }
}

/** The bytes of an export file (relative path), or undefined when it is not there yet. */
export function readExportFile(dir: string, rel: string): Promise<Buffer | undefined> {
  return readIfPresent(join(dir, rel));
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes);
}

/**
 * A versioned metadata file never changes once published: present with the same bytes, it is
 * left alone; present with other bytes, the server has answered two different files for one
 * version (a split view or a tampered export), and nothing more is written.
 */
export async function checkVersionedFile(
  dir: string,
  rel: string,
  bytes: Uint8Array,
): Promise<WriteOutcome> {
  const present = await readIfPresent(join(dir, rel));
  if (present === undefined) return 'written';
  if (!present.equals(bytes)) {
    throw new CliError(
      'VERSIONED_FILE_CHANGED',
      `${rel} is already exported with other bytes; a published version never changes`,
    );
  }
  return 'unchanged';
}

/**
 * fsyncs the directories holding `rels`: their renames are on disk before anything naming those
 * files (the snapshot, the timestamp) is, so a power cut cannot leave a timestamp whose snapshot
 * or images were lost.
 */
export async function syncExportDirectories(dir: string, rels: Iterable<string>): Promise<void> {
  const parents = new Set([...rels].map((rel) => dirname(join(dir, rel))));
  for (const parent of parents) {
    const handle = await open(parent, 'r');
    try {
      await handle.sync();
    } catch (error) {
      throw new CliError('IO_ERROR', `cannot sync ${parent}`, { cause: error });
    } finally {
      await handle.close();
    }
  }
}

export async function writeExportFile(dir: string, rel: string, bytes: Uint8Array): Promise<void> {
  await writeAtomic(join(dir, rel), bytes);
}

/** Whether the file at `path` has exactly the target's length and sha256. */
async function hasTargetBytes(path: string, target: ExportTarget): Promise<boolean> {
  const hash = createHash('sha256');
  let length = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      const bytes = chunk as Buffer;
      length += bytes.byteLength;
      if (length > target.length) return false;
      hash.update(bytes);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CliError('IO_ERROR', `cannot read ${path}`, { cause: error });
  }
  return length === target.length && hash.digest('hex') === target.sha256;
}

function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Streams a target from the server into a temp file, hashing it; renamed only when it matches. */
async function downloadTarget(
  api: ApiClient,
  serverPath: string,
  path: string,
  target: ExportTarget,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempNameFor(path);
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let length = 0;
  const handle = await open(temp, 'wx', 0o644);
  try {
    // An empty target needs no request (the server answers it without a body).
    const body = target.length === 0 ? [] : await api.getStream(serverPath);
    for await (const chunk of body) {
      length += chunk.byteLength;
      if (length > target.length) break;
      sha256.update(chunk);
      sha512.update(chunk);
      await handle.write(chunk);
    }
    if (
      length !== target.length ||
      sha256.digest('hex') !== target.sha256 ||
      (target.sha512 !== undefined && sha512.digest('hex') !== target.sha512)
    ) {
      throw new CliError(
        'TARGET_HASH_MISMATCH',
        `the server's ${serverPath} does not match its length and hashes in metadata`,
      );
    }
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}

/** A second name for a file already checked (the sha512-prefixed name), as a hard link. */
async function linkAtomic(existing: string, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempNameFor(path);
  try {
    await link(existing, temp);
  } catch (error) {
    throw new CliError('IO_ERROR', `cannot link ${path}`, { cause: error });
  }
  await rename(temp, path);
}

/**
 * Every consistent-snapshot name of a target (`paths[0]` the sha256 one): files already there with
 * the right length and hash are kept; the first missing or wrong one is downloaded and checked,
 * the others are hard links to it.
 */
export async function exportTarget(
  api: ApiClient,
  dir: string,
  target: ExportTarget,
  paths: readonly string[],
): Promise<WriteOutcome> {
  let outcome: WriteOutcome = 'unchanged';
  let good: string | undefined;
  for (const rel of paths) {
    const path = join(dir, rel);
    if (await hasTargetBytes(path, target)) {
      good ??= path;
      continue;
    }
    outcome = 'written';
    if (good === undefined) {
      await downloadTarget(api, `/${rel}`, path, target);
      good = path;
    } else {
      await linkAtomic(good, path);
    }
  }
  return outcome;
}
