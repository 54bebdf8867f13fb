import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServerParts } from '../app.js';
import { createApiToken } from '../auth/tokens.js';
import { createTestRepo, uploadAndPublish, type TestRepo } from '../../test/support/fixtures.js';
import type { ReleaseRecord } from '../storage/store.js';
import { renderReleases } from './releases-page.js';
import { CONSOLE_SESSION_TTL_MS } from './session.js';

let t: TestRepo;
let audit: string;
beforeEach(async () => {
  t = await createTestRepo();
  audit = (await createApiToken(t.repo.store, { name: 'auditor', scopes: ['audit'] })).token;
});
afterEach(async () => {
  await t.cleanup();
});

const ORIGIN = 'http://localhost';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

async function postLogin(token: string, headers: Record<string, string> = { origin: ORIGIN }) {
  return t.parts.app.request(`${ORIGIN}/console/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/html',
      ...headers,
    },
    body: form({ token }),
  });
}

/** The `name=value` of the session cookie a login set. */
function sessionOf(res: Response): string {
  const cookie = res.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0] ?? '';
}

async function get(path: string, cookie?: string) {
  return t.parts.app.request(`${ORIGIN}${path}`, {
    headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) },
  });
}

describe('console login', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie on /console that holds no token', async () => {
    const res = await postLogin(audit);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/releases');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^tufchain_console=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\/console/);
    expect(cookie).toMatch(/; Expires=/);
    const [, id = '', secret = ''] = /^tct_([0-9a-f]{16})_(.+)$/.exec(audit) ?? [];
    expect(cookie).not.toContain(id);
    expect(cookie).not.toContain(secret);
    const page = await get('/console/releases', sessionOf(res));
    expect(page.status).toBe(200);
  });

  it('marks the cookie Secure when the console is reached over HTTPS', async () => {
    const res = await t.parts.app.request('https://console.example/console/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'https://console.example',
        host: 'console.example',
      },
      body: form({ token: audit }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
  });

  it.each([
    {
      desc: 'a wrong secret',
      token: () => `${audit.slice(0, 21)}${'B'.repeat(43)}`,
      code: 'UNAUTHENTICATED',
    },
    { desc: 'not a token at all', token: () => 'hunter2', code: 'UNAUTHENTICATED' },
    { desc: 'an empty field', token: () => '', code: 'UNAUTHENTICATED' },
  ])(
    'refuses $desc with 401 $code, sets no cookie and does not echo it',
    async ({ token, code }) => {
      const res = await postLogin(token());
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      const body = await res.text();
      expect(body).toContain(code);
      if (token() !== '') expect(body).not.toContain(token());
    },
  );

  it('answers a client that is not a browser with the JSON error', async () => {
    const res = await postLogin('nope', { origin: ORIGIN, accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a revoked token with TOKEN_REVOKED', async () => {
    const made = await createApiToken(t.repo.store, { name: 'gone', scopes: ['audit'] });
    await t.repo.store.revokeToken(made.id, new Date().toISOString());
    const res = await postLogin(made.token);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('TOKEN_REVOKED');
  });

  it.each([
    { desc: 'from another site', headers: { origin: 'https://evil.example' } },
    { desc: 'without an Origin header', headers: {} },
    { desc: 'with an Origin that is not a URL', headers: { origin: 'null' } },
  ])('refuses a login form $desc with 403 CONSOLE_ORIGIN_REFUSED', async ({ headers }) => {
    const res = await t.parts.app.request(`${ORIGIN}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form({ token: audit }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'CONSOLE_ORIGIN_REFUSED',
    );
  });
});

