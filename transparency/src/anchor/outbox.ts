import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { settle } from '../util/settle.js';

export type AnchorStatus = 'pending' | 'sent' | 'confirmed' | 'covered';

/** One checkpoint to anchor, and what happened to it. Durable: it survives crashes and outages. */
export interface AnchorRecord {
  size: number;
  rootHash: string;
  status: AnchorStatus;
  txHash: string | null;
  rawTx: string | null;
  nonce: number | null;
  blockNumber: number | null;
  blockHash: string | null;
  /** For `covered`: the size of the anchor that includes this one. */
  coveredBy: number | null;
  attempts: number;
  updatedAt: number;
}

/** A row of `tlog_anchors`, as both engines store it. */
export interface AnchorRow {
  size: number;
  root: string;
  status: AnchorStatus;
  tx_hash: string | null;
  raw_tx: string | null;
  nonce: number | null;
  block_number: number | null;
  block_hash: string | null;
  covered_by: number | null;
  attempts: number;
  updated_at: number;
}

export const anchorFromRow = (r: AnchorRow): AnchorRecord => ({
  size: r.size,
  rootHash: r.root,
  status: r.status,
  txHash: r.tx_hash,
  rawTx: r.raw_tx,
  nonce: r.nonce,
  blockNumber: r.block_number,
  blockHash: r.block_hash,
  coveredBy: r.covered_by,
  attempts: r.attempts,
  updatedAt: r.updated_at,
});

/** What the outbox holds, for health checks and metrics. */
export interface AnchorOutboxStats {
  pending: number;
  sent: number;
  /** Last state change of the oldest open (pending or sent) record, ms since the epoch. */
  oldestOpenSince: number | null;
  /** Anchoring transactions signed for the open records (0 while they were never sent). */
  openAttempts: number;
  /** When the latest confirmed anchor was recorded, ms since the epoch. */
  lastConfirmedAt: number | null;
  /** Tree size of the latest confirmed anchor (0 when none). */
  lastConfirmedSize: number;
}

/**
 * The anchoring outbox (table `tlog_anchors`): durable, so that a crash, an RPC outage or a
 * failover to another replica loses no checkpoint and signs no second transaction for one.
 */
