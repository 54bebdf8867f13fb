import { randomBytes } from 'node:crypto';
import { applyDelta } from '@tufchain/transparency/delta';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTestRepo,
  sha256Hex,
  uploadAndPublish,
  type TestRepo,
} from '../../test/support/fixtures.js';
import { allInOrder, deltaTargetName } from './deltas.js';
import type { ReleaseDelta } from './release-deltas.js';

let t: TestRepo | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

/** Release n of a 256 KiB image: each release changes a few bytes and inserts 1 KiB. */
function releases(count: number): Buffer[] {
  const out = [randomBytes(256 * 1024)];
  for (let n = 1; n < count; n++) {
    const prev = Buffer.from(out[n - 1] as Buffer);
    prev[n * 1000] = (prev[n * 1000] as number) ^ 0xff;
    out.push(
      Buffer.concat([prev.subarray(0, n * 5000), randomBytes(1024), prev.subarray(n * 5000)]),
    );
  }
  return out;
}

async function publish(repo: TestRepo, n: number, bytes: Buffer, hardwareId = 'ecu-a') {
  const res = await uploadAndPublish(repo, {
    name: `fw-${hardwareId}-${n}.img`,
    bytes,
    hardwareIds: [hardwareId],
    version: `1.${n}.0`,
    releaseCounter: n,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { release: { id: number; deltas?: ReleaseDelta[] } }).release;
}

describe('publishing a release', () => {
  it('adds deltas from the previous releases of the hardware ID, linked from the image, served as targets', async () => {
    t = await createTestRepo();
    const images = releases(4);
    for (const [i, bytes] of images.entries()) await publish(t, i + 1, bytes);
    // Another hardware ID's release in between is never a base for ecu-a.
    await publish(t, 9, randomBytes(1000), 'ecu-b');
    const v5 = Buffer.concat([images[3] as Buffer, randomBytes(100)]);
    const release = await publish(t, 5, v5);

    const service = t.parts.context.service;
    const image = await service.findTarget('fw-ecu-a-5.img');
    const links = image?.file.custom.deltas as { target: string; baseSha256: string }[];
    // deltaBases (default 2): from releases 4 and 3.
    expect(links.map((l) => l.baseSha256)).toEqual([sha256Hex(images[3]!), sha256Hex(images[2]!)]);
    for (const [k, link] of links.entries()) {
      const base = images[3 - k] as Buffer;
      expect(link.target).toBe(deltaTargetName('fw-ecu-a-5.img', sha256Hex(base)));
      const delta = await service.findTarget(link.target);
      expect(delta?.file.custom).toMatchObject({
        kind: 'delta',
        target: 'fw-ecu-a-5.img',
        targetSha256: sha256Hex(v5),
        base: { sha256: sha256Hex(base), version: `1.${4 - k}.0` },
      });
      const sha256 = delta!.file.hashes.sha256!;
      const served = await t.parts.app.request(`/targets/${sha256}.${link.target}`);
      expect(served.status).toBe(200);
      const bytes = Buffer.from(await served.arrayBuffer());
      expect(bytes.length).toBe(delta!.file.length);
      expect(bytes.length).toBeLessThan(v5.length / 10);
      expect(applyDelta(base, bytes).equals(v5)).toBe(true);
    }
    // The first release of a hardware ID has nothing to come from.
    expect((await service.findTarget('fw-ecu-b-9.img'))?.file.custom.deltas).toBeUndefined();

    // The publish answer, and the release read back, give each delta's size (the OEM CLI shows it).
    const sizes = await Promise.all(
      links.map(async (l) => (await service.findTarget(l.target))!.file.length),
    );
    const expected = links.map((l, k) => ({
      image: 'fw-ecu-a-5.img',
      imageLength: v5.length,
      target: l.target,
      length: sizes[k],
      baseVersion: `1.${4 - k}.0`,
      baseSha256: l.baseSha256,
    }));
    expect(release.deltas).toEqual(expected);
    const read = await t.parts.app.request(`/api/v1/releases/${release.id}`, {
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(((await read.json()) as { release: { deltas: unknown } }).release.deltas).toEqual(
      expected,
    );
  });

  it('revoking a release drops its deltas from the targets metadata', async () => {
    t = await createTestRepo();
    const images = releases(2);
    for (const [i, bytes] of images.entries()) await publish(t, i + 1, bytes);
    const service = t.parts.context.service;
    const links = (await service.findTarget('fw-ecu-a-2.img'))?.file.custom.deltas as {
      target: string;
    }[];
    expect(links).toHaveLength(1);
    expect(await service.findTarget(links[0]!.target)).toBeDefined();
    const list = (await (
      await t.parts.app.request('/api/v1/releases', {
        headers: { authorization: `Bearer ${t.tokens.admin}` },
      })
    ).json()) as { releases: { id: number; targets: string[] }[] };
    const release = list.releases.find((r) => r.targets.includes('fw-ecu-a-2.img'));
    const revoke = await t.parts.app.request(`/api/v1/releases/${release!.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.revoke}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'test' }),
    });
    expect(revoke.status).toBe(200);
    expect(await service.findTarget('fw-ecu-a-2.img')).toBeUndefined();
    expect(await service.findTarget(links[0]!.target)).toBeUndefined();
  });

  it('publishes full images only when deltaBases is 0', async () => {
    t = await createTestRepo({ config: { deltaBases: 0 } });
    const images = releases(2);
    for (const [i, bytes] of images.entries()) await publish(t, i + 1, bytes);
    const image = await t.parts.context.service.findTarget('fw-ecu-a-2.img');
    expect(image?.file.custom.deltas).toBeUndefined();
  });
});

describe('allInOrder', () => {
  const later = <T>(ms: number, value: T, fail = false): Promise<T> =>
    new Promise((resolve, reject) =>
      setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms),
    );

  it('gives the results in order, whatever order they settle in', async () => {
    expect(await allInOrder([later(30, 'a'), later(1, 'b'), later(10, 'c')])).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('throws the first failure in order, only once every promise has settled', async () => {
    let lastDone = false;
    const last = later(40, 'slow').then((v) => {
      lastDone = true;
      return v;
    });
    await expect(
      allInOrder([later(20, 'first', true), later(1, 'second', true), last]),
    ).rejects.toThrow('first');
    expect(lastDone).toBe(true);
  });
});
