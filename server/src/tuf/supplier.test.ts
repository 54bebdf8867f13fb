import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { deltaTargetPath } from '@tufchain/transparency/delta';
import { Metadata, TargetFile, Targets } from '@tufjs/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  auth,
  codeOf,
  createTestRepo,
  fakeFirmwareBundle,
  makeSigner,
  sha256Hex,
  type TestRepo,
} from '../../test/support/fixtures.js';
import { expiryAfter } from './expiry.js';
import { HARDWARE_IDS_FIELD } from './layout.js';
import { parseMetadata, SPEC_VERSION } from './metadata.js';
import { serializeMetadata, signMetadata, type TufSigner } from './signer.js';

let t: TestRepo;
let acmeKeys: TufSigner[];
beforeEach(async () => {
  t = await createTestRepo();
  acmeKeys = [makeSigner(), makeSigner('ecdsa-p256')];
});
afterEach(async () => {
  await t.cleanup();
});

function addSupplier(
  id: string,
  hardwareIds: string[],
  keys: TufSigner[],
  threshold: number,
): Promise<Response> {
  return Promise.resolve(
    t.parts.app.request('/api/v1/suppliers', {
      method: 'POST',
      headers: { ...auth(t.tokens.admin), 'content-type': 'application/json' },
      body: JSON.stringify({ id, hardwareIds, keys: keys.map((k) => k.publicKey), threshold }),
    }),
  );
}

async function upload(name: string, bytes: Uint8Array): Promise<void> {
  const res = await t.parts.app.request(`/api/v1/firmware/${name}`, {
    method: 'PUT',
    headers: auth(t.tokens.publish),
    body: bytes,
  });
  expect(res.status).toBe(201);
}

/** What a supplier's tool does offline: its role's next version over uploaded blobs. */
async function supplierMetadata(opts: {
  path: string;
  hardwareIds: string[];
  signers: TufSigner[];
  version?: number;
  delegate?: boolean;
  image?: Uint8Array;
  releaseCounter?: number;
  /** Targets the role listed before (kept as they are). */
  previous?: Uint8Array;
}): Promise<Uint8Array> {
  const image = opts.image ?? new TextEncoder().encode(`supplier image ${opts.path}`);
  const claims = {
    hardwareIds: opts.hardwareIds,
    version: `1.${opts.releaseCounter ?? 14}.0`,
    releaseCounter: opts.releaseCounter ?? 14,
  };
  const bundle = new TextEncoder().encode(
    JSON.stringify(fakeFirmwareBundle({ sha256: sha256Hex(image), ...claims })),
  );
  // Upload names are flat; the signed metadata places the blobs under the supplier's paths.
  const flat = opts.path.replace('/', '--');
  await upload(flat, image);
  await upload(`${flat}.sigstore.json`, bundle);
  const targets = Targets.fromJSON({
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: opts.version ?? 1,
    expires: expiryAfter(t.now.value, 30 * 86400),
    targets: {
      ...(opts.previous
        ? (parseMetadata('targets', opts.previous).signed.toJSON().targets as Record<
            string,
            ReturnType<TargetFile['toJSON']>
          >)
        : {}),
      [opts.path]: new TargetFile({
        path: opts.path,
        length: image.byteLength,
        hashes: { sha256: sha256Hex(image) },
        unrecognizedFields: {
          custom: { kind: 'firmware', ...claims, attestation: `${opts.path}.sigstore.json` },
        },
      }).toJSON(),
      [`${opts.path}.sigstore.json`]: new TargetFile({
        path: `${opts.path}.sigstore.json`,
        length: bundle.byteLength,
        hashes: { sha256: sha256Hex(bundle) },
        unrecognizedFields: { custom: { kind: 'attestation', subject: opts.path } },
      }).toJSON(),
    },
    ...(opts.delegate
      ? {
          delegations: {
            keys: {},
            roles: [{ name: 'sub', keyids: [], threshold: 1, terminating: true, paths: ['*'] }],
          },
        }
      : {}),
  });
  const md = new Metadata(targets);
  await signMetadata(md, opts.signers);
  return serializeMetadata(md);
}

function putSupplier(id: string, bytes: Uint8Array): Promise<Response> {
  return Promise.resolve(
    t.parts.app.request(`/api/v1/suppliers/${id}/metadata`, {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: bytes,
    }),
  );
}

