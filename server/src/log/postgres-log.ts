import {
  anchorFromRow,
  appendEachOnce,
  appendLeafHash,
  frontier,
  hashLeaf,
  outboxStats,
  TransparencyError,
  type AnchorOutbox,
  type AnchorOutboxStats,
  type AnchorRecord,
  type AnchorRow,
  type Hash,
  type LogStorage,
  type NodeCoord,
  type StoredCheckpoint,
  type StoredEntry,
} from '@tufchain/transparency';
import type pg from 'pg';
import { inTransaction, type Queryable } from '../storage/postgres-db.js';

/**
 * The channel every append notifies, so that the anchoring replica hears of appends made by the
 * others. Payload: the new size, a space, and the appended entry kinds, comma-separated.
 */
export const LOG_CHANNEL = 'tufchain_log';

/** What a LOG_CHANNEL notification says (undefined for a payload this version cannot read). */
export function parseLogNotification(
  payload: string,
): { size: number; kinds: string[] } | undefined {
  const m = /^(\d{1,15}) ([a-z,-]*)$/.exec(payload);
  return m ? { size: Number(m[1]), kinds: m[2] ? m[2].split(',') : [] } : undefined;
}

/** A row as `pg` returns it, read column by column below. */
type Row = Record<string, unknown>;

const bytes = (v: unknown): Uint8Array => new Uint8Array(v as Buffer);
const int = (v: unknown): number => Number(v);

function entryOf(r: Row): StoredEntry {
  return {
    index: int(r.idx),
    kind: String(r.kind),
    data: bytes(r.data),
    leafHash: bytes(r.leaf_hash),
    appendedAt: int(r.appended_at),
  };
}

function checkpointOf(r: Row): StoredCheckpoint {
  return { size: int(r.size), rootHash: bytes(r.root), note: String(r.note) };
}

/**
 * The transparency log in PostgreSQL (migration `transparency log`), shared by every replica on
 * the database. Appends serialize on the one row of `tlog_size` (SELECT … FOR UPDATE), so indexes
 * stay contiguous whichever replica appends; a transaction holds the entries, their tree nodes and
 * the new size, so a replica killed mid-append leaves nothing behind. Triggers refuse UPDATE,
 * DELETE and TRUNCATE of entries, nodes and checkpoints.
 */
