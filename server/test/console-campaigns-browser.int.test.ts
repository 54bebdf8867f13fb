// The console's campaigns pages in a real browser (Debian's chromium driven by playwright-core)
// against a real campaign server on loopback (support/campaign-server.ts): 20 enrolled vehicles
// with their own keys send real signed reports while a 3-wave campaign runs, then stops itself.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { campaignLogEntrySchema } from '@tufchain/transparency/wire';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/index.js';
import { chromiumOrSkip } from './support/browser.js';
import {
  directorAssignment,
  installReport,
  sendVersionManifest,
  type DirectorImage,
  type SimulatedVehicle,
} from './support/campaign-fleet.js';
import {
  HW,
  IMAGE,
  sha256,
  startCampaignServer,
  until,
  type CampaignServer,
  type CampaignView,
  type EventView,
} from './support/campaign-server.js';

const chromiumPath = chromiumOrSkip('server/test/console-campaigns-browser.int.test.ts');
const SHOTS = fileURLToPath(new URL('../../test-results/console/', import.meta.url));
/** 20 vehicles, waves to 20 %, 50 %, 100 %: 4, 6 and 10 vehicles. */
const FLEET_SIZE = 20;

describe.skipIf(!chromiumPath)('the campaigns pages of the console in chromium', () => {
  let s: CampaignServer;
  let browser: Browser;
  let page: Page;
  let audit = '';
  let id = 0;

  const campaign = async (): Promise<CampaignView> =>
    (await s.call('GET', `/api/v1/campaigns/${id}`)).body;

  /** Waits until wave `n` is assigned, then finds the vehicles the Director gave the image. */
  async function assignedIn(
    n: number,
    earlier: ReadonlySet<SimulatedVehicle>,
  ): Promise<Map<SimulatedVehicle, DirectorImage>> {
    await until(`wave ${n} assigned`, async () =>
      (await campaign()).waves[n - 1]?.assignedAt ? true : undefined,
    );
    const found = new Map<SimulatedVehicle, DirectorImage>();
    for (const v of s.fleet) {
      if (earlier.has(v)) continue;
      const image = await directorAssignment(s.server.url, v);
      if (image) found.set(v, image);
    }
    return found;
  }

  async function attest(v: SimulatedVehicle, result: 'SUCCESS' | 'FAILURE'): Promise<void> {
    const bundle = await installReport(
      v,
      HW,
      { name: IMAGE.name, sha256: sha256(IMAGE.bytes) },
      result,
    );
    const res = await fetch(`${s.server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bundle),
    });
    expect(res.status, await res.text()).toBe(201);
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
  }

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    s = await startCampaignServer({ vehicles: FLEET_SIZE });
    audit = (await createApiToken(s.repo.store, { name: 'auditor', scopes: ['audit'] })).token;
    const created = await s.call('POST', '/api/v1/campaigns', {
      body: {
        name: 'gw 2.0.0 rollout',
        groupId: s.groupId,
        release: [{ hardwareId: HW, name: IMAGE.name }],
        waves: [
          { percent: 20, successPercent: 100 },
          { percent: 50, successPercent: 100 },
          { percent: 100, successPercent: 95 },
        ],
        failureThreshold: { count: 2 },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    id = created.body.id;
    expect((await s.call('POST', `/api/v1/campaigns/${id}/start`)).status).toBe(200);

    // Wave 1: every vehicle installs; the gate (100 %) opens and wave 2 starts.
    const wave1 = await assignedIn(1, new Set());
    expect(wave1.size).toBe(4);
    for (const v of wave1.keys()) await attest(v, 'SUCCESS');
    // Wave 2: two succeed, one defers, one stays silent, then two fail: the count threshold (2)
    // stops the campaign before wave 3.
    const wave2 = await assignedIn(2, new Set(wave1.keys()));
    expect(wave2.size).toBe(6);
    const [ok1, ok2, deferrer, , bad1, bad2] = [...wave2.keys()];
    await attest(ok1!, 'SUCCESS');
    await attest(ok2!, 'SUCCESS');
    const deferred = await sendVersionManifest(s.server.url, deferrer!, {
      correlationId: wave2.get(deferrer!)!.correlationId!,
      code: 'DEFERRED',
      success: false,
    });
    expect(deferred.status).toBeLessThan(300);
    await attest(bad1!, 'FAILURE');
    await attest(bad2!, 'FAILURE');
    await until('the automatic stop', async () =>
      (await campaign()).state === 'stopped' ? true : undefined,
    );
    // Every event in the transparency log, so each row has its log index.
    await until('every event logged', async () => {
      const { events } = (
        await s.call<{ events: EventView[] }>('GET', `/api/v1/campaigns/${id}/events`)
      ).body;
      return events.length === 6 && events.every((e) => typeof e.logIndex === 'number')
        ? true
        : undefined;
    });

    browser = await chromium.launch({
      executablePath: chromiumPath ?? '',
      headless: true,
      args: ['--no-sandbox'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(`${s.server.url}/console/login`);
    await page.fill('#token', audit);
    await page.click('button[type=submit]');
    await page.waitForURL('**/console/releases');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('lists the campaign under the Campaigns tab, stopped, with the reason', async () => {
    await page.click('nav >> text=Campaigns');
    await page.waitForURL('**/console/campaigns');
    const row = page.locator(`tr[data-campaign="${id}"]`);
    expect(await row.locator('.badge').textContent()).toBe('stopped');
    expect(await row.locator('[data-reason]').textContent()).toMatch(/^FAILURE_THRESHOLD/);
    expect(await row.textContent()).toMatch(/2\s+of 3/);
    await shot('10-campaigns');
  });

  it("draws each wave's progress from the signed reports, and wave 3 as not started", async () => {
    await page.click(`a[href="/console/campaigns/${id}"]`);
    await page.waitForURL(`**/console/campaigns/${id}`);
    expect(await page.textContent('#reason')).toContain('FAILURE_THRESHOLD');
    expect(await page.textContent('#failure-threshold')).toContain('2 failures in a wave');
    const cells = async (wave: number) =>
      (await page.locator(`table.waves tr[data-wave="${wave}"] td.num`).allTextContents()).map(
        (t) => t.trim(),
      );
    // members, assigned, succeeded, failed, deferred, no answer, other
    expect(await cells(1)).toEqual(['4', '4', '4', '0', '0', '0', '—']);
    expect(await cells(2)).toEqual(['6', '6', '2', '2', '1', '1', '—']);
    expect(await cells(3)).toEqual(['0', '0', '0', '0', '0', '0', '—']);
    expect(
      await page.locator('table.waves tr[data-wave="2"] .badge.bad').allTextContents(),
    ).toEqual(['stopped', '2 of 2']);
    const text = async (wave: number) =>
      (await page.locator(`table.waves tr[data-wave="${wave}"]`).innerText()).replace(/\s+/g, ' ');
    expect(await text(2)).toContain('stopped');
    expect(await text(2)).toContain('33 % succeeded, needs 100 %');
    expect(await text(1)).toContain('passed');
    expect(await text(3)).toContain('not started');

    const chart = page.locator('svg.chart');
    const titles = await chart.locator('rect > title').allTextContents();
    expect(titles).toEqual([
      'Wave 1, succeeded: 4 of 4',
      'Wave 2, succeeded: 2 of 6',
      'Wave 2, failed: 2 of 6',
      'Wave 2, deferred: 1 of 6',
      'Wave 2, no answer yet: 1 of 6',
    ]);
    expect(await chart.locator('g[data-wave="3"]').textContent()).toContain('not started');
    await shot('11-campaign');
  });

  it('lists every logged event with a log index that holds it in the transparency log', async () => {
    const rows = page.locator('table.events tbody tr');
    expect(await rows.locator('td:nth-child(2)').allTextContents()).toEqual([
      'created',
      'wave-started',
      'wave-assigned',
      'wave-started',
      'wave-assigned',
      'stopped',
    ]);
    const { urn } = await campaign();
    const links = rows.locator('a[href^="/api/v1/log/proof-bundle?index="]');
    expect(await links.count()).toBe(6);
    for (let seq = 1; seq <= 6; seq++) {
      const index = Number(await links.nth(seq - 1).textContent());
      const got = await s.call<{ entries: string[] }>(
        'GET',
        `/api/v1/log/entries?start=${index}&end=${index + 1}`,
      );
      const entry = campaignLogEntrySchema.parse(
        JSON.parse(Buffer.from(got.body.entries[0]!, 'base64').toString('utf8')),
      );
      expect(entry).toMatchObject({ campaign: urn, seq });
    }
    // The link reaches the proof endpoint; with no chain here the entry is not anchored yet.
    const href = (await links.first().getAttribute('href')) ?? '';
    const proof = await fetch(`${s.server.url}${href}`);
    expect(proof.status).toBe(404);
    expect(((await proof.json()) as { error: { code: string } }).error.code).toBe('NOT_ANCHORED');
  });

  it('answers an unknown campaign with 404 CAMPAIGN_NOT_FOUND and a bad id with 400', async () => {
    const missing = await page.goto(`${s.server.url}/console/campaigns/999`);
    expect(missing?.status()).toBe(404);
    expect(await page.textContent('h1')).toContain('CAMPAIGN_NOT_FOUND');
    const bad = await page.goto(`${s.server.url}/console/campaigns/x1`);
    expect(bad?.status()).toBe(400);
    expect(await page.textContent('h1')).toContain('INVALID_REQUEST');
  });
});
