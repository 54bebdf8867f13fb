import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { TransparencyError } from '../error.js';
import { hashLeaf, type Hash } from '../merkle/hash.js';
import { appendLeafHash } from '../merkle/memory-tree.js';
import type { NodeCoord } from '../merkle/prefetch.js';
import { settle } from '../util/settle.js';
import { inTransaction } from './sqlite.js';

export interface StoredEntry {
  index: number;
  kind: string;
  data: Uint8Array;
  leafHash: Hash;
  /** Unix milliseconds. */
  appendedAt: number;
}

export interface StoredCheckpoint {
  size: number;
  rootHash: Hash;
  note: string;
}

/**
 * Durable, append-only storage of log entries, of the hashes of every complete aligned subtree
 * (so any root or proof costs O(log n) node reads, fetched in one batch) and of signed
 * checkpoints. SQLite here; the server adds PostgreSQL, where several replicas append to one log,
 * so `size()` is read from the store, never cached across calls.
 */
export interface LogStorage {
  size(): Promise<number>;
  /** Appends entries atomically and returns the index of the first one. */
  append(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number>;
  /**
   * Appends, in one atomic batch, each entry the log does not already hold (same kind and leaf
   * hash, in the log or earlier in the batch), and returns each entry's index either way: exactly
   * once, even when a writer died after appending but before recording the index, or two replicas
   * append the same entry at the same moment.
   */
  appendOnce(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number[]>;
  /** node(level, index) of each coordinate (see NodeSource); LOG_CORRUPT when one is missing. */
  nodes(coords: readonly NodeCoord[]): Promise<Hash[]>;
  entry(index: number): Promise<StoredEntry>;
  /** Entries [start, end). */
  entries(start: number, end: number): Promise<StoredEntry[]>;
  /** Keeps the first checkpoint saved for a size (a concurrent second one is ignored). */
  saveCheckpoint(cp: StoredCheckpoint): Promise<void>;
  checkpoint(size: number): Promise<StoredCheckpoint | undefined>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  checkpoints(): Promise<StoredCheckpoint[]>;
}

const toBytes = (v: unknown): Uint8Array => new Uint8Array(v as Uint8Array);

/** LogStorage on node:sqlite. Tables are prefixed `tlog_` so they can share the server's database. */
export class SqliteLogStorage implements LogStorage {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;
  /** Complete subtree hashes never change, so upper levels (few nodes, read by every proof) are cached. */
  readonly #upper = new Map<string, Hash>();
  #size: number;

  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS tlog_entries (
        idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL,
        leaf_hash BLOB NOT NULL, appended_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS tlog_nodes (
        level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS tlog_entries_leaf ON tlog_entries (leaf_hash);
      CREATE TABLE IF NOT EXISTS tlog_checkpoints (
        size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL);
      CREATE TRIGGER IF NOT EXISTS tlog_entries_append_only BEFORE UPDATE ON tlog_entries
        BEGIN SELECT RAISE(ABORT, 'tlog entries are append-only'); END;
      CREATE TRIGGER IF NOT EXISTS tlog_entries_no_delete BEFORE DELETE ON tlog_entries
        BEGIN SELECT RAISE(ABORT, 'tlog entries are append-only'); END;
    `);
    this.#q = {
      size: db.prepare('SELECT COUNT(*) AS n, MAX(idx) AS maxIdx FROM tlog_entries'),
      insertEntry: db.prepare(
        'INSERT INTO tlog_entries (idx, kind, data, leaf_hash, appended_at) VALUES (?, ?, ?, ?, ?)',
      ),
      insertNode: db.prepare(
        'INSERT OR REPLACE INTO tlog_nodes (level, idx, hash) VALUES (?, ?, ?)',
      ),
      node: db.prepare('SELECT hash FROM tlog_nodes WHERE level = ? AND idx = ?'),
      byLeaf: db.prepare(
        'SELECT idx FROM tlog_entries WHERE leaf_hash = ? AND kind = ? ORDER BY idx LIMIT 1',
      ),
      entry: db.prepare(
        'SELECT idx, kind, data, leaf_hash, appended_at FROM tlog_entries WHERE idx = ?',
      ),
      entries: db.prepare(
        'SELECT idx, kind, data, leaf_hash, appended_at FROM tlog_entries WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      saveCheckpoint: db.prepare(
        'INSERT OR IGNORE INTO tlog_checkpoints (size, root, note) VALUES (?, ?, ?)',
      ),
      checkpoint: db.prepare('SELECT size, root, note FROM tlog_checkpoints WHERE size = ?'),
      latestCheckpoint: db.prepare(
        'SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1',
      ),
      checkpoints: db.prepare('SELECT size, root, note FROM tlog_checkpoints ORDER BY size'),
    };
    const row = this.#q.size!.get() as { n: number; maxIdx: number | null };
    if (row.n !== (row.maxIdx ?? -1) + 1) {
      throw new TransparencyError('LOG_CORRUPT', 'log entries are not contiguous');
    }
    this.#size = row.n;
  }

  size(): Promise<number> {
    return Promise.resolve(this.#size);
  }

  append(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number> {
    return settle(() => this.appendSync(entries));
  }

  appendOnce(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number[]> {
    // Synchronous from lookup to insert: nothing else in this process appends in between.
    return settle(() =>
      appendEachOnce(
        entries,
        (e) => (this.#q.byLeaf!.get(hashLeaf(e.data), e.kind) as { idx: number } | undefined)?.idx,
        (fresh) => this.appendSync(fresh),
      ),
    );
  }

  /** append(), for callers that hold the database in the same process. */
  appendSync(entries: readonly { kind: string; data: Uint8Array }[]): number {
    const first = this.#size;
    const now = Date.now();
    try {
      inTransaction(this.#db, () => {
        let index = first;
        for (const e of entries) {
          const leafHash = hashLeaf(e.data);
          this.#q.insertEntry!.run(index, e.kind, e.data, leafHash, now);
          appendLeafHash(
            leafHash,
            index,
            (l, i) => this.node(l, i),
            (l, i, h) => void this.#q.insertNode!.run(l, i, h),
          );
          index++;
        }
      });
    } catch (err) {
      // Nodes read during the rolled-back batch may have been cached.
      this.#upper.clear();
      throw err;
    }
    this.#size = first + entries.length;
    return first;
  }

  nodes(coords: readonly NodeCoord[]): Promise<Hash[]> {
    return settle(() => coords.map(([level, index]) => this.node(level, index)));
  }

  node(level: number, index: number): Hash {
    const key = level >= 4 ? `${level}/${index}` : undefined;
    const cached = key && this.#upper.get(key);
    if (cached) return cached;
    const row = this.#q.node!.get(level, index) as { hash: Uint8Array } | undefined;
    if (!row) throw new TransparencyError('LOG_CORRUPT', `missing tree node ${level}/${index}`);
    const hash = toBytes(row.hash);
    if (key) this.#upper.set(key, hash);
    return hash;
  }

  entry(index: number): Promise<StoredEntry> {
    return settle(() => this.#entry(index));
  }

  #entry(index: number): StoredEntry {
    const row = this.#q.entry!.get(index) as EntryRow | undefined;
    if (!row) throw new TransparencyError('ENTRY_NOT_FOUND', `no log entry ${index}`);
    return fromRow(row);
  }

  entries(start: number, end: number): Promise<StoredEntry[]> {
    return settle(() => (this.#q.entries!.all(start, end) as unknown as EntryRow[]).map(fromRow));
  }

  saveCheckpoint(cp: StoredCheckpoint): Promise<void> {
    return settle(() => void this.#q.saveCheckpoint!.run(cp.size, cp.rootHash, cp.note));
  }

  checkpoint(size: number): Promise<StoredCheckpoint | undefined> {
    return settle(() => {
      const row = this.#q.checkpoint!.get(size) as CheckpointRow | undefined;
      return row && fromCheckpointRow(row);
    });
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return settle(() => {
      const row = this.#q.latestCheckpoint!.get() as CheckpointRow | undefined;
      return row && fromCheckpointRow(row);
    });
  }

  checkpoints(): Promise<StoredCheckpoint[]> {
    return settle(() =>
      (this.#q.checkpoints!.all() as unknown as CheckpointRow[]).map(fromCheckpointRow),
    );
  }
}

interface EntryRow {
  idx: number;
  kind: string;
  data: Uint8Array;
  leaf_hash: Uint8Array;
  appended_at: number;
}

interface CheckpointRow {
  size: number;
  root: Uint8Array;
  note: string;
}

function fromRow(r: EntryRow): StoredEntry {
  return {
    index: r.idx,
    kind: r.kind,
    data: toBytes(r.data),
    leafHash: toBytes(r.leaf_hash),
    appendedAt: r.appended_at,
  };
}

function fromCheckpointRow(r: CheckpointRow): StoredCheckpoint {
  return { size: r.size, rootHash: toBytes(r.root), note: r.note };
}

type Entry = { kind: string; data: Uint8Array };

/**
 * appendOnce's bookkeeping, the same on every engine: `known` finds an entry already in the log,
 * `append` appends the rest as one batch (called only when there is one) and returns its first
 * index; a duplicate within the batch gets its first copy's index.
 */
export function appendEachOnce(
  entries: readonly Entry[],
  known: (entry: Entry) => number | undefined,
  append: (fresh: Entry[]) => number,
): number[];
export function appendEachOnce(
  entries: readonly Entry[],
  known: (entry: Entry) => number | undefined,
  append: (fresh: Entry[]) => Promise<number>,
): Promise<number[]>;
export function appendEachOnce(
  entries: readonly Entry[],
  known: (entry: Entry) => number | undefined,
  append: (fresh: Entry[]) => number | Promise<number>,
): number[] | Promise<number[]> {
  const indexes: number[] = [];
  const fresh: Entry[] = [];
  const slotOf = new Map<string, number>();
  const pending: [position: number, slot: number][] = [];
  entries.forEach((e, i) => {
    const found = known(e);
    if (found !== undefined) {
      indexes[i] = found;
      return;
    }
    const key = `${e.kind}/${Buffer.from(hashLeaf(e.data)).toString('hex')}`;
    let slot = slotOf.get(key);
    if (slot === undefined) {
      slot = fresh.push(e) - 1;
      slotOf.set(key, slot);
    }
    pending.push([i, slot]);
  });
  const fill = (first: number): number[] => {
    for (const [i, slot] of pending) indexes[i] = first + slot;
    return indexes;
  };
  if (fresh.length === 0) return indexes;
  const first = append(fresh);
  return typeof first === 'number' ? fill(first) : first.then(fill);
}
