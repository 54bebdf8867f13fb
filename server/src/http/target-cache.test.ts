import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startMemoryAnswerServer,
  type MemoryAnswerServer,
} from '../../test/support/memory-answer-server.js';
import { TargetCache } from './target-cache.js';

const blobOf = (size: number, seed: number) => {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + seed) % 256;
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), length: size };
};

let generation: number;
let hears: boolean;
let cache: TargetCache;
let server: MemoryAnswerServer;
const commits = { generation: () => generation, hearsOtherReplicas: () => hears };
beforeEach(async () => {
  generation = 0;
  hears = true;
  cache = new TargetCache({ maxBytes: 4000, commits });
  server = await startMemoryAnswerServer((req, res) => cache.answer(req, res) !== undefined);
});
afterEach(() => server.close());

const get = (path: string, init?: RequestInit) => server.get(path, init);
const image = blobOf(1000, 1);
const path = `${image.sha256}.img.bin`;

/** The route's work on a miss: resolve, then load the blob. */
async function fill(p = path, blob = image, at = generation): Promise<void> {
  cache.rememberTarget(p, blob, at);
  await cache.blob(blob, () => Promise.resolve(blob.bytes));
}

describe('TargetCache', () => {
  it('answers a resolved, held image whole, with its immutable headers, 304 to its ETag, HEAD without a body', async () => {
    await fill();
    const res = await get(`/targets/${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${image.sha256}"`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await res.arrayBuffer()).equals(image.bytes)).toBe(true);
    const again = await get(`/targets/${path}`, {
      headers: { 'if-none-match': `"${image.sha256}"` },
    });
    expect(again.status).toBe(304);
    const head = await get(`/targets/${path}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    // Not another method, not another spelling of the path, not with a query string.
    expect((await get(`/targets/${path}`, { method: 'POST' })).status).toBe(599);
    expect((await get(`/targets/${path}?x=1`)).status).toBe(599);
    expect((await get(`/targets/x/${path}`)).status).toBe(599);
  });

  it.each([
    { range: 'bytes=0-0', status: 206, start: 0, end: 0 },
    { range: 'bytes=999-', status: 206, start: 999, end: 999 },
    { range: 'bytes=-1', status: 206, start: 999, end: 999 },
    { range: 'bytes=-5000', status: 206, start: 0, end: 999 },
    { range: 'bytes=10-5000', status: 206, start: 10, end: 999 },
    { range: 'bytes=0-999', status: 206, start: 0, end: 999 },
    // Multi-range and malformed ranges: the whole image (RFC 9110 allows it), as the route does.
    { range: 'bytes=0-1,3-4', status: 200, start: 0, end: 999 },
    { range: 'bytes=5-4', status: 200, start: 0, end: 999 },
    { range: 'lines=1-2', status: 200, start: 0, end: 999 },
  ])('answers $range with $status and bytes $start-$end', async ({ range, status, start, end }) => {
    await fill();
    const res = await get(`/targets/${path}`, { headers: { range } });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-range')).toBe(
      status === 206 ? `bytes ${start}-${end}/1000` : null,
    );
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(image.bytes.subarray(start, end + 1))).toBe(true);
  });

  it('answers a range only while If-Range holds the ETag, and leaves an unsatisfiable range to the router', async () => {
    await fill();
    const ranged = (ifRange: string) =>
      get(`/targets/${path}`, { headers: { range: 'bytes=0-9', 'if-range': ifRange } });
    expect((await ranged(`"${image.sha256}"`)).status).toBe(206);
    expect((await ranged('"other"')).status).toBe(200);
    const past = await get(`/targets/${path}`, { headers: { range: 'bytes=1000-' } });
    expect(past.status).toBe(599);
  });

  it('resolves every path again after a commit, and never keeps a resolution that raced one', async () => {
    const before = generation;
    await fill();
    expect((await get(`/targets/${path}`)).status).toBe(200);
    generation += 1; // a revocation, a new release, another replica's commit
    expect((await get(`/targets/${path}`)).status).toBe(599);
    // A route that resolved before the commit and remembers afterwards: not kept.
    cache.rememberTarget(path, image, before);
    expect((await get(`/targets/${path}`)).status).toBe(599);
    // Resolved again in the new generation: the blob is still held, nothing is read again.
    cache.rememberTarget(path, image, generation);
    expect((await get(`/targets/${path}`)).status).toBe(200);
  });

  it('answers nothing while commits of other replicas may go unheard', async () => {
    hears = false;
    await fill();
    expect((await get(`/targets/${path}`)).status).toBe(599);
    hears = true;
    await fill();
    expect((await get(`/targets/${path}`)).status).toBe(200);
    hears = false; // the listening connection dropped
    expect((await get(`/targets/${path}`)).status).toBe(599);
  });

  it('holds at most its byte bound (least recently served out), and no blob above a quarter of it', async () => {
    const blobs = [1, 2, 3, 4, 5].map((seed) => blobOf(1000, seed + 10));
    for (const blob of blobs.slice(0, 4)) await fill(`${blob.sha256}.b`, blob);
    expect(cache.bytes).toBe(4000);
    expect((await get(`/targets/${blobs[0]!.sha256}.b`)).status).toBe(200);
    await fill(`${blobs[4]!.sha256}.b`, blobs[4]);
    expect(cache.bytes).toBe(4000);
    // blobs[1] was served longest ago.
    expect((await get(`/targets/${blobs[1]!.sha256}.b`)).status).toBe(599);
    expect((await get(`/targets/${blobs[0]!.sha256}.b`)).status).toBe(200);
    expect((await get(`/targets/${blobs[4]!.sha256}.b`)).status).toBe(200);
    const large = blobOf(1001, 9);
    let reads = 0;
    cache.rememberTarget(`${large.sha256}.l`, large, generation);
    const kept = await cache.blob(large, () => {
      reads += 1;
      return Promise.resolve(large.bytes);
    });
    expect(kept).toBeUndefined();
    expect(reads).toBe(0);
    expect(cache.bytes).toBe(4000);
    expect((await get(`/targets/${large.sha256}.l`)).status).toBe(599);
  });

  it('reads a blob once for concurrent misses, and keeps none whose bytes are not the target', async () => {
    let reads = 0;
    const read = () => {
      reads += 1;
      return new Promise<Buffer>((resolve) => setTimeout(() => resolve(image.bytes), 10));
    };
    const loaded = await Promise.all([cache.blob(image, read), cache.blob(image, read)]);
    expect(reads).toBe(1);
    expect(loaded[0]?.equals(image.bytes)).toBe(true);
    const other = blobOf(1000, 2);
    const forged = { ...other, sha256: image.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
    expect(await cache.blob(forged, () => Promise.resolve(other.bytes))).toBeUndefined();
    expect(await cache.blob(other, () => Promise.reject(new Error('EIO')))).toBeUndefined();
    expect(cache.bytes).toBe(1000);
  });
});
