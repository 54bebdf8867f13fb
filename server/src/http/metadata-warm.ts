import type { Logger } from 'pino';
import { ServerError } from '../error.js';
import type { MetadataRecord, RepositoryStore } from '../storage/store.js';
import { errorText } from '../tuf/error-text.js';
import type { FirmwareSummary } from '../tuf/firmware-index.js';
import { errorAnswer, jsonAnswer, type CommitAnswers } from './commit-answers.js';
import { VERSIONED_METADATA, type MetadataCache } from './metadata-cache.js';

/** What reading served metadata needs of the server's context. */
export interface MetadataSource {
  metadataCache: MetadataCache;
  commitAnswers: CommitAnswers;
  store: Pick<RepositoryStore, 'currentMetadata' | 'publishedMetadata'>;
  service: {
    ensureFresh(): Promise<number>;
    latestFirmware(hardwareId: string): Promise<FirmwareSummary | undefined>;
  };
  config: { timestampMaxAgeSeconds: number };
}

/** Stale answers read again after a commit, the most recently remembered first. */
const RENEWED_PATHS = 256;
const HINT_ROUTE = '/api/v1/hardware/:hardwareId/latest';
/** A hint's path as the route remembers it (its hardwareId pattern, unencoded). */
const HINT_PATH = /^\/api\/v1\/hardware\/([A-Za-z0-9][A-Za-z0-9._:+-]{0,127})\/latest$/;

export type CurrentFile = 'timestamp.json' | 'root.json';

/**
 * The current `timestamp.json` (re-signed first if it has gone stale) or `root.json`, kept in the
 * cache when no commit came during the read. Undefined before the repository is initialized.
 */
export async function readCurrentMetadata(
  ctx: MetadataSource,
  file: CurrentFile,
): Promise<{ rec: MetadataRecord; cacheControl: string } | undefined> {
  const cache = ctx.metadataCache;
  const generation = cache.generation();
  const freshUntil = file === 'timestamp.json' ? await ctx.service.ensureFresh() : Infinity;
  const role = file === 'timestamp.json' ? 'timestamp' : 'root';
  const rec = await ctx.store.currentMetadata(role);
  if (!rec) return undefined;
  const cacheControl =
    role === 'timestamp'
      ? `public, max-age=${ctx.config.timestampMaxAgeSeconds}, must-revalidate`
      : 'no-cache';
  cache.rememberCurrent(file, rec, cacheControl, freshUntil, generation);
  return { rec, cacheControl };
}

/**
 * `{version}.{role}.json` as published, kept in the cache. Undefined when it is not published;
 * then its 404 is kept until the next commit under `path` (the request's, when it spelled exactly
 * that): every TUF client asks for root N+1 at every refresh.
 */
export async function readVersionedMetadata(
  ctx: MetadataSource,
  role: string,
  version: number,
  path?: string,
): Promise<MetadataRecord | undefined> {
  const generation = ctx.metadataCache.generation();
  const rec = await ctx.store.publishedMetadata(role, version);
  if (rec) ctx.metadataCache.rememberVersioned(role, rec);
  else if (path === `/metadata/${version.toString()}.${role}.json`) {
    const error = notPublished(`${version.toString()}.${role}.json`);
    ctx.commitAnswers.remember(path, errorAnswer('/metadata/:file', error), generation);
  }
  return rec;
}

export function notPublished(file: string): ServerError {
  return new ServerError('METADATA_NOT_FOUND', `${file} is not published`);
}

/**
 * The firmware hint of `hardwareId` (undefined when it has none), its answer kept until the next
 * commit under `path` as readVersionedMetadata keeps a 404: every agent asks at every poll.
 */
