import { AgentError, isAgentError, type AgentErrorCode } from '../error.js';
import type { SlotName } from '../slots/slot-store.js';
import {
  baseHolds,
  DeltaImageSource,
  type DeltaRef,
  type DeltaSourceInput,
} from './delta-source.js';
import { openSlotSink } from './slot-sink.js';
import {
  streamImage,
  streamIntoSlot,
  type StreamInstallInput,
  type StreamInstallResult,
} from './stream.js';

/**
 * The slot's write blocks when a delta applies. The full image's 512 KiB blocks absorb the
 * network's jitter; a delta's blocks come from the active slot at a steady pace, and 256 KiB ones
 * rebuild npm-upgrade (bench:delta) as fast for 0.6 MiB less peak RSS (three blocks in flight).
 */
const DELTA_WRITE_BLOCK_BYTES = 256 * 1024;

/** A delta TUF lists for the target, from the image the active slot holds. */
export interface DeltaPlan extends DeltaRef {
  /** The active slot, read (never written) for the delta's COPYs. */
  baseSlot: SlotName;
  /** The image the active slot's state says it holds; the delta's base must be this image. */
  base: { length: number; sha256: string };
}

export type InstallPath = 'delta' | 'full';

export interface SlotInstallResult extends StreamInstallResult {
  path: InstallPath;
  /** Why a planned delta was not used: the full image was installed instead. */
  fallback?: { code: AgentErrorCode | 'UNEXPECTED'; message: string };
  /** Bytes that came over the network for this install: the delta's, the full image's, or both. */
  networkBytes: number;
}

export interface SlotInstallInput extends StreamInstallInput {
  delta?: DeltaPlan | undefined;
  /** Hash the active slot while the delta applies (default false; delta-source.ts). */
  verifyDeltaBase?: boolean;
  /**
   * False when there is no full image (a delta-only offline bundle): a failed delta is thrown as
   * it is, instead of installing the full image.
   */
  fullFallback?: boolean;
}

/**
 * Installs the target into the inactive slot from a delta when one is planned, and from the full
 * image when there is none or the delta fails in any way (corrupt, for another base, truncated, a
 * modified active slot, a finished slot whose hashes are not the target's): the slot is then
 * rewritten from the full image, from its first byte. Either way the slot is checked against the
 * full image's TUF length and hashes (stream.ts). The active slot is only ever read.
 */
export async function installIntoSlot(input: SlotInstallInput): Promise<SlotInstallResult> {
  let fallback: SlotInstallResult['fallback'];
  let deltaBytes = 0;
  if (input.delta) {
    const source = await openDeltaSource(input, input.delta).catch((err: unknown) => {
      fallback = describe(err);
      return undefined;
    });
    if (source) {
      try {
        const done = await streamDelta(input, source.source);
        return {
          ...done,
          downloaded: source.source.fetched,
          path: 'delta',
          networkBytes: source.source.fetched,
        };
      } catch (err) {
        fallback = describe(
          isAgentError(err, 'TARGET_MISMATCH') && !(await baseHolds(source.base))
            ? new AgentError('DELTA_BASE_MISMATCH', 'the active slot does not hold the base', {
                cause: err,
              })
            : err,
        );
      } finally {
        deltaBytes = source.source.fetched;
        await source.close();
      }
    }
  }
  if (input.delta && input.fullFallback === false) {
    // No full image to fall back to: the delta's own failure is the install's.
    const code = fallback?.code;
    throw new AgentError(
      code === undefined || code === 'UNEXPECTED' ? 'DELTA_UNAVAILABLE' : code,
      `the delta failed, with no full image to fall back to: ${fallback?.message ?? ''}`,
    );
  }
  // The read-back worker went with the delta's sink; the full install starts its own if needed.
  const full = await streamIntoSlot({
    ...input,
    readbackWorker: input.delta ? undefined : input.readbackWorker,
    ...(input.delta ? { resumeFrom: 0 } : {}),
  });
  return {
    ...full,
    path: 'full',
    networkBytes: deltaBytes + full.downloaded,
    ...(fallback ? { fallback } : {}),
  };
}

async function openDeltaSource(
  input: SlotInstallInput,
  plan: DeltaPlan,
): Promise<{
  source: DeltaImageSource;
  base: DeltaSourceInput['base'];
  close: () => Promise<void>;
}> {
  if ((input.resumeFrom ?? 0) > 0) {
    throw new AgentError('DELTA_UNAVAILABLE', 'an interrupted full download is resumed instead');
  }
  if (!input.slots.openForRead) {
    throw new AgentError('DELTA_UNAVAILABLE', 'the slot store cannot read the active slot');
  }
  const reader = await input.slots.openForRead(plan.baseSlot);
  const base = { reader, ...plan.base };
  const source = new DeltaImageSource({
    delta: plan,
    base,
    target: input.expected,
    request: { dispatcher: input.dispatcher, config: input.config },
    ...(input.verifyDeltaBase !== undefined ? { verifyBase: input.verifyDeltaBase } : {}),
  });
  return { source, base, close: () => reader.close() };
}

async function streamDelta(
  input: SlotInstallInput,
  source: DeltaImageSource,
): Promise<StreamInstallResult> {
  const sink = await openSlotSink({
    slots: input.slots,
    slot: input.slot,
    length: input.expected.length,
    config: input.config,
    readbackWorker: input.readbackWorker,
    blockBytes: DELTA_WRITE_BLOCK_BYTES,
    ...(input.onSlotOpened ? { onSlotOpened: input.onSlotOpened } : {}),
  });
  try {
    return await streamImage({
      source,
      sink,
      expected: input.expected,
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
    });
  } finally {
    await sink.close();
  }
}

function describe(err: unknown): NonNullable<SlotInstallResult['fallback']> {
  return err instanceof AgentError
    ? { code: err.code, message: err.message }
    : { code: 'UNEXPECTED', message: String((err as Error | undefined)?.message ?? err) };
}
