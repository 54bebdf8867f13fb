/**
 * The transparency log's storage (LogStorage) and anchoring outbox (AnchorOutbox) contracts, run
 * against both engines: SQLite (the log's own file) and PostgreSQL (a real cluster on loopback,
 * one database per case). What the log, the anchoring service and the auditor rely on; an engine
 * that breaks a case is wrong whatever its own tests say.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hashLeaf,
  MemoryTree,
  openLogDatabase,
  SqliteAnchorOutbox,
  SqliteLogStorage,
  treeRoot,
  withNodes,
  type AnchorOutbox,
  type LogStorage,
} from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/storage/postgres-store.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

interface Stores {
  storage: LogStorage;
  outbox: AnchorOutbox;
}

let cluster: TestPostgres;
const cleanups: (() => Promise<void>)[] = [];

const engines: { name: string; open(): Promise<Stores> }[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'tufchain-log-contract-'));
      const db = openLogDatabase(join(dir, 'log.sqlite'));
      cleanups.push(async () => {
        db.close();
        await rm(dir, { recursive: true, force: true });
      });
      return { storage: new SqliteLogStorage(db), outbox: new SqliteAnchorOutbox(db) };
    },
  },
  {
    name: 'postgres',
    async open() {
      const store = await PostgresStore.open({ connectionString: await cluster.createDatabase() });
      cleanups.push(() => store.close());
      return store.logStores();
    },
  },
];

beforeAll(async () => {
  cluster = await startTestPostgres();
});
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  await cluster.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);
const entry = (n: number) => ({ kind: 'recall', data: bytes(`{"n":${n}}`) });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe.each(engines)('LogStorage and AnchorOutbox on $name', (engine) => {
  it('appends batches with contiguous indexes, reads them back, and keeps every subtree hash', async () => {
    const { storage } = await engine.open();
    expect(await storage.size()).toBe(0);
    expect(await storage.append([entry(0), entry(1), entry(2)])).toBe(0);
    expect(await storage.append([entry(3)])).toBe(3);
    const first = await storage.append(Array.from({ length: 29 }, (_, i) => entry(4 + i)));
    expect(first).toBe(4);
    expect(await storage.size()).toBe(33);

    const all = await storage.entries(0, 100);
    expect(all.map((e) => e.index)).toEqual(Array.from({ length: 33 }, (_, i) => i));
    expect(all[5]!.kind).toBe('recall');
    expect(new TextDecoder().decode(all[5]!.data)).toBe('{"n":5}');
    expect(hex(all[5]!.leafHash)).toBe(hex(hashLeaf(all[5]!.data)));
    expect((await storage.entry(32)).index).toBe(32);
    expect((await storage.entries(10, 12)).map((e) => e.index)).toEqual([10, 11]);
    await expect(storage.entry(33)).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });

    const mem = new MemoryTree();
    for (const e of all) mem.append(e.data);
    for (const size of [1, 2, 3, 4, 7, 8, 16, 31, 32, 33]) {
      const root = await withNodes(
        (c) => storage.nodes(c),
        (src) => treeRoot(src, size),
      );
      expect(hex(root)).toBe(hex(mem.root(size)));
    }
    // A complete subtree the log has not reached yet is missing, not invented.
    await expect(storage.nodes([[6, 0]])).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
  });

  it('appends an entry once per kind and bytes (appendOnce)', async () => {
    const { storage } = await engine.open();
    await storage.append([entry(0)]);
    const report = { kind: 'install-attestation', data: bytes('{"report":1}') };
    expect(await storage.appendOnce([report])).toEqual([1]);
    expect(await storage.appendOnce([report])).toEqual([1]);
    expect(await storage.appendOnce([{ ...report, kind: 'recall' }])).toEqual([2]);
    // A batch: one already logged, two new, and a duplicate within the batch.
    const other = { ...report, data: bytes('{"report":2}') };
    const third = { ...report, data: bytes('{"report":3}') };
    expect(await storage.appendOnce([other, report, third, other])).toEqual([3, 1, 4, 3]);
    expect(await storage.appendOnce([report, other])).toEqual([1, 3]);
    expect(await storage.size()).toBe(5);
    const mem = new MemoryTree();
    for (const e of await storage.entries(0, 5)) mem.append(e.data);
    const root = await withNodes(
      (c) => storage.nodes(c),
      (src) => treeRoot(src, 5),
    );
    expect(hex(root)).toBe(hex(mem.root()));
  });

  it('keeps the first checkpoint saved for a size, and lists them by size', async () => {
    const { storage } = await engine.open();
    await storage.append([entry(0), entry(1)]);
    const root = new Uint8Array(32).fill(7);
    await storage.saveCheckpoint({ size: 2, rootHash: root, note: 'first' });
    await storage.saveCheckpoint({ size: 2, rootHash: root, note: 'second' });
    await storage.saveCheckpoint({ size: 1, rootHash: root, note: 'one' });
    expect((await storage.checkpoint(2))?.note).toBe('first');
    expect(hex((await storage.checkpoint(2))!.rootHash)).toBe(hex(root));
    expect(await storage.checkpoint(3)).toBeUndefined();
    expect((await storage.latestCheckpoint())?.size).toBe(2);
    expect((await storage.checkpoints()).map((c) => c.note)).toEqual(['one', 'first']);
  });

  it('queues only growing sizes, and walks a record through sent, pending, covered and confirmed', async () => {
    const { outbox } = await engine.open();
    expect(await outbox.maxSize()).toBe(0);
    expect(await outbox.stats()).toMatchObject({ pending: 0, sent: 0, lastConfirmedSize: 0 });
    expect(await outbox.enqueue(5, '0x05')).toMatchObject({ size: 5, status: 'pending' });
    expect(await outbox.enqueue(5, '0x05')).toBeUndefined();
    expect(await outbox.enqueue(3, '0x03')).toBeUndefined();
    await outbox.enqueue(9, '0x09');
    expect(await outbox.maxSize()).toBe(9);

    await outbox.markSent(9, '0xtx1', '0xraw', 4);
    expect(await outbox.get(9)).toMatchObject({
      status: 'sent',
      txHash: '0xtx1',
      rawTx: '0xraw',
      nonce: 4,
      attempts: 1,
    });
    const stats = await outbox.stats();
    expect(stats).toMatchObject({ pending: 1, sent: 1, openAttempts: 1 });
    expect(stats.oldestOpenSince).toBeGreaterThan(0);
    await outbox.markPending(9);
    expect(await outbox.get(9)).toMatchObject({ status: 'pending', txHash: null, nonce: null });
    await outbox.markCovered(5, 9);
    expect(await outbox.get(5)).toMatchObject({ status: 'covered', coveredBy: 9 });
    expect((await outbox.open()).map((r) => r.size)).toEqual([9]);
    await outbox.markSent(9, '0xtx2', '0xraw2', 5);
    await outbox.markConfirmed(9, '0xtx2', 120, '0xblock');
    expect(await outbox.get(9)).toMatchObject({
      status: 'confirmed',
      blockNumber: 120,
      blockHash: '0xblock',
      attempts: 2,
    });
    expect(await outbox.open()).toEqual([]);
    expect((await outbox.covering(0))?.size).toBe(9);
    expect((await outbox.covering(8))?.size).toBe(9);
    expect(await outbox.covering(9)).toBeUndefined();
    expect(await outbox.stats()).toMatchObject({ pending: 0, sent: 0, lastConfirmedSize: 9 });
  });

  it('records an anchor found on chain, over a queued record or as a new one', async () => {
    const { outbox } = await engine.open();
    await outbox.enqueue(4, '0x04');
    await outbox.recordConfirmed(4, '0x04', '0xtx', 10, '0xb1');
    await outbox.recordConfirmed(12, '0x12', '0xtx12', 11, '0xb2');
    expect((await outbox.all()).map((r) => [r.size, r.status, r.blockNumber])).toEqual([
      [4, 'confirmed', 10],
      [12, 'confirmed', 11],
    ]);
    expect((await outbox.covering(5))?.size).toBe(12);
  });
});
