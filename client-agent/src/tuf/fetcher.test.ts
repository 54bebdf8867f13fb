import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config.js';
import { UndiciFetcher } from './fetcher.js';

describe('UndiciFetcher and a busy server (HTTP on loopback)', () => {
  let answered = 0;
  const server = createServer((_req, res) => {
    answered += 1;
    if (answered === 1) {
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end('{"error":{"code":"SERVER_BUSY","message":"busy"}}');
      return;
    }
    res.end('{"signed":{}}');
  });
  let url = '';

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata/timestamp.json`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('asks for a metadata file again after the Retry-After of a 503, not at its own backoff', async () => {
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
  });
});
