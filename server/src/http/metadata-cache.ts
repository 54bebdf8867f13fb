import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetadataRecord } from '../storage/store.js';
import { ByteLru } from './byte-lru.js';

/** `{N}.{role}.json`: root, snapshot, targets and the delegated roles (bins, bins-3f, supplier-acme). */
export const VERSIONED_METADATA = /^([1-9]\d{0,15})\.([a-z][a-z0-9-]{0,63})\.json$/;
export const IMMUTABLE = 'public, max-age=31536000, immutable';

interface Entry {
  bytes: Uint8Array;
  etag: string;
  /** The answer's headers, built once: a 304's, and a 200's with Content-Length. */
  notModified: Record<string, string>;
  ok: Record<string, string | number>;
}

interface CurrentEntry extends Entry {
  /** Unix ms after which the route must look again (the earliest online expiry). */
  freshUntil: number;
}

export interface MetadataCacheOptions {
  /** Bytes of versioned files kept (least recently served dropped first). */
  maxVersionedBytes?: number;
}

/**
 * Served metadata in memory, answered before the router. Versioned files never change once
 * published, so they are kept by `{role}/{version}` in a byte-bounded LRU. The current
 * `timestamp.json` and `root.json` are kept until a commit (this process's, or another replica's
 * heard through the store) or their freshness bound, whichever is first.
 *
 * A route fills the cache only with what it read after the last invalidation: `generation()`
 * before the read, `rememberCurrent(..., generation)` after it. A read that raced a commit is
 * served once and not kept.
 */
export class MetadataCache {
  readonly #versioned: ByteLru<Entry>;
  readonly #current = new Map<string, CurrentEntry>();
  #generation = 0;
  /**
   * Whether every commit of every other replica is heard now (PostgreSQL LISTEN, set by
   * startServer); while not, current files (timestamp.json, root.json) are not kept.
   */
  hearsOtherReplicas: () => boolean = () => true;

  constructor(opts: MetadataCacheOptions = {}) {
    this.#versioned = new ByteLru(
      opts.maxVersionedBytes ?? 64 * 1024 * 1024,
      (entry) => entry.bytes.byteLength,
    );
  }

  readonly #onInvalidate: (() => void)[] = [];

  /** Something committed: current files are read again. */
  invalidate(): void {
    this.#generation += 1;
    this.#current.clear();
    for (const listener of this.#onInvalidate) listener();
  }

  /** Calls `listener` after every invalidation (MetadataWarmer reads the new files ahead). */
  onInvalidate(listener: () => void): void {
    this.#onInvalidate.push(listener);
  }

  generation(): number {
    return this.#generation;
  }

  holdsVersioned(role: string, version: number): boolean {
    return this.#versioned.has(versionedKey(role, version.toString()));
  }

  rememberVersioned(role: string, rec: MetadataRecord): void {
    const key = versionedKey(role, rec.version.toString());
    if (!this.#versioned.has(key)) this.#versioned.set(key, entryOf(rec, IMMUTABLE));
  }

  rememberCurrent(
    file: 'timestamp.json' | 'root.json',
    rec: MetadataRecord,
    cacheControl: string,
    freshUntil: number,
    generation: number,
  ): void {
    if (generation !== this.#generation || !this.hearsOtherReplicas()) return;
    this.#current.set(file, { ...entryOf(rec, cacheControl), freshUntil });
  }

  /**
   * Answers `GET|HEAD /metadata/...` from memory when it can; false sends the request on to the
   * router (which reads the store and fills the cache).
   */
  answer(req: IncomingMessage, res: ServerResponse, now: number | (() => number)): boolean {
    const url = req.url;
    if (url === undefined || !url.startsWith('/metadata/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const file = url.slice('/metadata/'.length);
    let entry: Entry | undefined;
    if (file === 'timestamp.json' || file === 'root.json') {
      const current = this.#current.get(file);
      const at = typeof now === 'number' ? now : current ? now() : 0;
      if (current && at < current.freshUntil && this.hearsOtherReplicas()) entry = current;
    } else {
      const m = VERSIONED_METADATA.exec(file);
      const key = m ? versionedKey(m[2] ?? '', m[1] ?? '') : undefined;
      entry = key === undefined ? undefined : this.#versioned.get(key);
    }
    if (!entry) return false;
    if (ifNoneMatch(req.headers['if-none-match'], entry.etag)) {
      res.writeHead(304, entry.notModified);
      res.end();
      return true;
    }
    res.writeHead(200, entry.ok);
    res.end(req.method === 'HEAD' ? undefined : entry.bytes);
    return true;
  }
}

/** `{role}/{version}`: a versioned file's key in the LRU. */
function versionedKey(role: string, version: string): string {
  return `${role}/${version}`;
}

function entryOf(rec: MetadataRecord, cacheControl: string): Entry {
  const etag = `"${rec.sha256}"`;
  const notModified = {
    'Content-Type': 'application/json',
    'Cache-Control': cacheControl,
    ETag: etag,
  };
  return {
    bytes: rec.bytes,
    etag,
    notModified,
    ok: { ...notModified, 'Content-Length': rec.bytes.byteLength },
  };
}

/** If-None-Match holds `etag` (weak or strong, in a list). */
export function ifNoneMatch(header: string | undefined, etag: string): boolean {
  return (
    header !== undefined && header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
  );
}
