export interface BackoffOptions {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base * 2^attempt)]. */
export function backoffDelay(attempt: number, opts: Omit<BackoffOptions, 'retries'>): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  return Math.floor(Math.random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An answer's Retry-After in ms (RFC 9110: delay-seconds or an HTTP-date), or undefined when it
 * has none that parses. A busy server (503 SERVER_BUSY) says when it expects to have room.
 */
export function retryAfterMs(
  header: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d{1,9}$/.test(value)) return Number(value) * 1000;
  // IMF-fixdate only: Date.parse alone takes "-1" or "1.5" for dates.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value))
    return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before the next try: the backoff, but not less than what the server asked for
 * (`askedMs`, its Retry-After), and never more than `maxDelayMs`.
 */
export function retryDelay(
  attempt: number,
  opts: Omit<BackoffOptions, 'retries'>,
  askedMs: number | undefined,
): number {
  return Math.min(opts.maxDelayMs, Math.max(backoffDelay(attempt, opts), askedMs ?? 0));
}

/**
 * Runs `fn` until it succeeds, `isRetryable(err)` is false, or the retries are used up. A failure
 * that carries `retryAfterMs` (the answer's Retry-After) waits at least that long.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  opts: BackoffOptions,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.retries || !isRetryable(err)) throw err;
      const asked = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
      await sleep(retryDelay(attempt, opts, typeof asked === 'number' ? asked : undefined));
    }
  }
}
