import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { Alert } from './alert.js';

export const SIGNATURE_HEADER = 'x-tufchain-signature';

/** `sha256=` + hex HMAC-SHA256 of the exact body bytes, as GitHub and Stripe-style receivers check it. */
export function signWebhookBody(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookOptions {
  url: string;
  secret: string;
  /** Attempts per delivery (default 4). */
  attempts?: number;
  /** Wait before the first retry, doubled before each next one (default 250 ms). */
  backoffMs?: number;
  timeoutMs?: number;
}

/**
 * POSTs one alert as JSON, signed with the shared secret, retrying a failed or non-2xx delivery
 * with exponential backoff. Resolves true once a 2xx came back, false when every attempt failed.
 */
export async function deliverWebhook(
  alert: Alert,
  opts: WebhookOptions,
  onFailure: (attempt: number, reason: string) => void,
): Promise<boolean> {
  const body = JSON.stringify(alert);
  const signature = signWebhookBody(body, opts.secret);
  const attempts = opts.attempts ?? 4;
  let wait = opts.backoffMs ?? 250;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await request(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signature,
          'x-tufchain-alert-id': alert.id,
        },
        body,
        headersTimeout: opts.timeoutMs ?? 10_000,
        bodyTimeout: opts.timeoutMs ?? 10_000,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return true;
      onFailure(attempt, `HTTP ${res.statusCode}`);
    } catch (error) {
      onFailure(attempt, error instanceof Error ? error.message : String(error));
    }
    if (attempt < attempts) {
      await sleep(wait);
      wait *= 2;
    }
  }
  return false;
}
