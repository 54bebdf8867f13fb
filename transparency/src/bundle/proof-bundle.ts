import { z } from 'zod';
import type { AnchorRecord } from '../anchor/outbox.js';
import type { AnchoredCheckpoint } from '../chain/types.js';
import { TransparencyError } from '../error.js';
import { decodeLogEntry, type LogEntryDocument } from '../log/entry.js';
import type { TransparencyLog } from '../log/transparency-log.js';
import { hashLeaf } from '../merkle/hash.js';
import { verifyInclusion } from '../merkle/proof.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { bytesToHex } from '../util/hex.js';

export const PROOF_BUNDLE_MEDIA_TYPE = 'application/vnd.tufchain.proof-bundle.v1+json';

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/);
const uint = z.number().int().nonnegative();

export const proofBundleSchema = z.object({
  mediaType: z.literal(PROOF_BUNDLE_MEDIA_TYPE),
  entry: z.object({ index: uint, data: b64 }),
  inclusionProof: z.object({ treeSize: uint, hashes: z.array(b64).max(64) }),
  /** C2SP signed note of the tlog-checkpoint at `inclusionProof.treeSize`. */
  checkpoint: z.string().min(1),
  anchor: z.object({
    chainId: uint,
    contractAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    size: uint,
    rootHash: hash32,
    txHash: hash32,
    blockNumber: uint,
    blockHash: hash32,
  }),
});

/** One document proving that an entry is in the log, under a signed checkpoint anchored on chain. */
export type ProofBundle = z.infer<typeof proofBundleSchema>;

export interface VerifiedProofBundle {
  entry: LogEntryDocument;
  index: number;
  checkpoint: Checkpoint;
}

/** Builds the proof bundle of entry `index` against a confirmed anchor that covers it. */
export async function createProofBundle(opts: {
  log: TransparencyLog;
  index: number;
  anchor: AnchorRecord;
  chainId: number;
  contractAddress: string;
}): Promise<ProofBundle> {
  const { log, index, anchor } = opts;
  if (
    anchor.status !== 'confirmed' ||
    !anchor.txHash ||
    anchor.blockNumber === null ||
    !anchor.blockHash
  ) {
    throw new TransparencyError('NOT_ANCHORED', `anchor of size ${anchor.size} is not confirmed`);
  }
  if (index >= anchor.size)
    throw new TransparencyError(
      'NOT_ANCHORED',
      `entry ${index} is not covered by anchor ${anchor.size}`,
    );
  const cp = await log.checkpoint(anchor.size);
  return {
    mediaType: PROOF_BUNDLE_MEDIA_TYPE,
    entry: { index, data: Buffer.from((await log.entry(index)).data).toString('base64') },
    inclusionProof: {
      treeSize: anchor.size,
      hashes: (await log.inclusionProof(index, anchor.size)).map((h) =>
        Buffer.from(h).toString('base64'),
      ),
    },
    checkpoint: cp.note,
    anchor: {
      chainId: opts.chainId,
      contractAddress: opts.contractAddress,
      size: anchor.size,
      rootHash: bytesToHex(cp.rootHash),
      txHash: anchor.txHash.toLowerCase(),
      blockNumber: anchor.blockNumber,
      blockHash: anchor.blockHash.toLowerCase(),
    },
  };
}

export function parseProofBundle(x: unknown): ProofBundle {
  const r = proofBundleSchema.safeParse(x);
  if (!r.success)
    throw new TransparencyError(
      'MALFORMED_PROOF_BUNDLE',
      `proof bundle is malformed: ${z.prettifyError(r.error)}`,
    );
  return r.data;
}

/**
 * Offline: the checkpoint is signed by a trusted log key, the entry is included under its root,
 * and the anchor claims exactly that checkpoint. Throws MALFORMED_PROOF_BUNDLE, the note codes,
 * INCLUSION_PROOF_INVALID or PROOF_BUNDLE_MISMATCH.
 */
export function verifyProofBundleOffline(
  input: unknown,
  trust: { logVerifiers: readonly NoteVerifier[]; origin?: string },
): VerifiedProofBundle {
  const bundle = parseProofBundle(input);
  const checkpoint = openCheckpoint(bundle.checkpoint, trust.logVerifiers, trust.origin);
  if (
    checkpoint.size !== bundle.inclusionProof.treeSize ||
    checkpoint.size !== bundle.anchor.size
  ) {
    throw new TransparencyError(
      'PROOF_BUNDLE_MISMATCH',
      'checkpoint, proof and anchor sizes differ',
    );
  }
  if (bytesToHex(checkpoint.rootHash) !== bundle.anchor.rootHash) {
    throw new TransparencyError(
      'PROOF_BUNDLE_MISMATCH',
      'anchor root differs from the checkpoint root',
    );
  }
  const data = new Uint8Array(Buffer.from(bundle.entry.data, 'base64'));
  verifyInclusion(
    hashLeaf(data),
    bundle.entry.index,
    checkpoint.size,
    bundle.inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64'))),
    checkpoint.rootHash,
  );
  return { entry: decodeLogEntry(data), index: bundle.entry.index, checkpoint };
}

/** What the online check needs from the chain; ChainReader provides it. */
export interface AnchorLookup {
  readonly chainId: number | undefined;
  readonly contractAddress: string;
  findCheckpointAnchor(size: number): Promise<AnchoredCheckpoint>;
}

/**
 * Offline checks, then online: the chain (through the reader's quorum and confirmation depth)
 * holds exactly this anchor. Throws NOT_ANCHORED, NOT_CONFIRMED or PROOF_BUNDLE_MISMATCH.
 */
export async function verifyProofBundle(
  input: unknown,
  trust: { logVerifiers: readonly NoteVerifier[]; origin?: string; chain: AnchorLookup },
): Promise<VerifiedProofBundle & { anchor: AnchoredCheckpoint }> {
  const verified = verifyProofBundleOffline(input, trust);
  const bundle = parseProofBundle(input);
  if (trust.chain.chainId !== undefined && trust.chain.chainId !== bundle.anchor.chainId) {
    throw new TransparencyError('PROOF_BUNDLE_MISMATCH', 'bundle anchored on another chain');
  }
  if (trust.chain.contractAddress.toLowerCase() !== bundle.anchor.contractAddress.toLowerCase()) {
    throw new TransparencyError('PROOF_BUNDLE_MISMATCH', 'bundle anchored in another contract');
  }
  const anchor = await trust.chain.findCheckpointAnchor(bundle.anchor.size);
  if (anchor.rootHash !== bundle.anchor.rootHash) {
    throw new TransparencyError(
      'PROOF_BUNDLE_MISMATCH',
      'the chain anchored another root at this size',
    );
  }
  if (anchor.txHash !== bundle.anchor.txHash || anchor.blockHash !== bundle.anchor.blockHash) {
    throw new TransparencyError(
      'PROOF_BUNDLE_MISMATCH',
      'the anchor is in another transaction or block',
    );
  }
  return { ...verified, anchor };
}
