import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// The stream's block writer (block-writer.ts) reads globalThis.gc when its module loads
// (bin/tufchain-agent exposes it). Here V8's own gc (exposed at run time) is wrapped in a spy set
// before the import, so the collections the stream asks for both run and are seen.
setFlagsFromString('--expose-gc');
const v8Gc = runInNewContext('gc') as (opts: { type: string }) => void;
const gc = vi.fn((opts: { type: string }) => v8Gc(opts));
(globalThis as { gc?: unknown }).gc = gc;
const { defaultConfig } = await import('../config.js');
const { FileSlotStore } = await import('../slots/ab-slots.js');
const { createDispatcher } = await import('../util/http.js');
const { streamIntoSlot } = await import('./stream.js');

const MiB = 1024 * 1024;
const image = randomBytes(64 * MiB);
const expected = {
  length: image.length,
  sha256: createHash('sha256').update(image).digest('hex'),
  sha512: createHash('sha512').update(image).digest('hex'),
};
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': image.length });
  res.end(image);
});
let url = '';
let dir = '';
const dispatcher = createDispatcher(defaultConfig);

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image`;
  dir = await mkdtemp(join(tmpdir(), 'stream-gc-'));
});
afterAll(async () => {
  await dispatcher.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function install(onProgress?: (received: number) => void): Promise<void> {
  const slots = await FileSlotStore.provision(join(dir, String(Math.random()).slice(2)), {
    image: Buffer.from('v1'),
    name: 'fw',
    version: '1',
    releaseCounter: 1,
  });
  await streamIntoSlot({
    url,
    slots,
    slot: 'b',
    expected,
    dispatcher,
    config: { ...defaultConfig, sha512Worker: false },
    ...(onProgress ? { onProgress } : {}),
  });
}

describe('the stream and the garbage collector', () => {
  it('asks for a minor GC every MiB and no full GC while the heap stays flat', async () => {
    gc.mockClear();
    await install();
    const calls = gc.mock.calls.map(([opts]) => opts.type);
    expect(calls.filter((t) => t === 'minor').length).toBeGreaterThanOrEqual(60);
    expect(calls).not.toContain('major');
  });

  it('asks for a full GC once what the heap holds grows by more than 2 MiB', async () => {
    gc.mockClear();
    // Stands in for promoted garbage: 6 MiB of buffers kept from the 20th MiB on.
    const kept: ArrayBuffer[] = [];
    await install((received) => {
      if (received > 20 * MiB && kept.length < 96) kept.push(new ArrayBuffer(64 * 1024));
    });
    expect(kept.length).toBe(96);
    expect(gc.mock.calls.map(([opts]) => opts.type)).toContain('major');
  });
});