export async function readFirmwareHint(
  ctx: MetadataSource,
  hardwareId: string,
  path?: string,
): Promise<{ body: FirmwareSummary & { hardwareId: string }; cacheControl: string } | undefined> {
  const generation = ctx.metadataCache.generation();
  const hint = await ctx.service.latestFirmware(hardwareId);
  const remember = path === `/api/v1/hardware/${hardwareId}/latest` ? path : undefined;
  if (!hint) {
    if (remember)
      ctx.commitAnswers.remember(remember, errorAnswer(HINT_ROUTE, noHint(hardwareId)), generation);
    return undefined;
  }
  const body = { hardwareId, ...hint };
  const cacheControl = `public, max-age=${ctx.config.timestampMaxAgeSeconds}`;
  if (remember) {
    const answer = jsonAnswer(HINT_ROUTE, 200, body, { 'Cache-Control': cacheControl });
    ctx.commitAnswers.remember(remember, answer, generation);
  }
  return { body, cacheControl };
}

export function noHint(hardwareId: string): ServerError {
  return new ServerError('TARGET_NOT_FOUND', `no firmware for ${hardwareId}`);
}

/** The `meta` of a timestamp or snapshot: role name → version. */
function metaVersions(rec: MetadataRecord): Map<string, number> {
  const parsed = JSON.parse(Buffer.from(rec.bytes).toString('utf8')) as {
    signed?: { meta?: Record<string, { version?: unknown }> };
  };
  const versions = new Map<string, number>();
  for (const [name, entry] of Object.entries(parsed.signed?.meta ?? {})) {
    const role = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
    const version = entry.version;
    if (typeof version !== 'number' || !VERSIONED_METADATA.test(`${version}.${role}.json`))
      continue;
    versions.set(role, version);
  }
  return versions;
}

/**
 * Reads what a commit changed into memory before the fleet asks for it: `timestamp.json` and
 * `root.json`, the snapshot the timestamp names, and every role version that snapshot lists and
 * the cache does not hold (after a release: targets and the bins it touched). Without it, the
 * first requests after every commit, the whole fleet's at a release, go to the router and the
 * store, and queue under the in-flight bound.
 *
 * `warm()` is called after each invalidation (this replica's commit, or another's heard through
 * the store) and at start; a call during a warm-up runs one more after it. Failures are logged:
 * the routes read whatever the warm-up left out.
 */
export class MetadataWarmer {
  readonly #ctx: MetadataSource;
  readonly #logger: Logger;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(ctx: MetadataSource, logger: Logger) {
    this.#ctx = ctx;
    this.#logger = logger;
  }

  warm(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /** Settles when no warm-up runs. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** No warm-up starts after this; settles when the running one has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#once();
      } catch (error) {
        this.#logger.warn({ err: errorText(error) }, 'could not read new metadata ahead');
      }
    } while (this.#again && !this.#stopped);
  }

  async #once(): Promise<void> {
    const ctx = this.#ctx;
    await readCurrentMetadata(ctx, 'root.json');
    const timestamp = await readCurrentMetadata(ctx, 'timestamp.json');
    if (!timestamp) return;
    const snapshotVersion = metaVersions(timestamp.rec).get('snapshot');
    if (snapshotVersion === undefined) return;
    const snapshot = await readVersionedMetadata(ctx, 'snapshot', snapshotVersion);
    if (!snapshot) return;
    for (const [role, version] of metaVersions(snapshot)) {
      if (this.#stopped) return;
      if (!ctx.metadataCache.holdsVersioned(role, version))
        await readVersionedMetadata(ctx, role, version);
    }
    // What the last commit made stale: the hints and 404s the fleet asks for at every poll.
    for (const path of ctx.commitAnswers.stalePaths(RENEWED_PATHS)) {
      if (this.#stopped) return;
      const hint = HINT_PATH.exec(path);
      if (hint) await readFirmwareHint(ctx, hint[1]!, path);
      const versioned = path.startsWith('/metadata/')
        ? VERSIONED_METADATA.exec(path.slice('/metadata/'.length))
        : null;
      if (versioned) await readVersionedMetadata(ctx, versioned[2]!, Number(versioned[1]), path);
    }
  }
}
