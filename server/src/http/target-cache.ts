import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ByteLru } from './byte-lru.js';
import { answerTarget, writeTargetAnswer, type ServedTarget } from './target-answer.js';

const PREFIX = '/targets/';
/** Paths resolved per metadata generation; a repository with more served names re-resolves. */
const MAX_RESOLVED_PATHS = 100_000;

/** The commit counter of served metadata (MetadataCache): a new generation re-resolves every path. */
export interface MetadataGeneration {
  generation(): number;
  hearsOtherReplicas(): boolean;
}

export interface TargetCacheOptions {
  /** Bytes of image blobs kept in memory (0 turns the cache off). */
  maxBytes: number;
  commits: MetadataGeneration;
}

/**
 * Images in memory, answered before the router. Two parts:
 * - which blob a `/targets/...` path serves, as the route resolved it from the current metadata:
 *   kept until the next commit (this process's or another replica's, the metadata cache's
 *   generation), so a revoked or replaced target is resolved again, by the route, after it;
 * - the blobs themselves, by sha256 in a byte-bounded LRU: content-addressed, so they never
 *   change, and are only reached through a current resolution. A blob above a quarter of the
 *   bound is streamed from disk instead, so that one image cannot empty the cache.
 * A resolution read before a commit and remembered after it is not kept (as MetadataCache).
 */
export class TargetCache {
  readonly #commits: MetadataGeneration;
  readonly #resolved = new Map<string, ServedTarget>();
  #resolvedGeneration = -1;
  readonly #blobs: ByteLru<Buffer>;
  readonly #loading = new Map<string, Promise<Buffer | undefined>>();
  /** The largest blob kept. */
  readonly maxBlobBytes: number;

  constructor(opts: TargetCacheOptions) {
    this.#commits = opts.commits;
    this.#blobs = new ByteLru(opts.maxBytes, (bytes) => bytes.byteLength);
    this.maxBlobBytes = Math.floor(opts.maxBytes / 4);
  }

  /** Bytes of blobs held now (at most the configured bound). */
  get bytes(): number {
    return this.#blobs.bytes;
  }

  #current(): boolean {
    return (
      this.#resolvedGeneration === this.#commits.generation() && this.#commits.hearsOtherReplicas()
    );
  }

  /**
   * The route resolved `path` (after `/targets/`, as the request spelled it) to `target` from the
   * metadata of `generation`, read before the lookup.
   */
  rememberTarget(path: string, target: ServedTarget, generation: number): void {
    if (generation !== this.#commits.generation() || !this.#commits.hearsOtherReplicas()) return;
    if (this.#resolvedGeneration !== generation || this.#resolved.size >= MAX_RESOLVED_PATHS) {
      this.#resolved.clear();
      this.#resolvedGeneration = generation;
    }
    this.#resolved.set(path, { sha256: target.sha256, length: target.length });
  }

  /**
   * The blob of `target` from memory, else read once with `read` (concurrent callers share the
   * read) and kept when its length and sha256 are the target's. Undefined when it is too large to
   * keep, or the read failed or did not match: the caller streams it from disk as before.
   */
  async blob(target: ServedTarget, read: () => Promise<Buffer>): Promise<Buffer | undefined> {
    const hit = this.#blobs.get(target.sha256);
    if (hit) return hit;
    if (target.length > this.maxBlobBytes) return undefined;
    let loading = this.#loading.get(target.sha256);
    if (!loading) {
      loading = read()
        .then((bytes) => (matches(bytes, target) ? bytes : undefined))
        .catch(() => undefined)
        .finally(() => this.#loading.delete(target.sha256));
      this.#loading.set(target.sha256, loading);
    }
    const bytes = await loading;
    if (bytes) this.#blobs.set(target.sha256, bytes);
    return bytes;
  }

  /**
   * Answers `GET|HEAD /targets/...` from memory when the path is resolved in the current
   * generation and its blob is held; returns the route it answered (for the request metrics), or
   * undefined to send the request on to the router. A 416 goes to the router too (its error body).
   */
  answer(req: IncomingMessage, res: ServerResponse): string | undefined {
    const url = req.url;
    const method = req.method;
    if (url === undefined || !url.startsWith(PREFIX) || (method !== 'GET' && method !== 'HEAD'))
      return undefined;
    if (!this.#current()) return undefined;
    const path = url.slice(PREFIX.length);
    const target = this.#resolved.get(path);
    const bytes = target && this.#blobs.get(target.sha256);
    if (!target || !bytes) return undefined;
    const { headers } = req;
    const answer = answerTarget(
      {
        method,
        ifNoneMatch: headers['if-none-match'],
        ifRange: headerText(headers['if-range']),
        range: headers.range,
      },
      target,
    );
    if (answer.status === 416) return undefined;
    writeTargetAnswer(res, answer, bytes);
    return path.includes('/') ? '/targets/:dir/:file' : '/targets/:file';
  }
}

function matches(bytes: Buffer, target: ServedTarget): boolean {
  return (
    bytes.byteLength === target.length &&
    createHash('sha256').update(bytes).digest('hex') === target.sha256
  );
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
