/** Durations are in seconds. */
export interface ExpiryConfig {
  root: number;
  targets: number;
  snapshot: number;
  timestamp: number;
}

export interface Config {
  /** How long newly signed metadata stays valid, per role. */
  expiries: ExpiryConfig;
  /** Re-sign an online role when less than this much validity is left. */
  resignWindows: Omit<ExpiryConfig, 'root'>;
  /** How often the background expiry check runs (ms); 0 disables the timer. */
  resignIntervalMs: number;
  /** Largest firmware image accepted by PUT /api/v1/firmware/{name}. */
  maxFirmwareBytes: number;
  /** Largest JSON body accepted by any JSON route. */
  maxJsonBytes: number;
  /** Largest number of targets in one release. */
  maxTargetsPerRelease: number;
  /** Cache-Control max-age for timestamp.json and other mutable files. */
  timestampMaxAgeSeconds: number;
  /** How long an Idempotency-Key is remembered (seconds). */
  idempotencyTtlSeconds: number;
  /**
   * TAP 15: a new repository delegates to 2^binBits hashed bins (1..14). 7 gives a version-only
   * snapshot of ~4 KB and ~800 targets per bin at 100,000 targets.
   */
  binBits: number;
  /** How far a Director request's RFC 9421 `created` may be from the server's clock (seconds). */
  directorRequestSkewSeconds: number;
  /**
   * Bytes of served images kept in memory (src/http/target-cache.ts); an image above a quarter
   * of it is streamed from disk on every request. 0 turns the cache off.
   */
  targetCacheBytes: number;
  /**
   * A release also publishes deltas (tuf/deltas.ts) to each new image from this many earlier
   * releases of its hardware IDs; 0 publishes full images only.
   */
  deltaBases: number;
  /**
   * Requests the router may hold at once; one more is answered `503 SERVER_BUSY` with
   * Retry-After at once, before its body is read. Answers from memory (metadata, cached images)
   * and /healthz, /readyz, /metrics are never refused. 0: no bound.
   */
  maxInFlightRequests: number;
  /** Retry-After of a `503 SERVER_BUSY` (seconds). */
  busyRetryAfterSeconds: number;
}

const day = 24 * 60 * 60;

export const defaultConfig: Config = {
  expiries: { root: 365 * day, targets: 90 * day, snapshot: 7 * day, timestamp: 1 * day },
  resignWindows: { targets: 30 * day, snapshot: 2 * day, timestamp: 6 * 60 * 60 },
  resignIntervalMs: 60_000,
  maxFirmwareBytes: 512 * 1024 * 1024,
  maxJsonBytes: 4 * 1024 * 1024,
  maxTargetsPerRelease: 2000,
  timestampMaxAgeSeconds: 10,
  idempotencyTtlSeconds: day,
  binBits: 7,
  directorRequestSkewSeconds: 300,
  // Room for the hot images of a rollout (a few ECU images of tens of MiB each) next to the
  // 64 MiB of versioned metadata; the blobs live outside the V8 heap.
  targetCacheBytes: 256 * 1024 * 1024,
  deltaBases: 2,
  // Each may hold a JSON body of up to maxJsonBytes: 1,024 of them bound that memory to 4 GiB.
  maxInFlightRequests: 1024,
  busyRetryAfterSeconds: 2,
};

export type ConfigInput = Partial<Omit<Config, 'expiries' | 'resignWindows'>> & {
  expiries?: Partial<ExpiryConfig>;
  resignWindows?: Partial<Config['resignWindows']>;
};

export function resolveConfig(input: ConfigInput = {}): Config {
  return {
    ...defaultConfig,
    ...input,
    expiries: { ...defaultConfig.expiries, ...input.expiries },
    resignWindows: { ...defaultConfig.resignWindows, ...input.resignWindows },
  };
}

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
