import { Metadata } from '@tufjs/models';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeSigner, MemoryReleaseLog } from '../../test/support/fixtures.js';
import { ServerError } from '../error.js';
import type { OpenedRepository } from '../storage/open.js';
import { expiryAfter } from './expiry.js';
import { buildRoot } from './metadata.js';
import { initRepository, initRepositoryFromRoot } from './repository.js';
import { serializeMetadata, signMetadata } from './signer.js';
import { openTestRepository } from '../../test/support/database.js';

let dir: string;
let repo: OpenedRepository;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-init-'));
  repo = await openTestRepository({ dataDir: dir });
});
afterEach(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

const online = { targets: makeSigner(), snapshot: makeSigner(), timestamp: makeSigner() };
const rootKeys = [makeSigner(), makeSigner(), makeSigner()];

async function offlineRoot(signers = rootKeys.slice(0, 2), version = 1): Promise<Uint8Array> {
  const md = new Metadata(
    buildRoot({
      version,
      expires: expiryAfter(new Date(), 365 * 86400),
      roles: {
        root: { keys: rootKeys, threshold: 2 },
        targets: { keys: [online.targets], threshold: 1 },
        snapshot: { keys: [online.snapshot], threshold: 1 },
        timestamp: { keys: [online.timestamp], threshold: 1 },
      },
    }),
  );
  await signMetadata(md, signers);
  return serializeMetadata(md);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof ServerError ? e.code : String(e)),
  );
}

describe('initRepositoryFromRoot', () => {
  it('bootstraps from an offline-signed root without any root key and serves its exact bytes', async () => {
    const rootBytes = await offlineRoot();
    const res = await initRepositoryFromRoot({
      store: repo.store,
      rootBytes,
      onlineSigners: online,
    });
    expect(res.rootBytes).toEqual(rootBytes);
    expect((await repo.store.publishedMetadata('root', 1))?.bytes).toEqual(rootBytes);
    expect(await repo.store.publishedVersions('targets')).toEqual([1]);
  });

  it.each([
    {
      desc: 'signed below the root threshold',
      build: () => offlineRoot(rootKeys.slice(0, 1)),
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'not version 1',
      build: () => offlineRoot(rootKeys, 2),
      wantCode: 'ROOT_ROTATION_INVALID',
    },
    {
      desc: 'not JSON',
      build: () => Promise.resolve(new TextEncoder().encode('nope')),
      wantCode: 'METADATA_MALFORMED',
    },
  ])('refuses a root $desc with $wantCode', async ({ build, wantCode }) => {
    expect(
      await codeOf(
        initRepositoryFromRoot({
          store: repo.store,
          rootBytes: await build(),
          onlineSigners: online,
        }),
      ),
    ).toBe(wantCode);
    expect(await repo.store.currentMetadata('root')).toBeUndefined();
  });

  it('refuses online keys the root does not authorize', async () => {
    const rootBytes = await offlineRoot();
    const code = await codeOf(
      initRepositoryFromRoot({
        store: repo.store,
        rootBytes,
        onlineSigners: { ...online, timestamp: makeSigner() },
      }),
    );
    expect(code).toBe('ONLINE_KEY_NOT_AUTHORIZED');
  });
});

describe('initRepository', () => {
  it('can be retried after the chain refused targets v1, and refuses a second bootstrap', async () => {
    const chain = new MemoryReleaseLog();
    chain.failNext = new Error('rpc down');
    const opts = {
      store: repo.store,
      rootSigners: rootKeys,
      threshold: 2,
      onlineSigners: online,
      releaseLog: chain,
    };
    expect(await codeOf(initRepository(opts))).toBe('CHAIN_LOG_FAILED');
    expect(await repo.store.currentMetadata('timestamp')).toBeUndefined();
    await initRepository(opts);
    expect(await repo.store.publishedVersions('root')).toEqual([1]);
    expect(await codeOf(initRepository(opts))).toBe('REPOSITORY_ALREADY_INITIALIZED');
  });
});
