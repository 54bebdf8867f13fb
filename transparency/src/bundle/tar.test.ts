import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END_OF_ARCHIVE, padding, readTarIndex, ustarHeader } from './tar.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function archive(files: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files)
    parts.push(ustarHeader(name, data.length), data, padding(data.length));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

describe('ustar', () => {
  it('indexes what it writes, for any names and sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.stringMatching(/^[a-z0-9._-]{1,40}$/), fc.uint8Array({ maxLength: 2000 })),
          {
            maxLength: 6,
          },
        ),
        async (files) => {
          const buf = archive(files.map(([n, d]) => [n, Buffer.from(d)]));
          const path = join(dir, 'a.tar');
          await writeFile(path, buf);
          const index = await readTarIndex(path);
          expect(index.map((e) => e.name)).toEqual(files.map(([n]) => n));
          index.forEach((e, i) => {
            expect(buf.subarray(e.offset, e.offset + e.size)).toEqual(Buffer.from(files[i]![1]));
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  describe('when a header is corrupted', () => {
    it('throws BUNDLE_INVALID', async () => {
      const buf = archive([['manifest.json', Buffer.from('{}')]]);
      buf[10] = 0x41;
      const path = join(dir, 'bad.tar');
      await writeFile(path, buf);
      await expect(readTarIndex(path)).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    });
  });

  describe('when an entry is truncated', () => {
    it('throws BUNDLE_INVALID', async () => {
      const buf = archive([['big.bin', Buffer.alloc(4096, 7)]]).subarray(0, 1024);
      const path = join(dir, 'short.tar');
      await writeFile(path, buf);
      await expect(readTarIndex(path)).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    });
  });
});
