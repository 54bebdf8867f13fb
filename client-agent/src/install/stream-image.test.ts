/**
 * streamImage with sources and sinks other than HTTP and the local slot (test doubles standing in
 * for a delta decoder and a secondary ECU): the checks of the stream hold whatever the two ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ByteHasher, ExpectedImage, ImageSink, ImageSource } from './image-io.js';
import { streamImage } from './stream.js';

const image = randomBytes(100_000);
const tampered = Buffer.from(image);
tampered[500] = (tampered[500] ?? 0) ^ 1;
const expected: ExpectedImage = {
  length: image.length,
  sha256: createHash('sha256').update(image).digest('hex'),
  sha512: createHash('sha512').update(image).digest('hex'),
};

/** Hands `bytes` from `from` on in 4 KiB chunks; an interruption after `interruptAt` bytes. */
function memorySource(bytes: Buffer, opts: { interruptAt?: number } = {}) {
  const events: string[] = [];
  const source: ImageSource = {
    async read(from, length, onChunk, onInterrupted) {
      let at = from;
      let resumes = 0;
      while (at < bytes.length) {
        if (opts.interruptAt !== undefined && at >= opts.interruptAt && resumes === 0) {
          events.push(`interrupted at ${at}`);
          await onInterrupted();
          resumes += 1;
        }
        const chunk = bytes.subarray(at, Math.min(bytes.length, at + 4096));
        await onChunk(chunk);
        at += chunk.length;
      }
      events.push(`ended at ${at} of ${length}`);
      return { resumes };
    },
  };
  return { source, events };
}

/** Keeps what it takes in memory; `kept` bytes are there before the stream starts. */
function memorySink(opts: { kept?: Buffer; flipBit?: number; drop?: number } = {}) {
  const held: Buffer[] = opts.kept ? [opts.kept] : [];
  const events: string[] = [];
  const bytes = (): Buffer => {
    const all = Buffer.concat(held);
    if (opts.flipBit !== undefined) all[opts.flipBit] = (all[opts.flipBit] ?? 0) ^ 1;
    return all.subarray(0, all.length - (opts.drop ?? 0));
  };
  const sink: ImageSink = {
    name: 'memory sink',
    startOffset: opts.kept?.length ?? 0,
    rehashKept(hash: ByteHasher) {
      if (opts.kept) hash(opts.kept);
      return Promise.resolve();
    },
    push(chunk, hash) {
      held.push(Buffer.from(chunk));
      hash(chunk);
      return undefined;
    },
    flush() {
      events.push(`flushed ${Buffer.concat(held).length}`);
      return Promise.resolve();
    },
    seal() {
      const all = bytes();
      return Promise.resolve({
        sha512: createHash('sha512').update(all).digest('hex'),
        bytes: all.length,
      });
    },
    holds(want) {
      const all = bytes();
      return Promise.resolve(
        all.length === want.length &&
          createHash('sha256').update(all).digest('hex') === want.sha256,
      );
    },
    close: () => Promise.resolve(),
  };
  return { sink, events, taken: () => Buffer.concat(held) };
}

describe('streamImage', () => {
  it('streams any source into any sink and checks what came in and what the sink holds', async () => {
    const { source } = memorySource(image);
    const { sink, taken } = memorySink();
    const result = await streamImage({ source, sink, expected });
    expect(result).toEqual({ downloaded: image.length, resumes: 0 });
    expect(taken()).toEqual(image);
  });

  it('goes on after the bytes the sink kept, which count toward the sha256', async () => {
    const kept = 30_000;
    const { source, events } = memorySource(image);
    const { sink, taken } = memorySink({ kept: image.subarray(0, kept) });
    const result = await streamImage({ source, sink, expected });
    expect(result.downloaded).toBe(image.length - kept);
    expect(taken()).toEqual(image);
    expect(events).toEqual([`ended at ${image.length} of ${image.length}`]);
    const wrongKept = memorySink({ kept: Buffer.alloc(kept) });
    await expect(
      streamImage({ source: memorySource(image).source, sink: wrongKept.sink, expected }),
    ).rejects.toMatchObject({ code: 'TARGET_MISMATCH' });
  });

  it('lets the sink flush what it took before the source picks up again', async () => {
    const { source, events: sourceEvents } = memorySource(image, { interruptAt: 40_000 });
    const { sink, events } = memorySink();
    const result = await streamImage({ source, sink, expected });
    expect(result.resumes).toBe(1);
    expect(sourceEvents[0]).toBe('interrupted at 40960');
    expect(events[0]).toBe('flushed 40960');
  });

  const table: {
    desc: string;
    source: Buffer;
    sink?: { flipBit?: number; drop?: number };
    wantCode: string;
  }[] = [
    {
      desc: 'a source that gives more than the promised length',
      source: Buffer.concat([image, randomBytes(10)]),
      wantCode: 'ENDLESS_DATA',
    },
    {
      desc: 'a source that ends short of it',
      source: image.subarray(0, image.length - 1),
      wantCode: 'LENGTH_MISMATCH',
    },
    {
      desc: 'a source of other bytes',
      source: tampered,
      wantCode: 'TARGET_MISMATCH',
    },
    {
      desc: 'a sink that does not hold what came in',
      source: image,
      sink: { flipBit: 77 },
      wantCode: 'READBACK_MISMATCH',
    },
    {
      desc: 'a sink that holds fewer bytes than came in',
      source: image,
      sink: { drop: 1 },
      wantCode: 'READBACK_MISMATCH',
    },
  ];
  for (const { desc, source, sink: faults, wantCode } of table) {
    it(`refuses ${desc} with ${wantCode}, and the sink never takes more than promised`, async () => {
      const { sink, taken } = memorySink(faults);
      await expect(
        streamImage({ source: memorySource(source).source, sink, expected }),
      ).rejects.toMatchObject({ code: wantCode });
      expect(taken().length).toBeLessThanOrEqual(image.length);
    });
  }
});
