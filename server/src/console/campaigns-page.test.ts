import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiToken } from '../auth/tokens.js';
import { countWaves } from '../campaigns/gates.js';
import type {
  CampaignEventRecord,
  CampaignRecord,
  VehicleOutcomeRow,
  WaveRecord,
} from '../campaigns/model.js';
import type { CampaignStatus } from '../campaigns/service.js';
import { createTestRepo, type TestRepo } from '../../test/support/fixtures.js';
import { renderCampaign, renderCampaigns } from './campaigns-page.js';
import { failuresToStop, waveProgress } from './wave-progress.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);
const MARKUP = '<script>alert("x")</script>';

const campaign = (over: Partial<CampaignRecord> = {}): CampaignRecord => ({
  id: 4,
  urn: `urn:tufchain:campaign:${'0'.repeat(32)}`,
  name: 'gw 2.0.0 rollout',
  groupId: 2,
  release: [{ hardwareId: 'gw-x1', name: 'gw-2.0.0.img', sha256: 'ab'.repeat(32), length: 19 }],
  waves: [
    { percent: 10, minSoakSeconds: 600, successPercent: 90 },
    { percent: 50, minSoakSeconds: 0, successPercent: 95 },
    { percent: 100, minSoakSeconds: 0, successPercent: 95 },
  ],
  failureThreshold: { percent: 2, count: 3 },
  maxDeferrals: 3,
  salt: 'cd'.repeat(32),
  state: 'running',
  wave: 2,
  reason: null,
  version: 6,
  createdAt: T0,
  createdBy: 'token:0123456789abcdef',
  updatedAt: T0,
  ...over,
});

const wave = (n: number, over: Partial<WaveRecord> = {}): WaveRecord => ({
  campaignId: 4,
  wave: n,
  snapshotId: n,
  memberCount: 0,
  membersSha256: 'ee'.repeat(32),
  assignmentSha256: 'ff'.repeat(32),
  startedAt: T0,
  assignedAt: T0,
  acknowledgedFailures: 0,
  ...over,
});

/** `n` assigned vehicles of wave `w`: `ok` succeeded, `bad` failed, `later` deferred once. */
function rows(w: number, n: number, ok: number, bad: number, later = 0): VehicleOutcomeRow[] {
  return Array.from({ length: n }, (_, i) => ({
    vehicle: `${w}-${i}`,
    wave: w,
    status: 'assigned',
    reason: null,
    directorStatus: 'active',
    imageCount: 1,
    succeededImages: i < ok ? 1 : 0,
    failureReports: i >= ok && i < ok + bad ? 1 : 0,
    manifestFailures: 0,
    deferrals: i >= ok + bad && i < ok + bad + later ? 1 : 0,
    assignmentId: i + 1,
  }));
}

function status(c: CampaignRecord, waves: (WaveRecord | null)[], outcomes: VehicleOutcomeRow[]) {
  return {
    campaign: c,
    waves,
    counts: countWaves(outcomes, c.waves.length, c.maxDeferrals),
  } satisfies CampaignStatus;
}

const event = (seq: number, over: Partial<CampaignEventRecord> = {}): CampaignEventRecord => ({
  campaignId: 4,
  seq,
  kind: 'created',
  at: T0,
  detail: {},
  logIndex: seq + 10,
  ...over,
});

