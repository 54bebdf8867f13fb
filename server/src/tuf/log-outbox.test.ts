/**
 * The transparency log's outbox over a real SQLite store and a real transparency log
 * (openServerLog): a publish whose append fails, or that a crash interrupts after the chain
 * logged it, still reaches the log, once.
 */
import { generateKeyPairSync } from 'node:crypto';
import { decodeLogEntry } from '@tufchain/transparency';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestRepo,
  fakeVerifier,
  MemoryReleaseLog,
  type TestRepo,
} from '../../test/support/fixtures.js';
import { resolveConfig } from '../config.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { openServerLog, type ServerLog } from '../log/open.js';
import type { RepositoryStore } from '../storage/store.js';
import { createRepositoryCore, type RepositoryCore } from './core/repository-core.js';
import { recoverInterruptedPublishes, type ChainLookup } from './recovery.js';
import type { ChainReceipt, ReleaseEntry } from './release-log.js';

let t: TestRepo;
let log: ServerLog;
beforeEach(async () => {
  t = await createTestRepo();
  log = await openServerLog({
    dataDir: t.dir,
    origin: 'tufchain.test/outbox',
    noteKey: generateKeyPairSync('ed25519').privateKey,
    logger: pino({ level: 'silent' }),
  });
});
afterEach(async () => {
  await log.close();
  await t.cleanup();
});

/** The real log, made to refuse appends while `down`. */
function flaky(inner: TransparencyLogSink): TransparencyLogSink & { down: boolean } {
  const sink = Object.create(inner) as TransparencyLogSink & { down: boolean };
  sink.down = false;
  const refuse = () => Promise.reject(new Error('log database unreachable'));
  sink.appendRelease = (e, c) => (sink.down ? refuse() : inner.appendRelease(e, c));
  sink.appendRecall = (s, r) => (sink.down ? refuse() : inner.appendRecall(s, r));
  return sink;
}

/** The chain double, answering recovery's lookups with the receipts it gave. */
class ChainWithLookup extends MemoryReleaseLog implements ChainLookup {
  readonly #receipts = new Map<string, ChainReceipt>();
  override async logRelease(entry: ReleaseEntry): Promise<ChainReceipt> {
    const receipt = await super.logRelease(entry);
    this.#receipts.set(entry.metadataHash, receipt);
    return receipt;
  }
  findRelease(metadataHash: string): Promise<ChainReceipt> {
    const r = this.#receipts.get(metadataHash);
    return r
      ? Promise.resolve(r)
      : Promise.reject(Object.assign(new Error('absent'), { code: 'METADATA_NOT_LOGGED' }));
  }
}

function coreWith(
  chain: MemoryReleaseLog,
  sink: TransparencyLogSink,
  store: RepositoryStore = t.repo.store,
): RepositoryCore {
  return createRepositoryCore({
    store,
    blobs: t.repo.blobs,
    signers: {
      targets: t.signers.targets,
      snapshot: t.signers.snapshot,
      timestamp: t.signers.timestamp,
    },
    releaseLog: chain,
    verifier: fakeVerifier,
    config: resolveConfig({ binBits: 2 }),
    clock: () => t.now.value,
    logger: pino({ level: 'silent' }),
    log: sink,
  });
}

/** The release statements in the log, by snapshot version. */
async function releasesLogged(): Promise<number[]> {
  const size = await log.log.size();
  const found: number[] = [];
  for (let i = 0; i < size; i++) {
    const e = decodeLogEntry((await log.log.entry(i)).data);
    if (e.type === 'release') found.push(e.metadataVersion);
  }
  return found;
}

const publishInput = async (core: RepositoryCore) => ({
  roles: [],
  root: (await core.state.trustedRoot()).signed,
  firmware: [],
  releaseId: null,
  batch: 'test',
});

describe('the transparency log outbox', () => {
  it('keeps a statement the log could not take, and appends it once on the next drain', async () => {
    const sink = flaky(log);
    const core = coreWith(new ChainWithLookup(), sink);
    sink.down = true;
    const published = await core.pipeline.publish(await publishInput(core));
    expect(published.metadataVersion).toBe(2);
    expect(await t.repo.store.logOutbox()).toMatchObject([{ id: 'snapshot:2' }]);
    expect(await releasesLogged()).toEqual([]);

    expect(await core.pipeline.outbox.drain()).toMatchObject({ pending: ['snapshot:2'] });
    sink.down = false;
    expect(await core.pipeline.outbox.drain()).toEqual({
      appended: ['snapshot:2'],
      dropped: [],
      pending: [],
    });
    expect(await releasesLogged()).toEqual([2]);
    expect(await t.repo.store.logOutbox()).toEqual([]);
  });

  it('appends a statement once even when it is owed twice (a crash after the append, before it was forgotten)', async () => {
    const chain = new ChainWithLookup();
    const core = coreWith(chain, log);
    await core.pipeline.publish(await publishInput(core));
    expect(await releasesLogged()).toEqual([2]);
    // The row as it was before the append: the drain appends the same statement again.
    const snapshot = (await t.repo.store.currentMetadata('snapshot'))!;
    await core.pipeline.outbox.owe('snapshot:2', 2, [
      {
        kind: 'release',
        entry: { metadataVersion: 2, metadataHash: `0x${snapshot.sha256}`, firmware: [] },
      },
    ]);
    expect((await core.pipeline.outbox.drain(chain)).appended).toEqual(['snapshot:2']);
    expect(await releasesLogged()).toEqual([2]);
  });

  it('appends what a publish interrupted after the chain logged it owes, once recovery commits it', async () => {
    const chain = new ChainWithLookup();
    // The power goes out as the store commits: the chain holds the snapshot, nothing is served.
    const cut = new Proxy(t.repo.store, {
      get(target, prop, receiver) {
        if (prop === 'commitMetadata') return () => Promise.reject(new Error('power cut'));
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const dying = coreWith(chain, log, cut);
    await expect(dying.pipeline.publish(await publishInput(dying))).rejects.toThrow('power cut');
    expect(chain.entries.map((e) => e.metadataVersion)).toEqual([2]);
    expect(await releasesLogged()).toEqual([]);

    const restarted = coreWith(chain, log);
    const report = await recoverInterruptedPublishes(restarted, chain);
    expect(report.published).toEqual(['test']);
    expect(await releasesLogged()).toEqual([2]);
    expect(await t.repo.store.logOutbox()).toEqual([]);
  });

  it('owes nothing for a snapshot the chain refused, and drops what was owed for one never staged', async () => {
    const chain = new ChainWithLookup();
    const core = coreWith(chain, log);
    chain.failNext = Object.assign(new Error('reverted'), { code: 'TX_REVERTED' });
    await expect(core.pipeline.publish(await publishInput(core))).rejects.toMatchObject({
      code: 'CHAIN_LOG_FAILED',
    });
    expect(await t.repo.store.logOutbox()).toEqual([]);
    // A crash between owing and staging: the version was never staged, nothing will commit it.
    await core.pipeline.outbox.owe('snapshot:9', 9, [
      {
        kind: 'release',
        entry: { metadataVersion: 9, metadataHash: `0x${'00'.repeat(32)}`, firmware: [] },
      },
    ]);
    expect(await core.pipeline.outbox.drain(chain)).toEqual({
      appended: [],
      dropped: ['snapshot:9'],
      pending: [],
    });
    expect(await releasesLogged()).toEqual([]);
  });
});
