import { TransparencyError } from '../error.js';
import type { Hash } from '../merkle/hash.js';
import { consistencyProof, inclusionProof, treeRoot } from '../merkle/proof.js';
import { signCheckpoint } from '../note/checkpoint.js';
import type { NoteSigner } from '../note/signed-note.js';
import { encodeLogEntry, type LogEntryDocument } from './entry.js';
import type { LogStorage, StoredCheckpoint, StoredEntry } from './storage.js';

export interface TransparencyLogOptions {
  storage: LogStorage;
  /** The checkpoint origin line, e.g. `tufchain.example/oem-a/log`. */
  origin: string;
  /** Checkpoint signers (Ed25519 signed-note keys). */
  signers: readonly NoteSigner[];
}

/** The append-only log: entries, RFC 9162 proofs, and signed tlog-checkpoints. */
export class TransparencyLog {
  readonly storage: LogStorage;
  readonly origin: string;
  readonly #signers: readonly NoteSigner[];

  constructor(opts: TransparencyLogOptions) {
    if (opts.signers.length === 0)
      throw new TransparencyError('INVALID_CONFIG', 'a log needs a checkpoint signer');
    this.storage = opts.storage;
    this.origin = opts.origin;
    this.#signers = opts.signers;
  }

  size(): number {
    return this.storage.size();
  }

  /** Appends entries atomically; returns their indexes. */
  append(...docs: LogEntryDocument[]): number[] {
    const encoded = docs.map((d) => ({ kind: d.type, data: encodeLogEntry(d) }));
    const first = this.storage.append(encoded);
    return encoded.map((_, i) => first + i);
  }

  entry(index: number): StoredEntry {
    return this.storage.entry(index);
  }

  root(size = this.size()): Hash {
    this.#checkSize(size);
    return treeRoot(this.storage, size);
  }

  inclusionProof(index: number, size = this.size()): Hash[] {
    this.#checkSize(size);
    return inclusionProof(this.storage, index, size);
  }

  consistencyProof(size1: number, size2 = this.size()): Hash[] {
    this.#checkSize(size2);
    return consistencyProof(this.storage, size1, size2);
  }

  /** Signs (once) and stores the checkpoint for `size` (default: the current size). */
  async checkpoint(size = this.size()): Promise<StoredCheckpoint> {
    const existing = this.storage.checkpoint(size);
    if (existing) return existing;
    const rootHash = this.root(size);
    const note = await signCheckpoint(
      { origin: this.origin, size, rootHash, extensions: [] },
      this.#signers,
    );
    const cp = { size, rootHash, note };
    this.storage.saveCheckpoint(cp);
    return this.storage.checkpoint(size) ?? cp;
  }

  #checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size()) {
      throw new TransparencyError(
        'TREE_SIZE_INVALID',
        `the log has ${this.size()} entries, not ${size}`,
      );
    }
  }
}
