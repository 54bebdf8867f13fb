import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config.js';
import { UndiciFetcher } from './fetcher.js';

describe('UndiciFetcher and a server that asks it to come back later (HTTP on loopback)', () => {
  let answered = 0;
  /** The first answer: a busy replica's 503, or a rate limiter's 429 in front of it. */
  let refusal = { status: 503, code: 'SERVER_BUSY' };
  const server = createServer((_req, res) => {
    answered += 1;
    if (answered === 1) {
      res.writeHead(refusal.status, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: refusal.code, message: 'later' } }));
      return;
    }
    res.end('{"signed":{}}');
  });
  let url = '';

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata/timestamp.json`;
  });
  beforeEach(() => {
    answered = 0;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it.each([
    { status: 503, code: 'SERVER_BUSY' },
    { status: 429, code: 'TOO_MANY_REQUESTS' },
  ])(
    'asks for a metadata file again after the Retry-After of a $status, not at its own backoff',
    async (answer) => {
      refusal = answer;
      const fetcher = new UndiciFetcher({
        ...defaultConfig,
        fetchRetries: 1,
        retryBaseDelayMs: 1,
        retryMaxDelayMs: 2000,
      });
      const started = performance.now();
      const bytes = await fetcher.downloadBytes(url, 1024);
      expect(bytes.toString()).toBe('{"signed":{}}');
      expect(answered).toBe(2);
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    },
  );
});
