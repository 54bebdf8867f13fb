import { Readable } from 'node:stream';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { withRetry } from '../util/retry.js';

export type HttpConfig = Pick<
  Config,
  | 'fetchTimeoutMs'
  | 'connectTimeoutMs'
  | 'fetchRetries'
  | 'retryBaseDelayMs'
  | 'retryMaxDelayMs'
  | 'userAgent'
>;

/** An undici dispatcher whose timeouts guard against slow retrieval (stalled headers or body). */
export function createDispatcher(cfg: HttpConfig): Dispatcher {
  return new Agent({
    headersTimeout: cfg.fetchTimeoutMs,
    bodyTimeout: cfg.fetchTimeoutMs,
    connectTimeout: cfg.connectTimeoutMs,
  });
}

/** Network errors, timeouts and 5xx answers are worth another try; 4xx answers are not. */
export function isRetryableHttpError(err: unknown): boolean {
  if (err instanceof DownloadHTTPError) return err.statusCode >= 500;
  if (err instanceof undiciErrors.UndiciError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR)/.test(code)
  );
}

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
