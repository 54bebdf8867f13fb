import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServerParts, type ServerDeps } from '../app.js';
import { createApiToken } from '../auth/tokens.js';
import type { LatestAudit } from '../monitor/monitor.js';
import { createTestRepo, uploadAndPublish, type TestRepo } from '../../test/support/fixtures.js';
import { findingWhere } from './findings-page.js';

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
const VEHICLE = 'ab'.repeat(32);

/** A console with the given monitor hook, signed in with the audit token. */
async function consoleWith(monitorAudit: ServerDeps['monitorAudit']) {
  const parts = createServerParts({ ...t.deps, ...(monitorAudit ? { monitorAudit } : {}) });
  const login = await parts.app.request(`${ORIGIN}/console/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
    body: new URLSearchParams({ token: audit }).toString(),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return (path: string, accept = 'text/html') =>
    parts.app.request(`${ORIGIN}${path}`, { headers: { cookie, accept } });
}

function latest(findings: LatestAudit['result']['findings'], vehicleCaPem?: string): LatestAudit {
  return {
    at: '2026-12-06T03:00:00.000Z',
    chainId: 31337,
    contractAddress: `0x${'12'.repeat(20)}`,
    result: {
      findings,
      stats: { snapshots: 2 },
      installs: [],
      releases: [],
      checkpoints: new Map(),
    },
    ...(vehicleCaPem ? { vehicleCaPem } : {}),
  };
}

describe('the findings page', () => {
  it('says plainly that no monitor runs here, and how to turn it on', async () => {
    const get = await consoleWith(undefined);
    const res = await get('/console/findings');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('id="no-monitor"');
    expect(body).toContain('TUFCHAIN_MONITOR_EXPECTATIONS_FILE');
  });

  it('says so while the monitor has not finished its first audit', async () => {
    const get = await consoleWith(() => undefined);
    expect(await (await get('/console/findings')).text()).toContain('id="no-audit-yet"');
  });

  it('shows each finding with its code, its meaning and a link to where it points', async () => {
    expect((await uploadAndPublish(t, { name: 'ecu-1.0.0.img' })).status).toBe(201);
    const [release] = await t.repo.store.releases();
    expect(release).toBeDefined();
    const get = await consoleWith(() =>
      latest([
        {
          code: 'METADATA_HASH_MISMATCH',
          severity: 'error',
          message: 'snapshot <b>served</b> differs',
          subject: `snapshot:${release!.targetsVersion}`,
        },
        {
          code: 'ODOMETER_DECREASED',
          severity: 'warning',
          message: 'odometer went down',
          subject: `vehicle:${VEHICLE}`,
        },
      ]),
    );
    const body = await (await get('/console/findings')).text();
    expect(body).toContain('data-finding="METADATA_HASH_MISMATCH"');
    expect(body).toContain('the served metadata does not hash to what the chain logged for it');
    expect(body).toContain(`href="/console/releases/${release!.id}"`);
    expect(body).toContain(`href="/console/vehicles/${VEHICLE}"`);
    expect(body).toContain('snapshot &lt;b&gt;served&lt;/b&gt; differs');
    expect(body).not.toContain('<b>served</b>');
  });

  it('says when the audit found nothing', async () => {
    const get = await consoleWith(() => latest([]));
    expect(await (await get('/console/findings')).text()).toContain('id="no-findings"');
  });
});

describe('findingWhere', () => {
  it.each([
    ['log:7', 'href="/api/v1/log/proof-bundle?index=7"'],
    [`director:0x${VEHICLE}:3`, `href="/console/vehicles/${VEHICLE}"`],
    ['anchor:16', 'anchor at log size 16'],
    ['snapshot:9', 'snapshot 9'],
    ['something:<odd>', '<code>something:&lt;odd&gt;</code>'],
  ])('points %s at %s', async (subject, want) => {
    expect(String(await findingWhere(subject, new Map()))).toContain(want);
  });
});

describe('GET /console/vehicles/:commitment/audit-pack', () => {
  it.each([
    { desc: 'no monitor runs here', hook: undefined, code: 'AUDIT_NOT_RUN' },
    { desc: 'no audit finished yet', hook: () => undefined, code: 'AUDIT_NOT_RUN' },
    { desc: 'the audit read no installs', hook: () => latest([]), code: 'AUDIT_NOT_RUN' },
    {
      desc: 'the audit saw nothing of the vehicle',
      hook: () => latest([], '-----BEGIN CERTIFICATE-----'),
      code: 'VEHICLE_NOT_FOUND',
    },
  ] satisfies { desc: string; hook: ServerDeps['monitorAudit']; code: string }[])(
    'answers 404 $code when $desc',
    async ({ hook, code }) => {
      const get = await consoleWith(hook);
      const res = await get(`/console/vehicles/${VEHICLE}/audit-pack`, 'application/json');
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    },
  );

  it('answers 400 INVALID_REQUEST for a key that is not a commitment', async () => {
    const get = await consoleWith(() => latest([]));
    const res = await get('/console/vehicles/GW-101/audit-pack', 'application/json');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
  });

  it('sends a browser without a session to the login form', async () => {
    const parts = createServerParts({ ...t.deps, monitorAudit: () => latest([]) });
    const res = await parts.app.request(`${ORIGIN}/console/vehicles/${VEHICLE}/audit-pack`, {
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/console/login');
  });
});