export class PostgresLogStorage implements LogStorage {
  readonly #pool: pg.Pool;
  /** Complete subtree hashes never change, so upper levels (read by every proof) are cached. */
  readonly #upper = new Map<string, Hash>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async size(): Promise<number> {
    const { rows } = await this.#pool.query<Row>('SELECT size FROM tlog_size');
    return int(rows[0]?.size ?? 0);
  }

  append(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number> {
    return inTransaction(this.#pool, (tx) => this.#append(tx, entries));
  }

  appendOnce(entries: readonly { kind: string; data: Uint8Array }[]): Promise<number[]> {
    return inTransaction(this.#pool, async (tx) => {
      // Looked up under the append lock (#append's first statement would take it too late).
      await tx.query<Row>('SELECT size FROM tlog_size FOR UPDATE');
      const leaves = entries.map((e) => Buffer.from(hashLeaf(e.data)));
      const found = await tx.query<Row>(
        'SELECT idx, kind, leaf_hash FROM tlog_entries WHERE leaf_hash = ANY($1::bytea[]) ORDER BY idx',
        [leaves],
      );
      const first = new Map<string, number>();
      for (const r of found.rows) {
        const key = `${String(r.kind)}/${bytes(r.leaf_hash).join(',')}`;
        if (!first.has(key)) first.set(key, int(r.idx));
      }
      return appendEachOnce(
        entries,
        (e) => first.get(`${e.kind}/${hashLeaf(e.data).join(',')}`),
        (fresh) => this.#append(tx, fresh),
      );
    });
  }

  async #append(
    tx: Queryable,
    entries: readonly { kind: string; data: Uint8Array }[],
  ): Promise<number> {
    const first = int((await tx.query<Row>('SELECT size FROM tlog_size FOR UPDATE')).rows[0]?.size);
    const known = new Map<string, Hash>();
    const edge = frontier(first);
    (await this.#fetch(edge, tx)).forEach((h, i) => known.set(edge[i]!.join('/'), h));
    const now = Date.now();
    const rows = {
      idx: [] as number[],
      kind: [] as string[],
      data: [] as Buffer[],
      leaf: [] as Buffer[],
    };
    const nodes = { level: [] as number[], idx: [] as number[], hash: [] as Buffer[] };
    entries.forEach((e, i) => {
      const leafHash = hashLeaf(e.data);
      rows.idx.push(first + i);
      rows.kind.push(e.kind);
      rows.data.push(Buffer.from(e.data));
      rows.leaf.push(Buffer.from(leafHash));
      appendLeafHash(
        leafHash,
        first + i,
        (l, j) => {
          const h = known.get(`${l}/${j}`);
          if (!h) throw new TransparencyError('LOG_CORRUPT', `missing tree node ${l}/${j}`);
          return h;
        },
        (l, j, h) => {
          known.set(`${l}/${j}`, h);
          nodes.level.push(l);
          nodes.idx.push(j);
          nodes.hash.push(Buffer.from(h));
        },
      );
    });
    await tx.query<Row>(
      `INSERT INTO tlog_entries (idx, kind, data, leaf_hash, appended_at)
       SELECT i, k, d, l, $5 FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bytea[]) AS t(i, k, d, l)`,
      [rows.idx, rows.kind, rows.data, rows.leaf, now],
    );
    await tx.query<Row>(
      `INSERT INTO tlog_nodes (level, idx, hash)
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`,
      [nodes.level, nodes.idx, nodes.hash],
    );
    await tx.query<Row>('UPDATE tlog_size SET size = $1', [first + entries.length]);
    const kinds = [...new Set(entries.map((e) => e.kind))].join(',');
    await tx.query<Row>('SELECT pg_notify($1, $2)', [
      LOG_CHANNEL,
      `${first + entries.length} ${kinds}`,
    ]);
    return first;
  }

  async nodes(coords: readonly NodeCoord[]): Promise<Hash[]> {
    const missing = coords.filter(([l, i]) => !(l >= 4 && this.#upper.has(`${l}/${i}`)));
    const fetched = new Map<string, Hash>();
    (await this.#fetch(missing, this.#pool)).forEach((h, i) => {
      const [l, j] = missing[i]!;
      fetched.set(`${l}/${j}`, h);
      if (l >= 4) this.#upper.set(`${l}/${j}`, h);
    });
    return coords.map(([l, i]) => fetched.get(`${l}/${i}`) ?? this.#upper.get(`${l}/${i}`)!);
  }

  async #fetch(coords: readonly NodeCoord[], db: Queryable): Promise<Hash[]> {
    if (coords.length === 0) return [];
    const { rows } = await db.query<Row>(
      `SELECT n.level, n.idx, n.hash FROM unnest($1::int[], $2::bigint[]) AS c(level, idx)
       JOIN tlog_nodes n ON n.level = c.level AND n.idx = c.idx`,
      [coords.map((c) => c[0]), coords.map((c) => c[1])],
    );
    const found = new Map(rows.map((r) => [`${int(r.level)}/${int(r.idx)}`, bytes(r.hash)]));
    return coords.map(([l, i]) => {
      const h = found.get(`${l}/${i}`);
      if (!h) throw new TransparencyError('LOG_CORRUPT', `missing tree node ${l}/${i}`);
      return h;
    });
  }

  async entry(index: number): Promise<StoredEntry> {
    const { rows } = await this.#pool.query<Row>(
      'SELECT idx, kind, data, leaf_hash, appended_at FROM tlog_entries WHERE idx = $1',
      [index],
    );
    if (!rows[0]) throw new TransparencyError('ENTRY_NOT_FOUND', `no log entry ${index}`);
    return entryOf(rows[0]);
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT idx, kind, data, leaf_hash, appended_at FROM tlog_entries
       WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
      [start, end],
    );
    return rows.map(entryOf);
  }

  async saveCheckpoint(cp: StoredCheckpoint): Promise<void> {
    await this.#pool.query<Row>(
      'INSERT INTO tlog_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING',
      [cp.size, Buffer.from(cp.rootHash), cp.note],
    );
  }

  async checkpoint(size: number): Promise<StoredCheckpoint | undefined> {
    const { rows } = await this.#pool.query<Row>(
      'SELECT size, root, note FROM tlog_checkpoints WHERE size = $1',
      [size],
    );
    return rows[0] && checkpointOf(rows[0]);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const { rows } = await this.#pool.query<Row>(
      'SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1',
    );
    return rows[0] && checkpointOf(rows[0]);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    const { rows } = await this.#pool.query<Row>(
      'SELECT size, root, note FROM tlog_checkpoints ORDER BY size',
    );
    return rows.map(checkpointOf);
  }
}

/**
 * The anchoring outbox in PostgreSQL (`tlog_anchors`). One replica at a time drives it (the
 * holder of the anchoring lease); because it is shared, a replica that takes over finds what the
 * last one signed and follows that transaction instead of signing another.
 */
