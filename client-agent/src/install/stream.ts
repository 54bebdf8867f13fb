import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import type { SlotName, SlotStore } from '../slots/slot-store.js';
import type { ByteHasher, ExpectedImage, ImageSink, ImageSource } from './image-io.js';
import { HttpRangeSource } from './range-fetch.js';
import type { WorkerSlotReadback } from './slot-readback.js';
import { openSlotSink } from './slot-sink.js';

export interface StreamInstallInput {
  url: string;
  slots: SlotStore;
  slot: SlotName;
  expected: ExpectedImage;
  dispatcher: Dispatcher;
  config: Pick<
    Config,
    | 'fetchRetries'
    | 'retryBaseDelayMs'
    | 'retryMaxDelayMs'
    | 'downloadResumes'
    | 'userAgent'
    | 'minDownloadBytesPerSecond'
    | 'downloadGraceMs'
  > &
    Partial<Pick<Config, 'sha512Worker'>>;
  /** Keep this many bytes already in the slot from an interrupted run and download the rest. */
  resumeFrom?: number;
  onProgress?: (received: number, total: number) => void;
  /** Called once the slot is open for this image, before the first byte is written. */
  onSlotOpened?: () => Promise<void>;
  /** A read-back worker from startReadbackWorker(); streamIntoSlot uses or closes it. */
  readbackWorker?: WorkerSlotReadback | undefined;
}

export interface StreamInstallResult {
  /** Bytes that came from the source in this call (over the network, for streamIntoSlot). */
  downloaded: number;
  /** Times the source picked up again after an interruption (HTTP Range requests after drops). */
  resumes: number;
}

/**
 * Single-pass install: streams the image from the network through sha256 and a length counter
 * straight into the slot, never past the length TUF promised (endless-data guard), resuming with
 * HTTP Range after a drop, while the read-back follows the writer through the slot and hashes what
 * it holds with sha512. Then the length and both hashes are checked against the TUF TargetFile:
 * sha256 of what came in, sha512 of what the slot holds (READBACK_MISMATCH when the slot is not the
 * image that came in). Nothing is buffered whole in memory and there is no temporary copy.
 */
export async function streamIntoSlot(input: StreamInstallInput): Promise<StreamInstallResult> {
  const sink = await openSlotSink({
    slots: input.slots,
    slot: input.slot,
    length: input.expected.length,
    config: input.config,
    readbackWorker: input.readbackWorker,
    ...(input.resumeFrom !== undefined ? { resumeFrom: input.resumeFrom } : {}),
    ...(input.onSlotOpened ? { onSlotOpened: input.onSlotOpened } : {}),
  });
  try {
    return await streamImage({
      source: new HttpRangeSource(input),
      sink,
      expected: input.expected,
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
    });
  } finally {
    await sink.close();
  }
}

export interface StreamImageInput {
  source: ImageSource;
  sink: ImageSink;
  expected: ExpectedImage;
  onProgress?: (received: number, total: number) => void;
}

/**
 * Streams the image from `source` into `sink` from where the sink's kept bytes end, and checks
 * it: never past the promised length (ENDLESS_DATA), not short of it (LENGTH_MISMATCH), sha256 of
 * what came in, the kept bytes included (TARGET_MISMATCH), and the length and sha512 of what the
 * sink holds once sealed (READBACK_MISMATCH when the sink does not hold the bytes that came in,
 * TARGET_MISMATCH when it does and the image never matched its sha512). The caller closes the
 * sink.
 */
export async function streamImage(input: StreamImageInput): Promise<StreamInstallResult> {
  const { source, sink, expected } = input;
  const sha256 = createHash('sha256');
  const hashBlock: ByteHasher = (block) => {
    sha256.update(block);
  };
  let offset = sink.startOffset;
  let downloaded = 0;
  if (offset > 0) await sink.rehashKept(hashBlock);
  const { resumes } = await source.read(
    offset,
    expected.length,
    (chunk) => {
      if (offset + chunk.length > expected.length) {
        throw new AgentError(
          'ENDLESS_DATA',
          `server sent more than the ${expected.length} bytes TUF promised`,
        );
      }
      offset += chunk.length;
      downloaded += chunk.length;
      input.onProgress?.(offset, expected.length);
      return sink.push(chunk, hashBlock);
    },
    () => sink.flush(hashBlock),
  );
  if (offset < expected.length) {
    throw new AgentError(
      'LENGTH_MISMATCH',
      `image ended after ${offset} of ${expected.length} bytes`,
    );
  }
  await sink.flush(hashBlock);
  const held = await sink.seal();
  if (sha256.digest('hex') !== expected.sha256) {
    throw new AgentError('TARGET_MISMATCH', 'image hashes differ from the TUF target');
  }
  if (held.bytes !== expected.length) {
    throw new AgentError(
      'READBACK_MISMATCH',
      `${sink.name} reads back ${held.bytes} of ${expected.length} bytes`,
    );
  }
  if (held.sha512 !== expected.sha512) {
    // Rare path: tell a sink that does not hold what came in from an image that never matched its
    // signed sha512.
    throw (await sink.holds(expected))
      ? new AgentError('TARGET_MISMATCH', 'image hashes differ from the TUF target')
      : new AgentError('READBACK_MISMATCH', `${sink.name} does not read back as written`);
  }
  return { downloaded, resumes };
}
