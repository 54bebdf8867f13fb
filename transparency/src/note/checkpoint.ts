import { TransparencyError } from '../error.js';
import { HASH_SIZE, type Hash } from '../merkle/hash.js';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from './signed-note.js';

/** A C2SP tlog-checkpoint: origin, tree size, root hash, optional extension lines. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Hash;
  extensions: string[];
}

/** The checkpoint body (the note text). */
export function formatCheckpoint(cp: Checkpoint): string {
  if (!cp.origin || /[\n]/.test(cp.origin))
    throw new TransparencyError('MALFORMED_CHECKPOINT', 'invalid origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0)
    throw new TransparencyError('MALFORMED_CHECKPOINT', 'invalid size');
  if (cp.rootHash.length !== HASH_SIZE)
    throw new TransparencyError('MALFORMED_CHECKPOINT', 'root hash must be 32 bytes');
  for (const e of cp.extensions) {
    if (e.length === 0 || e.includes('\n'))
      throw new TransparencyError('MALFORMED_CHECKPOINT', 'invalid extension line');
  }
  return (
    [
      cp.origin,
      String(cp.size),
      Buffer.from(cp.rootHash).toString('base64'),
      ...cp.extensions,
    ].join('\n') + '\n'
  );
}

/** Parses a checkpoint body. Throws MALFORMED_CHECKPOINT. */
export function parseCheckpoint(text: string): Checkpoint {
  const fail = (why: string) =>
    new TransparencyError('MALFORMED_CHECKPOINT', `malformed checkpoint: ${why}`);
  if (!text.endsWith('\n')) throw fail('must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw fail('needs origin, size and root hash lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [
    string,
    string,
    string,
    ...string[],
  ];
  if (origin.length === 0) throw fail('empty origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw fail('size is not a canonical decimal');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw fail('size too large');
  const root = Buffer.from(rootLine, 'base64');
  if (root.length !== HASH_SIZE || root.toString('base64') !== rootLine)
    throw fail('root hash is not base64 of 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw fail('empty extension line');
  return { origin, size, rootHash: new Uint8Array(root), extensions };
}

export async function signCheckpoint(
  cp: Checkpoint,
  signers: readonly NoteSigner[],
): Promise<string> {
  return signNote(formatCheckpoint(cp), signers);
}

/**
 * Verifies a signed checkpoint note against trusted keys and, when given, the expected origin.
 * Throws the note codes, MALFORMED_CHECKPOINT or ORIGIN_MISMATCH.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  expectedOrigin?: string,
): Checkpoint {
  const { text } = openNote(note, verifiers);
  const cp = parseCheckpoint(text);
  if (expectedOrigin !== undefined && cp.origin !== expectedOrigin) {
    throw new TransparencyError(
      'ORIGIN_MISMATCH',
      `checkpoint origin ${cp.origin}, expected ${expectedOrigin}`,
    );
  }
  return cp;
}
