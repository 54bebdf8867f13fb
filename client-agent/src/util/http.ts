import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from './undici.js';
import type { Config } from '../config.js';

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

/** Network errors, timeouts, 5xx and 429 answers are worth another try; other 4xx answers are not. */
export function isRetryableHttpError(err: unknown): boolean {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  // A 429 (a rate limiter or CDN in front of the repository) comes with a Retry-After too.
  if (typeof status === 'number') return status >= 500 || status === 429;
  if (err instanceof undiciErrors.UndiciError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR)/.test(code)
  );
}

/**
 * Closes a dispatcher without ever hanging: a graceful close waits for every request still open,
 * which a hostile server can hold forever, so after `graceMs` the dispatcher is destroyed (its
 * sockets cut). Errors are swallowed: this runs in cleanup paths.
 */
export async function releaseDispatcher(dispatcher: Dispatcher, graceMs = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = dispatcher.close().then(
    () => true,
    () => false,
  );
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  try {
    if (await Promise.race([closed, late])) return;
    await dispatcher.destroy().catch(() => undefined);
  } finally {
    clearTimeout(timer);
  }
}
