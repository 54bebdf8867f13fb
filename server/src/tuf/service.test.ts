import { Metadata, TargetFile, Targets } from '@tufjs/models';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  codeOf,
  createTestRepo,
  fakeFirmwareBundle,
  makeSigner,
  sha256Hex,
  type TestRepo,
  uploadAndPublish,
} from '../../test/support/fixtures.js';
import { expiryAfter } from './expiry.js';
import { buildRoot, parseMetadata, SPEC_VERSION } from './metadata.js';
import { serializeMetadata, signMetadata, type TufSigner } from './signer.js';

let t: TestRepo | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

async function put(
  repo: TestRepo,
  path: string,
  body: Uint8Array | string,
  token: string,
): Promise<Response> {
  return repo.parts.app.request(path, { method: 'PUT', headers: auth(token), body });
}

/** What an OEM tool does offline: targets N+1 over uploaded blobs, signed by the given holders. */
async function offlineTargets(
  repo: TestRepo,
  opts: {
    version?: number;
    signers: TufSigner[];
    image?: string;
    tamper?: (md: Metadata<Targets>) => void;
  },
): Promise<Uint8Array> {
  const image = new TextEncoder().encode(opts.image ?? 'offline image');
  const claims = { hardwareIds: ['ecu-a'], version: '3.0.0', releaseCounter: 3 };
  const bundle = new TextEncoder().encode(
    JSON.stringify(fakeFirmwareBundle({ sha256: sha256Hex(image), ...claims })),
  );
  expect((await put(repo, '/api/v1/firmware/off.bin', image, repo.tokens.publish)).status).toBe(
    201,
  );
  expect(
    (await put(repo, '/api/v1/firmware/off.bin.sigstore.json', bundle, repo.tokens.publish)).status,
  ).toBe(201);
  const current = parseMetadata(
    'targets',
    (await repo.repo.store.currentMetadata('targets'))!.bytes,
  );
  const md = new Metadata(
    new Targets({
      version: opts.version ?? current.signed.version + 1,
      specVersion: SPEC_VERSION,
      expires: expiryAfter(repo.now.value, 30 * 86400),
      ...(current.signed.delegations ? { delegations: current.signed.delegations } : {}),
      targets: {
        ...current.signed.targets,
        'off.bin': new TargetFile({
          path: 'off.bin',
          length: image.byteLength,
          hashes: { sha256: sha256Hex(image) },
          unrecognizedFields: {
            custom: { kind: 'firmware', ...claims, attestation: 'off.bin.sigstore.json' },
          },
        }),
        'off.bin.sigstore.json': new TargetFile({
          path: 'off.bin.sigstore.json',
          length: bundle.byteLength,
          hashes: { sha256: sha256Hex(bundle) },
          unrecognizedFields: { custom: { kind: 'attestation', subject: 'off.bin' } },
        }),
      },
    }),
  );
  opts.tamper?.(md);
  await signMetadata(md, opts.signers);
  return new TextEncoder().encode(JSON.stringify(md.toJSON(), null, 1));
}

