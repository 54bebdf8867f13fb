import { randomBytes } from 'node:crypto';
import type * as NodeFs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { directIoAvailable } from '../../test/helpers/direct-io.js';

// A device whose logical block is larger than DIRECT_IO_ALIGN refuses every direct transfer with
// EINVAL. The slot file only transfers directly through fs.write and fs.read with callbacks, so
// those two stand in for such a device here.
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof NodeFs>();
  const einval = (cb: (err: NodeJS.ErrnoException) => void) =>
    setImmediate(() => cb(Object.assign(new Error('EINVAL'), { code: 'EINVAL' })));
  return {
    ...fs,
    write: (...args: unknown[]) => einval(args.at(-1) as (err: NodeJS.ErrnoException) => void),
    read: (...args: unknown[]) => einval(args.at(-1) as (err: NodeJS.ErrnoException) => void),
  };
});
const { openSlotFile } = await import('./slot-file.js');

const available = await directIoAvailable(tmpdir());

describe('a slot file on a device that refuses direct transfers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slot-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!available)(
    `goes on through the page cache, writes and reads back the image${available ? '' : ` (skipped: no O_DIRECT under ${tmpdir()})`}`,
    async () => {
      const path = join(dir, 'slot.img');
      const w = await openSlotFile(path, { resumeFrom: 0, directIo: true });
      expect(w.directIo).toBe(true);
      const image = randomBytes(3 * 64 * 1024 + 77);
      for (let at = 0; at < image.length; at += 64 * 1024) {
        const block = w.allocateBlock(64 * 1024);
        const n = image.copy(block, 0, at, at + 64 * 1024);
        await w.write(block.subarray(0, n));
      }
      expect(w.directIo).toBe(false);
      const back = Buffer.alloc(image.length);
      expect(await w.readBack(0, back)).toBe(image.length);
      expect(back).toEqual(image);
      await w.close();
      expect(await readFile(path)).toEqual(image);
    },
  );
});
