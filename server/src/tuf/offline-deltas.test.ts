import { randomBytes } from 'node:crypto';
import { Metadata, TargetFile, Targets } from '@tufjs/models';
import { applyDelta } from '@tufchain/transparency/delta';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  codeOf,
  createTestRepo,
  fakeFirmwareBundle,
  sha256Hex,
  type TestRepo,
} from '../../test/support/fixtures.js';
import { deltaTargetName } from './deltas.js';
import { expiryAfter } from './expiry.js';
import { parseMetadata, SPEC_VERSION } from './metadata.js';
import { serializeMetadata, signMetadata } from './signer.js';

let t: TestRepo | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

interface DeltaTargetJson {
  path: string;
  length: number;
  hashes: { sha256: string; sha512: string };
  custom: Record<string, unknown>;
}
interface DeltasAnswer {
  images: {
    name: string;
    sha256: string;
    deltas: DeltaTargetJson[];
    links: { target: string; baseSha256: string; baseVersion: string }[];
  }[];
}

const v1 = randomBytes(128 * 1024);
const v2 = Buffer.concat([v1.subarray(0, 5000), randomBytes(700), v1.subarray(5000)]);

function put(repo: TestRepo, path: string, body: Uint8Array, token = repo.tokens.publish) {
  return repo.parts.app.request(path, { method: 'PUT', headers: auth(token), body });
}

