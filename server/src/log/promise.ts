import { z } from '@hono/zod-openapi';
import { hashLeaf, TransparencyLog, type EncodedLogEntry } from '@tufchain/transparency';
import type { TransparencyLogSink } from '../log-sink.js';

/**
 * What the intake route answers at once for an appended install report: the leaf's index and
 * hash, and the log's C2SP signed checkpoint of a tree that already contains it. The proof
 * against an on-chain anchor comes later from `/api/v1/log/proof-bundle?index=N`.
 */
export interface InclusionPromise {
  logIndex: number;
  /** RFC 9162 leaf hash, 0x-hex. */
  leafHash: string;
  treeSize: number;
  /** tlog-checkpoint signed note at `treeSize` (> logIndex). */
  checkpoint: string;
}

export const InclusionPromiseSchema = z
  .object({
    logIndex: z.number().int(),
    leafHash: z.string(),
    treeSize: z.number().int(),
    checkpoint: z.string(),
  })
  .openapi({ description: 'Log inclusion promise: index, leaf hash and a signed checkpoint' });

/** A log that signs promises itself (openServerLog's). */
export interface PromisingLog {
  inclusionPromise(index: number): Promise<InclusionPromise>;
  /**
   * Appends an install report (its bundle, or its EncodedLogEntry) once and promises its
   * inclusion (one checkpoint per batch).
   */
  appendInstallAttestationPromised(bundle: unknown): Promise<InclusionPromise>;
}

/** The promise for entry `index`, built from the log's entry, root and a checkpoint note. */
export async function buildInclusionPromise(
  log: TransparencyLog,
  index: number,
  sign: (size: number) => Promise<string>,
): Promise<InclusionPromise> {
  const leaf = hashLeaf((await log.entry(index)).data);
  const size = await log.size();
  return {
    logIndex: index,
    leafHash: `0x${Buffer.from(leaf).toString('hex')}`,
    treeSize: size,
    checkpoint: await sign(size),
  };
}

/**
 * The promise for entry `index`: from the sink itself when it signs promises (openServerLog:
 * a checkpoint signed for the vehicle, not stored, so the public checkpoint list grows per anchor,
 * not per report); for a plain LogService, its stored checkpoint of the current size; undefined
 * for other sinks.
 */
/**
 * Appends an install report once; its index, and its inclusion promise where the log gives one.
 * `encoded`: the report's entry as the intake already encoded it (EncodedLogEntry), for a log
 * that takes one (openServerLog's); any other sink gets the bundle.
 */
export async function appendInstallAttestation(
  sink: TransparencyLogSink,
  bundle: unknown,
  encoded?: EncodedLogEntry,
): Promise<{ logIndex: number; promise: InclusionPromise | undefined }> {
  if (typeof (sink as Partial<PromisingLog>).appendInstallAttestationPromised === 'function') {
    const promise = await (sink as unknown as PromisingLog).appendInstallAttestationPromised(
      encoded ?? bundle,
    );
    return { logIndex: promise.logIndex, promise };
  }
  const logIndex = await sink.appendInstallAttestation(bundle);
  return { logIndex, promise: await inclusionPromise(sink, logIndex) };
}

export async function inclusionPromise(
  sink: TransparencyLogSink,
  index: number,
): Promise<InclusionPromise | undefined> {
  if (typeof (sink as Partial<PromisingLog>).inclusionPromise === 'function')
    return (sink as unknown as PromisingLog).inclusionPromise(index);
  const log = (sink as { log?: unknown }).log;
  if (!(log instanceof TransparencyLog)) return undefined;
  return buildInclusionPromise(log, index, async (size) => (await log.checkpoint(size)).note);
}
