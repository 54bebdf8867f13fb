import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  hashLeaf,
  MemoryTree,
  TransparencyLog,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  verifyProofBundle,
  withNodes,
  createNoteSigner,
  createNoteVerifier,
  type LogEntryDocument,
} from '@tufchain/transparency';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServerLog, type ServerLog } from '../src/log/open.js';
import { PostgresStore } from '../src/storage/postgres-store.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

const CHILD = fileURLToPath(new URL('./support/pg-log-writer-child.ts', import.meta.url));
const ORIGIN = 'tufchain.test/pg-log';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const recall = (n: number): LogEntryDocument => ({
  type: 'recall',
  subject: '0x' + n.toString(16).padStart(64, '0'),
  reason: `recall ${n}`,
});
const signer = createNoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);

let postgres: TestPostgres;
const stores: PostgresStore[] = [];
beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await postgres?.stop();
});

/** Two stores on one new database, each with a pool of its own, as two replicas have. */
async function twoReplicas(): Promise<{ url: string; a: PostgresStore; b: PostgresStore }> {
  const url = await postgres.createDatabase();
  const [a, b] = await Promise.all([
    PostgresStore.open({ connectionString: url }),
    PostgresStore.open({ connectionString: url }),
  ]);
  stores.push(a, b);
  return { url, a, b };
}

const logOn = (store: PostgresStore) =>
  new TransparencyLog({ storage: store.logStores().storage, origin: ORIGIN, signers: [signer] });

/** The stored entries replayed into an in-memory tree (the reference the proofs must match). */
async function replay(log: TransparencyLog): Promise<MemoryTree> {
  const mem = new MemoryTree();
  for (const e of await log.storage.entries(0, await log.size())) mem.append(e.data);
  return mem;
}

describe('the transparency log in PostgreSQL, shared by replicas', () => {
  it('gives concurrent appends from two replicas contiguous indexes, each entry once, and RFC 9162 proofs', async () => {
    const { a, b } = await twoReplicas();
    const logs = [logOn(a), logOn(b)];
    const indexes = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        logs[i % 2]!.append(recall(3 * i), recall(3 * i + 1), recall(3 * i + 2)),
      ),
    );
    const size = await logs[0]!.size();
    expect(size).toBe(72);
    expect(await logs[1]!.size()).toBe(72);
    // Each batch got three consecutive indexes, and together they cover [0, 72) once.
    for (const batch of indexes) expect(batch).toEqual([batch[0]!, batch[0]! + 1, batch[0]! + 2]);
    expect(indexes.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 72 }, (_, i) => i));
    const subjects = (await logs[1]!.storage.entries(0, size)).map(
      (e) => (JSON.parse(Buffer.from(e.data).toString()) as { subject: string }).subject,
    );
    expect(new Set(subjects).size).toBe(72);

    const mem = await replay(logs[0]!);
    for (const s of [1, 2, 5, 31, 32, 33, 64, 71, 72]) {
      const root = await logs[s % 2]!.root(s);
      expect(Buffer.from(root).equals(mem.root(s))).toBe(true);
      for (const index of [0, s - 1, Math.floor(s / 2)]) {
        const leaf = hashLeaf((await logs[0]!.entry(index)).data);
        verifyInclusion(leaf, index, s, await logs[1]!.inclusionProof(index, s), root);
      }
      for (const old of [1, Math.floor(s / 3), s]) {
        if (old < 1) continue;
        const proof = await logs[0]!.consistencyProof(old, s);
        verifyConsistency(old, s, await logs[1]!.root(old), root, proof);
      }
    }
    // Both replicas agree on one checkpoint per size, whoever signed it first.
    const [cpA, cpB] = await Promise.all([logs[0]!.checkpoint(72), logs[1]!.checkpoint(72)]);
    expect(cpB.note).toBe(cpA.note);
    expect((await logs[1]!.storage.checkpoints()).map((c) => c.size)).toEqual([72]);
    await expect(logs[0]!.root(73)).rejects.toMatchObject({ code: 'TREE_SIZE_INVALID' });
    await expect(logs[0]!.entry(72)).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
  });

  it('appends one install report once when both replicas append it at the same moment (appendOnce)', async () => {
    const { a, b } = await twoReplicas();
    const logs = [logOn(a), logOn(b)];
    await logs[0]!.append(recall(1));
    const report = (n: number): LogEntryDocument => ({
      type: 'install-attestation',
      bundle: { dsseEnvelope: { payload: Buffer.from(`report ${n}`).toString('base64') } },
    });
    // Ten reports, each sent to both replicas four times over, all at once.
    const indexes = await Promise.all(
      Array.from({ length: 80 }, (_, i) => logs[i % 2]!.appendOnce(report(i % 10))),
    );
    expect(await logs[0]!.size()).toBe(11);
    for (let i = 0; i < 80; i++) expect(indexes[i]).toBe(indexes[i % 10]);
    expect(new Set(indexes).size).toBe(10);
    const mem = await replay(logs[1]!);
    expect(Buffer.from(await logs[0]!.root()).equals(mem.root())).toBe(true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of entries, tree nodes and checkpoints', async () => {
    const { url, a } = await twoReplicas();
    const log = logOn(a);
    await log.append(recall(1), recall(2));
    await log.checkpoint();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const sql of [
        "UPDATE tlog_entries SET kind = 'x'",
        'DELETE FROM tlog_entries WHERE idx = 1',
        'TRUNCATE tlog_entries CASCADE',
        "UPDATE tlog_nodes SET hash = decode(repeat('00', 32), 'hex')",
        'DELETE FROM tlog_nodes',
        'TRUNCATE tlog_nodes',
        "UPDATE tlog_checkpoints SET note = 'forged'",
        'DELETE FROM tlog_checkpoints',
        'TRUNCATE tlog_checkpoints',
      ]) {
        await expect(client.query(sql), sql).rejects.toThrow(/append-only/);
      }
      // The same connection can still write what the rules allow (so the refusals are the rules).
      await client.query('UPDATE tlog_size SET size = size');
    } finally {
      await client.end();
    }
    expect(await log.size()).toBe(2);
    const mem = await replay(log);
    expect(Buffer.from(await log.root()).equals(mem.root())).toBe(true);
  });

  it('keeps whole batches only, with tree nodes and checkpoints that match, when a writer is killed with SIGKILL', async () => {
    const { url, a } = await twoReplicas();
    const log = logOn(a);
    let previous = 0;
    for (const ms of [400, 800]) {
      const child = spawn(
        process.execPath,
        ['--conditions=@tufchain/source', '--import', 'tsx', CHILD, url],
        {
          cwd: fileURLToPath(new URL('../../', import.meta.url)),
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
      });
      await sleep(ms);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;

      const size = await log.size();
      expect(size).toBeGreaterThan(previous);
      expect(size % 50).toBe(0);
      const entries = await log.storage.entries(0, size + 100);
      expect(entries.map((e) => e.index)).toEqual(Array.from({ length: size }, (_, i) => i));
      const mem = new MemoryTree();
      for (const e of entries) mem.append(e.data);
      const root = await withNodes(
        (c) => log.storage.nodes(c),
        (src) => treeRoot(src, size),
      );
      expect(Buffer.from(root).equals(mem.root())).toBe(true);
      for (const cp of await log.storage.checkpoints()) {
        expect(cp.size).toBeLessThanOrEqual(size);
        expect(Buffer.from(cp.rootHash).equals(mem.root(cp.size))).toBe(true);
      }
      previous = size;
    }
    // The log goes on from where the killed writer stopped.
    const [next] = await log.append(recall(1e6));
    expect(next).toBe(previous);
  });
});

