import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  auth,
  createTestRepo,
  fakeFirmwareBundle,
  sha256Hex,
  type TestRepo,
  uploadAndPublish,
} from '../test/support/fixtures.js';

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

const req = (path: string, init?: RequestInit): Promise<Response> =>
  Promise.resolve(t.parts.app.request(path, init));
async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error: { code: string } };
  return body.error.code;
}

describe('public metadata routes', () => {
  it('serves 1.root.json, timestamp.json and the versioned snapshot/targets after init', async () => {
    const root = await req('/metadata/1.root.json');
    expect(root.status).toBe(200);
    expect(new Uint8Array(await root.arrayBuffer())).toEqual(t.rootBytes);
    expect(root.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const ts = await req('/metadata/timestamp.json');
    expect(ts.status).toBe(200);
    expect(ts.headers.get('cache-control')).toMatch(/^public, max-age=10/);
    const timestamp = (await ts.json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    expect(timestamp.signed.meta['snapshot.json']?.version).toBe(1);
    expect((await req('/metadata/1.snapshot.json')).status).toBe(200);
    expect((await req('/metadata/1.targets.json')).status).toBe(200);
  });

  it('answers 304 to a matching If-None-Match and supports HEAD without a body', async () => {
    const first = await req('/metadata/1.targets.json');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const again = await req('/metadata/1.targets.json', { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const head = await req('/metadata/1.targets.json', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(first.headers.get('content-length'));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it.each([
    { desc: 'unpublished version', path: '/metadata/2.targets.json' },
    { desc: 'unversioned snapshot', path: '/metadata/snapshot.json' },
    { desc: 'version zero', path: '/metadata/0.root.json' },
    { desc: 'traversal', path: '/metadata/..%2F..%2Fetc%2Fpasswd' },
    { desc: 'versioned timestamp', path: '/metadata/1.timestamp.json' },
  ])('answers 404 METADATA_NOT_FOUND for $desc', async ({ path }) => {
    const res = await req(path);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('METADATA_NOT_FOUND');
  });
});

describe('PUT /api/v1/firmware/{name}', () => {
  it('streams the image to the blob store and returns its digests', async () => {
    const bytes = new TextEncoder().encode('firmware bytes');
    const res = await req('/api/v1/firmware/brake-1.0.0.bin', {
      method: 'PUT',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      name: 'brake-1.0.0.bin',
      length: bytes.byteLength,
      sha256: sha256Hex(bytes),
    });
  });

  it('rejects a body above the size limit with 413 PAYLOAD_TOO_LARGE, also without Content-Length', async () => {
    await t.cleanup();
    t = await createTestRepo({ config: { maxFirmwareBytes: 1024 } });
    const big = new Uint8Array(4096);
    const withLength = await req('/api/v1/firmware/big.bin', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: big,
    });
    expect(withLength.status).toBe(413);
    expect(await errorCode(withLength)).toBe('PAYLOAD_TOO_LARGE');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(512));
        controller.close();
      },
    });
    const chunked = await req('/api/v1/firmware/big.bin', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: stream,
      duplex: 'half',
    });
    expect(chunked.status).toBe(413);
    expect(await t.repo.store.upload('big.bin')).toBeUndefined();
  });

  it.each([
    { desc: 'encoded traversal', name: '..%2Fsecret' },
    { desc: 'leading dot', name: '.hidden' },
    { desc: 'control character', name: 'a%01b' },
    { desc: 'space', name: 'a%20b' },
    { desc: 'non-ASCII', name: 'f%C3%BC.bin' },
    { desc: 'too long', name: 'a'.repeat(201) },
    { desc: 'double dot inside', name: 'a..b' },
  ])('rejects the $desc name with 400 INVALID_NAME', async ({ name }) => {
    const res = await req(`/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: 'x',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('INVALID_NAME');
  });

  it.each([
    { desc: 'no token', headers: {}, status: 401, code: 'UNAUTHENTICATED' },
    {
      desc: 'malformed token',
      headers: { authorization: 'Bearer nope' },
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      desc: 'unknown token',
      headers: { authorization: `Bearer tct_0123456789abcdef_${'A'.repeat(43)}` },
      status: 401,
      code: 'UNAUTHENTICATED',
    },
  ])('refuses $desc with $status $code', async ({ headers, status, code }) => {
    const res = await req('/api/v1/firmware/a.bin', { method: 'PUT', headers, body: 'x' });
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
  });

  it('never reaches storage for a bare dot-dot segment (URL normalization leaves no route: 404)', async () => {
    const res = await req('/api/v1/firmware/..', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: 'x',
    });
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NOT_FOUND');
  });

  it('refuses a token without the publish scope with 403 INSUFFICIENT_SCOPE', async () => {
    const res = await req('/api/v1/firmware/a.bin', {
      method: 'PUT',
      headers: auth(t.tokens.revoke),
      body: 'x',
    });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('INSUFFICIENT_SCOPE');
  });
});

describe('POST /api/v1/releases', () => {
  it('publishes: logs snapshot v2 on chain with one entry per hardware ID, then serves it from its bin', async () => {
    const res = await uploadAndPublish(t, {
      name: 'brake-2.0.0.bin',
      hardwareIds: ['brake-a', 'brake-b'],
      releaseCounter: 7,
      version: '2.0.0',
    });
    expect(res.status).toBe(201);
    const { release } = (await res.json()) as {
      release: { metadataVersion: number; metadataHash: string; status: string };
    };
    expect(release).toMatchObject({ metadataVersion: 2, status: 'confirmed' });
    const snapshot = new Uint8Array(await (await req('/metadata/2.snapshot.json')).arrayBuffer());
    expect(release.metadataHash).toBe(`0x${sha256Hex(snapshot)}`);
    const located = await t.parts.context.service.findTarget('brake-2.0.0.bin');
    const binVersion = (
      JSON.parse(new TextDecoder().decode(snapshot)) as {
        signed: { meta: Record<string, { version: number }> };
      }
    ).signed.meta[`${located!.role}.json`]!.version;
    expect(binVersion).toBe(2);
    const bytes = new Uint8Array(
      await (await req(`/metadata/${binVersion}.${located!.role}.json`)).arrayBuffer(),
    );
    const logged = t.chain.entries.at(-1)!;
    expect(logged.metadataVersion).toBe(2);
    expect(logged.metadataHash).toBe(release.metadataHash);
    expect(logged.firmware.map((f) => f.hardwareId)).toEqual(['brake-a', 'brake-b']);
    expect(logged.firmware.every((f) => f.version === 7)).toBe(true);
    const json = JSON.parse(new TextDecoder().decode(bytes)) as {
      signed: {
        targets: Record<
          string,
          { custom: Record<string, unknown>; hashes: Record<string, string> }
        >;
      };
    };
    const target = json.signed.targets['brake-2.0.0.bin']!;
    const bundleRole = (await t.parts.context.service.findTarget('brake-2.0.0.bin.sigstore.json'))!
      .role;
    const bundleBin = (await (await req(`/metadata/2.${bundleRole}.json`)).json()) as typeof json;
    expect(Object.keys(target.hashes)).toEqual(['sha256', 'sha512']);
    expect(target.custom).toEqual({
      kind: 'firmware',
      hardwareIds: ['brake-a', 'brake-b'],
      version: '2.0.0',
      releaseCounter: 7,
      attestation: 'brake-2.0.0.bin.sigstore.json',
    });
    expect(bundleBin.signed.targets['brake-2.0.0.bin.sigstore.json']?.custom).toEqual({
      kind: 'attestation',
      subject: 'brake-2.0.0.bin',
    });
    const ts = (await (await req('/metadata/timestamp.json')).json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    expect(ts.signed.meta['snapshot.json']?.version).toBe(2);
  });

  it('keeps serving the old metadata when the chain refuses the entry (502 CHAIN_LOG_FAILED)', async () => {
    const before = await (await req('/metadata/timestamp.json')).text();
    t.chain.failNext = Object.assign(new Error('not a publisher'), { code: 'NOT_AUTHORIZED' });
    const res = await uploadAndPublish(t, { name: 'x.bin' });
    expect(res.status).toBe(502);
    expect(await errorCode(res)).toBe('CHAIN_LOG_FAILED');
    expect(await (await req('/metadata/timestamp.json')).text()).toBe(before);
    expect((await req('/metadata/2.snapshot.json')).status).toBe(404);
    expect(t.chain.entries).toHaveLength(1);
    const [release] = await t.repo.store.releases();
    expect(release?.status).toBe('failed');
    // the next publish skips the abandoned version number instead of reusing it
    const ok = await uploadAndPublish(t, { name: 'y.bin' });
    expect(ok.status).toBe(201);
    expect(
      ((await ok.json()) as { release: { metadataVersion: number } }).release.metadataVersion,
    ).toBe(3);
  });

  it('replays the stored response for a retried Idempotency-Key without publishing twice', async () => {
    const first = await uploadAndPublish(t, { name: 'a.bin' }, { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    const again = await uploadAndPublish(t, { name: 'a.bin' }, { 'idempotency-key': 'k-1' }).catch(
      (e: unknown) => e,
    );
    // the upload of a released name is refused, so retry the POST itself
    expect(again).toBeInstanceOf(Error);
    const retry = await req('/api/v1/releases', {
      method: 'POST',
      headers: {
        ...auth(t.tokens.publish),
        'content-type': 'application/json',
        'idempotency-key': 'k-1',
      },
      body: JSON.stringify({
        targets: [
          {
            name: 'a.bin',
            hardwareIds: ['ecu-a'],
            version: '1.0.0',
            releaseCounter: 1,
            attestation: fakeFirmwareBundle({
              sha256: sha256Hex(new TextEncoder().encode('image a.bin')),
              hardwareIds: ['ecu-a'],
              version: '1.0.0',
              releaseCounter: 1,
            }),
          },
        ],
      }),
    });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe(firstBody);
    expect(t.chain.entries).toHaveLength(2);
  });

  it('publishes once when two requests with the same Idempotency-Key race', async () => {
    const bytes = new TextEncoder().encode('raced image');
    await req('/api/v1/firmware/raced.bin', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: bytes,
    });
    const claims = { hardwareIds: ['ecu-a'], version: '1.0.0', releaseCounter: 1 };
    const body = JSON.stringify({
      targets: [
        {
          name: 'raced.bin',
          ...claims,
          attestation: fakeFirmwareBundle({ sha256: sha256Hex(bytes), ...claims }),
        },
      ],
    });
    const send = (): Promise<Response> =>
      req('/api/v1/releases', {
        method: 'POST',
        headers: {
          ...auth(t.tokens.publish),
          'content-type': 'application/json',
          'idempotency-key': 'race',
        },
        body,
      });
    t.chain.delayMs = 20;
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(await a.text()).toBe(await b.text());
    expect(t.chain.entries).toHaveLength(2);
  });

  it('refuses the same Idempotency-Key with a different body (422 IDEMPOTENCY_KEY_REUSED)', async () => {
    expect(
      (await uploadAndPublish(t, { name: 'a.bin' }, { 'idempotency-key': 'k-2' })).status,
    ).toBe(201);
    const res = await uploadAndPublish(t, { name: 'b.bin' }, { 'idempotency-key': 'k-2' });
    expect(res.status).toBe(422);
    expect(await errorCode(res)).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it.each([
    {
      desc: 'malformed JSON',
      body: '{"targets": [',
      ct: 'application/json',
      status: 400,
      code: 'MALFORMED_JSON',
    },
    {
      desc: 'empty targets',
      body: '{"targets": []}',
      ct: 'application/json',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      desc: 'wrong content type',
      body: 'targets',
      ct: 'text/plain',
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      desc: 'traversal name',
      body: JSON.stringify({
        targets: [
          {
            name: '../x',
            hardwareIds: ['a'],
            version: '1.0.0',
            releaseCounter: 1,
            attestation: {},
          },
        ],
      }),
      ct: 'application/json',
      status: 400,
      code: 'INVALID_NAME',
    },
    {
      desc: 'non-semver version',
      body: JSON.stringify({
        targets: [
          { name: 'x', hardwareIds: ['a'], version: 'v1', releaseCounter: 1, attestation: {} },
        ],
      }),
      ct: 'application/json',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      desc: 'firmware never uploaded',
      body: JSON.stringify({
        targets: [
          {
            name: 'ghost.bin',
            hardwareIds: ['a'],
            version: '1.0.0',
            releaseCounter: 1,
            attestation: {},
          },
        ],
      }),
      ct: 'application/json',
      status: 422,
      code: 'FIRMWARE_NOT_UPLOADED',
    },
  ])('answers $status $code for $desc', async ({ body, ct, status, code }) => {
    const res = await req('/api/v1/releases', {
      method: 'POST',
      headers: { ...auth(t.tokens.publish), 'content-type': ct },
      body,
    });
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
    expect(t.chain.entries).toHaveLength(1);
  });

  it('refuses an attestation over another digest with 422 FIRMWARE_ATTESTATION_INVALID', async () => {
    await req('/api/v1/firmware/a.bin', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: 'real',
    });
    const res = await req('/api/v1/releases', {
      method: 'POST',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: [
          {
            name: 'a.bin',
            hardwareIds: ['ecu-a'],
            version: '1.0.0',
            releaseCounter: 1,
            attestation: fakeFirmwareBundle({
              sha256: sha256Hex('other'),
              hardwareIds: ['ecu-a'],
              version: '1.0.0',
              releaseCounter: 1,
            }),
          },
        ],
      }),
    });
    expect(res.status).toBe(422);
    expect(await errorCode(res)).toBe('FIRMWARE_ATTESTATION_INVALID');
  });

  it('refuses an attestation whose claims differ from the request', async () => {
    const res = await uploadAndPublish(t, { name: 'a.bin', hardwareIds: ['ecu-a'] }).then(
      async () => {
        await req('/api/v1/firmware/b.bin', {
          method: 'PUT',
          headers: auth(t.tokens.publish),
          body: 'bbb',
        });
        return req('/api/v1/releases', {
          method: 'POST',
          headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
          body: JSON.stringify({
            targets: [
              {
                name: 'b.bin',
                hardwareIds: ['ecu-b'],
                version: '1.0.0',
                releaseCounter: 2,
                attestation: fakeFirmwareBundle({
                  sha256: sha256Hex('bbb'),
                  hardwareIds: ['ecu-a'],
                  version: '1.0.0',
                  releaseCounter: 2,
                }),
              },
            ],
          }),
        });
      },
    );
    expect(res.status).toBe(422);
    expect(await errorCode(res)).toBe('FIRMWARE_ATTESTATION_INVALID');
  });
});

describe('GET /targets/{hash}.{name}', () => {
  const image = new Uint8Array(Array.from({ length: 1000 }, (_, i) => i % 251));
  beforeEach(async () => {
    expect((await uploadAndPublish(t, { name: 'img.bin', bytes: image })).status).toBe(201);
  });

  it('serves the whole file with an immutable Cache-Control and sha256 ETag', async () => {
    const res = await req(`/targets/${sha256Hex(image)}.img.bin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('etag')).toBe(`"${sha256Hex(image)}"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(image);
  });

  it.each([
    { range: 'bytes=0-99', start: 0, end: 99 },
    { range: 'bytes=900-', start: 900, end: 999 },
    { range: 'bytes=-10', start: 990, end: 999 },
    { range: 'bytes=990-5000', start: 990, end: 999 },
  ])('answers 206 with the bytes of $range', async ({ range, start, end }) => {
    const res = await req(`/targets/${sha256Hex(image)}.img.bin`, { headers: { range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(image.slice(start, end + 1));
  });

  it('answers 416 with Content-Range */length for a range past the end', async () => {
    const res = await req(`/targets/${sha256Hex(image)}.img.bin`, {
      headers: { range: 'bytes=1000-' },
    });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
    expect(await errorCode(res)).toBe('RANGE_NOT_SATISFIABLE');
  });

  it.each([
    { desc: 'wrong hash', path: () => `/targets/${'0'.repeat(64)}.img.bin` },
    { desc: 'no hash prefix', path: () => '/targets/img.bin' },
    { desc: 'unreleased name', path: () => `/targets/${sha256Hex(image)}.other.bin` },
    { desc: 'traversal', path: () => `/targets/${sha256Hex(image)}.%2E%2E%2Fimg.bin` },
  ])('answers 404 TARGET_NOT_FOUND for $desc', async ({ path }) => {
    const res = await req(path());
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('TARGET_NOT_FOUND');
  });

  it('refuses to overwrite a released image (409 TARGET_ALREADY_RELEASED)', async () => {
    const res = await req('/api/v1/firmware/img.bin', {
      method: 'PUT',
      headers: auth(t.tokens.publish),
      body: 'evil',
    });
    expect(res.status).toBe(409);
    expect(await errorCode(res)).toBe('TARGET_ALREADY_RELEASED');
  });
});

describe('ops and audit routes', () => {
  it('lists published snapshot versions only (each one logged on chain)', async () => {
    t.chain.failNext = new Error('boom');
    await uploadAndPublish(t, { name: 'a.bin' });
    await uploadAndPublish(t, { name: 'b.bin' });
    const res = await req('/api/v1/audit/snapshot-versions');
    expect(await res.json()).toEqual({ versions: [1, 3] });
    expect(t.chain.entries.map((e) => e.metadataVersion)).toEqual([1, 3]);
  });

  it('hints the newest firmware per hardware ID, and 404 TARGET_NOT_FOUND for an unknown one', async () => {
    await uploadAndPublish(t, { name: 'a1.bin', hardwareIds: ['ecu-a'], releaseCounter: 1 });
    await uploadAndPublish(t, {
      name: 'a2.bin',
      hardwareIds: ['ecu-a', 'ecu-b'],
      releaseCounter: 2,
    });
    await uploadAndPublish(t, { name: 'b3.bin', hardwareIds: ['ecu-b'], releaseCounter: 3 });
    const a = await req('/api/v1/hardware/ecu-a/latest');
    expect(a.status).toBe(200);
    expect(await a.json()).toMatchObject({
      hardwareId: 'ecu-a',
      name: 'a2.bin',
      releaseCounter: 2,
    });
    expect(await (await req('/api/v1/hardware/ecu-b/latest')).json()).toMatchObject({
      name: 'b3.bin',
    });
    const none = await req('/api/v1/hardware/ecu-z/latest');
    expect(none.status).toBe(404);
    expect(await errorCode(none)).toBe('TARGET_NOT_FOUND');
    const bad = await req('/api/v1/hardware/..%2Fx/latest');
    expect(bad.status).toBe(400);
  });

  it('serves healthz, readyz, metrics and the OpenAPI 3.1 document', async () => {
    expect((await req('/healthz')).status).toBe(200);
    expect((await req('/readyz')).status).toBe(200);
    const metrics = await (await req('/metrics')).text();
    expect(metrics).toContain('# TYPE tufchain_http_requests_total counter');
    expect(metrics).toMatch(/tufchain_metadata_expiry_seconds\{role="timestamp"\} \d+/);
    const doc = (await (await req('/api/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/releases', '/api/v1/firmware/{name}', '/metadata/{file}']),
    );
  });

  it('answers unknown routes with 404 NOT_FOUND JSON', async () => {
    const res = await req('/nope');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NOT_FOUND');
  });
});

describe('a server without a Director', () => {
  it("answers 503 DIRECTOR_NOT_CONFIGURED for a vehicle's Director targets openings, and 401 before that without a token", async () => {
    const path = `/api/v1/vehicles/${'ab'.repeat(32)}/director/targets`;
    const res = await req(path, { headers: auth(t.tokens.admin) });
    expect(res.status).toBe(503);
    expect(await errorCode(res)).toBe('DIRECTOR_NOT_CONFIGURED');
    const anonymous = await req(path);
    expect(anonymous.status).toBe(401);
    expect(await errorCode(anonymous)).toBe('UNAUTHENTICATED');
  });

  it('documents ecuSalt as always present in every Director targets opening, as the contract says', async () => {
    const doc = (await (await req('/api/v1/openapi.json')).json()) as {
      components: {
        schemas: Record<string, { properties: { versions: { items: { required?: string[] } } } }>;
      };
    };
    const opening = doc.components.schemas.DirectorTargetsOpenings!.properties.versions.items;
    expect(opening.required).toEqual(
      expect.arrayContaining(['targetsVersion', 'targetsHash', 'logIndex', 'ecuSalt', 'metadata']),
    );
  });
});
