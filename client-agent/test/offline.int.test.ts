/**
 * Offline update bundles: built from the repository by a dealer tool, installed by the agent with
 * no network under the same checks, against the chain snapshot it stored while online (anvil).
 */
import { createHash } from 'node:crypto';
import { access, open, readFile, stat } from 'node:fs/promises';
import { createDelta, DELTA_MEDIA_TYPE, deltaTargetPath } from '@tufchain/transparency/delta';
import type { Config } from '../src/config.js';
import { serveHuge, type HostileAnswer } from './helpers/hostile.js';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runUpdate } from '../src/agent.js';
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

async function bundleOf(withChain = false, deltaFrom?: string, deltaOnly = false): Promise<string> {
  const out = join(f.dir, 'update.tar');
  const reader = chain.reader();
  try {
    await createOfflineBundle({
      serverUrl: f.repo.url,
      hardwareId: HARDWARE_ID,
      outPath: out,
      ...(withChain ? { chain: reader } : {}),
      ...(deltaFrom !== undefined ? { deltaFrom } : {}),
      ...(deltaOnly ? { deltaOnly } : {}),
    });
  } finally {
    reader.destroy();
  }
  await f.repo.stop(); // from here on there is no network
  return out;
}

function offlineOptions(bundlePath: string, tweak: OfflineTweak = {}) {
  const {
    serverUrl: _s,
    chain: _c,
    chainId: _i,
    sendReports: _r,
    ...rest
  } = f.options(chain.reader());
  return {
    ...rest,
    bundlePath,
    config: { ...rest.config, ...tweak.config },
    ...(tweak.clock ? { clock: tweak.clock } : {}),
  };
}

interface OfflineTweak {
  config?: Partial<Config>;
  clock?: () => Date;
}

