import { describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.js';

/** A server double that answers every request with `status` and error `code`, counting them. */
function answering(status: number, code: string, retryAfter: string | null) {
  const seen = { requests: 0 };
  const fetchDouble = (() => {
    seen.requests += 1;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (retryAfter !== null) headers['retry-after'] = retryAfter;
    return Promise.resolve(
      new Response(JSON.stringify({ error: { code, message: code } }), { status, headers }),
    );
  }) as typeof fetch;
  return { seen, client: new ApiClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchDouble }) };
}

describe('ApiClient and a busy server', () => {
  it('sends a SERVER_BUSY request again a bounded number of times', async () => {
    const { seen, client } = answering(503, 'SERVER_BUSY', '0');
    await expect(client.json('POST', '/api/v1/releases', { body: {} })).rejects.toMatchObject({
      code: 'SERVER_BUSY',
    });
    expect(seen.requests).toBe(6);
  });

  it('does not send again another 503, nor a busy answer without a usable Retry-After', async () => {
    for (const [code, retryAfter] of [
      ['DATABASE_UNAVAILABLE', '0'],
      ['SERVER_BUSY', null],
      ['SERVER_BUSY', '31'],
      ['SERVER_BUSY', 'soon'],
    ] as const) {
      const { seen, client } = answering(503, code, retryAfter);
      await expect(client.json('GET', '/api/v1/status')).rejects.toMatchObject({ code });
      expect(seen.requests).toBe(1);
    }
  });
});