/** `token` null: no authorization header. */
function askDeltas(repo: TestRepo, body: unknown, token: string | null = repo.tokens.publish) {
  return repo.parts.app.request('/api/v1/deltas', {
    method: 'POST',
    headers: { ...(token ? auth(token) : {}), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** An image and its bundle as the offline signers list them, uploaded first. */
async function stageImage(
  repo: TestRepo,
  name: string,
  bytes: Uint8Array,
  claims: { version: string; releaseCounter: number },
): Promise<Record<string, TargetFile>> {
  const c = { hardwareIds: ['ecu-a'], ...claims };
  const bundle = new TextEncoder().encode(
    JSON.stringify(fakeFirmwareBundle({ sha256: sha256Hex(bytes), ...c })),
  );
  expect((await put(repo, `/api/v1/firmware/${name}`, bytes)).status).toBe(201);
  expect((await put(repo, `/api/v1/firmware/${name}.sigstore.json`, bundle)).status).toBe(201);
  return {
    [name]: new TargetFile({
      path: name,
      length: bytes.byteLength,
      hashes: { sha256: sha256Hex(bytes) },
      unrecognizedFields: {
        custom: { kind: 'firmware', ...c, attestation: `${name}.sigstore.json` },
      },
    }),
    [`${name}.sigstore.json`]: new TargetFile({
      path: `${name}.sigstore.json`,
      length: bundle.byteLength,
      hashes: { sha256: sha256Hex(bundle) },
      unrecognizedFields: { custom: { kind: 'attestation', subject: name } },
    }),
  };
}

/** Top-level targets N+1 without delegations (a flat repository), signed by both holders. */
async function uploadFlatTargets(repo: TestRepo, added: Record<string, TargetFile>) {
  const current = parseMetadata(
    'targets',
    (await repo.repo.store.currentMetadata('targets'))!.bytes,
  );
  const md = new Metadata(
    new Targets({
      version: current.signed.version + 1,
      specVersion: SPEC_VERSION,
      expires: expiryAfter(repo.now.value, 30 * 86400),
      targets: { ...current.signed.targets, ...added },
    }),
  );
  await signMetadata(md, repo.signers.targetsKeys);
  return put(repo, '/api/v1/metadata/targets', serializeMetadata(md));
}

/** A flat repository signed offline, with fw-1.img (1.0.0) released and fw-2.img uploaded. */
async function flatRepoWithV1(config: Parameters<typeof createTestRepo>[0] = {}) {
  const repo = await createTestRepo({ targetsKeys: { n: 2, k: 2 }, ...config });
  const first = await stageImage(repo, 'fw-1.img', v1, { version: '1.0.0', releaseCounter: 1 });
  expect((await uploadFlatTargets(repo, first)).status).toBe(201);
  const second = await stageImage(repo, 'fw-2.img', v2, { version: '2.0.0', releaseCounter: 2 });
  return { repo, second };
}

const fw2 = { name: 'fw-2.img', sha256: sha256Hex(v2), hardwareIds: ['ecu-a'], releaseCounter: 2 };

describe('POST /api/v1/deltas', () => {
  it('refuses a request without a token (401) or without the publish scope (403)', async () => {
    t = (await flatRepoWithV1()).repo;
    const none = await askDeltas(t, { images: [fw2] }, null);
    expect(none.status).toBe(401);
    expect(await codeOf(none)).toBe('UNAUTHENTICATED');
    const revoke = await askDeltas(t, { images: [fw2] }, t.tokens.revoke);
    expect(revoke.status).toBe(403);
    expect(await codeOf(revoke)).toBe('INSUFFICIENT_SCOPE');
  });

  it.each([
    { desc: 'no images', body: { images: [] }, wantStatus: 400, wantCode: 'INVALID_REQUEST' },
    {
      desc: 'a traversing name',
      body: { images: [{ ...fw2, name: '../fw-2.img' }] },
      wantStatus: 400,
      wantCode: 'INVALID_NAME',
    },
    {
      desc: 'a digest that is not 64 hex',
      body: { images: [{ ...fw2, sha256: 'ABC' }] },
      wantStatus: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'no hardware ID',
      body: { images: [{ ...fw2, hardwareIds: [] }] },
      wantStatus: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'more images than a release may add (maxTargetsPerRelease 2)',
      body: { images: ['a', 'b', 'c'].map((n) => ({ ...fw2, name: `${n}.img` })) },
      wantStatus: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'the same image twice',
      body: { images: [fw2, fw2] },
      wantStatus: 400,
      wantCode: 'DUPLICATE_TARGET',
    },
    {
      desc: 'an image whose blob was never uploaded',
      body: { images: [{ ...fw2, sha256: sha256Hex('never uploaded') }] },
      wantStatus: 422,
      wantCode: 'FIRMWARE_NOT_UPLOADED',
    },
    {
      desc: 'an image name already released',
      body: { images: [{ ...fw2, name: 'fw-1.img' }] },
      wantStatus: 409,
      wantCode: 'TARGET_ALREADY_RELEASED',
    },
  ])('refuses $desc with $wantCode', async ({ body, wantStatus, wantCode }) => {
    t = (await flatRepoWithV1({ config: { maxTargetsPerRelease: 2 } })).repo;
    const res = await askDeltas(t, body);
    expect(res.status).toBe(wantStatus);
    expect(await codeOf(res)).toBe(wantCode);
  });

  it('answers the delta from the previous release as a target whose blob rebuilds the image, and the same answer twice', async () => {
    t = (await flatRepoWithV1()).repo;
    const res = await askDeltas(t, { images: [fw2] });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as DeltasAnswer;
    const [image] = answer.images;
    expect(image?.name).toBe('fw-2.img');
    expect(image?.links).toEqual([
      {
        target: deltaTargetName('fw-2.img', sha256Hex(v1)),
        baseSha256: sha256Hex(v1),
        baseVersion: '1.0.0',
      },
    ]);
    const [delta] = image!.deltas;
    expect(delta?.path).toBe(image!.links[0]!.target);
    expect(delta?.custom).toMatchObject({
      kind: 'delta',
      target: 'fw-2.img',
      targetSha256: sha256Hex(v2),
      targetLength: v2.length,
      base: { name: 'fw-1.img', version: '1.0.0', sha256: sha256Hex(v1), length: v1.length },
    });
    const bytes = await t.repo.blobs.read(delta!.hashes.sha256);
    expect(sha256Hex(bytes)).toBe(delta!.hashes.sha256);
    expect(bytes.length).toBe(delta!.length);
    expect(bytes.length).toBeLessThan(v2.length / 10);
    expect(applyDelta(v1, bytes).equals(v2)).toBe(true);
    expect((await t.repo.store.blobBySha256(delta!.hashes.sha256))?.sha512).toBe(
      delta!.hashes.sha512,
    );

    const again = await askDeltas(t, { images: [fw2] });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(answer);
  });

  it('answers no deltas for the first release of a hardware ID', async () => {
    t = (await flatRepoWithV1()).repo;
    const res = await askDeltas(t, { images: [{ ...fw2, hardwareIds: ['ecu-new'] }] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as DeltasAnswer).images).toEqual([
      { name: 'fw-2.img', sha256: sha256Hex(v2), deltas: [], links: [] },
    ]);
  });
});

describe('offline targets that list the deltas the server made (flat repository)', () => {
  /** fw-2.img with its custom.deltas links, and the delta targets, as the CLI lists them. */
  async function signedWithDeltas(repo: TestRepo, second: Record<string, TargetFile>) {
    const answer = (await (await askDeltas(repo, { images: [fw2] })).json()) as DeltasAnswer;
    const [image] = answer.images;
    const listed: Record<string, TargetFile> = { ...second };
    const old = listed['fw-2.img']!;
    listed['fw-2.img'] = new TargetFile({
      path: old.path,
      length: old.length,
      hashes: old.hashes,
      unrecognizedFields: { custom: { ...old.custom, deltas: image!.links } },
    });
    for (const d of image!.deltas) {
      listed[d.path] = new TargetFile({
        path: d.path,
        length: d.length,
        hashes: d.hashes,
        unrecognizedFields: { custom: d.custom as never },
      });
    }
    return { listed, delta: image!.deltas[0]! };
  }

  it('publishes them with the image in one logged snapshot, served as targets, reported as the release deltas', async () => {
    const flat = await flatRepoWithV1();
    t = flat.repo;
    const { listed, delta } = await signedWithDeltas(t, flat.second);
    const entries = t.chain.entries.length;
    const res = await uploadFlatTargets(t, listed);
    expect(res.status).toBe(201);
    const { release } = (await res.json()) as {
      release: { metadataVersion: number; deltas: { target: string; length: number }[] };
    };
    expect(release.deltas).toEqual([
      expect.objectContaining({ target: delta.path, length: delta.length, baseVersion: '1.0.0' }),
    ]);
    expect(t.chain.entries).toHaveLength(entries + 1);
    const snapshot = await (
      await t.parts.app.request(`/metadata/${release.metadataVersion}.snapshot.json`)
    ).bytes();
    expect(t.chain.entries.at(-1)).toMatchObject({
      metadataVersion: release.metadataVersion,
      metadataHash: `0x${sha256Hex(snapshot)}`,
      firmware: [{ digest: `0x${sha256Hex(v2)}`, hardwareId: 'ecu-a', version: 2 }],
    });
    const located = await t.parts.context.service.findTarget(delta.path);
    expect(located?.role).toBe('targets');
    const served = await t.parts.app.request(`/targets/${delta.hashes.sha256}.${delta.path}`);
    expect(served.status).toBe(200);
    expect(applyDelta(v1, Buffer.from(await served.arrayBuffer())).equals(v2)).toBe(true);
  });

  it.each([
    {
      desc: 'a length that is not the blob',
      tamper: (d: DeltaTargetJson) => ({ ...d, length: d.length + 1 }),
    },
    {
      desc: 'a sha512 that is not the blob',
      tamper: (d: DeltaTargetJson) => ({ ...d, hashes: { ...d.hashes, sha512: '0'.repeat(128) } }),
    },
    {
      desc: 'a sha256 no blob has',
      tamper: (d: DeltaTargetJson) => ({
        ...d,
        hashes: { sha256: sha256Hex('no such delta'), sha512: d.hashes.sha512 },
      }),
    },
  ])(
    'refuses a delta target with $desc with TARGETS_MISMATCH and publishes nothing',
    async ({ tamper }) => {
      const flat = await flatRepoWithV1();
      t = flat.repo;
      const { listed, delta } = await signedWithDeltas(t, flat.second);
      const bad = tamper(delta);
      listed[delta.path] = new TargetFile({
        path: bad.path,
        length: bad.length,
        hashes: bad.hashes,
        unrecognizedFields: { custom: bad.custom as never },
      });
      const entries = t.chain.entries.length;
      const res = await uploadFlatTargets(t, listed);
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('TARGETS_MISMATCH');
      expect(t.chain.entries).toHaveLength(entries);
      expect(await t.parts.context.service.findTarget('fw-2.img')).toBeUndefined();
    },
  );
});