describe('POST /api/v1/suppliers', () => {
  it('delegates the hardware IDs to the supplier before the bins, in a new logged snapshot', async () => {
    const res = await addSupplier('acme', ['acme-brake', 'acme-abs'], acmeKeys, 2);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ role: 'supplier-acme', metadataVersion: 2 });
    const top = parseMetadata('targets', (await t.repo.store.currentMetadata('targets'))!.bytes);
    expect(top.signed.version).toBe(2);
    const roles = Object.values(top.signed.delegations!.roles!);
    expect(roles.map((r) => r.name)).toEqual(['supplier-acme', 'bins']);
    expect(roles[0]).toMatchObject({
      threshold: 2,
      terminating: true,
      paths: ['acme-brake/*', 'acme-abs/*'],
    });
    expect(roles[0]!.unrecognizedFields?.[HARDWARE_IDS_FIELD]).toEqual(['acme-brake', 'acme-abs']);
    expect(t.chain.entries.map((e) => e.metadataVersion)).toEqual([1, 2]);
    const status = await t.parts.context.service.roleStatus();
    expect(status.find((r) => r.role === 'supplier-acme')).toMatchObject({
      hardwareIds: ['acme-brake', 'acme-abs'],
      signing: 'offline',
      version: 0,
    });
  });

  it.each([
    {
      desc: 'an id that already exists',
      id: 'acme',
      hw: ['other-hw'],
      code: 'SUPPLIER_EXISTS',
      status: 409,
    },
    {
      desc: 'a hardware ID another supplier owns',
      id: 'bolt',
      hw: ['acme-brake'],
      code: 'DELEGATION_INVALID',
      status: 422,
    },
    {
      desc: 'a traversal hardware ID',
      id: 'bolt',
      hw: ['../x'],
      code: 'INVALID_REQUEST',
      status: 400,
    },
    {
      desc: 'an id with capitals',
      id: 'Bolt',
      hw: ['bolt-hw'],
      code: 'INVALID_NAME',
      status: 400,
    },
  ])('refuses $desc with $code', async ({ id, hw, code, status }) => {
    expect((await addSupplier('acme', ['acme-brake'], acmeKeys, 1)).status).toBe(201);
    const res = await addSupplier(id, hw, [makeSigner()], 1);
    expect(res.status).toBe(status);
    expect(await codeOf(res)).toBe(code);
    expect(t.chain.entries).toHaveLength(2);
  });

  it.each([
    {
      desc: 'an ed25519 key that is not 32 bytes of hex',
      key: () => ({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'zz' } }),
    },
    {
      desc: 'an ed25519 key in upper-case hex (another key id than its signatures carry)',
      key: () => {
        const k = makeSigner().publicKey;
        return { ...k, keyval: { public: k.keyval.public.toUpperCase() } };
      },
    },
    {
      desc: 'an ECDSA key whose PEM does not parse',
      key: () => ({
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: { public: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' },
      }),
    },
    {
      desc: 'a key whose type is not its scheme',
      key: () => ({ ...makeSigner().publicKey, scheme: 'ecdsa-sha2-nistp256' }),
    },
    {
      desc: 'an ECDSA key on P-384',
      key: () => ({
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: {
          public: generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
            .publicKey.export({ type: 'spki', format: 'pem' })
            .toString(),
        },
      }),
    },
  ])('refuses $desc with 400 PUBLIC_KEY_INVALID and delegates nothing', async ({ key }) => {
    const res = await t.parts.app.request('/api/v1/suppliers', {
      method: 'POST',
      headers: { ...auth(t.tokens.admin), 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'acme',
        hardwareIds: ['acme-brake'],
        keys: [key()],
        threshold: 1,
      }),
    });
    expect([res.status, await codeOf(res)]).toEqual([400, 'PUBLIC_KEY_INVALID']);
    expect(t.chain.entries).toHaveLength(1);
  });

  it('needs the admin scope', async () => {
    const res = await t.parts.app.request('/api/v1/suppliers', {
      method: 'POST',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'acme',
        hardwareIds: ['x'],
        keys: [acmeKeys[0]!.publicKey],
        threshold: 1,
      }),
    });
    expect(res.status).toBe(403);
  });
});

