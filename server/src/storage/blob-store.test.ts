import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlobStore, STALE_TEMP_MS } from './blob-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-blobs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileBlobStore on a directory replicas share', () => {
  it('drops only stale temp files when it opens, so a write another replica runs survives', async () => {
    await FileBlobStore.open(dir);
    const now = Date.now();
    const stale = join(dir, 'tmp', 'left-by-a-crash');
    const fresh = join(dir, 'tmp', 'another-replica-writing');
    await writeFile(stale, 'x');
    await writeFile(fresh, 'y');
    const old = (now - STALE_TEMP_MS - 60_000) / 1000;
    await utimes(stale, old, old);

    await FileBlobStore.open(dir, now);
    expect(await readdir(join(dir, 'tmp'))).toEqual(['another-replica-writing']);
  });

  it('opens concurrently on one directory, and a store writes while another opens', async () => {
    const first = await FileBlobStore.open(dir);
    async function* slow(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(1000).fill(1);
      // Another replica starts while this write's temp file exists.
      await Promise.all([FileBlobStore.open(dir), FileBlobStore.open(dir)]);
      yield new Uint8Array(1000).fill(2);
    }
    const blob = await first.write(slow(), { maxBytes: 10_000 });
    expect(blob.length).toBe(2000);
    expect(await first.has(blob.sha256)).toBe(true);
  });
});

describe('FileBlobStore reads', () => {
  it('reads a whole blob, and a missing one rejects', async () => {
    const store = await FileBlobStore.open(dir);
    const bytes = new Uint8Array(3000).map((_, i) => i % 251);
    const blob = await store.writeBytes(bytes);
    expect(new Uint8Array(await store.read(blob.sha256))).toEqual(bytes);
    await expect(store.read('0'.repeat(64))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(store.read('../x')).rejects.toMatchObject({ code: 'INVALID_NAME' });
  });
});