describe('offline targets (PUT /api/v1/metadata/targets)', () => {
  it('accepts 2-of-3 signed targets, logs them and serves the exact uploaded bytes', async () => {
    t = await createTestRepo({ targetsKeys: { n: 3, k: 2 } });
    const bytes = await offlineTargets(t, { signers: t.signers.targetsKeys.slice(1) });
    const res = await put(t, '/api/v1/metadata/targets', bytes, t.tokens.publish);
    expect(res.status).toBe(201);
    const served = new Uint8Array(
      await (await t.parts.app.request('/metadata/2.targets.json')).arrayBuffer(),
    );
    expect(served).toEqual(bytes);
    const snapshot = await (await t.parts.app.request('/metadata/2.snapshot.json')).bytes();
    const meta = (
      JSON.parse(new TextDecoder().decode(snapshot)) as {
        signed: { meta: Record<string, { version: number }> };
      }
    ).signed.meta;
    expect(meta['targets.json']?.version).toBe(2);
    const entry = t.chain.entries.at(-1)!;
    expect(entry).toMatchObject({ metadataVersion: 2, metadataHash: `0x${sha256Hex(snapshot)}` });
    expect(entry.firmware).toEqual([
      { digest: `0x${sha256Hex('offline image')}`, hardwareId: 'ecu-a', version: 3 },
    ]);
  });

  it.each([
    {
      desc: 'signed by 1 of 3 (below threshold)',
      build: (r: TestRepo) => offlineTargets(r, { signers: r.signers.targetsKeys.slice(0, 1) }),
      wantStatus: 422,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'signed twice by the same key',
      build: async (r: TestRepo) => {
        const k = r.signers.targetsKeys[0]!;
        return offlineTargets(r, { signers: [k, k] });
      },
      wantStatus: 422,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'signed by keys root does not know',
      build: (r: TestRepo) => offlineTargets(r, { signers: [makeSigner(), makeSigner()] }),
      wantStatus: 422,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'signed by the snapshot key',
      build: (r: TestRepo) =>
        offlineTargets(r, { signers: [r.signers.snapshot, r.signers.targetsKeys[0]!] }),
      wantStatus: 422,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'not above the current version',
      build: (r: TestRepo) => offlineTargets(r, { version: 1, signers: r.signers.targetsKeys }),
      wantStatus: 409,
      wantCode: 'VERSION_NOT_INCREASING',
    },
    {
      desc: 'naming a blob that was never uploaded',
      build: (r: TestRepo) =>
        offlineTargets(r, {
          signers: r.signers.targetsKeys,
          tamper: (md) => {
            md.signed.targets['ghost.bin'] = new TargetFile({
              path: 'ghost.bin',
              length: 1,
              hashes: { sha256: '0'.repeat(64) },
            });
          },
        }),
      wantStatus: 422,
      wantCode: 'TARGETS_MISMATCH',
    },
    {
      desc: 'lying about a length',
      build: (r: TestRepo) =>
        offlineTargets(r, {
          signers: r.signers.targetsKeys,
          tamper: (md) => {
            const f = md.signed.targets['off.bin']!;
            md.signed.targets['off.bin'] = new TargetFile({
              path: f.path,
              length: f.length + 1,
              hashes: f.hashes,
              unrecognizedFields: f.unrecognizedFields,
            });
          },
        }),
      wantStatus: 422,
      wantCode: 'TARGETS_MISMATCH',
    },
    {
      desc: 'naming a traversal path',
      build: (r: TestRepo) =>
        offlineTargets(r, {
          signers: r.signers.targetsKeys,
          tamper: (md) => {
            const f = md.signed.targets['off.bin']!;
            md.signed.targets['../off.bin'] = new TargetFile({
              path: '../off.bin',
              length: f.length,
              hashes: f.hashes,
            });
          },
        }),
      wantStatus: 400,
      wantCode: 'INVALID_NAME',
    },
    {
      desc: 'not JSON',
      build: () => Promise.resolve(new TextEncoder().encode('{"signed":')),
      wantStatus: 400,
      wantCode: 'METADATA_MALFORMED',
    },
    {
      desc: 'a root instead of targets',
      build: async (r: TestRepo) => (await r.repo.store.currentMetadata('root'))!.bytes,
      wantStatus: 400,
      wantCode: 'METADATA_MALFORMED',
    },
  ])(
    'rejects targets $desc with $wantCode and publishes nothing',
    async ({ build, wantStatus, wantCode }) => {
      t = await createTestRepo({ targetsKeys: { n: 3, k: 2 } });
      const res = await put(t, '/api/v1/metadata/targets', await build(t), t.tokens.publish);
      expect(res.status).toBe(wantStatus);
      expect(await codeOf(res)).toBe(wantCode);
      expect(t.chain.entries).toHaveLength(1);
      expect(await t.repo.store.publishedVersions('targets')).toEqual([1]);
    },
  );

  it('publishes releases into the online bins while top-level targets stays offline', async () => {
    t = await createTestRepo({ targetsKeys: { n: 2, k: 2 } });
    const res = await uploadAndPublish(t, { name: 'a.bin' });
    expect(res.status).toBe(201);
    expect(await t.repo.store.publishedVersions('targets')).toEqual([1]);
    expect((await t.parts.context.service.findTarget('a.bin'))?.role).toMatch(/^bins-[0-3]$/);
  });

  it('refuses POST /api/v1/releases with 409 OFFLINE_TARGETS_REQUIRED when offline targets delegates no bins', async () => {
    t = await createTestRepo({ targetsKeys: { n: 2, k: 2 } });
    const current = parseMetadata(
      'targets',
      (await t.repo.store.currentMetadata('targets'))!.bytes,
    );
    const flat = new Metadata(
      new Targets({
        version: 2,
        specVersion: SPEC_VERSION,
        expires: expiryAfter(t.now.value, 30 * 86400),
        targets: current.signed.targets,
      }),
    );
    await signMetadata(flat, t.signers.targetsKeys);
    expect(
      (await put(t, '/api/v1/metadata/targets', serializeMetadata(flat), t.tokens.publish)).status,
    ).toBe(201);
    const res = await uploadAndPublish(t, { name: 'a.bin' });
    expect(res.status).toBe(409);
    expect(await codeOf(res)).toBe('OFFLINE_TARGETS_REQUIRED');
  });
});

