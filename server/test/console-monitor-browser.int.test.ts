// The console beside a running monitor, in a real browser (Debian's chromium driven by
// playwright-core): anvil mining a block a second, the server with its transparency log on
// loopback, a webhook receiver that checks each delivery's HMAC.
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { verifyVehicleAuditPack, type VehicleAuditPack } from '@tufchain/transparency';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Monitor } from '../src/monitor/monitor.js';
import { chromiumOrSkip } from './support/browser.js';
import {
  enrollVehicle,
  type EnrolledVehicle,
  type ListedRelease,
} from './support/install-report.js';
import { HARDWARE_ID, sha256, startMonitorRig, type MonitorRig } from './support/monitor-rig.js';

const chromiumPath = chromiumOrSkip('server/test/console-monitor-browser.int.test.ts');
const SHOTS = fileURLToPath(new URL('../../test-results/console/', import.meta.url));
const BLOCK_SECONDS = 1;
const CONFIRMATIONS = 2;

/** expect.poll is for tests only: this waits in beforeAll. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!chromiumPath)('the console with a running monitor, in chromium', () => {
  let rig: MonitorRig;
  let monitor: Monitor;
  let running: { stop(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let vehicle: EnrolledVehicle;
  let release: ListedRelease;

  const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  async function releases(): Promise<ListedRelease[]> {
    const res = await fetch(`${rig.server.url}/api/v1/releases`, {
      headers: { authorization: `Bearer ${rig.tokens.audit}` },
    });
    return ((await res.json()) as { releases: ListedRelease[] }).releases;
  }

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    rig = await startMonitorRig({
      blockSeconds: BLOCK_SECONDS,
      confirmations: CONFIRMATIONS,
      log: true,
    });
    monitor = await rig.open();
    running = monitor.run();
    await rig.publish('brake-1.1.0.bin', rig.expectedImage, 1);
    const [listed] = await releases();
    if (!listed) throw new Error('the expected release is not listed');
    release = listed;
    vehicle = await enrollVehicle({
      serverUrl: rig.server.url,
      enrollToken: rig.tokens.enroll,
      chain: rig.chain,
      n: 7,
      hardwareId: HARDWARE_ID,
    });
    const image = { version: '1.1.0', digest: sha256(rig.expectedImage), releaseCounter: 1 };
    const sent = await vehicle.report(1, release, image);
    // The pack carries the report's proof bundle once its log entry is anchored on chain.
    const proof = `${rig.server.url}/api/v1/log/proof-bundle?index=${sent.logIndex}`;
    await until(async () => (await fetch(proof)).status === 200, 'the report anchored');
    await until(
      () => monitor.latestAudit()?.result.installs.length === 1,
      'an audit with the report',
    );

    browser = await chromium.launch({
      executablePath: chromiumPath ?? '',
      headless: true,
      args: ['--no-sandbox'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
    await page.goto(`${rig.server.url}/console/login`);
    await page.fill('#token', rig.tokens.audit);
    await page.click('button[type=submit]');
    await page.waitForURL('**/console/releases');
  }, 120_000);

  afterAll(async () => {
    await running?.stop();
    await browser?.close();
    await rig?.close();
  });

  it('downloads a vehicle audit pack through the browser, which verifies offline', async () => {
    await page.goto(`${rig.server.url}/console/vehicles/${vehicle.vinCommitment}`);
    await shot('08-vehicle-audit-pack');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('a.button:has-text("Download audit pack")'),
    ]);
    expect(download.suggestedFilename()).toBe(
      `audit-pack-${vehicle.vinCommitment.slice(0, 16)}.json`,
    );
    const pack = JSON.parse(await readFile(await download.path(), 'utf8')) as VehicleAuditPack;
    expect(pack.vehicle.commitment).toBe(vehicle.vinCommitment);
    expect(pack.installs).toHaveLength(1);
    expect(pack.installs[0]!.proofBundle).not.toBeNull();
    expect(pack.installs[0]!.release?.metadataVersion).toBeGreaterThan(0);
    const trust = { vehicleCaPem: rig.vehicleCaPem, logVerifiers: rig.logVerifiers ?? [] };
    const verified = await verifyVehicleAuditPack(pack, trust);
    expect(verified.map((v) => [v.version, v.result, v.logIndex])).toEqual([
      ['1.1.0', 'SUCCESS', pack.installs[0]!.logIndex],
    ]);
    // The same pack claiming another vehicle does not verify.
    const other = { ...pack, vehicle: { commitment: 'ee'.repeat(32) } };
    await expect(verifyVehicleAuditPack(other, trust)).rejects.toMatchObject({
      code: 'AUDIT_PACK_INVALID',
    });
  });

  it("shows the monitor audit's findings, each with its meaning and a link to where it points", async () => {
    await page.click('nav >> text=Findings');
    await page.waitForURL('**/console/findings');
    expect(await page.locator('#no-monitor').count()).toBe(0);
    expect(await page.textContent('main')).toContain('verified against the vehicle CA');
    expect(await page.locator('#no-findings').count()).toBe(1);

    // A signed report whose odometer reads less than the one before: the audit's to find.
    const image = { version: '1.1.0', digest: sha256(rig.expectedImage), releaseCounter: 1 };
    await vehicle.report(2, release, image, 5);
    await expect
      .poll(() => monitor.latestAudit()?.result.findings.map((f) => f.code), {
        timeout: 20_000,
        interval: 250,
      })
      .toEqual(['ODOMETER_DECREASED']);
    await page.reload();
    const row = page.locator('tr[data-finding="ODOMETER_DECREASED"]');
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain("a vehicle's odometer went down between two reports");
    await shot('09-findings');
    await row.locator(`a[href="/console/vehicles/${vehicle.vinCommitment}"]`).click();
    await page.waitForURL(`**/console/vehicles/${vehicle.vinCommitment}`);
    expect(await page.locator('tbody tr').count()).toBe(2);
  });

  it('alerts on a rogue release logged with stolen keys, in the banner and at the webhook', async () => {
    const before = rig.deliveries.length;
    // The stolen-key case: the OEM's own (online) keys sign a release its records do not know.
    const rogue = new TextEncoder().encode('brake firmware 6.6.6, not built by the OEM');
    await rig.publish('brake-6.6.6.bin', rogue, 2);
    const rogueAlert = () =>
      rig.deliveries.slice(before).find((d) => d.alert.kind === 'UNEXPECTED_RELEASE');
    await expect.poll(rogueAlert, { timeout: 20_000, interval: 25 }).toBeDefined();
    const delivery = rogueAlert();
    expect(rig.deliveries.every((d) => d.signatureValid)).toBe(true);
    expect(delivery!.alert).toMatchObject({
      kind: 'UNEXPECTED_RELEASE',
      severity: 'critical',
      subject: `0x${sha256(rogue)}`,
    });
    // How fast it comes is measured by `npm run bench:monitor`, not asserted here.

    await page.click('nav >> text=Releases');
    await page.waitForURL('**/console/releases');
    const banner = page.locator(`.banner.critical [data-alert-id="${delivery!.alert.id}"]`);
    expect(await banner.count()).toBe(1);
    expect(await banner.textContent()).toContain('UNEXPECTED_RELEASE');
    await shot('10-rogue-release-alert');
  });
});
