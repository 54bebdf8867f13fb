import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SlotWriter } from '../slots/slot-store.js';
import { InlineSlotReadback, WorkerSlotReadback } from './slot-readback.js';

const BLOCK = 64 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'readback-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function slotFile(kind: 'inline' | 'worker') {
  const fh = await open(join(dir, 'slot'), 'w+');
  const writer: SlotWriter = {
    startOffset: 0,
    readBackFd: fh.fd,
    write: () => Promise.resolve(),
    readBack: async (position, into) => (await fh.read(into, 0, into.length, position)).bytesRead,
    sync: () => fh.sync(),
    close: () => fh.close(),
  };
  const readback =
    kind === 'worker'
      ? new WorkerSlotReadback(BLOCK).attach(fh.fd)
      : new InlineSlotReadback(writer, BLOCK);
  return { fh, readback };
}

describe.each(['inline', 'worker'] as const)('the %s slot read-back', (kind) => {
  it('hashes what the slot holds as the writer goes, kept prefix included', async () => {
    const image = randomBytes(5 * BLOCK + 123);
    const { fh, readback } = await slotFile(kind);
    try {
      await fh.write(image, 0, BLOCK, 0);
      readback.kept(image.subarray(0, BLOCK));
      for (let at = BLOCK; at < image.length; at += BLOCK) {
        const n = Math.min(BLOCK, image.length - at);
        await fh.write(image, at, n, at);
        await readback.written(at, n);
      }
      expect(await readback.digest()).toEqual({
        sha512: createHash('sha512').update(image).digest('hex'),
        bytes: image.length,
      });
    } finally {
      await readback.close();
      await fh.close();
    }
  });

  it('counts only the bytes the slot gave back when it holds fewer than were written', async () => {
    const image = randomBytes(2 * BLOCK);
    const { fh, readback } = await slotFile(kind);
    try {
      await fh.write(image, 0, BLOCK + 10, 0);
      await readback.written(0, BLOCK);
      await readback.written(BLOCK, BLOCK);
      const got = await readback.digest();
      expect(got.bytes).toBe(BLOCK + 10);
      expect(got.sha512).toBe(
        createHash('sha512')
          .update(image.subarray(0, BLOCK + 10))
          .digest('hex'),
      );
    } finally {
      await readback.close();
      await fh.close();
    }
  });
});

describe('the worker slot read-back', () => {
  it('rejects its digest when it cannot read the slot', async () => {
    const readback = new WorkerSlotReadback(BLOCK).attach(2 ** 30);
    try {
      await readback.written(0, 10);
      await expect(readback.digest()).rejects.toThrow(/slot read-back failed/);
    } finally {
      await readback.close();
    }
  });

  it('refuses a gap in what was written', async () => {
    const readback = new WorkerSlotReadback(BLOCK).attach(2 ** 30);
    try {
      expect(() => readback.written(10, 10)).toThrow(/gap/);
    } finally {
      await readback.close();
    }
  });

  it('started before the slot is open, reads what was written before and after attach', async () => {
    const image = randomBytes(3 * BLOCK + 5);
    const readback = new WorkerSlotReadback(BLOCK);
    const fh = await open(join(dir, 'slot'), 'w+');
    try {
      await fh.write(image, 0, 2 * BLOCK, 0);
      await readback.written(0, 2 * BLOCK);
      readback.attach(fh.fd);
      await fh.write(image, 2 * BLOCK, BLOCK + 5, 2 * BLOCK);
      await readback.written(2 * BLOCK, BLOCK + 5);
      expect(await readback.digest()).toEqual({
        sha512: createHash('sha512').update(image).digest('hex'),
        bytes: image.length,
      });
      expect(() => readback.attach(fh.fd)).toThrow(/already attached/);
    } finally {
      await readback.close();
      await fh.close();
    }
  });

  it('has no digest without a slot, and a worker never attached closes', async () => {
    const readback = new WorkerSlotReadback(BLOCK);
    await expect(readback.digest()).rejects.toThrow(/never given the slot/);
    await readback.close();
    await readback.close();
  });
});
