import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startMemoryAnswerServer,
  type MemoryAnswerServer,
} from '../../test/support/memory-answer-server.js';
import type { MetadataRecord } from '../storage/store.js';
import { IMMUTABLE, MetadataCache } from './metadata-cache.js';

const record = (role: string, version: number, text: string): MetadataRecord => {
  const bytes = new TextEncoder().encode(text);
  return {
    role,
    version,
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    expires: '2030-01-01T00:00:00Z',
    state: 'published',
  };
};

let cache: MetadataCache;
let server: MemoryAnswerServer;
let now: number;
beforeEach(async () => {
  cache = new MetadataCache({ maxVersionedBytes: 100 });
  now = 1_000;
  server = await startMemoryAnswerServer((req, res) => cache.answer(req, res, now));
});
afterEach(() => server.close());

const get = (path: string, init?: RequestInit) => server.get(path, init);

describe('MetadataCache', () => {
  it('answers a remembered current file with its bytes, ETag and Cache-Control, and 304 to its ETag', async () => {
    const ts = record('timestamp', 3, '{"timestamp":3}');
    cache.rememberCurrent('timestamp.json', ts, 'public, max-age=10', 5_000, cache.generation());
    const res = await get('/metadata/timestamp.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${ts.sha256}"`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=10');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(ts.bytes);
    const again = await get('/metadata/timestamp.json', {
      headers: { 'if-none-match': `W/"x", "${ts.sha256}"` },
    });
    expect(again.status).toBe(304);
    const head = await get('/metadata/timestamp.json', { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(ts.bytes.byteLength));
    // Not another method, not another file, not with a query string.
    expect((await get('/metadata/timestamp.json', { method: 'POST' })).status).toBe(599);
    expect((await get('/metadata/root.json')).status).toBe(599);
    expect((await get('/metadata/timestamp.json?x=1')).status).toBe(599);
  });

  it('forgets current files on a commit, and never keeps a read that raced one', async () => {
    const before = cache.generation();
    cache.rememberCurrent('root.json', record('root', 1, '{}'), 'no-cache', 5_000, before);
    expect((await get('/metadata/root.json')).status).toBe(200);
    cache.invalidate();
    expect((await get('/metadata/root.json')).status).toBe(599);
    // A route that read root v1 before the commit and remembers it afterwards: not kept.
    cache.rememberCurrent('root.json', record('root', 1, '{}'), 'no-cache', 5_000, before);
    expect((await get('/metadata/root.json')).status).toBe(599);
  });

  it('stops answering a current file at its freshness bound', async () => {
    const gen = cache.generation();
    cache.rememberCurrent('timestamp.json', record('timestamp', 1, '{}'), 'x', 2_000, gen);
    expect((await get('/metadata/timestamp.json')).status).toBe(200);
    now = 2_000;
    expect((await get('/metadata/timestamp.json')).status).toBe(599);
  });

  it('keeps no current file while commits of other replicas may go unheard', async () => {
    let hears = false;
    cache.hearsOtherReplicas = () => hears;
    cache.rememberCurrent('root.json', record('root', 1, '{}'), 'x', 5_000, cache.generation());
    expect((await get('/metadata/root.json')).status).toBe(599);
    hears = true;
    cache.rememberCurrent('root.json', record('root', 1, '{}'), 'x', 5_000, cache.generation());
    expect((await get('/metadata/root.json')).status).toBe(200);
    hears = false; // the listening connection dropped
    expect((await get('/metadata/root.json')).status).toBe(599);
  });

  it('keeps versioned files across commits, immutable, within its byte budget (least recently served out)', async () => {
    const forty = (role: string, v: number) => record(role, v, 'x'.repeat(40));
    cache.rememberVersioned('bins-00', forty('bins-00', 1));
    cache.rememberVersioned('bins-01', forty('bins-01', 1));
    cache.invalidate();
    const res = await get('/metadata/1.bins-00.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe(IMMUTABLE);
    // A third file goes past 100 bytes: bins-01, served longest ago, is dropped.
    cache.rememberVersioned('bins-02', forty('bins-02', 1));
    expect((await get('/metadata/1.bins-01.json')).status).toBe(599);
    expect((await get('/metadata/1.bins-00.json')).status).toBe(200);
    expect((await get('/metadata/1.bins-02.json')).status).toBe(200);
    // Bigger than the whole budget: not kept at all.
    cache.rememberVersioned('snapshot', record('snapshot', 9, 'y'.repeat(101)));
    expect((await get('/metadata/9.snapshot.json')).status).toBe(599);
    expect((await get('/metadata/2.bins-00.json')).status).toBe(599);
  });
});
