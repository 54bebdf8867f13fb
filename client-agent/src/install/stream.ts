import { createHash, type Hash } from 'node:crypto';
import { InlineHash, OffThreadHash, type AsyncHash } from './off-thread-hash.js';
import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import type { SlotName, SlotStore } from '../slots/ab-slots.js';
import { backoffDelay, sleep } from '../util/retry.js';

const STAGE_BYTES = 1024 * 1024;

const GC_EVERY_BYTES = 4 * 1024 * 1024;
const collectYoungGarbage = (globalThis as { gc?: (opts: { type: 'minor' }) => void }).gc;

/** Below this size a worker thread costs more than the sha512 it would take over. */
const OFF_THREAD_MIN_BYTES = 4 * 1024 * 1024;

export interface ExpectedImage {
  length: number;
  /** hex, no 0x */
  sha256: string;
  sha512: string;
}

export interface StreamInstallInput {
  url: string;
  slots: SlotStore;
  slot: SlotName;
  expected: ExpectedImage;
  dispatcher: Dispatcher;
  config: Pick<
    Config,
    'fetchRetries' | 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'downloadResumes' | 'userAgent'
  > &
    Partial<Pick<Config, 'sha512Worker'>>;
  /** Keep this many bytes already in the slot from an interrupted run and download the rest. */
  resumeFrom?: number;
  onProgress?: (received: number, total: number) => void;
  /** Called once the slot is open for this image, before the first byte is written. */
  onSlotOpened?: () => Promise<void>;
}

export interface StreamInstallResult {
  /** Bytes that came over the network in this call. */
  downloaded: number;
  /** Connection drops recovered with an HTTP Range request. */
  resumes: number;
}

function isNetworkDrop(err: unknown): boolean {
  if (err instanceof undiciErrors.UndiciError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR)/.test(code)
  );
}

function isTimeout(err: unknown): boolean {
  return (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  );
}

class RetryableStatus extends Error {
  readonly statusCode: number;
  constructor(statusCode: number) {
    super(`server answered ${statusCode}`);
    this.statusCode = statusCode;
  }
}

/**
 * Single-pass install: streams the image from the network through sha256 + sha512 and a length
 * counter straight into the slot, never past the length TUF promised (endless-data guard), resumes
 * with HTTP Range after a drop, then checks length and both hashes against the TUF TargetFile, and
 * that every byte reads back from the slot as written (READBACK_MISMATCH otherwise). Nothing is
 * buffered whole in memory and there is no temporary copy.
 */
export async function streamIntoSlot(input: StreamInstallInput): Promise<StreamInstallResult> {
  const sha256 = createHash('sha256');
  // TUF lists both hashes, and both are checked. sha512 may run on another core for large images.
  const sha512: AsyncHash =
    input.config.sha512Worker === true && input.expected.length >= OFF_THREAD_MIN_BYTES
      ? new OffThreadHash('sha512')
      : new InlineHash('sha512');
  try {
    return await streamHashed(input, sha256, sha512);
  } finally {
    await sha512.close();
  }
}