describe('PUT /api/v1/suppliers/{id}/metadata', () => {
  beforeEach(async () => {
    expect((await addSupplier('acme', ['acme-brake'], acmeKeys, 2)).status).toBe(201);
    expect((await addSupplier('bolt', ['bolt-gw'], [makeSigner()], 1)).status).toBe(201);
  });

  it('publishes the supplier-signed role: logged with its firmware, then resolvable and served', async () => {
    const bytes = await supplierMetadata({
      path: 'acme-brake/brake-1.4.0.bin',
      hardwareIds: ['acme-brake'],
      signers: acmeKeys,
    });
    const res = await putSupplier('acme', bytes);
    expect(res.status, await res.clone().text()).toBe(201);
    const entry = t.chain.entries.at(-1)!;
    expect(entry.firmware).toEqual([
      {
        digest: `0x${sha256Hex('supplier image acme-brake/brake-1.4.0.bin')}`,
        hardwareId: 'acme-brake',
        version: 14,
      },
    ]);
    const located = await t.parts.context.service.findTarget('acme-brake/brake-1.4.0.bin');
    expect(located?.role).toBe('supplier-acme');
    expect(
      new Uint8Array(
        await (await t.parts.app.request('/metadata/1.supplier-acme.json')).arrayBuffer(),
      ),
    ).toEqual(bytes);
    const image = await t.parts.app.request(
      `/targets/acme-brake/${sha256Hex('supplier image acme-brake/brake-1.4.0.bin')}.brake-1.4.0.bin`,
    );
    expect(image.status).toBe(200);
    const hint = await t.parts.app.request('/api/v1/hardware/acme-brake/latest');
    expect(await hint.json()).toMatchObject({
      name: 'acme-brake/brake-1.4.0.bin',
      role: 'supplier-acme',
    });
  });

  it.each([
    {
      desc: "firmware claiming another supplier's hardware ID",
      build: () =>
        supplierMetadata({
          path: 'acme-brake/evil.bin',
          hardwareIds: ['bolt-gw'],
          signers: acmeKeys,
        }),
      status: 422,
      code: 'HARDWARE_ID_NOT_DELEGATED',
    },
    {
      desc: "firmware claiming its own and an OEM's hardware ID",
      build: () =>
        supplierMetadata({
          path: 'acme-brake/evil.bin',
          hardwareIds: ['acme-brake', 'oem-gateway'],
          signers: acmeKeys,
        }),
      status: 422,
      code: 'HARDWARE_ID_NOT_DELEGATED',
    },
    {
      desc: "a target under another supplier's path",
      build: () =>
        supplierMetadata({
          path: 'bolt-gw/evil.bin',
          hardwareIds: ['acme-brake'],
          signers: acmeKeys,
        }),
      status: 422,
      code: 'HARDWARE_ID_NOT_DELEGATED',
    },
    {
      desc: 'a flat target name outside its paths',
      build: () =>
        supplierMetadata({ path: 'evil.bin', hardwareIds: ['acme-brake'], signers: acmeKeys }),
      status: 422,
      code: 'HARDWARE_ID_NOT_DELEGATED',
    },
    {
      desc: 'one signature of a 2-of-2 supplier (below threshold)',
      build: () =>
        supplierMetadata({
          path: 'acme-brake/a.bin',
          hardwareIds: ['acme-brake'],
          signers: acmeKeys.slice(0, 1),
        }),
      status: 422,
      code: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: "the OEM's online bins key instead of the supplier's",
      build: () =>
        supplierMetadata({
          path: 'acme-brake/a.bin',
          hardwareIds: ['acme-brake'],
          signers: [t.signers.snapshot],
        }),
      status: 422,
      code: 'METADATA_SIGNATURE_INVALID',
    },
    {
      desc: 'a further delegation',
      build: () =>
        supplierMetadata({
          path: 'acme-brake/a.bin',
          hardwareIds: ['acme-brake'],
          signers: acmeKeys,
          delegate: true,
        }),
      status: 422,
      code: 'DELEGATION_INVALID',
    },
  ])('rejects $desc with $code and publishes nothing', async ({ build, status, code }) => {
    const before = t.chain.entries.length;
    const res = await putSupplier('acme', await build());
    expect(res.status).toBe(status);
    expect(await codeOf(res)).toBe(code);
    expect(t.chain.entries).toHaveLength(before);
    expect(await t.repo.store.publishedVersions('supplier-acme')).toEqual([]);
  });

  it('answers a retried upload of the same bytes with the release that published them', async () => {
    const bytes = await supplierMetadata({
      path: 'acme-brake/brake-1.4.0.bin',
      hardwareIds: ['acme-brake'],
      signers: acmeKeys,
    });
    const first = await putSupplier('acme', bytes);
    expect(first.status).toBe(201);
    const logged = t.chain.entries.length;
    const again = await putSupplier('acme', bytes);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(await first.json());
    expect(t.chain.entries).toHaveLength(logged);
  });

  it('answers 404 SUPPLIER_NOT_FOUND for a supplier targets does not delegate', async () => {
    const bytes = await supplierMetadata({
      path: 'x-hw/a.bin',
      hardwareIds: ['x-hw'],
      signers: acmeKeys,
    });
    const res = await putSupplier('nobody', bytes);
    expect(res.status).toBe(404);
    expect(await codeOf(res)).toBe('SUPPLIER_NOT_FOUND');
  });

  it('refuses a version that does not increase with VERSION_NOT_INCREASING', async () => {
    const path = 'acme-brake/brake-1.4.0.bin';
    expect(
      (
        await putSupplier(
          'acme',
          await supplierMetadata({ path, hardwareIds: ['acme-brake'], signers: acmeKeys }),
        )
      ).status,
    ).toBe(201);
    const again = await putSupplier(
      'acme',
      await supplierMetadata({ path, hardwareIds: ['acme-brake'], signers: acmeKeys }),
    );
    expect(again.status).toBe(409);
    expect(await codeOf(again)).toBe('VERSION_NOT_INCREASING');
  });

  it('is refused for an OEM release under a supplier-owned path (the OEM bins cannot list it)', async () => {
    const service = t.parts.context.service;
    await expect(
      service.serialize(() =>
        service.publishRelease([
          {
            name: 'acme-brake/x.bin',
            hardwareIds: ['acme-brake'],
            version: '1.0.0',
            releaseCounter: 1,
            attestation: {},
          },
        ]),
      ),
    ).rejects.toMatchObject({ code: 'HARDWARE_ID_NOT_DELEGATED' });
  });
});