describe('revoking a release', () => {
  it('re-signs the bins that list it, logs that snapshot and stops serving the image', async () => {
    t = await createTestRepo();
    const image = new TextEncoder().encode('bad image');
    const pub = await uploadAndPublish(t, { name: 'bad.bin', bytes: image });
    expect((await uploadAndPublish(t, { name: 'good.bin' })).status).toBe(201);
    const { release } = (await pub.json()) as { release: { id: number } };
    expect((await t.parts.app.request(`/targets/${sha256Hex(image)}.bad.bin`)).status).toBe(200);

    const res = await t.parts.app.request(`/api/v1/releases/${release.id}/revoke`, {
      method: 'POST',
      headers: { ...auth(t.tokens.revoke), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'CVE-2026-0001' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      release: { status: string; revocation: { metadataVersion: number; metadataHash: string } };
    };
    expect(body.release.status).toBe('revoked');
    expect(body.release.revocation.metadataVersion).toBe(4);
    expect(t.chain.entries.at(-1)).toMatchObject({
      metadataVersion: 4,
      metadataHash: body.release.revocation.metadataHash,
      firmware: [],
    });
    const service = t.parts.context.service;
    expect(await service.findTarget('bad.bin')).toBeUndefined();
    expect(await service.findTarget('bad.bin.sigstore.json')).toBeUndefined();
    expect(await service.findTarget('good.bin')).toBeDefined();
    expect(t.chain.recalls).toContainEqual(
      expect.objectContaining({ digests: [`0x${sha256Hex(image)}`] }),
    );
    expect((await t.parts.app.request(`/targets/${sha256Hex(image)}.bad.bin`)).status).toBe(404);

    const again = await t.parts.app.request(`/api/v1/releases/${release.id}/revoke`, {
      method: 'POST',
      headers: { ...auth(t.tokens.revoke), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'again' }),
    });
    expect(again.status).toBe(409);
    expect(await codeOf(again)).toBe('RELEASE_ALREADY_REVOKED');
  });

  it('needs the revoke scope', async () => {
    t = await createTestRepo();
    const res = await t.parts.app.request('/api/v1/releases/1/revoke', {
      method: 'POST',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x' }),
    });
    expect(res.status).toBe(403);
  });

  it('answers 404 RELEASE_NOT_FOUND for an unknown release', async () => {
    t = await createTestRepo();
    const res = await t.parts.app.request('/api/v1/releases/99/revoke', {
      method: 'POST',
      headers: { ...auth(t.tokens.revoke), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x' }),
    });
    expect(res.status).toBe(404);
    expect(await codeOf(res)).toBe('RELEASE_NOT_FOUND');
  });
});

describe('root rotation (PUT /api/v1/metadata/root)', () => {
  async function rootV2(
    repo: TestRepo,
    signWith: (newRootKeys: TufSigner[]) => TufSigner[],
    version = 2,
  ): Promise<Uint8Array> {
    const newRootKeys = [repo.signers.root[0]!, makeSigner()];
    const root = buildRoot({
      version,
      expires: expiryAfter(repo.now.value, 365 * 86400),
      roles: {
        root: { keys: newRootKeys, threshold: 2 },
        targets: { keys: [repo.signers.targets], threshold: 1 },
        snapshot: { keys: [repo.signers.snapshot], threshold: 1 },
        timestamp: { keys: [repo.signers.timestamp], threshold: 1 },
      },
    });
    const md = new Metadata(root);
    await signMetadata(md, signWith(newRootKeys));
    return serializeMetadata(md);
  }

  it('accepts root v2 signed by both thresholds and re-signs snapshot and timestamp', async () => {
    t = await createTestRepo();
    const repo = t;
    const bytes = await rootV2(repo, (next) => [...repo.signers.root, next[1]!]);
    const res = await put(repo, '/api/v1/metadata/root', bytes, repo.tokens.admin);
    expect(res.status).toBe(201);
    expect(
      new Uint8Array(await (await repo.parts.app.request('/metadata/2.root.json')).arrayBuffer()),
    ).toEqual(bytes);
    const status = await repo.parts.context.service.roleStatus();
    expect(status.find((r) => r.role === 'snapshot')?.version).toBe(2);
    expect(status.find((r) => r.role === 'timestamp')?.version).toBe(2);
  });

  it.each([
    {
      desc: 'signed only by the new keys',
      signWith: (r: TestRepo, next: TufSigner[]) => next,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'signed only by the old keys',
      signWith: (r: TestRepo) => r.signers.root,
      wantCode: 'METADATA_SIGNATURE_INVALID',
    },
  ])('rejects a root $desc', async ({ signWith, wantCode }) => {
    t = await createTestRepo();
    const repo = t;
    const res = await put(
      repo,
      '/api/v1/metadata/root',
      await rootV2(repo, (next) => signWith(repo, next)),
      repo.tokens.admin,
    );
    expect(res.status).toBe(422);
    expect(await codeOf(res)).toBe(wantCode);
    expect((await repo.parts.app.request('/metadata/2.root.json')).status).toBe(404);
  });

  it('rejects a version that skips ahead with ROOT_ROTATION_INVALID', async () => {
    t = await createTestRepo();
    const repo = t;
    const bytes = await rootV2(repo, (next) => [...repo.signers.root, next[1]!], 3);
    const res = await put(repo, '/api/v1/metadata/root', bytes, repo.tokens.admin);
    expect(res.status).toBe(422);
    expect(await codeOf(res)).toBe('ROOT_ROTATION_INVALID');
  });

  it('needs the admin scope', async () => {
    t = await createTestRepo();
    const res = await put(t, '/api/v1/metadata/root', '{}', t.tokens.publish);
    expect(res.status).toBe(403);
  });
});

describe('concurrent publishers', () => {
  it('serialize: every publish gets its own version and none loses another one’s targets', async () => {
    t = await createTestRepo();
    const repo = t;
    repo.chain.delayMs = 20;
    const names = ['c1.bin', 'c2.bin', 'c3.bin', 'c4.bin', 'c5.bin'];
    const results = await Promise.all(
      names.map((name, i) => uploadAndPublish(repo, { name, releaseCounter: i + 1 })),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const versions = await Promise.all(
      results.map(
        async (r) =>
          ((await r.json()) as { release: { metadataVersion: number } }).release.metadataVersion,
      ),
    );
    expect([...versions].sort()).toEqual([2, 3, 4, 5, 6]);
    expect(repo.chain.entries.map((e) => e.metadataVersion)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const name of names) {
      expect(await repo.parts.context.service.findTarget(name)).toBeDefined();
    }
  });

  it('never let a reader see a torn set: timestamp -> snapshot -> every role it names resolve and match', async () => {
    t = await createTestRepo();
    const repo = t;
    repo.chain.delayMs = 5;
    let publishing = true;
    const publishes = (async () => {
      for (let i = 1; i <= 6; i++) {
        expect(
          (await uploadAndPublish(repo, { name: `r${i}.bin`, releaseCounter: i })).status,
        ).toBe(201);
      }
    })().finally(() => {
      publishing = false;
    });
    let reads = 0;
    while (publishing) {
      const ts = (await (await repo.parts.app.request('/metadata/timestamp.json')).json()) as {
        signed: { meta: Record<string, { version: number; hashes: { sha256: string } }> };
      };
      const snapMeta = ts.signed.meta['snapshot.json']!;
      const snapBytes = new Uint8Array(
        await (
          await repo.parts.app.request(`/metadata/${snapMeta.version}.snapshot.json`)
        ).arrayBuffer(),
      );
      expect(sha256Hex(snapBytes)).toBe(snapMeta.hashes.sha256);
      const snap = JSON.parse(new TextDecoder().decode(snapBytes)) as {
        signed: { meta: Record<string, { version: number }> };
      };
      for (const [file, meta] of Object.entries(snap.signed.meta)) {
        const res = await repo.parts.app.request(`/metadata/${meta.version}.${file}`);
        expect(res.status).toBe(200);
        const md = (await res.json()) as { signed: { version: number } };
        expect(md.signed.version).toBe(meta.version);
      }
      reads += 1;
      // reads resolve through microtasks only; let the publishers' timers run
      await new Promise((r) => setImmediate(r));
    }
    await publishes;
    expect(reads).toBeGreaterThan(3);
  });
});

describe('GET /api/v1/status', () => {
  it('reports each role’s version, expiry, threshold and online keys', async () => {
    t = await createTestRepo();
    const res = await t.parts.app.request('/api/v1/status', { headers: auth(t.tokens.publish) });
    expect(res.status).toBe(200);
    const { roles } = (await res.json()) as {
      roles: {
        role: string;
        signing: string;
        threshold: number;
        onlineKeyIds: string[];
        secondsToExpiry: number;
      }[];
    };
    expect(roles.map((r) => [r.role, r.signing, r.threshold])).toEqual([
      ['root', 'offline', 2],
      ['targets', 'online', 1],
      ['snapshot', 'online', 1],
      ['timestamp', 'online', 1],
      ['bins', 'online', 1],
      ['bins-*', 'online', 1],
    ]);
    expect(roles.find((r) => r.role === 'bins-*')).toMatchObject({ count: 4 });
    expect(roles.find((r) => r.role === 'timestamp')?.onlineKeyIds).toEqual([
      t.signers.timestamp.keyId,
    ]);
    expect(roles.find((r) => r.role === 'timestamp')?.secondsToExpiry).toBeGreaterThan(86000);
  });
});

describe('ensureSnapshotLogged', () => {
  it('logs and publishes a fresh snapshot when the served one is not on chain, and does nothing when it is', async () => {
    t = await createTestRepo();
    const repo = t;
    const lookup = {
      findRelease(hash: string) {
        const entry = repo.chain.entries.find((e) => e.metadataHash === hash);
        if (!entry) {
          return Promise.reject(
            Object.assign(new Error('not logged'), { code: 'METADATA_NOT_LOGGED' }),
          );
        }
        return Promise.resolve({
          txHash: `0x${'1'.repeat(64)}`,
          blockNumber: 1,
          blockHash: `0x${'2'.repeat(64)}`,
        });
      },
    };
    const service = repo.parts.context.service;
    expect(await service.ensureSnapshotLogged(lookup)).toBe(false);
    // an upgraded flat repository logged targets, not the snapshot it serves
    repo.chain.entries.length = 0;
    expect(await service.ensureSnapshotLogged(lookup)).toBe(true);
    const served = await (await repo.parts.app.request('/metadata/2.snapshot.json')).bytes();
    expect(repo.chain.entries.map((e) => e.metadataHash)).toEqual([`0x${sha256Hex(served)}`]);
    expect(await service.ensureSnapshotLogged(lookup)).toBe(false);
  });
});
