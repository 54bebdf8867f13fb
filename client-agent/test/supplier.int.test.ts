import { createHash, randomBytes } from 'node:crypto';
import { signFirmwareAttestation } from '@tufchain/keys';
import {
  createDelta,
  DELTA_HEADER_BYTES,
  DELTA_MEDIA_TYPE,
  deltaTargetPath,
  encodeDeltaHeader,
} from '@tufchain/transparency/delta';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runUpdate } from '../src/agent.js';
import { Fixture, HARDWARE_ID, MemoryReleaseLog, type Release } from './helpers/fixture.js';

/**
 * Hardware-ID-scoped supplier delegations as the vehicle sees them: top-level targets delegates
 * `<hwid>/*` to a supplier key with `x-tufchain-hardware-ids`; the agent discovers the image
 * through the server's hint and tuf-js's walk of the delegations. The server refuses a supplier
 * that signs for another's hardware ID; these tests play a server that does not.
 */
describe('firmware signed by a hardware-ID-scoped supplier', () => {
  let f: Fixture;
  let chain: MemoryReleaseLog;
  beforeEach(async () => {
    f = await Fixture.create();
    chain = new MemoryReleaseLog();
  });
  afterEach(async () => {
    await f.cleanup();
  });

  async function supplierRelease(opts: {
    path: string;
    hardwareIds: string[];
    releaseCounter: number;
  }): Promise<{ image: Buffer; sha256: string }> {
    const image = randomBytes(32 * 1024);
    const sha256 = createHash('sha256').update(image).digest('hex');
    const claims = {
      hardwareIds: opts.hardwareIds,
      version: '4.0.0',
      releaseCounter: opts.releaseCounter,
    };
    const bundle = await signFirmwareAttestation(
      { name: opts.path, sha256, ...claims },
      f.firmwareSigner,
    );
    f.repo.addSupplierTarget(`${opts.path}.sigstore.json`, Buffer.from(JSON.stringify(bundle)), {
      kind: 'attestation',
    });
    f.repo.addSupplierTarget(opts.path, image, {
      kind: 'firmware',
      ...claims,
      attestation: `${opts.path}.sigstore.json`,
    });
    const published = f.repo.publish();
    f.repo.hint(HARDWARE_ID, opts.path);
    chain.log({
      metadataVersion: published.snapshotVersion,
      metadataHash: published.snapshotHash,
      firmware: opts.hardwareIds.map((hardwareId) => ({
        digest: `0x${sha256}`,
        hardwareId,
        version: opts.releaseCounter,
      })),
    });
    return { image, sha256 };
  }

  it('installs a logged image its supplier signed for the vehicle’s hardware ID, found through the hint', async () => {
    f.repo.delegateSupplier('supplier-acme', [HARDWARE_ID]);
    const { image } = await supplierRelease({
      path: `${HARDWARE_ID}/gw-4.0.0.img`,
      hardwareIds: [HARDWARE_ID],
      releaseCounter: 4,
    });
    const result = await runUpdate(f.options(chain));
    expect(result).toMatchObject({ status: 'UPDATED', activeSlot: 'b' });
    expect(await f.activeSlotBytes()).toEqual(image);
    expect(f.repo.requests).toContain(`/api/v1/hardware/${HARDWARE_ID}/latest`);
    expect(f.repo.requests.some((p) => /^\/metadata\/\d+\.supplier-acme\.json$/.test(p))).toBe(
      true,
    );
  });

  it.each([
    {
      desc: 'signed for the vehicle by the supplier of another hardware ID',
      hardwareIds: [HARDWARE_ID],
    },
    {
      desc: 'claiming the vehicle’s hardware ID beside the supplier’s own',
      hardwareIds: ['acme-brake', HARDWARE_ID],
    },
  ])(
    'refuses an image $desc with HARDWARE_ID_NOT_DELEGATED and keeps the active slot',
    async ({ hardwareIds }) => {
      f.repo.delegateSupplier('supplier-acme', ['acme-brake']);
      // logged on chain and signed with the real supplier key: only the scope check stops it
      await supplierRelease({ path: 'acme-brake/evil.img', hardwareIds, releaseCounter: 9 });
      const before = await f.slots.readState();
      await expect(runUpdate(f.options(chain))).rejects.toMatchObject({
        code: 'HARDWARE_ID_NOT_DELEGATED',
      });
      expect(await f.slots.readState()).toEqual(before);
    },
  );

  describe('when the server hints at an older release than the chain logged (withholding)', () => {
    it('refuses with RELEASE_WITHHELD and keeps the active slot', async () => {
      f.repo.delegateSupplier('supplier-acme', [HARDWARE_ID]);
      await supplierRelease({
        path: `${HARDWARE_ID}/gw-4.img`,
        hardwareIds: [HARDWARE_ID],
        releaseCounter: 4,
      });
      await supplierRelease({
        path: `${HARDWARE_ID}/gw-5.img`,
        hardwareIds: [HARDWARE_ID],
        releaseCounter: 5,
      });
      f.repo.hint(HARDWARE_ID, `${HARDWARE_ID}/gw-4.img`);
      const before = await f.slots.readState();
      await expect(runUpdate(f.options(chain))).rejects.toMatchObject({ code: 'RELEASE_WITHHELD' });
      expect(await f.slots.readState()).toEqual(before);
    });

    it('installs the older one when the newer image is recalled on chain', async () => {
      f.repo.delegateSupplier('supplier-acme', [HARDWARE_ID]);
      const older = await supplierRelease({
        path: `${HARDWARE_ID}/gw-4.img`,
        hardwareIds: [HARDWARE_ID],
        releaseCounter: 4,
      });
      const newer = await supplierRelease({
        path: `${HARDWARE_ID}/gw-5.img`,
        hardwareIds: [HARDWARE_ID],
        releaseCounter: 5,
      });
      chain.recalled.add(`0x${newer.sha256}`);
      f.repo.hint(HARDWARE_ID, `${HARDWARE_ID}/gw-4.img`);
      expect(await runUpdate(f.options(chain))).toMatchObject({ status: 'UPDATED' });
      expect(await f.activeSlotBytes()).toEqual(older.image);
    });
  });

  it('ignores a hint naming a path no delegation covers (NO_TARGET_FOR_HARDWARE)', async () => {
    f.repo.delegateSupplier('supplier-acme', ['acme-brake']);
    f.repo.publish();
    f.repo.hint(HARDWARE_ID, 'nowhere/evil.img');
    await expect(runUpdate(f.options(chain))).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
    expect((await f.slots.readState()).active).toBe('a');
  });

  describe('with a delta the server lists under its own online key (the image lists none)', () => {
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
    /** v5 is v4 with a few bytes changed: a delta of a few hundred bytes against v4. */
    async function v4AndV5(): Promise<{ v4: Release; v5Image: Buffer }> {
      const v4 = await f.addRelease({
        version: '4.0.0',
        releaseCounter: 4,
        delegated: true,
        size: 256 * 1024,
      });
      chain.log(v4.entry);
      expect(await runUpdate(f.options(chain))).toMatchObject({ status: 'UPDATED' });
      const v5Image = Buffer.from(v4.image);
      for (const at of [1000, 90_000, 200_000]) v5Image[at] = (v5Image[at]! + 1) & 0xff;
      return { v4, v5Image };
    }
    /** Lists `delta` as the server's bins do: by both digests, in metadata the supplier did not sign. */
    function listOnlineDelta(v4: Release, v5Image: Buffer, delta: Buffer): void {
      f.repo.addTarget(deltaTargetPath(sha(v5Image), v4.sha256), delta, {
        kind: 'delta',
        format: DELTA_MEDIA_TYPE,
        target: `${HARDWARE_ID}/gateway-5.0.0.img`,
        targetSha256: sha(v5Image),
        targetLength: v5Image.length,
        base: { sha256: v4.sha256, length: v4.image.length, version: '4.0.0' },
      });
    }

    /** The supplier's release 5.0.0 of `image`, logged on chain. */
    async function releaseV5(image: Buffer): Promise<void> {
      const v5 = await f.addRelease({
        version: '5.0.0',
        releaseCounter: 5,
        delegated: true,
        image,
      });
      chain.log(v5.entry);
    }

    it('installs the supplier’s image from it, checked against the supplier’s hashes', async () => {
      const { v4, v5Image } = await v4AndV5();
      const delta = createDelta(v4.image, v5Image);
      listOnlineDelta(v4, v5Image, delta);
      await releaseV5(v5Image);
      const result = await runUpdate(f.options(chain));
      expect(result).toMatchObject({
        status: 'UPDATED',
        install: { path: 'delta', networkBytes: delta.length },
      });
      expect(result.install?.fallback).toBeUndefined();
      expect(await f.activeSlotBytes()).toEqual(v5Image);
    });

    it('falls back to the full image when the online key lists a delta that builds other bytes', async () => {
      const { v4, v5Image } = await v4AndV5();
      // What a compromised online key can do: a delta that claims the supplier's image in its
      // header and its TUF target, but rebuilds other bytes of the same length.
      const other = Buffer.from(v5Image);
      other[5] = (other[5]! + 1) & 0xff;
      const honest = createDelta(v4.image, other);
      const forged = Buffer.concat([
        encodeDeltaHeader({
          base: { sha256: v4.sha256, length: v4.image.length },
          target: { sha256: sha(v5Image), length: v5Image.length },
        }),
        honest.subarray(DELTA_HEADER_BYTES),
      ]);
      listOnlineDelta(v4, v5Image, forged);
      await releaseV5(v5Image);
      const result = await runUpdate(f.options(chain));
      expect(result).toMatchObject({
        status: 'UPDATED',
        install: { path: 'full', fallback: { code: 'TARGET_MISMATCH' } },
      });
      expect(result.install!.networkBytes).toBe(forged.length + v5Image.length);
      expect(await f.activeSlotBytes()).toEqual(v5Image);
    });
  });
});
