import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestRepo,
  fakeVerifier,
  MemoryReleaseLog,
  type TestRepo,
} from '../../../test/support/fixtures.js';
import { resolveConfig } from '../../config.js';
import type { ChainReceipt, ReleaseEntry, ReleaseLog } from '../release-log.js';
import { RepositoryService } from '../service.js';
import type { PublishLock } from './publish-lock.js';
import { createProcessLock } from './publish-lock.js';
import { createRepositoryCore, type RepositoryCore } from './repository-core.js';

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

/** A chain whose confirmation the test hands out, or refuses. */
class GatedReleaseLog implements ReleaseLog {
  readonly inner = new MemoryReleaseLog();
  #gate: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #onLogged: () => void = () => undefined;
  /** Settles once the pipeline has asked the chain to log. */
  readonly logged = new Promise<void>((resolve) => {
    this.#onLogged = resolve;
  });

  async logRelease(entry: ReleaseEntry): Promise<ChainReceipt> {
    this.#onLogged();
    await new Promise<void>((resolve, reject) => {
      this.#gate = { resolve, reject };
    });
    return this.inner.logRelease(entry);
  }
  confirm(): void {
    this.#gate?.resolve();
  }
  refuse(): void {
    this.#gate?.reject(Object.assign(new Error('reverted'), { code: 'TX_REVERTED' }));
  }
}

function coreWith(releaseLog: ReleaseLog, lock?: PublishLock): RepositoryCore {
  return createRepositoryCore({
    store: t.repo.store,
    blobs: t.repo.blobs,
    signers: {
      targets: t.signers.targets,
      snapshot: t.signers.snapshot,
      timestamp: t.signers.timestamp,
    },
    releaseLog,
    verifier: fakeVerifier,
    config: resolveConfig({ binBits: 2 }),
    clock: () => t.now.value,
    logger: pino({ level: 'silent' }),
    lock,
  });
}

const servedSnapshotVersion = async (): Promise<number | undefined> =>
  (await t.repo.store.currentMetadata('snapshot'))?.version;

describe('PublishPipeline', () => {
  it('serves nothing it staged until the chain confirms the snapshot, then flips it with the timestamp', async () => {
    const chain = new GatedReleaseLog();
    const core = coreWith(chain);
    let commits = 0;
    core.pipeline.onCommitted(() => (commits += 1));
    const root = (await core.state.trustedRoot()).signed;
    const publishing = core.pipeline.publish({
      roles: [],
      root,
      firmware: [],
      releaseId: null,
      batch: 'test',
    });
    await chain.logged;
    expect(await servedSnapshotVersion()).toBe(1);
    expect((await t.repo.store.currentMetadata('timestamp'))?.version).toBe(1);
    expect(commits).toBe(0);

    chain.confirm();
    const published = await publishing;
    expect(published.metadataVersion).toBe(2);
    expect(await servedSnapshotVersion()).toBe(2);
    expect((await t.repo.store.currentMetadata('timestamp'))?.version).toBe(2);
    expect(published.metadataHash).toBe(
      `0x${(await t.repo.store.currentMetadata('snapshot'))!.sha256}`,
    );
    expect(commits).toBe(1);
  });

  it('abandons the batch with CHAIN_LOG_FAILED when the chain refuses, keeps serving the old snapshot and never reuses its version', async () => {
    const chain = new GatedReleaseLog();
    const core = coreWith(chain);
    const root = (await core.state.trustedRoot()).signed;
    const input = { roles: [], root, firmware: [], releaseId: null, batch: 'test' };
    const refused = core.pipeline.publish(input);
    await chain.logged;
    chain.refuse();
    await expect(refused).rejects.toMatchObject({ code: 'CHAIN_LOG_FAILED' });
    expect(await servedSnapshotVersion()).toBe(1);
    expect(await t.repo.store.stagedBatches()).toEqual([]);

    const next = new GatedReleaseLog();
    const again = coreWith(next).pipeline.publish(input);
    await next.logged;
    next.confirm();
    expect((await again).metadataVersion).toBe(3);
    expect(await servedSnapshotVersion()).toBe(3);
  });
});

describe('the publish lock seam', () => {
  it('runs every change of a RepositoryService inside the PublishLock it is given', async () => {
    const process = createProcessLock();
    const runs: string[] = [];
    let holding = 0;
    const lock: PublishLock = {
      run: (fn) =>
        process.run(async () => {
          holding += 1;
          try {
            return await fn();
          } finally {
            holding -= 1;
          }
        }),
    };
    const service = new RepositoryService({
      store: t.repo.store,
      blobs: t.repo.blobs,
      signers: {
        targets: t.signers.targets,
        snapshot: t.signers.snapshot,
        timestamp: t.signers.timestamp,
      },
      releaseLog: {
        logRelease: (entry) => {
          runs.push(holding === 1 ? 'locked' : 'UNLOCKED');
          return t.chain.logRelease(entry);
        },
      },
      verifier: fakeVerifier,
      config: resolveConfig({ binBits: 2 }),
      clock: () => t.now.value,
      logger: pino({ level: 'silent' }),
      lock,
    });
    t.now.value = new Date(t.now.value.getTime() + 6 * 86_400_000);
    expect(await service.refreshExpiring()).toEqual(['snapshot', 'timestamp']);
    await service.addSupplier({
      id: 'acme',
      hardwareIds: ['acme-cam'],
      keys: [t.signers.targets],
      threshold: 1,
    });
    const notLogged = {
      findRelease: () =>
        Promise.reject(Object.assign(new Error('absent'), { code: 'METADATA_NOT_LOGGED' })),
    };
    expect(await service.ensureSnapshotLogged(notLogged)).toBe(true);
    expect(runs).toEqual(['locked', 'locked', 'locked']);
  });
});
