import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startServer, type RunningServer } from '../index.js';
import {
  createTestRepo,
  sha256Hex,
  uploadAndPublish,
  type TestRepo,
} from '../../test/support/fixtures.js';

// The same repository behind two real servers: one that keeps images in memory (answered before
// the router once seen) and one that reads every request from disk through the route.
let t: TestRepo;
let cached: RunningServer;
let uncached: RunningServer;
const image = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 13) % 256));
const path = `/targets/${sha256Hex(image)}.img.bin`;
beforeEach(async () => {
  t = await createTestRepo();
  expect((await uploadAndPublish(t, { name: 'img.bin', bytes: image })).status).toBe(201);
  const serve = (targetCacheBytes: number) =>
    startServer({ deps: { ...t.deps, config: { ...t.deps.config, targetCacheBytes } } });
  cached = await serve(64 * 1024);
  uncached = await serve(0);
});
afterEach(async () => {
  await cached.close();
  await uncached.close();
  await t.cleanup();
});

const COMPARED = ['content-type', 'cache-control', 'accept-ranges', 'etag', 'content-range'];
async function answerOf(base: string, init: RequestInit & { headers?: Record<string, string> }) {
  const res = await fetch(`${base}${path}`, init);
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: Object.fromEntries(COMPARED.map((h) => [h, res.headers.get(h)])),
    length: res.headers.get('content-length'),
    sha256: sha256Hex(body),
  };
}

describe('GET /targets/{hash}.{name} from memory', () => {
  const etag = `"${sha256Hex(image)}"`;
  const requests = [
    { desc: 'whole', headers: {} },
    { desc: 'the bench range', headers: { range: 'bytes=0-2999' } },
    { desc: 'first byte', headers: { range: 'bytes=0-0' } },
    { desc: 'last byte', headers: { range: 'bytes=2999-2999' } },
    { desc: 'suffix past the start', headers: { range: 'bytes=-4000' } },
    { desc: 'end past the end', headers: { range: 'bytes=100-9999' } },
    { desc: 'multi-range', headers: { range: 'bytes=0-1,5-9' } },
    { desc: 'unsatisfiable', headers: { range: 'bytes=3000-' } },
    { desc: 'empty suffix', headers: { range: 'bytes=-0' } },
    { desc: 'If-Range with the ETag', headers: { range: 'bytes=5-9', 'if-range': etag } },
    { desc: 'If-Range with another', headers: { range: 'bytes=5-9', 'if-range': '"x"' } },
    { desc: 'If-None-Match', headers: { 'if-none-match': `W/"a", ${etag}` } },
    { desc: 'HEAD', headers: {}, method: 'HEAD' },
    { desc: 'HEAD of a range', headers: { range: 'bytes=1-2' }, method: 'HEAD' },
  ];

  it('answers every request as the route does from disk, byte for byte, without resolving again', async () => {
    const findTarget = vi.spyOn(cached.context.service, 'findTarget');
    expect((await fetch(`${cached.url}${path}`)).status).toBe(200); // the miss that fills it
    expect(findTarget).toHaveBeenCalledTimes(1);
    expect(cached.context.targetCache.bytes).toBe(image.byteLength);
    for (const r of requests) {
      const want = await answerOf(uncached.url, r);
      expect({ desc: r.desc, ...(await answerOf(cached.url, r)) }).toEqual({
        desc: r.desc,
        ...want,
      });
    }
    // Only the unsatisfiable ranges went to the route (for its 416 error body).
    expect(findTarget).toHaveBeenCalledTimes(3);
    expect(uncached.context.targetCache.bytes).toBe(0);
  });

  it('stops serving a revoked release from memory at once, and the other images stay', async () => {
    const other = Buffer.from('other image');
    expect(
      (await uploadAndPublish(t, { name: 'other.bin', bytes: other, releaseCounter: 2 })).status,
    ).toBe(201);
    const otherPath = `/targets/${sha256Hex(other)}.other.bin`;
    for (const p of [path, otherPath, path, otherPath])
      expect((await fetch(`${cached.url}${p}`)).status).toBe(200);
    const revoked = await fetch(`${cached.url}/api/v1/releases/1/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.revoke}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'bad brakes' }),
    });
    expect(revoked.status).toBe(200);
    const gone = await fetch(`${cached.url}${path}`, { headers: { range: 'bytes=0-9' } });
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe(
      'TARGET_NOT_FOUND',
    );
    const kept = await fetch(`${cached.url}${otherPath}`);
    expect(Buffer.from(await kept.arrayBuffer()).equals(other)).toBe(true);
  });

  it('keeps at most its bound, and streams an image above a quarter of it from disk', async () => {
    const bounded = await startServer({
      deps: { ...t.deps, config: { ...t.deps.config, targetCacheBytes: 4 * 1024 } },
    });
    try {
      const big = Buffer.alloc(1025, 7); // above 4 KiB / 4
      expect(
        (await uploadAndPublish(t, { name: 'big.bin', bytes: big, releaseCounter: 3 })).status,
      ).toBe(201);
      const bigPath = `/targets/${sha256Hex(big)}.big.bin`;
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${bounded.url}${bigPath}`, { headers: { range: 'bytes=1-1024' } });
        expect(res.status).toBe(206);
        expect(Buffer.from(await res.arrayBuffer()).equals(big.subarray(1))).toBe(true);
      }
      expect(bounded.context.targetCache.bytes).toBe(0);
      const small = Buffer.alloc(1024, 8); // a quarter of 4 KiB: kept
      expect(
        (await uploadAndPublish(t, { name: 'small.bin', bytes: small, releaseCounter: 4 })).status,
      ).toBe(201);
      const res = await fetch(`${bounded.url}/targets/${sha256Hex(small)}.small.bin`);
      expect(Buffer.from(await res.arrayBuffer()).equals(small)).toBe(true);
      expect(bounded.context.targetCache.bytes).toBe(1024);
    } finally {
      await bounded.close();
    }
  });
});
