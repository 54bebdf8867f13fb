import { randomBytes } from 'node:crypto';
import { constants, writeSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directIoAvailable } from '../../test/helpers/direct-io.js';
import { allocateAligned, DIRECT_IO_ALIGN, openSlotFile } from './slot-file.js';

const KiB = 1024;
const available = await directIoAvailable(tmpdir());

describe.each([true, false])('openSlotFile (direct I/O asked for: %s)', (directIo) => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slot-file-'));
    path = join(dir, 'slot.img');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('goes past the page cache exactly when asked and the file system takes O_DIRECT', async () => {
    const w = await openSlotFile(path, { resumeFrom: 0, directIo });
    expect(w.directIo).toBe(directIo && available);
    await w.close();
  });

  it('places blocks in call order with several in flight, whatever their memory and length', async () => {
    const w = await openSlotFile(path, { resumeFrom: 0, directIo });
    const image = randomBytes(3 * 256 * KiB + 64 * KiB + 1000);
    const blocks = [0, 1, 2].map((i) => {
      const block = w.allocateBlock(256 * KiB);
      image.copy(block, 0, i * 256 * KiB, (i + 1) * 256 * KiB);
      return block;
    });
    // Three aligned blocks at once, then ordinary (unaligned) memory, then an unaligned tail.
    await Promise.all(blocks.map((b) => w.write(b)));
    await w.write(Buffer.from(image.subarray(3 * 256 * KiB, 3 * 256 * KiB + 64 * KiB)));
    await w.write(image.subarray(3 * 256 * KiB + 64 * KiB));
    await w.sync();

    for (const [at, length] of [
      [0, 10],
      [DIRECT_IO_ALIGN - 1, 3 * DIRECT_IO_ALIGN + 7],
      [256 * KiB - 5, 2 * 256 * KiB],
      [image.length - 999, 999],
    ] as const) {
      const into = Buffer.alloc(length);
      expect(await w.readBack(at, into)).toBe(length);
      expect(into).toEqual(image.subarray(at, at + length));
    }
    // Past the end: a short count.
    const past = Buffer.alloc(4 * KiB);
    expect(await w.readBack(image.length - 100, past)).toBe(100);
    await w.close();
    expect(await readFile(path)).toEqual(image);
  });

  it('keeps the bytes before resumeFrom: all of them through the page cache, whole blocks direct', async () => {
    const image = randomBytes(5 * DIRECT_IO_ALIGN + 300);
    const kept = 2 * DIRECT_IO_ALIGN + 123;
    const first = await openSlotFile(path, { resumeFrom: 0, directIo });
    await first.write(image.subarray(0, kept));
    await first.close();

    const w = await openSlotFile(path, { resumeFrom: kept, directIo });
    expect(w.startOffset).toBe(w.directIo ? 2 * DIRECT_IO_ALIGN : kept);
    expect((await stat(path)).size).toBe(w.startOffset);
    await w.write(image.subarray(w.startOffset));
    await w.close();
    expect(await readFile(path)).toEqual(image);
  });

  it('keeps no more than the file holds', async () => {
    const first = await openSlotFile(path, { resumeFrom: 0, directIo });
    await first.write(randomBytes(100));
    await first.close();
    const w = await openSlotFile(path, { resumeFrom: 10 * DIRECT_IO_ALIGN, directIo });
    expect(w.startOffset).toBe(w.directIo ? 0 : 100);
    await w.close();
  });
});

describe('direct I/O memory', () => {
  it('allocateAligned gives memory of the size asked for', () => {
    const block = allocateAligned(300 * KiB);
    expect(block?.length).toBe(300 * KiB);
  });

  // Skipped, and so reported, where the temp dir's file system has no O_DIRECT (tmpfs).
  it.skipIf(!available)(
    `a direct write takes allocateAligned memory and refuses ordinary Buffer memory${available ? '' : ` (skipped: no O_DIRECT under ${tmpdir()})`}`,
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'slot-file-'));
      const fh = await open(
        join(dir, 'probe.img'),
        constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT,
        0o600,
      );
      try {
        const aligned = allocateAligned(2 * DIRECT_IO_ALIGN) as Buffer;
        expect(writeSync(fh.fd, aligned, 0, DIRECT_IO_ALIGN, 0)).toBe(DIRECT_IO_ALIGN);
        const ordinary = Buffer.alloc(3 * DIRECT_IO_ALIGN).subarray(8);
        expect(() => writeSync(fh.fd, ordinary, 0, DIRECT_IO_ALIGN, 0)).toThrow(
          expect.objectContaining({ code: 'EINVAL' }),
        );
      } finally {
        await fh.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
