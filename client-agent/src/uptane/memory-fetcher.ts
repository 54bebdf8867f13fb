import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { AgentError } from '../error.js';

/** The base URL a memory repository answers under (never resolved: nothing leaves the ECU). */
export const MEMORY_BASE = 'http://primary.invalid';

/**
 * tuf-js fetcher over metadata files the primary handed over (a full-verification secondary runs
 * the same TUF workflow as the primary, on the files, against its own pinned root and its own
 * trusted metadata). `files`: path under the repository's metadata/ → bytes. A missing file is a
 * 404, which is what tuf-js's root probe expects.
 */
export class MemoryFetcher implements Fetcher {
  readonly #files: ReadonlyMap<string, Uint8Array>;
  readonly #prefix: string;

  constructor(repository: string, files: ReadonlyMap<string, Uint8Array>) {
    this.#files = files;
    this.#prefix = `${MEMORY_BASE}/${repository}/metadata/`;
  }

  downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    if (!url.startsWith(this.#prefix)) {
      return Promise.reject(new DownloadHTTPError(`${url} is not handed over`, 404));
    }
    const bytes = this.#files.get(decodeURIComponent(url.slice(this.#prefix.length)));
    if (!bytes) return Promise.reject(new DownloadHTTPError(`${url} was not handed over`, 404));
    if (bytes.length > maxLength) {
      return Promise.reject(new AgentError('ENDLESS_DATA', `${url} is over ${maxLength} bytes`));
    }
    return Promise.resolve(Buffer.from(bytes));
  }

  async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = await mkdtemp(join(tmpdir(), 'tufchain-memory-'));
    try {
      await writeFile(join(dir, 'f'), bytes, { mode: 0o600 });
      return await handler(join(dir, 'f'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The trusted metadata files of a tuf-js metadata directory, named as a repository serves them
 * (`N.root.json`, `timestamp.json`, `N.snapshot.json`, `N.<role>.json`), to hand to a secondary.
 */
export async function handOverMetadata(metadataDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(metadataDir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const bytes = await readFile(join(metadataDir, name));
    const role = decodeURIComponent(name.slice(0, -'.json'.length));
    let version: unknown;
    try {
      version = (JSON.parse(bytes.toString('utf8')) as { signed?: { version?: unknown } }).signed
        ?.version;
    } catch {
      continue;
    }
    if (typeof version !== 'number') continue;
    const served =
      role === 'timestamp' ? 'timestamp.json' : `${version}.${encodeURIComponent(role)}.json`;
    out[served] = bytes.toString('base64');
  }
  return out;
}

export function filesFromWire(files: unknown): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>();
  if (!files || typeof files !== 'object') return map;
  for (const [k, v] of Object.entries(files as Record<string, unknown>)) {
    if (typeof v === 'string' && /^[A-Za-z0-9._%+-]{1,200}$/.test(k)) {
      map.set(decodeURIComponent(k), new Uint8Array(Buffer.from(v, 'base64')));
    }
  }
  return map;
}
