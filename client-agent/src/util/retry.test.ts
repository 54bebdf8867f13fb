import { describe, expect, it } from 'vitest';
import { retryAfterMs, retryDelay, withRetry } from './retry.js';

describe('Retry-After', () => {
  it('reads delay-seconds and an HTTP-date, and nothing else', () => {
    const now = Date.parse('2026-12-06T12:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs([' 0 '], now)).toBe(0);
    expect(retryAfterMs('Sun, 06 Dec 2026 12:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Sun, 06 Dec 2026 11:59:00 GMT', now)).toBe(0);
    for (const bad of [undefined, '', '-1', '1.5', 'soon', '9999999999']) {
      expect(retryAfterMs(bad, now)).toBeUndefined();
    }
  });

  it('waits at least what the server asked, never more than the ceiling', () => {
    const opts = { baseDelayMs: 1, maxDelayMs: 1000 };
    expect(retryDelay(0, opts, 400)).toBe(400);
    expect(retryDelay(0, opts, 60_000)).toBe(1000);
    expect(retryDelay(0, opts, undefined)).toBeLessThanOrEqual(1);
  });

  it('withRetry sleeps a failure’s retryAfterMs before the next try', async () => {
    let tries = 0;
    const started = performance.now();
    const value = await withRetry(
      () => {
        tries += 1;
        if (tries === 1)
          return Promise.reject(Object.assign(new Error('busy'), { retryAfterMs: 300 }));
        return Promise.resolve('ok');
      },
      () => true,
      { retries: 1, baseDelayMs: 1, maxDelayMs: 5000 },
    );
    expect(value).toBe('ok');
    expect(tries).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });
});
