import type { Config } from '../config.js';
import type { SlotName, SlotStore, SlotWriter } from '../slots/slot-store.js';
import { RESUME_DISTRUST_BYTES, SlotBlockWriter } from './block-writer.js';
import type { ByteHasher, ExpectedImage, HeldImage, ImageSink } from './image-io.js';
import {
  InlineSlotReadback,
  READBACK_BLOCK_BYTES,
  readBackDigest,
  wantsReadbackWorker,
  WorkerSlotReadback,
  type SlotReadback,
} from './slot-readback.js';

export interface SlotSinkOptions {
  slots: SlotStore;
  slot: SlotName;
  /** The image's length (TUF's). */
  length: number;
  config: Partial<Pick<Config, 'sha512Worker'>>;
  /** Keep this many bytes already in the slot from an interrupted run (less what is distrusted). */
  resumeFrom?: number;
  /** Called once the slot is open for this image, before the first byte is written. */
  onSlotOpened?: () => Promise<void>;
  /** A read-back worker from startReadbackWorker(); the sink uses or closes it. */
  readbackWorker?: WorkerSlotReadback | undefined;
  /** The block writer's block size (default and most: block-writer.ts's WRITE_BLOCK_BYTES). */
  blockBytes?: number;
}

/**
 * Opens the inactive slot as the sink of an install: what it takes goes through the block writer
 * (block-writer.ts) into the slot, and the read-back (slot-readback.ts) follows it through the
 * slot with sha512. Whatever the open started is stopped again when it fails.
 */
export async function openSlotSink(opts: SlotSinkOptions): Promise<ImageSink> {
  const { slots, slot, length } = opts;
  let writer: SlotWriter | undefined;
  try {
    let resumeFrom = Math.min(opts.resumeFrom ?? 0, length);
    if (resumeFrom > 0) {
      const stored = await slots.storedBytes(slot);
      resumeFrom = Math.max(0, Math.min(resumeFrom, stored - RESUME_DISTRUST_BYTES));
    }
    writer = await slots.openForWrite(slot, { resumeFrom });
    await opts.onSlotOpened?.();
    // sha512 of the slot may run on the second core for large images, when the slot has a
    // descriptor to read it through.
    const readback =
      writer.readBackFd !== undefined && wantsReadbackWorker(length, opts.config)
        ? (opts.readbackWorker ?? new WorkerSlotReadback(READBACK_BLOCK_BYTES)).attach(
            writer.readBackFd,
          )
        : new InlineSlotReadback(writer, READBACK_BLOCK_BYTES);
    return new SlotSink(opts, writer, readback);
  } catch (err) {
    await opts.readbackWorker?.close();
    await writer?.close();
    throw err;
  }
}

class SlotSink implements ImageSink {
  readonly name: string;
  readonly #opts: SlotSinkOptions;
  readonly #writer: SlotWriter;
  readonly #readback: SlotReadback;
  readonly #blocks: SlotBlockWriter;

  constructor(opts: SlotSinkOptions, writer: SlotWriter, readback: SlotReadback) {
    this.name = `slot ${opts.slot}`;
    this.#opts = opts;
    this.#writer = writer;
    this.#readback = readback;
    this.#blocks = new SlotBlockWriter(
      writer,
      readback,
      writer.startOffset,
      opts.length,
      opts.blockBytes,
    );
  }

  get startOffset(): number {
    return this.#writer.startOffset;
  }

  async rehashKept(hash: ByteHasher): Promise<void> {
    for await (const chunk of this.#opts.slots.readImage(this.#opts.slot, this.startOffset)) {
      // Hashed straight from the slot: these bytes are their own read-back.
      hash(chunk);
      this.#readback.kept(chunk);
    }
  }

  push(chunk: Buffer, hash: ByteHasher): Promise<void> | undefined {
    return this.#blocks.push(chunk, hash);
  }

  async flush(hash: ByteHasher): Promise<void> {
    await this.#blocks.flush(hash);
    await this.#blocks.drain();
  }

  async seal(): Promise<HeldImage> {
    const [, held] = await Promise.all([
      this.#writer.sync(),
      // A read-back worker that could not run (no thread, no memory for its isolate) costs only
      // time: the same check is made here, on this thread, over the whole slot.
      this.#readback.digest().catch(async () => {
        const inline = await readBackDigest(this.#writer, this.#opts.length, 'sha512');
        return { sha512: inline.hex, bytes: inline.bytes };
      }),
    ]);
    return held;
  }

  async holds(expected: ExpectedImage): Promise<boolean> {
    const got = await readBackDigest(this.#writer, expected.length, 'sha256');
    return got.bytes === expected.length && got.hex === expected.sha256;
  }

  async close(): Promise<void> {
    await this.#blocks.drain().catch(() => undefined);
    // The read-back worker reads through the writer's descriptor: stop it before closing that.
    // A worker started ahead and not used is stopped too (closing twice is fine).
    await this.#readback.close();
    await this.#opts.readbackWorker?.close();
    await this.#writer.close();
  }
}