export class PostgresAnchorOutbox implements AnchorOutbox {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #one(sql: string, params: unknown[]): Promise<AnchorRecord | undefined> {
    const { rows } = await this.#pool.query<Row>(sql, params);
    return rows[0] && anchorFromRow(anchorRow(rows[0]));
  }

  async #run(sql: string, params: unknown[]): Promise<void> {
    await this.#pool.query<Row>(sql, params);
  }

  enqueue(size: number, rootHash: string): Promise<AnchorRecord | undefined> {
    return this.#one(
      `INSERT INTO tlog_anchors (size, root, status, updated_at)
       SELECT $1, $2, 'pending', $3
       WHERE $1 > (SELECT COALESCE(MAX(size), 0) FROM tlog_anchors)
       ON CONFLICT (size) DO NOTHING RETURNING *`,
      [size, rootHash, Date.now()],
    );
  }

  async maxSize(): Promise<number> {
    const { rows } = await this.#pool.query<Row>(
      'SELECT COALESCE(MAX(size), 0) AS m FROM tlog_anchors',
    );
    return int(rows[0]?.m);
  }

  async stats(): Promise<AnchorOutboxStats> {
    const open = await this.#pool.query<Row>(
      `SELECT status, COUNT(*) AS n, MIN(updated_at) AS oldest, SUM(attempts) AS attempts
       FROM tlog_anchors WHERE status IN ('pending', 'sent') GROUP BY status`,
    );
    const last = await this.#pool.query<Row>(
      `SELECT size, updated_at FROM tlog_anchors WHERE status = 'confirmed' ORDER BY size DESC LIMIT 1`,
    );
    return outboxStats(
      open.rows.map((r) => ({
        status: r.status as 'pending' | 'sent',
        n: int(r.n),
        oldest: int(r.oldest),
        attempts: int(r.attempts),
      })),
      last.rows[0] && { size: int(last.rows[0].size), updated_at: int(last.rows[0].updated_at) },
    );
  }

  get(size: number): Promise<AnchorRecord | undefined> {
    return this.#one('SELECT * FROM tlog_anchors WHERE size = $1', [size]);
  }

  async open(): Promise<AnchorRecord[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT * FROM tlog_anchors WHERE status IN ('pending', 'sent') ORDER BY size`,
    );
    return rows.map((r) => anchorFromRow(anchorRow(r)));
  }

  async all(): Promise<AnchorRecord[]> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM tlog_anchors ORDER BY size');
    return rows.map((r) => anchorFromRow(anchorRow(r)));
  }

  covering(index: number): Promise<AnchorRecord | undefined> {
    return this.#one(
      `SELECT * FROM tlog_anchors WHERE status = 'confirmed' AND size >= $1 ORDER BY size LIMIT 1`,
      [index + 1],
    );
  }

  markSent(size: number, txHash: string, rawTx: string, nonce: number): Promise<void> {
    return this.#run(
      `UPDATE tlog_anchors SET status = 'sent', tx_hash = $1, raw_tx = $2, nonce = $3,
       attempts = attempts + 1, updated_at = $4 WHERE size = $5`,
      [txHash, rawTx, nonce, Date.now(), size],
    );
  }

  markPending(size: number): Promise<void> {
    return this.#run(
      `UPDATE tlog_anchors SET status = 'pending', tx_hash = NULL, raw_tx = NULL, nonce = NULL,
       updated_at = $1 WHERE size = $2`,
      [Date.now(), size],
    );
  }

  markConfirmed(
    size: number,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void> {
    return this.#run(
      `UPDATE tlog_anchors SET status = 'confirmed', tx_hash = $1, block_number = $2,
       block_hash = $3, updated_at = $4 WHERE size = $5`,
      [txHash, blockNumber, blockHash, Date.now(), size],
    );
  }

  markCovered(size: number, by: number): Promise<void> {
    return this.#run(
      `UPDATE tlog_anchors SET status = 'covered', covered_by = $1, updated_at = $2
       WHERE size = $3 AND status = 'pending'`,
      [by, Date.now(), size],
    );
  }

  recordConfirmed(
    size: number,
    rootHash: string,
    txHash: string,
    blockNumber: number,
    blockHash: string,
  ): Promise<void> {
    return this.#run(
      `INSERT INTO tlog_anchors (size, root, status, tx_hash, block_number, block_hash, updated_at)
       VALUES ($1, $2, 'confirmed', $3, $4, $5, $6)
       ON CONFLICT (size) DO UPDATE SET status = 'confirmed', tx_hash = excluded.tx_hash,
         block_number = excluded.block_number, block_hash = excluded.block_hash,
         updated_at = excluded.updated_at`,
      [size, rootHash, txHash, blockNumber, blockHash, Date.now()],
    );
  }
}

/** BIGINT columns arrive as strings from `pg`; the shared row mapper wants numbers. */
function anchorRow(r: Row): AnchorRow {
  const n = (v: unknown) => (v === null ? null : int(v));
  return {
    size: int(r.size),
    root: String(r.root),
    status: r.status as AnchorRow['status'],
    tx_hash: (r.tx_hash as string | null) ?? null,
    raw_tx: (r.raw_tx as string | null) ?? null,
    nonce: n(r.nonce),
    block_number: n(r.block_number),
    block_hash: (r.block_hash as string | null) ?? null,
    covered_by: n(r.covered_by),
    attempts: int(r.attempts),
    updated_at: int(r.updated_at),
  };
}