describe('anchoring a shared log: one replica at a time, taken over when it goes', () => {
  let chain: TestChain;
  beforeAll(async () => {
    chain = await startTestChain();
  });
  afterAll(async () => {
    await chain?.stop();
  });

  const noteKey = generateKeyPairSync('ed25519');
  const verifiers = [createNoteVerifier(ORIGIN, noteKey.publicKey)];
  const open = (store: PostgresStore): Promise<ServerLog> =>
    openServerLog({
      dataDir: '/nonexistent',
      origin: ORIGIN,
      noteKey: noteKey.privateKey,
      anchoring: {
        signer: chain.operator(),
        contractAddress: chain.contractAddress,
        chainId: chain.chain.chainId,
        fromBlock: chain.deployBlock,
        config: { batchSize: 1, intervalMs: 300, confirmations: 1, pollIntervalMs: 50 },
      },
      shared: {
        stores: store.logStores(),
        watchAppends: (onNotify) => store.watchLogAppends(onNotify),
        anchorLease: store.jobLease('anchoring', 600),
        leaseCheckMs: 150,
      },
      logger: pino({ level: 'silent' }),
    });

  async function anchoredBundle(log: ServerLog, index: number) {
    for (let i = 0; i < 200; i++) {
      try {
        return await log.proofBundle(index);
      } catch (error) {
        if ((error as { code?: string }).code !== 'NOT_ANCHORED') throw error;
        await sleep(50);
      }
    }
    throw new Error(`entry ${index} was never anchored`);
  }

  it('anchors what either replica appends, signs only on the lease holder, and fails over', async () => {
    const { a, b } = await twoReplicas();
    const logs = [await open(a), await open(b)];
    const closed = new Set<number>();
    try {
      const first = logs[0]!;
      const second = logs[1]!;
      // An attestation-like entry (not urgent) on each replica, then a recall (urgent).
      const i0 = await first.appendRecall('0x' + 'aa'.repeat(32), 'first');
      const i1 = await second.appendRecall('0x' + 'bb'.repeat(32), 'second');
      const bundle = await anchoredBundle(second, i1);
      await verifyProofBundle(bundle, {
        logVerifiers: verifiers,
        chain: chain.reader(),
      });
      await verifyProofBundle(await anchoredBundle(first, i0), {
        logVerifiers: verifiers,
        chain: chain.reader(),
      });

      const signed = await Promise.all(
        logs.map(async (l) => (await l.anchors!.health()).transactionsSigned),
      );
      const holder = signed[0]! > 0 ? 0 : 1;
      expect(signed[holder]).toBeGreaterThan(0);
      expect(signed[1 - holder]).toBe(0);

      // The holder goes away; the other replica takes the lease over and anchors on its own.
      await logs[holder]!.close();
      closed.add(holder);
      const survivor = logs[1 - holder]!;
      const i2 = await survivor.appendRecall('0x' + 'cc'.repeat(32), 'after failover');
      const after = await anchoredBundle(survivor, i2);
      expect(after.anchor.size).toBe(3);
      expect((await survivor.anchors!.health()).transactionsSigned).toBeGreaterThan(0);
      await verifyProofBundle(after, { logVerifiers: verifiers, chain: chain.reader() });
      // No checkpoint was signed twice: the survivor followed the shared outbox, so the two
      // replicas together signed one transaction per confirmed anchor.
      const confirmed = (await survivor.anchors!.outbox.all()).filter(
        (r) => r.status === 'confirmed',
      );
      const survivorSigned = (await survivor.anchors!.health()).transactionsSigned;
      expect(signed[holder]! + survivorSigned).toBe(confirmed.length);
    } finally {
      for (const [i, l] of logs.entries()) if (!closed.has(i)) await l.close();
    }
  });
});
