import { z } from '@hono/zod-openapi';
import { hashLeaf, TransparencyLog } from '@tufchain/transparency';
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

/**
 * The promise for entry `index`, when the sink is a LogService (it exposes its
 * TransparencyLog as `log`); undefined for other sinks. The checkpoint is the one for the log's
 * size right now, signed once and stored (the anchoring service reuses it).
 */
export async function inclusionPromise(
  sink: TransparencyLogSink,
  index: number,
): Promise<InclusionPromise | undefined> {
  const log = (sink as { log?: unknown }).log;
  if (!(log instanceof TransparencyLog)) return undefined;
  const leaf = hashLeaf(log.entry(index).data);
  const cp = await log.checkpoint(log.size());
  return {
    logIndex: index,
    leafHash: `0x${Buffer.from(leaf).toString('hex')}`,
    treeSize: cp.size,
    checkpoint: cp.note,
  };
}