async function expectRefused(
  bundlePath: string,
  wantCode: unknown,
  tweak: OfflineTweak = {},
): Promise<void> {
  const before = await f.slots.readState();
  const bytes = await f.activeSlotBytes();
  await expect(installOfflineBundle(offlineOptions(bundlePath, tweak))).rejects.toMatchObject({
    name: 'AgentError',
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

  describe('when the bundle carries a delta for a named base version (--delta-from)', () => {
    /** The vehicle installs v2 online; then v3 is published with a delta from 2.0.0. */
    async function onV2WithV3Published(installV2 = true): Promise<{ v2: Release; v3: Release }> {
      const v2 = await f.addRelease({ version: '2.0.0', releaseCounter: 2, size: 512 * 1024 });
      await chain.log(v2.entry);
      const reader = chain.reader();
      try {
        if (installV2) expect((await runUpdate(f.options(reader))).status).toBe('UPDATED');
      } finally {
        reader.destroy();
      }
      const image = Buffer.from(v2.image);
      image.write('v3 changes a few bytes', 4096);
      const v3 = await f.addDeltaRelease(
        { version: '3.0.0', releaseCounter: 3, image },
        { release: v2, version: '2.0.0' },
      );
      await chain.log(v3.entry);
      await sync();
      return { v2, v3 };
    }

    it('installs from the delta when the vehicle runs that version, and the signed report says so', async () => {
      const { v3 } = await onV2WithV3Published();
      const path = await bundleOf(true, '2.0.0');
      expect(Object.keys((await OfflineBundle.open(path)).manifest.files)).toContainEqual(
        expect.stringMatching(/\.from-[0-9a-f]{16}\.delta$/),
      );
      const result = await installOfflineBundle(offlineOptions(path));
      expect(result).toMatchObject({ status: 'UPDATED', install: { path: 'delta' } });
      expect(result.install!.networkBytes).toBeLessThan(v3.image.length / 10);
      expect(await f.activeSlotBytes()).toEqual(v3.image);
      const statement = JSON.parse(
        Buffer.from(
          (result.report!.bundle as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload,
          'base64',
        ).toString(),
      ) as { predicate: { install?: unknown } };
      expect(statement.predicate.install).toEqual({
        path: 'delta',
        networkBytes: result.install!.networkBytes,
      });
    });

    describe('and only the delta (--delta-only)', () => {
      it('leaves the image out, and the vehicle on that version installs from the delta', async () => {
        const { v2, v3 } = await onV2WithV3Published();
        const path = await bundleOf(true, '2.0.0', true);
        const bundle = await OfflineBundle.open(path);
        expect(bundle.manifest.deltaOnly).toMatchObject({
          baseVersion: '2.0.0',
          baseSha256: v2.sha256,
        });
        expect(bundle.entry(f.repo.targetPath(v3.name))).toBeUndefined();
        expect((await stat(path)).size).toBeLessThan(v3.image.length / 4);
        const result = await installOfflineBundle(offlineOptions(path));
        expect(result).toMatchObject({ status: 'UPDATED', install: { path: 'delta' } });
        expect(result.install?.fallback).toBeUndefined();
        expect(await f.activeSlotBytes()).toEqual(v3.image);
      });

      it('carries the delta the online bins list by digest for a supplier’s image', async () => {
        const v2 = await f.addRelease({
          version: '2.0.0',
          releaseCounter: 2,
          size: 256 * 1024,
          delegated: true,
        });
        await chain.log(v2.entry);
        const reader = chain.reader();
        try {
          expect((await runUpdate(f.options(reader))).status).toBe('UPDATED');
        } finally {
          reader.destroy();
        }
        const image = Buffer.from(v2.image);
        image.write('v3 changes a few bytes', 4096);
        const sha = createHash('sha256').update(image).digest('hex');
        // As the server lists it: in metadata it signs itself, not in the supplier's role.
        f.repo.addTarget(deltaTargetPath(sha, v2.sha256), createDelta(v2.image, image), {
          kind: 'delta',
          format: DELTA_MEDIA_TYPE,
          target: `${HARDWARE_ID}/gateway-3.0.0.img`,
          targetSha256: sha,
          base: { sha256: v2.sha256, length: v2.image.length, version: '2.0.0' },
        });
        const v3 = await f.addRelease({
          version: '3.0.0',
          releaseCounter: 3,
          image,
          delegated: true,
        });
        await chain.log(v3.entry);
        await sync();
        const path = await bundleOf(true, '2.0.0', true);
        expect((await OfflineBundle.open(path)).manifest.deltaOnly).toMatchObject({
          delta: deltaTargetPath(sha, v2.sha256),
          baseSha256: v2.sha256,
        });
        const result = await installOfflineBundle(offlineOptions(path));
        expect(result).toMatchObject({ status: 'UPDATED', install: { path: 'delta' } });
        expect(await f.activeSlotBytes()).toEqual(image);
      });

      it('is refused with BUNDLE_BASE_MISMATCH by a vehicle on another version, writing nothing', async () => {
        await onV2WithV3Published(false); // still on the factory image
        const path = await bundleOf(true, '2.0.0', true);
        const inactive = await f.slots.inactiveSlot();
        const untouched = await readFile(f.slots.slotPath(inactive));
        await expectRefused(path, 'BUNDLE_BASE_MISMATCH');
        expect(await readFile(f.slots.slotPath(inactive))).toEqual(untouched);
      });

      it('is refused with the delta’s own code, not installed, when the delta is corrupt', async () => {
        const { v3 } = await onV2WithV3Published();
        const path = await bundleOf(true, '2.0.0', true);
        const bundle = await OfflineBundle.open(path);
        const deltaPath = Object.keys(bundle.manifest.files).find((p) => p.endsWith('.delta'));
        const entry = bundle.entry(deltaPath!)!;
        const fh = await open(path, 'r+');
        // past the 88-byte header: the zstd frame
        await fh.write(Buffer.alloc(16, 0x5a), 0, 16, entry.offset + 120);
        await fh.close();
        await expectRefused(path, expect.stringMatching(/^DELTA_(MALFORMED|TARGET_MISMATCH)$/));
        expect(await f.activeSlotBytes()).not.toEqual(v3.image);
      });

      it('is refused with DELTA_BASE_MISMATCH when the active slot was modified', async () => {
        const { v2 } = await onV2WithV3Published();
        const path = await bundleOf(true, '2.0.0', true);
        const active = (await f.slots.readState()).active;
        const fh = await open(f.slots.slotPath(active), 'r+');
        await fh.write(Buffer.from([0xff ^ (v2.image[4096 * 3] ?? 0)]), 0, 1, 4096 * 3);
        await fh.close();
        await expectRefused(path, 'DELTA_BASE_MISMATCH');
      });
    });

    it('throws NO_DELTA_FOR_BASE, writing no bundle, for a version the release has no delta from', async () => {
      await onV2WithV3Published();
      await expect(bundleOf(false, '1.0.0')).rejects.toMatchObject({ code: 'NO_DELTA_FOR_BASE' });
      await expect(access(join(f.dir, 'update.tar'))).rejects.toMatchObject({ code: 'ENOENT' });
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

  describe('the release record the bundle carries (checked, never trusted)', () => {
    /**
     * Edits the bundle member at `repoPath` in place, as a dealer's tool or a man with the USB
     * stick could; the edit keeps the member's length.
     */
    async function patchMember(
      bundlePath: string,
      repoPath: string,
      edit: (text: string) => string,
    ): Promise<void> {
      const bundle = await OfflineBundle.open(bundlePath);
      const e = repoPath === 'manifest.json' ? undefined : bundle.entry(repoPath);
      const offset = e?.offset ?? 512; // the manifest is the first member
      const size = e?.size ?? Buffer.byteLength(JSON.stringify(bundle.manifest, null, 2));
      const fh = await open(bundlePath, 'r+');
      try {
        const buf = Buffer.alloc(size);
        await fh.read(buf, 0, size, offset);
        const edited = Buffer.from(edit(buf.toString('utf8')));
        expect(edited.length).toBe(size);
        expect(edited.equals(buf)).toBe(false);
        await fh.write(edited, 0, size, offset);
      } finally {
        await fh.close();
      }
    }
    /** Flips the last hex digit of `field` in a JSON text. */
    const flipHex = (field: string) => (text: string) =>
      text.replace(
        new RegExp(`("${field}": "0x[0-9a-f]*)([0-9a-f])"`),
        (_m, head: string, d: string) => `${head}${d === '0' ? '1' : '0'}"`,
      );

    async function loggedSyncedBundle(): Promise<string> {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      return bundleOf(true);
    }

    it('throws BUNDLE_RELEASE_MISMATCH when it names other metadata than the bundle carries', async () => {
      const path = await loggedSyncedBundle();
      await patchMember(path, '/transparency/release.json', flipHex('metadataHash'));
      await expectRefused(path, 'BUNDLE_RELEASE_MISMATCH');
    });

    it('throws BUNDLE_RELEASE_MISMATCH when its block is not the one the last sync saw', async () => {
      const path = await loggedSyncedBundle();
      await patchMember(path, '/transparency/release.json', flipHex('blockHash'));
      await expectRefused(path, 'BUNDLE_RELEASE_MISMATCH');
    });

    it('throws BUNDLE_INVALID when it is not a chain entry', async () => {
      const path = await loggedSyncedBundle();
      await patchMember(path, '/transparency/release.json', (t) => `x${t.slice(1)}`);
      await expectRefused(path, 'BUNDLE_INVALID');
    });

    it('throws CHAIN_SNAPSHOT_STALE when the release was logged after the last sync', async () => {
      await chain.mine(5);
      await sync();
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await expectRefused(await bundleOf(true), 'CHAIN_SNAPSHOT_STALE');
    });
  });

  describe('the bundle manifest', () => {
    async function syncedBundle(): Promise<string> {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      return bundleOf(true);
    }
    async function patchManifest(path: string, edit: (t: string) => string): Promise<void> {
      const fh = await open(path, 'r+');
      try {
        const bundle = await OfflineBundle.open(path);
        const text = JSON.stringify(bundle.manifest, null, 2);
        const edited = Buffer.from(edit(text));
        expect(edited.length).toBe(Buffer.byteLength(text));
        await fh.write(edited, 0, edited.length, 512);
      } finally {
        await fh.close();
      }
    }

    it('throws HARDWARE_ID_MISMATCH for a bundle made for another hardware ID', async () => {
      const path = await syncedBundle();
      await patchManifest(path, (t) =>
        t.replace(`"${HARDWARE_ID}"`, `"${HARDWARE_ID.slice(0, -1)}x"`),
      );
      await expectRefused(path, 'HARDWARE_ID_MISMATCH');
    });

    it('throws BUNDLE_INVALID for a bundle that carries a path outside the repository', async () => {
      const path = await syncedBundle();
      await patchManifest(path, (t) =>
        t.replace('"/transparency/release.json"', '"/transparency/../etcs.json"'),
      );
      await expectRefused(path, 'BUNDLE_INVALID');
    });
  });

  describe('the age of the last sync', () => {
    it('throws CHAIN_SNAPSHOT_STALE when it is older than offlineChainSnapshotMaxAgeSeconds', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await sync();
      const path = await bundleOf(true);
      const inTwoHours = () => new Date(Date.now() + 2 * 3600_000);
      await expectRefused(path, 'CHAIN_SNAPSHOT_STALE', {
        config: { offlineChainSnapshotMaxAgeSeconds: 3600 },
        clock: inTwoHours,
      });
      // the same bundle, the same sync, within the age: installs
      const result = await installOfflineBundle(
        offlineOptions(path, {
          config: { offlineChainSnapshotMaxAgeSeconds: 3 * 3600 },
          clock: inTwoHours,
        }),
      );
      expect(result).toMatchObject({ status: 'UPDATED' });
    });
  });

  describe('the dealer tool, against a hostile server', () => {
    it('cuts a 256 MiB timestamp.json with ENDLESS_DATA and writes no bundle', async () => {
      let huge: HostileAnswer | undefined;
      f.repo.overrides.set('/metadata/timestamp.json', (_req, res) => {
        huge = serveHuge(res, 256 * 1024 * 1024);
      });
      const out = join(f.dir, 'update.tar');
      await expect(
        createOfflineBundle({ serverUrl: f.repo.url, hardwareId: HARDWARE_ID, outPath: out }),
      ).rejects.toMatchObject({ code: 'ENDLESS_DATA' });
      await huge?.closed;
      expect(huge?.sent).toBeLessThan(64 * 1024 * 1024);
      await expect(open(out, 'r')).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
