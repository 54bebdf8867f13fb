import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createNoteSigner,
  createNoteVerifier,
  hashLeaf,
  MemoryTree,
  openCheckpoint,
  openLogDatabase,
  SqliteLogStorage,
  TransparencyError,
  TransparencyLog,
  verifyConsistency,
  verifyInclusion,
  type LogEntryDocument,
  type LogStorage,
} from '../src/index.js';

const ORIGIN = 'tufchain.test/log';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = createNoteSigner(ORIGIN, privateKey);
const verifier = createNoteVerifier(ORIGIN, publicKey);

let dir: string;
let db: DatabaseSync;

const recall = (i: number): LogEntryDocument => ({
  type: 'recall',
  subject: '0x' + i.toString(16).padStart(64, '0'),
  reason: `r${i}`,
});

function openLog(): TransparencyLog {
  db = openLogDatabase(join(dir, 'log.sqlite'));
  return new TransparencyLog({
    storage: new SqliteLogStorage(db),
    origin: ORIGIN,
    signers: [signer],
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-log-'));
});

afterEach(async () => {
  db?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('TransparencyLog on SQLite', () => {
  it('serves the same roots and proofs as an in-memory tree, for any size, after a reopen', async () => {
    let log = openLog();
    const mem = new MemoryTree();
    const n = 1500;
    for (let i = 0; i < n; i += 100) {
      const docs = Array.from({ length: 100 }, (_, j) => recall(i + j));
      await log.append(...docs);
    }
    for (let i = 0; i < n; i++) mem.appendHash((await log.entry(i)).leafHash);
    db.close();
    log = openLog();
    expect(await log.size()).toBe(n);
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: n })
          .chain((size) => fc.tuple(fc.nat(size - 1), fc.constant(size), fc.nat(size))),
        async ([index, size, old]) => {
          const root = await log.root(size);
          expect(Buffer.from(root).equals(mem.root(size))).toBe(true);
          verifyInclusion(
            hashLeaf((await log.entry(index)).data),
            index,
            size,
            await log.inclusionProof(index, size),
            root,
          );
          verifyConsistency(
            old,
            size,
            await log.root(old),
            root,
            await log.consistencyProof(old, size),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('signs checkpoints once per size that verify as C2SP checkpoints', async () => {
    const log = openLog();
    await log.append(recall(1), recall(2), recall(3));
    const cp = await log.checkpoint();
    expect(await log.checkpoint()).toEqual(cp);
    const opened = openCheckpoint(cp.note, [verifier], ORIGIN);
    expect(opened.size).toBe(3);
    expect(Buffer.from(opened.rootHash).equals(await log.root(3))).toBe(true);
  });

  it('rolls back a batch that fails midway, so no partial entry survives', async () => {
    const log = openLog();
    await log.append(recall(1));
    const storage = log.storage;
    await expect(
      storage.append([
        { kind: 'recall', data: new Uint8Array([1]) },
        { kind: null as never, data: new Uint8Array([2]) },
      ]),
    ).rejects.toThrow();
    expect(await log.size()).toBe(1);
    db.close();
    expect(await openLog().size()).toBe(1);
  });

  it('serves correct proofs after a failed batch that had completed an upper subtree', async () => {
    const log = openLog();
    await log.append(...Array.from({ length: 31 }, (_, i) => recall(i)));
    const storage = log.storage;
    const bad = [
      { kind: 'recall', data: new Uint8Array([9]) }, // completes node(5, 0)
      ...Array.from({ length: 40 }, (_, i) => ({ kind: 'recall', data: new Uint8Array([10, i]) })),
      { kind: null as never, data: new Uint8Array([2]) },
    ];
    await expect(storage.append(bad)).rejects.toThrow();
    // Read upper nodes again, then append different entries over the same positions.
    await log.append(...Array.from({ length: 40 }, (_, i) => recall(1000 + i)));
    const mem = new MemoryTree();
    for (const e of await storage.entries(0, await log.size())) mem.append(e.data);
    for (const size of [32, 48, 64, 71]) {
      expect(Buffer.from(await log.root(size)).equals(mem.root(size))).toBe(true);
    }
  });

  it('appends an entry once (appendOnce): the same kind and bytes again get the first index, after a reopen too', async () => {
    let log = openLog();
    await log.append(recall(1));
    const report = { type: 'install-attestation' as const, bundle: { dsseEnvelope: { n: 1 } } };
    const first = await log.appendOnce(report);
    expect(first).toBe(1);
    expect(await log.appendOnce(report)).toBe(1);
    // Another report, and the same bytes under another kind (a recall repeated), are new entries.
    expect(
      await log.appendOnce({ type: 'install-attestation', bundle: { dsseEnvelope: { n: 2 } } }),
    ).toBe(2);
    await log.append(recall(1));
    expect(await log.size()).toBe(4);
    db.close();
    log = openLog();
    expect(await log.appendOnce(report)).toBe(1);
    expect(await log.size()).toBe(4);
  });

  it('writes concurrent appendOnce calls as a few batches (group commit), each report once', async () => {
    db = openLogDatabase(join(dir, 'log.sqlite'));
    const storage = new SqliteLogStorage(db);
    const batches: number[] = [];
    let failNext = false;
    // The real storage, counting (and on demand refusing) appendOnce batches.
    const counting: LogStorage = {
      size: () => storage.size(),
      append: (e) => storage.append(e),
      nodes: (c) => storage.nodes(c),
      entry: (i) => storage.entry(i),
      entries: (a, b) => storage.entries(a, b),
      saveCheckpoint: (cp) => storage.saveCheckpoint(cp),
      checkpoint: (n) => storage.checkpoint(n),
      latestCheckpoint: () => storage.latestCheckpoint(),
      checkpoints: () => storage.checkpoints(),
      appendOnce(entries) {
        batches.push(entries.length);
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('storage down'));
        }
        return storage.appendOnce(entries);
      },
    };
    const log = new TransparencyLog({ storage: counting, origin: ORIGIN, signers: [signer] });
    const report = (n: number) => ({
      type: 'install-attestation' as const,
      bundle: { dsseEnvelope: { n } },
    });
    const indexes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => log.appendOnce(report(i % 20))),
    );
    expect(batches.reduce((a, b) => a + b, 0)).toBe(60);
    expect(batches.length).toBeLessThan(60);
    expect(new Set(indexes).size).toBe(20);
    for (let i = 0; i < 60; i++) expect(indexes[i]).toBe(indexes[i % 20]);
    expect(await log.size()).toBe(20);

    // A batch the storage refuses fails every call in it, and the next batch goes through.
    failNext = true;
    const failed = await Promise.allSettled([log.appendOnce(report(100))]);
    expect(failed[0].status).toBe('rejected');
    expect(await log.appendOnce(report(100))).toBe(20);
  });

  it('refuses to rewrite or delete entries at the database level', async () => {
    const log = openLog();
    await log.append(recall(1));
    expect(() => db.exec("UPDATE tlog_entries SET kind = 'x'")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM tlog_entries')).toThrow(/append-only/);
    expect(await log.size()).toBe(1);
  });

  it('rejects an entry that carries a VIN in clear with PERSONAL_DATA_REJECTED', async () => {
    const log = openLog();
    const payload = Buffer.from(
      JSON.stringify({ predicate: { vehicle: { vin: 'WVWZZZ1JZXW000001' } } }),
    ).toString('base64');
    expect(
      await codeOf(
        log.append({ type: 'install-attestation', bundle: { dsseEnvelope: { payload } } }),
      ),
    ).toBe('PERSONAL_DATA_REJECTED');
    expect(
      await codeOf(log.append({ type: 'recall', subject: 'WVWZZZ1JZXW000001', reason: 'x' })),
    ).toBe('PERSONAL_DATA_REJECTED');
    expect(await log.size()).toBe(0);
  });

  it('rejects with TREE_SIZE_INVALID / INDEX_OUT_OF_RANGE / ENTRY_NOT_FOUND beyond the log', async () => {
    const log = openLog();
    await log.append(recall(1));
    expect(await codeOf(log.root(2))).toBe('TREE_SIZE_INVALID');
    expect(await codeOf(log.inclusionProof(1))).toBe('INDEX_OUT_OF_RANGE');
    expect(await codeOf(log.entry(5))).toBe('ENTRY_NOT_FOUND');
  });
});
