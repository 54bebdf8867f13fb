import { join } from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import { hardwareIdHash, type LoggedReleaseLike, type ReleaseLog } from './chain.js';
import { releaseSchema, withOwnFirmware } from './chain-snapshot.js';

interface ConfirmedBlock {
  blockNumber: number;
  blockHash: string;
}

/** A ReleaseLog that can answer only what was logged after a confirmed block (ChainReader). */
export interface IncrementalReleaseLog extends ReleaseLog {
  readonly chainId?: number | undefined;
  readonly contractAddress: string;
  releasesAfter(after?: ConfirmedBlock): Promise<{
    releases: LoggedReleaseLike[];
    confirmed: ConfirmedBlock;
    reorganized: boolean;
  }>;
}

export function isIncrementalReleaseLog(log: ReleaseLog): log is IncrementalReleaseLog {
  const l = log as Partial<IncrementalReleaseLog>;
  return typeof l.releasesAfter === 'function' && typeof l.contractAddress === 'string';
}

const cacheSchema = z.object({
  scope: z.string(),
  confirmed: z.object({
    blockNumber: z.number().int().nonnegative(),
    blockHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  }),
  releases: z.array(releaseSchema),
});

export const RELEASE_CACHE_FILE = 'chain-releases.json';

/**
 * Keeps the confirmed release entries that concern this vehicle's hardware ID in the state
 * directory, so that each update reads only the entries logged since the last one instead of the
 * whole log (the withholding check needs every entry for the hardware ID). Entries are kept only
 * once confirmed and agreed by the reader's quorum; the block they were read up to is checked to
 * still be on the chain each time, and a reorganization below it (or another chain or contract)
 * starts the cache over. Everything else goes straight to the inner log.
 */
export class CachedReleaseLog implements ReleaseLog {
  readonly #inner: IncrementalReleaseLog;
  readonly #path: string;
  readonly #scope: string;
  readonly #hardwareIdHash: string;

  constructor(inner: IncrementalReleaseLog, opts: { stateDir: string; hardwareId: string }) {
    this.#inner = inner;
    this.#path = join(opts.stateDir, RELEASE_CACHE_FILE);
    this.#hardwareIdHash = hardwareIdHash(opts.hardwareId).toLowerCase();
    this.#scope = `${inner.chainId ?? '?'}:${inner.contractAddress.toLowerCase()}:${this.#hardwareIdHash}`;
  }

  findRelease(metadataHash: string): ReturnType<ReleaseLog['findRelease']> {
    return this.#inner.findRelease(metadataHash);
  }

  isRecalled(digestOrMetadataHash: string): Promise<boolean> {
    return this.#inner.isRecalled(digestOrMetadataHash);
  }

  minimumVersion(hardwareId: string): Promise<number> {
    return this.#inner.minimumVersion(hardwareId);
  }

  trustedTime(): ReturnType<ReleaseLog['trustedTime']> {
    return this.#inner.trustedTime();
  }

  /** The confirmed entries that carry firmware for this hardware ID (other firmware left out). */
  async releases(): Promise<LoggedReleaseLike[]> {
    const cached = await this.#load();
    const answer = await this.#inner.releasesAfter(cached?.confirmed);
    const fresh = answer.releases
      .map((r) => withOwnFirmware(r, this.#hardwareIdHash))
      .filter((r) => r.firmware.length > 0);
    const releases = cached && !answer.reorganized ? [...cached.releases, ...fresh] : fresh;
    await writeJsonDurable(this.#path, {
      scope: this.#scope,
      confirmed: answer.confirmed,
      releases,
    });
    return releases;
  }

  /** The cache for this chain, contract and hardware ID; undefined when absent or unusable. */
  async #load(): Promise<z.infer<typeof cacheSchema> | undefined> {
    const raw = await readJsonIfExists(this.#path).catch(() => undefined);
    const parsed = cacheSchema.safeParse(raw);
    if (!parsed.success || parsed.data.scope !== this.#scope) return undefined;
    return parsed.data;
  }
}
