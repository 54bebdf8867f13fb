import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  auth,
  codeOf,
  createTestRepo,
  fakeFirmwareBundle,
  sha256Hex,
  type TestRepo,
  uploadAndPublish,
} from '../../test/support/fixtures.js';

let t: TestRepo;
const image = new TextEncoder().encode('brake 1.0.0: the image that bricked a test fleet');

beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

const upload = (name: string, body: Uint8Array | string): Promise<Response> =>
  Promise.resolve(
    t.parts.app.request(`/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/octet-stream' },
      body,
    }),
  );

async function publish(name: string, bytes: Uint8Array): Promise<Response> {
  const claims = { hardwareIds: ['ecu-a'], version: '1.0.1', releaseCounter: 2 };
  return t.parts.app.request('/api/v1/releases', {
    method: 'POST',
    headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
    body: JSON.stringify({
      targets: [
        {
          name,
          ...claims,
          attestation: fakeFirmwareBundle({ sha256: sha256Hex(bytes), ...claims }),
        },
      ],
    }),
  });
}

/** Publishes `brake-1.0.0.bin` with `image` and revokes it. */
async function publishAndRevoke(): Promise<void> {
  const published = await uploadAndPublish(t, { name: 'brake-1.0.0.bin', bytes: image });
  expect(published.status).toBe(201);
  const { release } = (await published.json()) as { release: { id: number } };
  const revoked = await t.parts.app.request(`/api/v1/releases/${release.id}/revoke`, {
    method: 'POST',
    headers: { ...auth(t.tokens.revoke), 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'bricks the brake ECU' }),
  });
  expect(revoked.status).toBe(200);
}

describe('a revoked release', () => {
  it.each([
    { desc: 'under a new name', name: 'brake-1.0.1.bin' },
    { desc: 'under its own name again', name: 'brake-1.0.0.bin' },
  ])(
    'keeps its bytes from being uploaded $desc (409 TARGET_REVOKED, nothing recorded)',
    async ({ name }) => {
      await publishAndRevoke();
      const before = await t.repo.store.upload(name);
      const res = await upload(name, image);
      expect([res.status, await codeOf(res)]).toEqual([409, 'TARGET_REVOKED']);
      expect(await t.repo.store.upload(name)).toEqual(before);
      // other bytes under the same name are still welcome
      expect((await upload(name, 'brake 1.0.1, fixed')).status).toBe(201);
    },
  );

  it('keeps bytes uploaded before the revocation from being released (409 TARGET_REVOKED, nothing logged)', async () => {
    expect((await upload('brake-1.0.0-copy.bin', image)).status).toBe(201);
    await publishAndRevoke();
    const logged = t.chain.entries.length;
    const res = await publish('brake-1.0.0-copy.bin', image);
    expect([res.status, await codeOf(res)]).toEqual([409, 'TARGET_REVOKED']);
    expect(t.chain.entries).toHaveLength(logged);
  });

  it('does not stand in the way of other images', async () => {
    await publishAndRevoke();
    const fixed = new TextEncoder().encode('brake 1.0.1, fixed');
    expect((await upload('brake-1.0.1.bin', fixed)).status).toBe(201);
    expect((await publish('brake-1.0.1.bin', fixed)).status).toBe(201);
  });
});