describe('renderCampaign', () => {
  it('shows a stopped campaign with its reason, escaped, and its tripped threshold', async () => {
    const stopped = campaign({
      state: 'stopped',
      reason: `FAILURE_THRESHOLD: wave 2 ${MARKUP}`,
    });
    const out = String(
      await renderCampaign(
        status(
          stopped,
          [wave(1), wave(2), null],
          [...rows(1, 10, 10, 0), ...rows(2, 40, 30, 3, 2)],
        ),
        [event(1, { detail: { note: MARKUP } }), event(2, { kind: 'stopped', logIndex: null })],
        at(60),
      ),
    );
    expect(out).not.toContain('<script>');
    expect(out).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(out).toMatch(
      /id="reason"[^>]*>\s*<strong>Stopped automatically:<\/strong>\s*FAILURE_THRESHOLD: wave 2/,
    );
    expect(out).toContain('badge bad">stopped');
    // Wave 2: 3 failures of 40 assigned; 2 % of 40 allows 0, so it stops at 1 (count 3 is higher).
    expect(out).toMatch(/<tr data-wave="2">[\s\S]*badge bad">3 of 1</);
    // The logged event links to its proof; the one still in the outbox says so.
    expect(out).toContain('href="/api/v1/log/proof-bundle?index=11"');
    expect(out).toMatch(/<tr data-seq="2">[\s\S]*pending/);
  });

  it('draws each started wave as bars by outcome and a wave not yet started as an outline', async () => {
    const out = String(
      await renderCampaign(
        status(
          campaign(),
          [wave(1), wave(2, { assignedAt: null }), null],
          [...rows(1, 10, 9, 1), ...rows(2, 40, 5, 0, 3)],
        ),
        [],
        at(60),
      ),
    );
    const chart = /<svg\s+class="chart"[\s\S]*?<\/svg>/.exec(out)?.[0] ?? '';
    expect(chart).toContain('Wave 1, succeeded: 9 of 10');
    expect(chart).toContain('Wave 1, failed: 1 of 10');
    expect(chart).toContain('Wave 2, deferred: 3 of 40');
    expect(chart).toContain('Wave 2, no answer yet: 32 of 40');
    expect(chart).toMatch(/<g data-wave="3">[\s\S]*stroke-dasharray="4 3"[\s\S]*not started/);
    expect(out).toContain('No event yet.');
  });
  it("shows the current wave's soak time left and its success against the gate", async () => {
    const out = String(
      await renderCampaign(
        status(campaign({ wave: 1 }), [wave(1), null, null], rows(1, 10, 6, 0)),
        [],
        at(60),
      ),
    );
    const row = /<tr data-wave="1">[\s\S]*?<\/tr>/.exec(out)?.[0] ?? '';
    expect(row).toContain('badge info">soaking');
    expect(row).toContain('soak: 9 min left');
    expect(row).toContain('60 % succeeded, needs 90 %');
    expect(out).toMatch(/<tr data-wave="3">[\s\S]*?no soak time/);
  });
});

describe('renderCampaigns', () => {
  it('says plainly when there is no campaign', async () => {
    const out = String(await renderCampaigns([]));
    expect(out).toContain('id="no-campaigns"');
    expect(out).not.toContain('<table');
  });

  it("lists campaigns with a halted one's reason (escaped), and a running one's without", async () => {
    const out = String(
      await renderCampaigns(
        [
          campaign({ id: 1, state: 'paused', reason: `maintenance ${MARKUP}` }),
          campaign({ id: 2, state: 'running', reason: null }),
        ],
        2,
      ),
    );
    expect(out).not.toContain('<script>');
    expect(out).toMatch(
      /data-campaign="1"[\s\S]*badge warn">paused[\s\S]*maintenance &lt;script&gt;/,
    );
    expect(out.match(/data-reason/g)).toHaveLength(1);
    expect(out).toContain('href="/console/campaigns/2"');
    expect(out).toContain('href="/console/campaigns?after=2"');
  });
});

describe('waveProgress', () => {
  it.each([
    { desc: 'a wave not started', w: null, n: [0, 0], now: 0, phase: 'not-started' },
    {
      desc: 'a wave being assigned',
      w: { assignedAt: null },
      n: [0, 0],
      now: 0,
      phase: 'assigning',
    },
    { desc: 'a wave in its soak time', w: {}, n: [10, 10], now: 599, phase: 'soaking' },
    { desc: 'a soaked wave below 90 %', w: {}, n: [10, 8], now: 600, phase: 'below-success' },
    { desc: 'a soaked wave at 90 %', w: {}, n: [10, 9], now: 600, phase: 'gate-open' },
    {
      desc: 'a wave of a stopped campaign',
      w: {},
      n: [10, 9],
      now: 600,
      phase: 'halted',
      state: 'stopped',
    },
    {
      desc: 'the last wave of a finished one',
      w: {},
      n: [10, 9],
      now: 0,
      phase: 'passed',
      state: 'finished',
    },
  ] as const)('puts $desc in phase $phase', (row) => {
    const c = campaign({ wave: 1, state: 'state' in row ? row.state : 'running' });
    const [first] = waveProgress(
      c,
      [row.w === null ? null : wave(1, row.w), null, null],
      countWaves(rows(1, row.n[0], row.n[1], 0), 3, 3),
      at(row.now),
    );
    expect(first?.phase).toBe(row.phase);
  });

  it('counts the soak time left from when the wave was fully assigned', () => {
    const [first] = waveProgress(campaign({ wave: 1 }), [wave(1)], [], at(100));
    expect(first?.soakLeftSeconds).toBe(500);
  });

  it('leaves out failures the OEM acknowledged on resuming', () => {
    const c = campaign({ wave: 2 });
    const [, second] = waveProgress(
      c,
      [wave(1), wave(2, { acknowledgedFailures: 2 })],
      countWaves(rows(2, 40, 0, 3), 3, 3),
      at(0),
    );
    expect(second?.failuresCounted).toBe(1);
  });
});

describe('failuresToStop', () => {
  it.each([
    { t: { percent: 2, count: null }, assigned: 200, want: 5 },
    { t: { percent: 2, count: null }, assigned: 0, want: null },
    { t: { percent: 50, count: 3 }, assigned: 100, want: 3 },
    { t: { percent: null, count: 7 }, assigned: 0, want: 7 },
  ])(
    'stops $t.percent % / count $t.count of $assigned assigned at $want',
    ({ t, assigned, want }) => {
      expect(failuresToStop(t, assigned)).toBe(want);
    },
  );
});

describe('the campaigns pages on a server without campaigns', () => {
  let t: TestRepo;
  let cookie = '';
  beforeEach(async () => {
    t = await createTestRepo();
    const audit = (await createApiToken(t.repo.store, { name: 'auditor', scopes: ['audit'] }))
      .token;
    const login = await t.parts.app.request('http://localhost/console/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
      body: new URLSearchParams({ token: audit }).toString(),
    });
    cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  });
  afterEach(async () => {
    await t.cleanup();
  });
  const get = (path: string) =>
    t.parts.app.request(`http://localhost${path}`, { headers: { accept: 'text/html', cookie } });

  it('say that campaigns are not configured, with the Campaigns tab current', async () => {
    for (const path of ['/console/campaigns', '/console/campaigns/1']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      const body = await res.text();
      expect(body, path).toContain('id="campaigns-not-configured"');
      expect(body, path).toMatch(/href="\/console\/campaigns" class="current"/);
    }
  });

  it.each([
    '/console/campaigns/abc',
    '/console/campaigns/0',
    '/console/campaigns/1e3',
    '/console/campaigns/99999999999999999999',
    '/console/campaigns?after=-1',
    '/console/campaigns?after=%3Cx%3E',
  ])('answer %s with 400 INVALID_REQUEST', async (path) => {
    const res = await t.parts.app.request(`http://localhost${path}`, { headers: { cookie } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
  });
});
