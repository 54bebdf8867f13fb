import { TargetFile } from '@tufjs/models';
import { deltaTargetPath } from '@tufchain/transparency/delta';
import { describe, expect, it } from 'vitest';
import type { SlotImage } from '../slots/slot-store.js';
import { chooseDelta, type DeltaLookup } from './delta-target.js';
import { describeFirmwareTarget } from './updater.js';

const hex = (c: string, n = 64): string => c.repeat(n);
const installed: SlotImage = {
  name: 'fw-1.img',
  version: '1.0.0',
  releaseCounter: 1,
  sha256: hex('a'),
  length: 1000,
};
const DELTA = 'fw-2.img.from-aaaaaaaaaaaaaaaa.delta';

function firmware(deltas: unknown): ReturnType<typeof describeFirmwareTarget> {
  return describeFirmwareTarget(
    new TargetFile({
      path: 'fw-2.img',
      length: 1200,
      hashes: { sha256: hex('b'), sha512: hex('b', 128) },
      unrecognizedFields: {
        custom: {
          kind: 'firmware',
          hardwareIds: ['gw'],
          version: '2.0.0',
          releaseCounter: 2,
          attestation: 'fw-2.img.sigstore.json',
          ...(deltas === undefined ? {} : { deltas }),
        } as never,
      },
    }),
  );
}

function deltaFile(custom: Record<string, unknown>, path = DELTA, length = 77): TargetFile {
  return new TargetFile({
    path,
    length,
    hashes: { sha256: hex('d') },
    unrecognizedFields: { custom: custom as never },
  });
}

const goodCustom = {
  kind: 'delta',
  target: 'fw-2.img',
  targetSha256: hex('b'),
  base: { sha256: hex('a'), length: 1000, version: '1.0.0' },
};

/** A TUF repository double that lists one delta target. */
function lookup(file: TargetFile | undefined): DeltaLookup {
  return {
    getTarget: (path) =>
      file && path === file.path ? Promise.resolve(file) : Promise.reject(new Error('not found')),
    targetUrl: (t) => `https://repo/targets/${t.hashes['sha256']}.${t.path}`,
  };
}

const links = [{ target: DELTA, baseSha256: hex('a'), baseVersion: '1.0.0' }];

describe('chooseDelta', () => {
  it('plans the delta TUF lists from the installed image to the target', async () => {
    const choice = await chooseDelta(
      lookup(deltaFile(goodCustom)),
      firmware(links),
      installed,
      'a',
    );
    expect(choice.plan).toEqual({
      url: `https://repo/targets/${hex('d')}.${DELTA}`,
      length: 77,
      sha256: hex('d'),
      baseSlot: 'a',
      base: { length: 1000, sha256: hex('a') },
    });
  });

  it.each([
    { desc: 'no image recorded in the active slot', installed: null, deltas: links },
    { desc: 'a release without deltas', installed, deltas: undefined },
    {
      desc: 'deltas only from other images',
      installed,
      deltas: [{ ...links[0], baseSha256: hex('c') }],
    },
    {
      desc: 'a link to a target TUF does not list',
      installed,
      deltas: [{ ...links[0], target: 'x' }],
    },
  ])('installs the full image for $desc', async ({ installed: image, deltas }) => {
    const choice = await chooseDelta(lookup(deltaFile(goodCustom)), firmware(deltas), image, 'a');
    expect(choice.plan).toBeUndefined();
  });

  it.each([
    { desc: 'another kind', custom: { ...goodCustom, kind: 'firmware' } },
    { desc: 'another target', custom: { ...goodCustom, target: 'fw-3.img' } },
    { desc: "another target's bytes", custom: { ...goodCustom, targetSha256: hex('e') } },
    {
      desc: 'another base',
      custom: { ...goodCustom, base: { ...goodCustom.base, sha256: hex('c') } },
    },
    {
      desc: 'a base of another length',
      custom: { ...goodCustom, base: { ...goodCustom.base, length: 9 } },
    },
  ])('refuses a delta target whose custom names $desc', async ({ custom }) => {
    const choice = await chooseDelta(lookup(deltaFile(custom)), firmware(links), installed, 'a');
    expect(choice.plan).toBeUndefined();
    expect(choice).toHaveProperty('reason');
  });

  it('refuses a linked delta no smaller than the image', async () => {
    const big = deltaFile(goodCustom, DELTA, 1200);
    const choice = await chooseDelta(lookup(big), firmware(links), installed, 'a');
    expect(choice).toMatchObject({ reason: expect.stringContaining('no smaller') as unknown });
  });

  describe('for an image that lists no deltas (a supplier signed it, or an offline key)', () => {
    const BY_DIGEST = deltaTargetPath(hex('b'), hex('a'));
    // The server's bins name the image it rebuilds by its bytes; the target name is the image's.
    const online = { ...goodCustom, target: 'acme/fw-2.img' };

    it('plans the delta the online bins list under the path named by both digests', async () => {
      expect(BY_DIGEST).toBe(`delta-${hex('b', 32)}.from-${hex('a', 32)}`);
      const choice = await chooseDelta(
        lookup(deltaFile(online, BY_DIGEST)),
        firmware(undefined),
        installed,
        'a',
      );
      expect(choice.plan).toMatchObject({ length: 77, sha256: hex('d'), baseSlot: 'a' });
    });

    it('installs the full image when TUF lists no delta by that path', async () => {
      const choice = await chooseDelta(lookup(undefined), firmware(undefined), installed, 'a');
      expect(choice).toEqual({ reason: 'no delta from the installed image 1.0.0' });
    });

    it.each([
      { desc: "another target's bytes", custom: { ...online, targetSha256: hex('e') }, length: 77 },
      {
        desc: 'another base',
        custom: { ...online, base: { ...online.base, sha256: hex('c') } },
        length: 77,
      },
      { desc: 'no smaller than the image', custom: online, length: 1200 },
    ])('refuses one that is $desc', async ({ custom, length }) => {
      const choice = await chooseDelta(
        lookup(deltaFile(custom, BY_DIGEST, length)),
        firmware(undefined),
        installed,
        'a',
      );
      expect(choice.plan).toBeUndefined();
    });
  });
});
