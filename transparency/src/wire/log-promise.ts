import { z } from 'zod';
import { TransparencyError } from '../error.js';
import { hashLeaf } from '../merkle/hash.js';
import { verifyInclusion } from '../merkle/proof.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { parseCanonicalJson } from '../log/entry.js';
import {
  DIRECTOR_LOG_PROMISE_MEDIA_TYPE,
  directorTargetsLogEntrySchema,
  parseWire,
  type DirectorTargetsLogEntry,
} from './director.js';

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const uint = z.number().int().nonnegative();

/** `GET /director/log-promise?version=N` (UPTANE.md): a proof bundle without its chain anchor. */
export const directorLogPromiseSchema = z
  .object({
    mediaType: z.literal(DIRECTOR_LOG_PROMISE_MEDIA_TYPE),
    entry: z.object({ index: uint, data: b64.max(1_000_000) }).strict(),
    inclusionProof: z.object({ treeSize: uint, hashes: z.array(b64).max(64) }).strict(),
    /** C2SP signed note of the tlog-checkpoint at `inclusionProof.treeSize`. */
    checkpoint: z.string().min(1).max(16_384),
  })
  .strict();
export type DirectorLogPromise = z.infer<typeof directorLogPromiseSchema>;

export interface OpenedDirectorLogPromise {
  entry: DirectorTargetsLogEntry;
  index: number;
  checkpoint: Checkpoint;
}

/**
 * Checks a Director log promise offline: the checkpoint is signed by a pinned log key (and has
 * the expected origin), the entry is included under its root at its index (RFC 9162), and the
 * entry is a `director-targets` entry of the profile. Whether it names this vehicle, version and
 * hash is the caller's question. Throws the note codes, MALFORMED_CHECKPOINT, ORIGIN_MISMATCH,
 * INCLUSION_PROOF_INVALID, INDEX_OUT_OF_RANGE or DIRECTOR_METADATA_INVALID.
 */
export function openDirectorLogPromise(
  input: unknown,
  trust: { logVerifiers: readonly NoteVerifier[]; origin?: string },
): OpenedDirectorLogPromise {
  const promise = parseWire(
    directorLogPromiseSchema,
    input,
    'DIRECTOR_METADATA_INVALID',
    'log promise',
  );
  const checkpoint = openCheckpoint(promise.checkpoint, trust.logVerifiers, trust.origin);
  if (checkpoint.size !== promise.inclusionProof.treeSize) {
    throw new TransparencyError('INCLUSION_PROOF_INVALID', 'checkpoint and proof sizes differ');
  }
  const data = new Uint8Array(Buffer.from(promise.entry.data, 'base64'));
  verifyInclusion(
    hashLeaf(data),
    promise.entry.index,
    checkpoint.size,
    promise.inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64'))),
    checkpoint.rootHash,
  );
  let doc: unknown;
  try {
    doc = parseCanonicalJson(Buffer.from(data).toString('utf8'));
  } catch {
    doc = undefined;
  }
  const entry = parseWire(
    directorTargetsLogEntrySchema,
    doc,
    'DIRECTOR_METADATA_INVALID',
    'log entry',
  );
  return { entry, index: promise.entry.index, checkpoint };
}
