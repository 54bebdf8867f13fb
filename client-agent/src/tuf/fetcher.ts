import { Readable } from 'node:stream';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import type { Dispatcher } from 'undici';
import { request } from '../util/undici.js';
import { createDispatcher, isRetryableHttpError, type HttpConfig } from '../util/http.js';
import { withRetry } from '../util/retry.js';

/**
 * tuf-js fetcher over undici. Non-2xx answers throw tuf-js's `DownloadHTTPError`, which its root
 * rotation probe needs to see a 404 as "no newer root".
 */
export class UndiciFetcher extends BaseFetcher {
  readonly #cfg: HttpConfig;
  readonly #dispatcher: Dispatcher;

  constructor(cfg: HttpConfig, dispatcher?: Dispatcher) {
    super();
    this.#cfg = cfg;
    this.#dispatcher = dispatcher ?? createDispatcher(cfg);
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    return withRetry(
      async () => {
        const res = await request(url, {
          method: 'GET',
          dispatcher: this.#dispatcher,
          headers: { 'user-agent': this.#cfg.userAgent },
        });
        if (res.statusCode < 200 || res.statusCode >= 300) {
          await res.body.dump();
          throw new DownloadHTTPError(`GET ${url} answered ${res.statusCode}`, res.statusCode);
        }
        return Readable.toWeb(res.body) as ReadableStream<Uint8Array<ArrayBuffer>>;
      },
      isRetryableHttpError,
      {
        retries: this.#cfg.fetchRetries,
        baseDelayMs: this.#cfg.retryBaseDelayMs,
        maxDelayMs: this.#cfg.retryMaxDelayMs,
      },
    );
  }
}
