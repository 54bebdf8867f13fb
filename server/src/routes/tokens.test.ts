import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../../test/support/fixtures.js';

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

const HOUR = 3_600_000;
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

interface Created {
  id: string;
  token: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
}

interface Listed {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: string;
}

async function call(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await t.parts.app.request(path, {
    method,
    headers: { ...bearer(token), ...(body === undefined ? {} : json) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const codeOf = (r: { body: Record<string, unknown> }) => (r.body.error as { code: string }).code;
const create = async (body: unknown): Promise<Created> => {
  const r = await call('POST', '/api/v1/tokens', t.tokens.admin, body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as unknown as Created;
};
const list = async (): Promise<Listed[]> =>
  (await call('GET', '/api/v1/tokens', t.tokens.admin)).body.tokens as Listed[];
/** A route any valid token may call. */
const useToken = (token: string) => call('GET', '/api/v1/releases', token);

describe('API tokens (POST/GET /api/v1/tokens, POST /api/v1/tokens/{id}/revoke)', () => {
  it('creates a token that works, and lists it without its secret or the secret hash', async () => {
    const created = await create({ name: 'release-ci', scopes: ['publish'] });
    expect(created.token).toMatch(new RegExp(`^tct_${created.id}_[A-Za-z0-9_-]{43}$`));
    expect(created.expiresAt).toBeNull();
    expect((await useToken(created.token)).status).toBe(200);
    const tokens = await list();
    const mine = tokens.find((x) => x.id === created.id);
    expect(mine).toMatchObject({
      name: 'release-ci',
      scopes: ['publish'],
      expiresAt: null,
      revokedAt: null,
      status: 'active',
    });
    expect(mine?.lastUsedAt).not.toBeNull();
    const stored = await t.repo.store.token(created.id);
    const text = JSON.stringify(tokens);
    expect(text).not.toContain(created.token.slice(-43));
    expect(text).not.toContain(stored!.secretSha256);
    expect(Object.keys(mine!).sort()).toEqual(
      [
        'createdAt',
        'expiresAt',
        'id',
        'lastUsedAt',
        'name',
        'revokedAt',
        'scopes',
        'status',
      ].sort(),
    );
  });

  it.each([
    {
      desc: 'expiresAt',
      body: (now: Date) => ({ expiresAt: new Date(now.getTime() + HOUR).toISOString() }),
    },
    { desc: 'ttlSeconds', body: () => ({ ttlSeconds: 3600 }) },
  ])(
    'refuses a token past the expiry set by $desc with 401 TOKEN_EXPIRED, and lists it as expired',
    async ({ body }) => {
      const created = await create({ name: 'temp', scopes: ['publish'], ...body(t.now.value) });
      expect(Date.parse(created.expiresAt!)).toBe(t.now.value.getTime() + HOUR);
      expect((await useToken(created.token)).status).toBe(200);
      t.now.value = new Date(t.now.value.getTime() + HOUR);
      const refused = await useToken(created.token);
      expect([refused.status, codeOf(refused)]).toEqual([401, 'TOKEN_EXPIRED']);
      expect((await list()).find((x) => x.id === created.id)?.status).toBe('expired');
    },
  );

  it('refuses a revoked token with 401 TOKEN_REVOKED on every route, and lists it as revoked', async () => {
    const created = await create({ name: 'leaked', scopes: ['admin'] });
    const revoked = await call('POST', `/api/v1/tokens/${created.id}/revoke`, t.tokens.admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.token).toMatchObject({ id: created.id, status: 'revoked' });
    expect(JSON.stringify(revoked.body)).not.toContain(created.token.slice(-43));
    for (const r of [
      await useToken(created.token),
      await call('GET', '/api/v1/tokens', created.token),
      await call('POST', '/api/v1/tokens', created.token, { name: 'x', scopes: ['admin'] }),
    ]) {
      expect([r.status, codeOf(r)]).toEqual([401, 'TOKEN_REVOKED']);
    }
    const again = await call('POST', `/api/v1/tokens/${created.id}/revoke`, t.tokens.admin);
    expect([again.status, codeOf(again)]).toEqual([409, 'TOKEN_ALREADY_REVOKED']);
    expect((await list()).find((x) => x.id === created.id)).toMatchObject({
      status: 'revoked',
      revokedAt: t.now.value.toISOString(),
    });
  });

  it('says TOKEN_REVOKED or TOKEN_EXPIRED only to the holder of the secret', async () => {
    const created = await create({ name: 'leaked', scopes: ['publish'] });
    await call('POST', `/api/v1/tokens/${created.id}/revoke`, t.tokens.admin);
    const guess = `tct_${created.id}_${'A'.repeat(43)}`;
    const r = await useToken(guess);
    expect([r.status, codeOf(r)]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it.each([
    {
      desc: 'an expiry in the past',
      body: () => ({
        name: 'x',
        scopes: ['publish'],
        expiresAt: new Date(t.now.value.getTime() - 1000).toISOString(),
      }),
    },
    {
      desc: 'both expiresAt and ttlSeconds',
      body: () => ({
        name: 'x',
        scopes: ['publish'],
        expiresAt: '2999-01-01T00:00:00Z',
        ttlSeconds: 60,
      }),
    },
    { desc: 'a TTL of zero', body: () => ({ name: 'x', scopes: ['publish'], ttlSeconds: 0 }) },
    { desc: 'an unknown scope', body: () => ({ name: 'x', scopes: ['root'] }) },
  ])('refuses to create a token with $desc (400 INVALID_REQUEST)', async ({ body }) => {
    const before = (await list()).length;
    const r = await call('POST', '/api/v1/tokens', t.tokens.admin, body());
    expect([r.status, codeOf(r)]).toEqual([400, 'INVALID_REQUEST']);
    expect(await list()).toHaveLength(before);
  });

  it('answers 404 TOKEN_NOT_FOUND for an unknown id and 400 for a malformed one', async () => {
    const unknown = await call('POST', `/api/v1/tokens/${'0'.repeat(16)}/revoke`, t.tokens.admin);
    expect([unknown.status, codeOf(unknown)]).toEqual([404, 'TOKEN_NOT_FOUND']);
    const bad = await call('POST', '/api/v1/tokens/nope/revoke', t.tokens.admin);
    expect([bad.status, codeOf(bad)]).toEqual([400, 'INVALID_REQUEST']);
  });

  it.each<{ route: string; method: string; path: () => string; body?: unknown }>([
    { route: 'GET /api/v1/tokens', method: 'GET', path: () => '/api/v1/tokens' },
    {
      route: 'POST /api/v1/tokens',
      method: 'POST',
      path: () => '/api/v1/tokens',
      body: { name: 'x', scopes: ['admin'] },
    },
    {
      route: 'POST /api/v1/tokens/{id}/revoke',
      method: 'POST',
      path: () => `/api/v1/tokens/${t.tokens.admin.slice(4, 20)}/revoke`,
    },
  ])(
    'keeps $route to the admin scope (403 INSUFFICIENT_SCOPE, 401 without a token)',
    async ({ method, path, body }) => {
      const r = await call(method, path(), t.tokens.publish, body);
      expect([r.status, codeOf(r)]).toEqual([403, 'INSUFFICIENT_SCOPE']);
      const res = await t.parts.app.request(path(), { method });
      expect(res.status).toBe(401);
      expect((await useToken(t.tokens.admin)).status).toBe(200);
    },
  );

  it('records the last use to the minute', async () => {
    const created = await create({ name: 'ci', scopes: ['publish'] });
    const first = t.now.value.toISOString();
    await useToken(created.token);
    t.now.value = new Date(t.now.value.getTime() + 30_000);
    await useToken(created.token);
    expect((await t.repo.store.token(created.id))?.lastUsedAt).toBe(first);
    t.now.value = new Date(t.now.value.getTime() + 31_000);
    await useToken(created.token);
    expect((await t.repo.store.token(created.id))?.lastUsedAt).toBe(t.now.value.toISOString());
  });

  it('documents the token routes in the OpenAPI document', async () => {
    const res = await t.parts.app.request('/api/v1/openapi.json');
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/v1/tokens'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(doc.paths).toHaveProperty(['/api/v1/tokens/{id}/revoke', 'post']);
  });
});
