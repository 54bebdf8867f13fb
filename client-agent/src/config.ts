export interface Config {
  /** Time to wait for response headers, and the longest pause allowed between body chunks. */
  fetchTimeoutMs: number;
  /**
   * Slow retrieval: each request (metadata, image, every answer the agent reads) must have brought
   * `minDownloadBytesPerSecond × (t − downloadGraceMs)` bytes by time t after it was sent, or it is
   * cut with DOWNLOAD_TOO_SLOW. So a file of n bytes has at most `downloadGraceMs + n / rate` per
   * attempt, and a server that trickles a byte every few seconds (which the inactivity timeout
   * never trips) is cut once the grace period is over.
   */
  minDownloadBytesPerSecond: number;
  downloadGraceMs: number;
  /**
   * Slow retrieval: the longest one metadata file (or other answer read whole: the attestation
   * bundle, the discovery hint, report receipts, proof bundles, enrollment answers, the CRL) may
   * take, retries included (DOWNLOAD_TOO_SLOW).
   */
  metadataDeadlineMs: number;
  connectTimeoutMs: number;
  /** Retries of one HTTP request after a network error or a 5xx, with exponential backoff and jitter. */
  fetchRetries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Resumptions (HTTP Range) of the image download after the connection drops. */
  downloadResumes: number;
  /** Boots the bootloader tries a freshly installed slot before it falls back. */
  maxBootAttempts: number;
  /** An image that failed this many installs is not tried again until a newer release appears. */
  maxInstallFailures: number;
  /** Upper bounds on metadata sizes, passed to tuf-js. */
  rootMaxLength: number;
  timestampMaxLength: number;
  snapshotMaxLength: number;
  targetsMaxLength: number;
  /** Maximum size of a firmware attestation bundle target. */
  attestationMaxLength: number;
  /**
   * Maximum size of a server answer the agent reads whole (report receipts, proof bundles,
   * enrollment answers); a longer one is cut and refused with ENDLESS_DATA.
   */
  answerMaxLength: number;
  /** Maximum size of the vehicle CA's CRL (`checkRevocation`). */
  crlMaxLength: number;
  userAgent: string;
  /**
   * Offline bundles: the last chain sync (`sync-chain`) may be at most this old, by the vehicle's
   * clock against the sync's checkpoint time, or an install from a bundle is refused with
   * CHAIN_SNAPSHOT_STALE. It bounds how long a recall or a raised minimum version can go unseen by
   * a vehicle that installs offline. 0: no limit.
   */
  offlineChainSnapshotMaxAgeSeconds: number;
  /**
   * Run the install's read-back (every byte read back from the slot and hashed with sha512) on a
   * worker thread, for images of 4 MiB and more, while the installing thread receives, hashes
   * sha256 and writes. A second V8 isolate: ~9 MiB more peak resident memory (95-96 MiB in the
   * bench, against ~86 MiB inline), for 0.3-0.4 s less per 256 MiB on the bench's dual core. Turn
   * it off on a single-core ECU or one short of memory.
   */
  sha512Worker: boolean;
  /**
   * Write the image to the slot, and read it back, with direct I/O (O_DIRECT) past the page cache,
   * where the slot's file system takes it: the read-back then checks what the storage holds, and
   * an install does not fill the page cache with the image. Off: through the page cache.
   */
  slotDirectIo: boolean;
}

export const defaultConfig: Config = {
  fetchTimeoutMs: 30_000,
  // 4 KiB/s is below any cellular link that can carry an update (GPRS gives ~5 KiB/s): a 1 GiB
  // image then has at most ~73 hours per attempt, a 16 KiB timestamp 34 s.
  minDownloadBytesPerSecond: 4096,
  downloadGraceMs: 30_000,
  metadataDeadlineMs: 300_000,
  connectTimeoutMs: 10_000,
  fetchRetries: 3,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 10_000,
  downloadResumes: 5,
  maxBootAttempts: 3,
  maxInstallFailures: 3,
  rootMaxLength: 512_000,
  timestampMaxLength: 16_384,
  snapshotMaxLength: 2_000_000,
  targetsMaxLength: 5_000_000,
  attestationMaxLength: 1_000_000,
  answerMaxLength: 1_000_000,
  crlMaxLength: 4_000_000,
  userAgent: 'tufchain-agent/0.1',
  offlineChainSnapshotMaxAgeSeconds: 30 * 86_400,
  sha512Worker: true,
  slotDirectIo: true,
};

export function resolveConfig(partial?: Partial<Config>): Config {
  return { ...defaultConfig, ...partial };
}
