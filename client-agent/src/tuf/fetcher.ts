import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import { createDispatcher, isRetryableHttpError, type HttpConfig } from '../util/http.js';
import { retryAfterMs, withRetry } from '../util/retry.js';
import { answerLimits, fetchBounded, toDownloadError } from '../util/retrieval.js';

/** Headers that authenticate one request (method, absolute URL, body when there is one). */
export type RequestSigner = (
  method: string,
  url: string,
  body?: Uint8Array,
) => Promise<Record<string, string>>;

export type FetcherConfig = HttpConfig &
  Pick<Config, 'minDownloadBytesPerSecond' | 'downloadGraceMs' | 'metadataDeadlineMs'>;

/**
 * tuf-js fetcher over undici that owns every download whole: the length limit tuf-js gives
 * (ENDLESS_DATA), the slow-retrieval limits (DOWNLOAD_TOO_SLOW: a minimum average rate after a
 * grace period, and `metadataDeadlineMs` for the file, retries included), the inactivity timeout
 * (DOWNLOAD_TIMEOUT). On every failure the response body is destroyed. (tuf-js's own
 * `BaseFetcher.downloadFile` stops reading at the limit but leaves the body open, and closing the
 * dispatcher then waits forever.) Non-2xx answers throw tuf-js's `DownloadHTTPError`, which its
 * root rotation probe needs to see a 404 as "no newer root".
 */
export class UndiciFetcher implements Fetcher {
  readonly #cfg: FetcherConfig;
  readonly #dispatcher: Dispatcher;
  #lastRefusal: AgentError | undefined;

  readonly #signRequest: RequestSigner | undefined;

  /** `signRequest`: headers that authenticate each GET (the Director's RFC 9421 signatures). */
  constructor(cfg: FetcherConfig, dispatcher?: Dispatcher, signRequest?: RequestSigner) {
    this.#cfg = cfg;
    this.#dispatcher = dispatcher ?? createDispatcher(cfg);
    this.#signRequest = signRequest;
  }

  /**
   * Why the last download failed, when it was refused (too long, too slow, timed out, no
   * network). tuf-js wraps some errors in its own with only the message kept; this keeps the code.
   */
  get lastRefusal(): AgentError | undefined {
    return this.#lastRefusal;
  }

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    return this.#download(url, maxLength);
  }

  async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const bytes = await this.#download(url, maxLength);
    const dir = await mkdtemp(join(await realpath(tmpdir()), 'tufchain-download-'));
    try {
      const file = join(dir, 'download');
      await writeFile(file, bytes, { mode: 0o600 });
      return await handler(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #download(url: string, maxLength: number): Promise<Buffer> {
    this.#lastRefusal = undefined;
    const cfg = this.#cfg;
    const limits = answerLimits(cfg);
    const deadlineAt = performance.now() + cfg.metadataDeadlineMs;
    try {
      return await withRetry(
        async () => {
          const remaining = deadlineAt - performance.now();
          if (remaining <= 0) {
            throw new AgentError(
              'DOWNLOAD_TOO_SLOW',
              `GET ${url} took longer than ${cfg.metadataDeadlineMs} ms`,
            );
          }
          const res = await fetchBounded(url, {
            dispatcher: this.#dispatcher,
            headers: {
              'user-agent': cfg.userAgent,
              ...(this.#signRequest ? await this.#signRequest('GET', url) : {}),
            },
            maxBytes: maxLength,
            limits: { ...limits, deadlineMs: remaining },
          });
          if (res.statusCode < 200 || res.statusCode >= 300) {
            throw Object.assign(
              new DownloadHTTPError(`GET ${url} answered ${res.statusCode}`, res.statusCode),
              { retryAfterMs: retryAfterMs(res.headers['retry-after']) },
            );
          }
          return res.body;
        },
        isRetryableHttpError,
        {
          retries: cfg.fetchRetries,
          baseDelayMs: cfg.retryBaseDelayMs,
          maxDelayMs: cfg.retryMaxDelayMs,
        },
      );
    } catch (err) {
      if (err instanceof DownloadHTTPError) throw err;
      this.#lastRefusal = toDownloadError(err, `GET ${url}`);
      throw this.#lastRefusal;
    }
  }
}

/**
 * The agent's error behind a failure of tuf-js: the fetcher's refusal when tuf-js threw it or
 * wrapped it (its snapshot and delegated-role loaders keep only the message), else undefined.
 */
export function fetcherRefusal(fetcher: Fetcher, err: unknown): AgentError | undefined {
  if (err instanceof AgentError) return err;
  const refusal = fetcher instanceof UndiciFetcher ? fetcher.lastRefusal : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return refusal && message.includes(refusal.message) ? refusal : undefined;
}