describe('deltas to a supplier’s images', () => {
  beforeEach(async () => {
    expect((await addSupplier('acme', ['acme-brake'], acmeKeys, 2)).status).toBe(201);
  });

  it('lists them by digest in the online bins, in the release’s snapshot, and revokes them with the release', async () => {
    const v1 = randomBytes(64 * 1024);
    const v2 = Buffer.from(v1);
    v2[100] = (v2[100] ?? 0) ^ 0xff;
    const first = await supplierMetadata({
      path: 'acme-brake/brake-1.bin',
      hardwareIds: ['acme-brake'],
      signers: acmeKeys,
      image: v1,
      releaseCounter: 14,
    });
    expect((await putSupplier('acme', first)).status).toBe(201);
    const second = await supplierMetadata({
      path: 'acme-brake/brake-2.bin',
      hardwareIds: ['acme-brake'],
      signers: acmeKeys,
      image: v2,
      releaseCounter: 15,
      version: 2,
      previous: first,
    });
    const res = await putSupplier('acme', second);
    expect(res.status, await res.clone().text()).toBe(201);
    const { release } = (await res.json()) as {
      release: { id: number; metadataVersion: number; deltas: { target: string }[] };
    };
    const path = deltaTargetPath(sha256Hex(v2), sha256Hex(v1));
    expect(release.deltas).toEqual([
      expect.objectContaining({
        image: 'acme-brake/brake-2.bin',
        target: path,
        baseVersion: '1.14.0',
      }),
    ]);
    const service = t.parts.context.service;
    const located = await service.findTarget(path);
    expect(located?.role).toMatch(/^bins-[0-9a-f]+$/);
    expect(located?.file.custom).toMatchObject({ kind: 'delta', targetSha256: sha256Hex(v2) });
    // The snapshot of the release (logged on chain) pins that bin's new version.
    const snapshot = (await service.currentSnapshot()).signed;
    expect(snapshot.version).toBe(release.metadataVersion);
    expect(t.chain.entries.at(-1)?.metadataVersion).toBe(release.metadataVersion);
    expect(snapshot.meta[`${located!.role}.json`]?.version).toBe(2);
    // The supplier's role is served as signed: the server added nothing to it.
    expect(
      new Uint8Array(
        await (await t.parts.app.request('/metadata/2.supplier-acme.json')).arrayBuffer(),
      ),
    ).toEqual(second);

    const revoke = await t.parts.app.request(`/api/v1/releases/${release.id}/revoke`, {
      method: 'POST',
      headers: { ...auth(t.tokens.revoke), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'bad brake firmware' }),
    });
    expect(revoke.status, await revoke.clone().text()).toBe(200);
    expect(await service.findTarget(path)).toBeUndefined();
  });
});
