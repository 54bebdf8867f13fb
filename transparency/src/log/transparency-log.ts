import { TransparencyError } from '../error.js';
import { hashLeaf, type Hash } from '../merkle/hash.js';
import { withNodes } from '../merkle/prefetch.js';
import { GroupCommit } from '../util/group-commit.js';
import { consistencyProof, inclusionProof, treeRoot } from '../merkle/proof.js';
import { signCheckpoint } from '../note/checkpoint.js';
import type { NoteSigner } from '../note/signed-note.js';
import { EncodedLogEntry, encodeLogEntry, type LogEntryDocument } from './entry.js';
import type { LogStorage, StoredCheckpoint, StoredEntry } from './storage.js';

export interface TransparencyLogOptions {
  storage: LogStorage;
  /** The checkpoint origin line, e.g. `tufchain.example/oem-a/log`. */
  origin: string;
  /** Checkpoint signers (Ed25519 signed-note keys). */
  signers: readonly NoteSigner[];
}

/** The most entries appendOnce writes in one batch. */
const MAX_GROUP_COMMIT = 1000;

/** Where appendOnceSized put an entry. */
export interface AppendedEntry {
  index: number;
  /** RFC 9162 leaf hash of the entry's bytes. */
  leafHash: Hash;
  /**
   * A tree size that includes the entry: the end of the batch it was written in. Every entry of
   * one batch gets the same size, so one checkpoint covers them all.
   */
  treeSize: number;
}

/** The append-only log: entries, RFC 9162 proofs, and signed tlog-checkpoints. */
export class TransparencyLog {
  readonly storage: LogStorage;
  readonly origin: string;
  readonly #signers: readonly NoteSigner[];
  readonly #group = new GroupCommit<
    { kind: string; data: Uint8Array },
    { index: number; treeSize: number }
  >(async (batch) => {
    const indexes = await this.storage.appendOnce(batch);
    // Committed: the log now has at least this many entries (other writers may have more).
    const treeSize = Math.max(...indexes) + 1;
    return indexes.map((index) => ({ index, treeSize }));
  }, MAX_GROUP_COMMIT);

  constructor(opts: TransparencyLogOptions) {
    if (opts.signers.length === 0)
      throw new TransparencyError('INVALID_CONFIG', 'a log needs a checkpoint signer');
    this.storage = opts.storage;
    this.origin = opts.origin;
    this.#signers = opts.signers;
  }

  size(): Promise<number> {
    return this.storage.size();
  }

  /** Appends entries atomically; returns their indexes. */
  async append(...docs: LogEntryDocument[]): Promise<number[]> {
    const encoded = docs.map((d) => ({ kind: d.type, data: encodeLogEntry(d) }));
    const first = await this.storage.append(encoded);
    return encoded.map((_, i) => first + i);
  }

  /**
   * Appends `doc` unless the log already holds it (same kind and bytes); its index either way.
   * Group commit: calls made while a batch is being written wait and go together in the next one
   * (one lock and one transaction for all), so concurrent reports do not queue one by one.
   */
  async appendOnce(doc: LogEntryDocument): Promise<number> {
    return (await this.#group.submit({ kind: doc.type, data: encodeLogEntry(doc) })).index;
  }

  /** appendOnce, with the entry's leaf hash and a tree size that includes it. */
  async appendOnceSized(doc: LogEntryDocument | EncodedLogEntry): Promise<AppendedEntry> {
    const entry = EncodedLogEntry.is(doc)
      ? { kind: doc.kind, data: doc.data }
      : { kind: doc.type, data: encodeLogEntry(doc) };
    const at = await this.#group.submit(entry);
    // A duplicate's stored bytes are these bytes: appendOnce matches on kind and bytes.
    return { ...at, leafHash: hashLeaf(entry.data) };
  }

  entry(index: number): Promise<StoredEntry> {
    return this.storage.entry(index);
  }

  /** The root hash of the first `size` entries (default: all of them). */
  async root(size?: number): Promise<Hash> {
    const n = await this.#checkSize(size);
    return withNodes(
      (c) => this.storage.nodes(c),
      (src) => treeRoot(src, n),
    );
  }

  async inclusionProof(index: number, size?: number): Promise<Hash[]> {
    const n = await this.#checkSize(size);
    return withNodes(
      (c) => this.storage.nodes(c),
      (src) => inclusionProof(src, index, n),
    );
  }

  async consistencyProof(size1: number, size2?: number): Promise<Hash[]> {
    const n = await this.#checkSize(size2);
    return withNodes(
      (c) => this.storage.nodes(c),
      (src) => consistencyProof(src, size1, n),
    );
  }

  /** Signs (once) and stores the checkpoint for `size` (default: the current size). */
  async checkpoint(size?: number): Promise<StoredCheckpoint> {
    const n = await this.#checkSize(size);
    const existing = await this.storage.checkpoint(n);
    if (existing) return existing;
    const rootHash = await this.root(n);
    const note = await signCheckpoint(
      { origin: this.origin, size: n, rootHash, extensions: [] },
      this.#signers,
    );
    const cp = { size: n, rootHash, note };
    await this.storage.saveCheckpoint(cp);
    // Another replica may have signed the same size first; everyone serves the stored one.
    return (await this.storage.checkpoint(n)) ?? cp;
  }

  /** `size`, or the current size when undefined; TREE_SIZE_INVALID beyond the log. */
  async #checkSize(size: number | undefined): Promise<number> {
    const current = await this.size();
    if (size === undefined) return current;
    if (!Number.isSafeInteger(size) || size < 0 || size > current) {
      throw new TransparencyError(
        'TREE_SIZE_INVALID',
        `the log has ${current} entries, not ${size}`,
      );
    }
    return size;
  }
}