export interface AnchorOutbox {
  /** Queues a checkpoint unless one of the same or a larger size is already queued. */
  enqueue(size: number, rootHash: string): Promise<AnchorRecord | undefined>;
  /** The largest size ever queued (0 when none). */
  maxSize(): Promise<number>;
  stats(): Promise<AnchorOutboxStats>;
  get(size: number): Promise<AnchorRecord | undefined>;
  /** Pending and sent records, by size. */
  open(): Promise<AnchorRecord[]>;
  all(): Promise<AnchorRecord[]>;
  /** The first confirmed anchor whose tree includes leaf index `index`. */
  covering(index: number): Promise<AnchorRecord | undefined>;
  markSent(size: number, txHash: string, rawTx: string, nonce: number): Promise<void>;
  markPending(size: number): Promise<void>;
  markConfirmed(
    size: number,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void>;
  /** Marks a pending record as included in the anchor of size `by`. */
  markCovered(size: number, by: number): Promise<void>;
  /** Records an anchor found on chain (inserting it if this outbox never queued that size). */
  recordConfirmed(
    size: number,
    rootHash: string,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void>;
}

/** Adds up the open-record groups and the latest confirmed anchor, the same on both engines. */
export function outboxStats(
  open: readonly { status: 'pending' | 'sent'; n: number; oldest: number; attempts: number }[],
  lastConfirmed: { size: number; updated_at: number } | undefined,
): AnchorOutboxStats {
  const out: AnchorOutboxStats = {
    pending: 0,
    sent: 0,
    oldestOpenSince: null,
    openAttempts: 0,
    lastConfirmedAt: null,
    lastConfirmedSize: 0,
  };
  for (const row of open) {
    out[row.status] = row.n;
    out.openAttempts += row.attempts;
    out.oldestOpenSince = Math.min(out.oldestOpenSince ?? row.oldest, row.oldest);
  }
  if (lastConfirmed) {
    out.lastConfirmedAt = lastConfirmed.updated_at;
    out.lastConfirmedSize = lastConfirmed.size;
  }
  return out;
}

/** The outbox in the log's SQLite database. */
export class SqliteAnchorOutbox implements AnchorOutbox {
  readonly #q: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS tlog_anchors (
        size INTEGER PRIMARY KEY, root TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'confirmed', 'covered')),
        tx_hash TEXT, raw_tx TEXT, nonce INTEGER, block_number INTEGER, block_hash TEXT,
        covered_by INTEGER, attempts INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS tlog_anchors_status ON tlog_anchors (status, size);
    `);
    this.#q = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO tlog_anchors (size, root, status, updated_at) VALUES (?, ?, 'pending', ?)`,
      ),
      get: db.prepare('SELECT * FROM tlog_anchors WHERE size = ?'),
      maxSize: db.prepare('SELECT MAX(size) AS m FROM tlog_anchors'),
      open: db.prepare(
        `SELECT * FROM tlog_anchors WHERE status IN ('pending', 'sent') ORDER BY size`,
      ),
      all: db.prepare('SELECT * FROM tlog_anchors ORDER BY size'),
      openStats: db.prepare(
        `SELECT status, COUNT(*) AS n, MIN(updated_at) AS oldest, SUM(attempts) AS attempts
         FROM tlog_anchors WHERE status IN ('pending', 'sent') GROUP BY status`,
      ),
      lastConfirmed: db.prepare(
        `SELECT size, updated_at FROM tlog_anchors WHERE status = 'confirmed' ORDER BY size DESC LIMIT 1`,
      ),
      covering: db.prepare(
        `SELECT * FROM tlog_anchors WHERE status = 'confirmed' AND size >= ? ORDER BY size LIMIT 1`,
      ),
      markSent: db.prepare(
        `UPDATE tlog_anchors SET status = 'sent', tx_hash = ?, raw_tx = ?, nonce = ?, attempts = attempts + 1, updated_at = ? WHERE size = ?`,
      ),
      markPending: db.prepare(
        `UPDATE tlog_anchors SET status = 'pending', tx_hash = NULL, raw_tx = NULL, nonce = NULL, updated_at = ? WHERE size = ?`,
      ),
      markConfirmed: db.prepare(
        `UPDATE tlog_anchors SET status = 'confirmed', tx_hash = ?, block_number = ?, block_hash = ?, updated_at = ? WHERE size = ?`,
      ),
      markCovered: db.prepare(
        `UPDATE tlog_anchors SET status = 'covered', covered_by = ?, updated_at = ? WHERE size = ? AND status = 'pending'`,
      ),
      upsertConfirmed: db.prepare(
        `INSERT INTO tlog_anchors (size, root, status, tx_hash, block_number, block_hash, updated_at) VALUES (?, ?, 'confirmed', ?, ?, ?, ?)
         ON CONFLICT (size) DO UPDATE SET status = 'confirmed', tx_hash = excluded.tx_hash, block_number = excluded.block_number,
         block_hash = excluded.block_hash, updated_at = excluded.updated_at`,
      ),
    };
  }

  enqueue(size: number, rootHash: string): Promise<AnchorRecord | undefined> {
    return settle(() => {
      if (size <= this.#maxSize()) return undefined;
      this.#q.insert!.run(size, rootHash, Date.now());
      return this.#get(size);
    });
  }

  maxSize(): Promise<number> {
    return settle(() => this.#maxSize());
  }

  #maxSize(): number {
    return (this.#q.maxSize!.get() as { m: number | null }).m ?? 0;
  }

  stats(): Promise<AnchorOutboxStats> {
    return settle(() =>
      outboxStats(
        this.#q.openStats!.all() as {
          status: 'pending' | 'sent';
          n: number;
          oldest: number;
          attempts: number;
        }[],
        this.#q.lastConfirmed!.get() as { size: number; updated_at: number } | undefined,
      ),
    );
  }

  get(size: number): Promise<AnchorRecord | undefined> {
    return settle(() => this.#get(size));
  }

  #get(size: number): AnchorRecord | undefined {
    const row = this.#q.get!.get(size) as AnchorRow | undefined;
    return row && anchorFromRow(row);
  }

  open(): Promise<AnchorRecord[]> {
    return settle(() => (this.#q.open!.all() as unknown as AnchorRow[]).map(anchorFromRow));
  }

  all(): Promise<AnchorRecord[]> {
    return settle(() => (this.#q.all!.all() as unknown as AnchorRow[]).map(anchorFromRow));
  }

  covering(index: number): Promise<AnchorRecord | undefined> {
    return settle(() => {
      const row = this.#q.covering!.get(index + 1) as AnchorRow | undefined;
      return row && anchorFromRow(row);
    });
  }

  markSent(size: number, txHash: string, rawTx: string, nonce: number): Promise<void> {
    return settle(() => void this.#q.markSent!.run(txHash, rawTx, nonce, Date.now(), size));
  }

  markPending(size: number): Promise<void> {
    return settle(() => void this.#q.markPending!.run(Date.now(), size));
  }

  markConfirmed(
    size: number,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void> {
    return settle(
      () => void this.#q.markConfirmed!.run(txHash, blockNumber, blockHash, Date.now(), size),
    );
  }

  markCovered(size: number, by: number): Promise<void> {
    return settle(() => void this.#q.markCovered!.run(by, Date.now(), size));
  }

  recordConfirmed(
    size: number,
    rootHash: string,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void> {
    return settle(
      () =>
        void this.#q.upsertConfirmed!.run(
          size,
          rootHash,
          txHash,
          blockNumber,
          blockHash,
          Date.now(),
        ),
    );
  }
}