async function streamHashed(
  input: StreamInstallInput,
  sha256: Hash,
  sha512: AsyncHash,
): Promise<StreamInstallResult> {
  const { expected, slots, slot, config } = input;
  let resumeFrom = Math.min(input.resumeFrom ?? 0, expected.length);
  if (resumeFrom > 0) resumeFrom = Math.min(resumeFrom, await slots.storedBytes(slot));
  const writer = await slots.openForWrite(slot, { resumeFrom });
  try {
    await input.onSlotOpened?.();
  } catch (err) {
    await writer.close();
    throw err;
  }
  let offset = writer.startOffset;
  let downloaded = 0;
  let resumes = 0;
  // Received bytes are staged into 1 MiB blocks: one write, one read-back and one hash call per
  // block instead of per network chunk. The read-back follows each block right behind its write
  // (the main thread would otherwise wait for the sha512 worker), not as a second full pass, and
  // is compared byte for byte with the block that went through both hashes: cheaper than a third
  // digest, and it shows as much (the slot holds exactly the bytes whose hashes TUF lists).
  let readbackOk = true;
  const stage = Buffer.alloc(Math.max(1, Math.min(STAGE_BYTES, expected.length)));
  const scratch = Buffer.alloc(stage.length);
  let staged = 0;
  let written = offset;
  let sinceGc = 0;
  const flush = async (): Promise<void> => {
    if (staged === 0) return;
    const block = stage.subarray(0, staged);
    const position = written;
    sha256.update(block);
    await Promise.all([
      sha512.update(block),
      writer.write(block).then(async () => {
        const view = scratch.subarray(0, block.length);
        const n = await writer.readBack(position, view);
        if (n !== block.length || !view.equals(block)) readbackOk = false;
      }),
    ]);
    written += staged;
    staged = 0;
    // Every network chunk is a fresh Buffer outside the JS heap; V8 only frees them after a GC,
    // which it starts on its own after ~64 MiB of them. With --expose-gc (bin/tufchain-agent)
    // a minor GC every few MiB keeps that garbage, and so the peak RSS, small and flat.
    sinceGc += block.length;
    if (sinceGc >= GC_EVERY_BYTES) {
      sinceGc = 0;
      collectYoungGarbage?.({ type: 'minor' });
    }
  };
  try {
    if (offset > 0) {
      for await (const chunk of slots.readImage(slot, offset)) {
        // Hashed straight from the slot: these bytes are their own read-back.
        sha256.update(chunk);
        await sha512.update(chunk);
      }
    }
    let failures = 0;
    while (offset < expected.length) {
      try {
        const got = await fetchRange(input, offset, async (chunk) => {
          if (offset + chunk.length > expected.length) {
            throw new AgentError(
              'ENDLESS_DATA',
              `server sent more than the ${expected.length} bytes TUF promised`,
            );
          }
          let rest = chunk;
          while (rest.length > 0) {
            const n = Math.min(rest.length, stage.length - staged);
            stage.set(rest.subarray(0, n), staged);
            staged += n;
            rest = rest.subarray(n);
            if (staged === stage.length) await flush();
          }
          offset += chunk.length;
          downloaded += chunk.length;
          input.onProgress?.(offset, expected.length);
        });
        if (!got.complete || offset < expected.length) {
          throw new AgentError(
            'LENGTH_MISMATCH',
            `image ended after ${offset} of ${expected.length} bytes`,
          );
        }
      } catch (err) {
        if (err instanceof AgentError) throw err;
        // Keep what arrived: a resume (now or in a later cycle) starts after it.
        await flush();
        const retryable = isNetworkDrop(err) || err instanceof RetryableStatus;
        const budget =
          err instanceof RetryableStatus ? config.fetchRetries : config.downloadResumes;
        if (!retryable || failures >= budget) {
          if (err instanceof RetryableStatus) {
            throw new AgentError('DOWNLOAD_HTTP', `GET ${input.url}: ${err.message}`, {
              cause: err,
            });
          }
          throw new AgentError(
            isTimeout(err) ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED',
            `GET ${input.url} failed at byte ${offset}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        failures += 1;
        if (!(err instanceof RetryableStatus)) resumes += 1;
        await sleep(
          backoffDelay(failures - 1, {
            baseDelayMs: config.retryBaseDelayMs,
            maxDelayMs: config.retryMaxDelayMs,
          }),
        );
      }
    }
    await flush();
    await writer.sync();
  } finally {
    await writer.close();
  }
  const gotSha256 = sha256.digest('hex');
  const gotSha512 = await sha512.digest();
  if (gotSha256 !== expected.sha256 || gotSha512 !== expected.sha512) {
    throw new AgentError('TARGET_MISMATCH', 'image hashes differ from the TUF target');
  }
  if (!readbackOk) {
    throw new AgentError('READBACK_MISMATCH', `slot ${slot} does not read back as written`);
  }
  return { downloaded, resumes };
}

/**
 * GETs the image from `offset`, feeding body chunks to `onChunk`. Returns complete=false when a
 * 200 answer ended early (a short image), throws on network errors so that the caller resumes.
 */
async function fetchRange(
  input: StreamInstallInput,
  offset: number,
  onChunk: (chunk: Uint8Array) => Promise<void>,
): Promise<{ complete: boolean }> {
  const headers: Record<string, string> = { 'user-agent': input.config.userAgent };
  if (offset > 0) headers['range'] = `bytes=${offset}-`;
  const res = await request(input.url, { method: 'GET', dispatcher: input.dispatcher, headers });
  const { statusCode } = res;
  if (statusCode >= 500 || statusCode === 429) {
    await res.body.dump();
    throw new RetryableStatus(statusCode);
  }
  if (statusCode !== 200 && statusCode !== 206) {
    await res.body.dump();
    throw new AgentError('DOWNLOAD_HTTP', `GET ${input.url} answered ${statusCode}`);
  }
  // A server that ignores Range answers 200 with the whole image: skip what we already have.
  let skip = 0;
  if (statusCode === 206) {
    const range = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!range || Number(range[1]) !== offset) {
      res.body.destroy();
      throw new AgentError('DOWNLOAD_HTTP', 'server answered a different byte range');
    }
  } else {
    skip = offset;
  }
  try {
    for await (const raw of res.body) {
      let chunk = raw as Buffer;
      if (skip > 0) {
        const n = Math.min(skip, chunk.length);
        skip -= n;
        chunk = chunk.subarray(n);
        if (chunk.length === 0) continue;
      }
      await onChunk(chunk);
    }
  } catch (err) {
    res.body.destroy();
    throw err;
  }
  return { complete: skip === 0 };
}

/** Reads the slot back and checks it against the expected length and sha256. */
export async function verifySlotReadback(
  slots: SlotStore,
  slot: SlotName,
  expected: ExpectedImage,
): Promise<void> {
  const stored = await slots.storedBytes(slot);
  if (stored !== expected.length) {
    throw new AgentError(
      'READBACK_MISMATCH',
      `slot ${slot} holds ${stored} bytes, expected ${expected.length}`,
    );
  }
  // sha256 suffices to show that the slot holds the bytes that were verified on the way in.
  const sha256 = createHash('sha256');
  for await (const chunk of slots.readImage(slot, expected.length)) sha256.update(chunk);
  if (sha256.digest('hex') !== expected.sha256) {
    throw new AgentError('READBACK_MISMATCH', `slot ${slot} does not read back as written`);
  }
}
