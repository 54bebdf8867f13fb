import { afterEach, describe, expect, it } from 'vitest';
import { createServerParts } from '../app.js';
import type { Alert } from '../monitor/alert.js';
import { createTestRepo, type TestRepo } from '../../test/support/fixtures.js';

const alert: Alert = {
  id: 'ab'.repeat(32),
  chainId: 31337,
  detectedAt: '2030-01-01T00:00:00.000Z',
  kind: 'UNEXPECTED_RELEASE',
  severity: 'critical',
  message: 'firmware 0xcd… is not in the records',
  subject: '0x' + 'cd'.repeat(32),
  origin: { txHash: '0x' + '11'.repeat(32), blockNumber: 12, logIndex: 0 },
};

describe('GET /api/v1/monitor/alerts', () => {
  let t: TestRepo;
  afterEach(async () => t.cleanup());

  const get = (app: ReturnType<typeof createServerParts>['app'], token?: string) =>
    app.request('/api/v1/monitor/alerts', {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it('answers the recent alerts to any valid token (a publish token here)', async () => {
    t = await createTestRepo();
    const { app } = createServerParts({ ...t.deps, monitorAlerts: () => [alert] });
    const res = await get(app, t.tokens.publish);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ alerts: [alert] });
  });

  it('answers alerts read from the database (an async source), as every replica does', async () => {
    t = await createTestRepo();
    const { app } = createServerParts({
      ...t.deps,
      monitorAlerts: () => Promise.resolve([alert]),
    });
    const res = await get(app, t.tokens.publish);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ alerts: [alert] });
  });

  it('refuses a request without a token with 401 UNAUTHENTICATED', async () => {
    t = await createTestRepo();
    const { app } = createServerParts({ ...t.deps, monitorAlerts: () => [alert] });
    const res = await get(app);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('answers 503 MONITOR_NOT_CONFIGURED when this server runs no monitor', async () => {
    t = await createTestRepo();
    const res = await get(t.parts.app, t.tokens.admin);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'MONITOR_NOT_CONFIGURED',
    );
  });

  it('refuses writes: the route is read-only', async () => {
    t = await createTestRepo();
    const { app } = createServerParts({ ...t.deps, monitorAlerts: () => [alert] });
    const res = await app.request('/api/v1/monitor/alerts', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect([404, 405]).toContain(res.status);
  });
});