describe('console pages', () => {
  it('redirect to the login form without a session, or with a forged cookie', async () => {
    for (const cookie of [undefined, `tufchain_console=${'A'.repeat(43)}`, 'tufchain_console=x']) {
      const res = await get('/console/keys', cookie);
      expect(res.status, String(cookie)).toBe(302);
      expect(res.headers.get('location')).toBe('/console/login');
    }
  });

  it('ends the session when its token is revoked, and after logout', async () => {
    const made = await createApiToken(t.repo.store, { name: 'short', scopes: ['audit'] });
    const session = sessionOf(await postLogin(made.token));
    expect((await get('/console/keys', session)).status).toBe(200);
    await t.repo.store.revokeToken(made.id, new Date().toISOString());
    expect((await get('/console/keys', session)).status).toBe(302);

    const other = sessionOf(await postLogin(audit));
    const out = await t.parts.app.request(`${ORIGIN}/console/logout`, {
      method: 'POST',
      headers: { origin: ORIGIN, cookie: other },
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^tufchain_console=;/);
    expect((await get('/console/keys', other)).status).toBe(302);
  });

  it('ends the session after its lifetime', async () => {
    const session = sessionOf(await postLogin(audit));
    t.now.value = new Date(t.now.value.getTime() + CONSOLE_SESSION_TTL_MS + 1);
    expect((await get('/console/releases', session)).status).toBe(302);
  });

  it('escape a token name with markup and never show a token secret', async () => {
    const sly = await createApiToken(t.repo.store, {
      name: '<script>alert(1)</script>',
      scopes: ['audit'],
    });
    const session = sessionOf(await postLogin(sly.token));
    for (const path of [
      '/console/releases',
      '/console/keys',
      '/console/coverage',
      '/console/vehicles',
      '/console/campaigns',
    ]) {
      const res = await get(path, session);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'none'");
      const body = await res.text();
      expect(body, path).not.toContain('<script>');
      expect(body, path).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      for (const token of [sly.token, audit, t.tokens.admin]) {
        expect(body, path).not.toContain(token.slice(21));
      }
    }
  });

  it('show a published release and answer bad ids with clear codes', async () => {
    expect((await uploadAndPublish(t, { name: 'gw-2.0.0.img', version: '2.0.0' })).status).toBe(
      201,
    );
    const session = sessionOf(await postLogin(audit));
    const list = await (await get('/console/releases', session)).text();
    expect(list).toContain('gw-2.0.0.img');
    expect(list).toContain('href="/console/releases/1"');
    const one = await get('/console/releases/1', session);
    expect(one.status).toBe(200);
    expect(await one.text()).toContain('2.0.0');
    expect((await get('/console/releases/999', session)).status).toBe(404);
    expect((await get('/console/releases/abc', session)).status).toBe(400);
    expect((await get('/console/vehicles/%3Cx%3E', session)).status).toBe(400);
    expect((await get('/console/nope', session)).status).toBe(404);
  });
});

describe('the alert banner hook', () => {
  it('draws the alert source above every page, and no banner without one', async () => {
    const session = sessionOf(await postLogin(audit));
    expect(await (await get('/console/keys', session)).text()).not.toContain('class="banner');

    const withAlerts = createServerParts({
      ...t.deps,
      consoleAlerts: {
        alerts: () =>
          Promise.resolve([
            {
              id: 'unknown-release:9',
              severity: 'critical',
              title: 'Snapshot v9 is logged but unknown to the OEM',
              raisedAt: new Date().toISOString(),
            },
          ]),
      },
    });
    const login = await withAlerts.app.request(`${ORIGIN}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: form({ token: audit }),
    });
    const page = await withAlerts.app.request(`${ORIGIN}/console/releases`, {
      headers: { cookie: sessionOf(login) },
    });
    const body = await page.text();
    expect(body).toContain('data-alert-id="unknown-release:9"');
    expect(body).toContain('Snapshot v9 is logged but unknown to the OEM');
  });
});

describe('the banner of the in-process monitor', () => {
  it("draws the monitor's recent alerts (ServerDeps.monitorAlerts) when no other source is given", async () => {
    const withMonitor = createServerParts({
      ...t.deps,
      monitorAlerts: () => [
        {
          id: 'f'.repeat(64),
          chainId: 31337,
          kind: 'UNEXPECTED_RELEASE',
          severity: 'critical',
          message: 'snapshot v7 is logged but the OEM records do not know it',
          subject: 'snapshot:7',
          detectedAt: new Date().toISOString(),
        },
      ],
    });
    const login = await withMonitor.app.request(`${ORIGIN}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: form({ token: audit }),
    });
    const body = await (
      await withMonitor.app.request(`${ORIGIN}/console/coverage`, {
        headers: { cookie: sessionOf(login) },
      })
    ).text();
    expect(body).toContain(`data-alert-id="${'f'.repeat(64)}"`);
    expect(body).toContain('UNEXPECTED_RELEASE');
    expect(body).toContain('class="banner critical"');
  });
});

describe('renderReleases', () => {
  it('escapes markup in a target name', async () => {
    const release: ReleaseRecord = {
      id: 7,
      status: 'confirmed',
      targetNames: ['<script>alert("x")</script>.img'],
      targetsVersion: 3,
      metadataHash: `0x${'ab'.repeat(32)}`,
      chain: { txHash: `0x${'cd'.repeat(32)}`, blockNumber: 12, blockHash: `0x${'ef'.repeat(32)}` },
      revocation: null,
      error: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    const out = String(await renderReleases({ releases: [release], catalog: new Map(), head: 14 }));
    expect(out).not.toContain('<script>');
    expect(out).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.img');
    expect(out).toContain(`title="0x${'cd'.repeat(32)}"`);
    expect(out).toContain('3 confirmations');
  });
});
