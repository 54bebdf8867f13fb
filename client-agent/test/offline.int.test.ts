/**
 * Offline update bundles: built from the repository by a dealer tool, installed by the agent with
 * no network under the same checks, against the chain snapshot it stored while online (anvil).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOfflineBundle, installOfflineBundle, OfflineBundle } from '../src/offline/bundle.js';
import { syncChainSnapshot } from '../src/verify/chain-snapshot.js';
import { TestChain } from './helpers/chain.js';
import { Fixture, HARDWARE_ID, type Release } from './helpers/fixture.js';

let chain: TestChain;
let f: Fixture;
let snapshot: string;

beforeAll(async () => {
  chain = await TestChain.start();
});
afterAll(async () => {
  await chain.stop();
});
beforeEach(async () => {
  snapshot = await chain.snapshot();
  f = await Fixture.create();
});
afterEach(async () => {
  await f.cleanup();
  await chain.revert(snapshot);
});

async function sync(): Promise<void> {
  const reader = chain.reader();
  try {
    await syncChainSnapshot({
      chain: reader,
      hardwareId: HARDWARE_ID,
      chainId: chain.chain.chainId,
      stateDir: f.stateDir,
    });
  } finally {
    reader.destroy();
  }
}

async function bundleOf(withChain = false): Promise<string> {
  const out = join(f.dir, 'update.tar');
  const reader = chain.reader();
  try {
    await createOfflineBundle({
      serverUrl: f.repo.url,
      hardwareId: HARDWARE_ID,
      outPath: out,
      ...(withChain ? { chain: reader } : {}),
    });
  } finally {
    reader.destroy();
  }
  await f.repo.stop(); // from here on there is no network
  return out;
}

function offlineOptions(bundlePath: string) {
  const {
    serverUrl: _s,
    chain: _c,
    chainId: _i,
    sendReports: _r,
    ...rest
  } = f.options(chain.reader());
  return { ...rest, bundlePath };
}

async function expectRefused(bundlePath: string, wantCode: string): Promise<void> {
  const before = await f.slots.readState();
  const bytes = await f.activeSlotBytes();
  await expect(installOfflineBundle(offlineOptions(bundlePath))).rejects.toMatchObject({
    code: wantCode,
  });
  const after = await f.slots.readState();
  expect(after.active).toBe(before.active);
  expect(await f.activeSlotBytes()).toEqual(bytes);
}

describe('installOfflineBundle', () => {
  describe('when the release was logged before the agent last synced with the chain', () => {
    it('installs from the bundle with no network and queues the signed report', async () => {
      const rel: Release = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      const path = await bundleOf(true);
      const opened = await OfflineBundle.open(path);
      expect(opened.manifest.target).toBe(rel.name);
      expect(opened.entry('/transparency/release.json')).toBeDefined();
      const result = await installOfflineBundle(offlineOptions(path));
      expect(result).toMatchObject({ status: 'UPDATED', activeSlot: 'b', report: { sent: false } });
      expect(await f.activeSlotBytes()).toEqual(rel.image);
    });
  });

  describe('when the release was logged only after the last sync', () => {
    it('throws METADATA_NOT_LOGGED', async () => {
      await chain.mine(5);
      await sync();
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await expectRefused(await bundleOf(), 'METADATA_NOT_LOGGED');
    });
  });

  describe('when the bundle carries an unlogged release signed with the real keys', () => {
    it('throws METADATA_NOT_LOGGED', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
      await expectRefused(await bundleOf(), 'METADATA_NOT_LOGGED');
    });
  });

  describe('when the image inside the bundle was tampered with', () => {
    it('throws TARGET_MISMATCH', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      const path = await bundleOf();
      const bundle = await OfflineBundle.open(path);
      const entry = bundle.entry(f.repo.targetPath(rel.name));
      if (!entry) throw new Error('image not in bundle');
      const fh = await open(path, 'r+');
      await fh.write(Buffer.from([0xff ^ (rel.image[100] ?? 0)]), 0, 1, entry.offset + 100);
      await fh.close();
      await expectRefused(path, 'TARGET_MISMATCH');
    });
  });

  describe('when the image was recalled before the last sync', () => {
    it('throws RECALLED', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await chain.recall('0x' + rel.sha256);
      await sync();
      await expectRefused(await bundleOf(), 'RECALLED');
    });
  });

  describe('when the agent never synced with the chain', () => {
    it('throws CHAIN_SNAPSHOT_MISSING', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await expectRefused(await bundleOf(), 'CHAIN_SNAPSHOT_MISSING');
    });
  });

  describe('when the metadata expired by the last trusted checkpoint (clock set back)', () => {
    it('throws METADATA_EXPIRED', async () => {
      f.repo.expiresDays = 1;
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await chain.advanceTime(3 * 86_400);
      await sync();
      await expectRefused(await bundleOf(), 'METADATA_EXPIRED');
    });
  });
});
