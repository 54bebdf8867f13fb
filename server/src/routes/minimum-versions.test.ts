import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, createTestRepo, type TestRepo } from '../../test/support/fixtures.js';

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

const HW = 'acme-gateway-ecu-rev3';

function put(body: unknown, token: string | null = t.tokens.revoke): Promise<Response> {
  return Promise.resolve(
    t.parts.app.request('/api/v1/minimum-version', {
      method: 'PUT',
      headers: { ...(token ? auth(token) : {}), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

async function floor(hardwareId = HW): Promise<number> {
  const res = await t.parts.app.request(
    `/api/v1/minimum-version?hardwareId=${encodeURIComponent(hardwareId)}`,
    { headers: auth(t.tokens.publish) },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { minimumVersion: number }).minimumVersion;
}

const codeOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;

describe('PUT /api/v1/minimum-version', () => {
  it('raises the floor through the chain writer and answers the confirmed transaction', async () => {
    const res = await put({ hardwareId: HW, version: 3 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      hardwareId: HW,
      minimumVersion: 3,
      previousVersion: 0,
      chain: { txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) as unknown },
    });
    expect(await floor()).toBe(3);
  });

  it('answers the same transaction when the same version is asked again', async () => {
    const first = await (await put({ hardwareId: HW, version: 2 })).json();
    const again = await put({ hardwareId: HW, version: 2 });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
  });

  const refusals: {
    desc: string;
    body: unknown;
    token?: 'publish' | 'none';
    status: number;
    wantCode: string;
  }[] = [
    {
      desc: 'a version below the current floor',
      body: { hardwareId: HW, version: 4 },
      status: 409,
      wantCode: 'MINIMUM_VERSION_NOT_INCREASING',
    },
    {
      desc: 'a token with only the publish scope',
      body: { hardwareId: HW, version: 9 },
      token: 'publish',
      status: 403,
      wantCode: 'INSUFFICIENT_SCOPE',
    },
    {
      desc: 'no token',
      body: { hardwareId: HW, version: 9 },
      token: 'none',
      status: 401,
      wantCode: 'UNAUTHENTICATED',
    },
    {
      desc: 'version 0',
      body: { hardwareId: HW, version: 0 },
      status: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'a fractional version',
      body: { hardwareId: HW, version: 5.5 },
      status: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'a version as a string',
      body: { hardwareId: HW, version: '9' },
      status: 400,
      wantCode: 'INVALID_REQUEST',
    },
    {
      desc: 'a hardware ID with a traversal',
      body: { hardwareId: 'a/../b', version: 9 },
      status: 400,
      wantCode: 'INVALID_REQUEST',
    },
    { desc: 'no hardware ID', body: { version: 9 }, status: 400, wantCode: 'INVALID_REQUEST' },
  ];
  for (const { desc, body, token, status, wantCode } of refusals) {
    it(`answers ${status} ${wantCode} for ${desc} and leaves the floor at 5`, async () => {
      expect((await put({ hardwareId: HW, version: 5 })).status).toBe(200);
      const res = await put(
        body,
        token === 'none' ? null : token === 'publish' ? t.tokens.publish : t.tokens.revoke,
      );
      expect(res.status).toBe(status);
      expect(await codeOf(res)).toBe(wantCode);
      expect(await floor()).toBe(5);
    });
  }

  it.each([
    { chainCode: 'NOT_PUBLISHER', status: 502, wantCode: 'CHAIN_LOG_FAILED' },
    { chainCode: 'RPC_UNAVAILABLE', status: 503, wantCode: 'CHAIN_UNAVAILABLE' },
  ])(
    'answers $status $wantCode when the chain fails with $chainCode, and nothing changes',
    async ({ chainCode, status, wantCode }) => {
      t.chain.failNextFloor = Object.assign(new Error('chain says no'), { code: chainCode });
      const res = await put({ hardwareId: HW, version: 7 });
      expect(res.status).toBe(status);
      expect(await codeOf(res)).toBe(wantCode);
      expect(await floor()).toBe(0);
    },
  );

  it('is documented in the OpenAPI 3.1 document', async () => {
    const doc = (await (await t.parts.app.request('/api/v1/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths['/api/v1/minimum-version'] ?? {}).sort()).toEqual(['get', 'put']);
  });
});
