// The web console in a real browser (Debian's chromium driven by playwright-core) against a real
// server on loopback with a real chain: publish, report installs, then look at every page.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip } from './support/browser.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { enrollVehicle, type ListedRelease } from './support/install-report.js';
import { startWiredServer, type WiredServer } from './support/wired-server.js';

const chromiumPath = chromiumOrSkip('server/test/console-browser.int.test.ts');
const SHOTS = fileURLToPath(new URL('../../test-results/console/', import.meta.url));
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(!chromiumPath)(
  'the web console in chromium (anvil, SQLite, HTTP on loopback)',
  () => {
    let chain: TestChain;
    let wired: WiredServer;
    let browser: Browser;
    let page: Page;
    let releases: ListedRelease[];

    const api = async (path: string, init: RequestInit = {}) =>
      fetch(`${wired.server.url}${path}`, init);

    async function shot(name: string): Promise<void> {
      await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
    }

    beforeAll(async () => {
      await mkdir(SHOTS, { recursive: true });
      chain = await startTestChain();
      wired = await startWiredServer(chain);
      // The wired server released gw-1.0.0.img; a second release follows.
      const next = randomBytes(4000);
      await wired.publishFirmware({
        name: 'gw-1.1.0.img',
        image: next,
        hardwareIds: ['gw-rev3'],
        version: '1.1.0',
        releaseCounter: 2,
      });
      const listed = await api('/api/v1/releases', {
        headers: { authorization: `Bearer ${wired.tokens.audit}` },
      });
      releases = ((await listed.json()) as { releases: ListedRelease[] }).releases;
      const [first, second] = releases;
      if (!first || !second) throw new Error('two releases expected');
      const latest = await (await api(`/api/v1/hardware/gw-rev3/latest`)).json();
      expect(latest).toMatchObject({ version: '1.1.0' });
      const oldDigest = targetDigest('gw-1.0.0.img');
      const v1 = { version: '1.0.0', digest: oldDigest, releaseCounter: 1 };
      const v2 = { version: '1.1.0', digest: sha256(next), releaseCounter: 2 };
      const enroll = (n: number) =>
        enrollVehicle({ serverUrl: wired.server.url, enrollToken: wired.tokens.enroll, chain, n });
      const [a, b, c] = [await enroll(1), await enroll(2), await enroll(3)];
      await a.report(1, first, v1);
      await a.report(2, second, v2);
      await b.report(1, first, v1);
      await c.report(1, second, v2);

      browser = await chromium.launch({
        executablePath: chromiumPath ?? '',
        headless: true,
        args: ['--no-sandbox'],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    });

    /** The sha256 of a target the wired server seeded (it lists `{sha256}.{name}` as known). */
    function targetDigest(name: string): string {
      const known = wired.known.find((k) => k.endsWith(`.${name}`));
      if (!known) throw new Error(`no digest for ${name}`);
      return known.slice(0, 64);
    }

    afterAll(async () => {
      await browser?.close();
      await wired?.close();
      await chain?.stop();
    });

    it('sends a browser without a session to the login form, and refuses a wrong token there', async () => {
      await page.goto(`${wired.server.url}/console/releases`);
      expect(new URL(page.url()).pathname).toBe('/console/login');
      await shot('01-login');
      await page.fill('#token', `${wired.tokens.audit.slice(0, 21)}${'x'.repeat(43)}`);
      await page.click('button[type=submit]');
      await expect.poll(() => page.locator('.error').textContent()).toContain('UNAUTHENTICATED');
      expect(new URL(page.url()).pathname).toBe('/console/login');
    });

    it('logs in with an audit token and shows both releases with their chain transactions', async () => {
      await page.fill('#token', wired.tokens.audit);
      await page.click('button[type=submit]');
      await page.waitForURL('**/console/releases');
      const text = await page.innerText('main');
      expect(text).toContain('gw-1.0.0.img');
      expect(text).toContain('gw-1.1.0.img');
      expect(releases).toHaveLength(2);
      for (const r of releases) {
        expect(
          await page.locator(`[title="${r.chain.txHash}"]`).count(),
          r.chain.txHash,
        ).toBeGreaterThan(0);
        expect(text).toContain(`block ${r.chain.blockNumber}`);
      }
      expect(text).toMatch(/\d+ confirmations?/);
      const cookies = await page.context().cookies();
      expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.path])).toEqual([
        ['tufchain_console', true, 'Strict', '/console'],
      ]);
      await shot('02-releases');
      await page.click('a[href="/console/releases/2"]');
      await page.waitForURL('**/console/releases/2');
      expect(await page.textContent('main')).toContain('1.1.0');
      const bundle = await page.getAttribute('a:has-text("Sigstore bundle")', 'href');
      expect((await api(bundle ?? '/none')).status).toBe(200);
      await shot('03-release');
    });

    it('shows every role with its threshold and expiry countdown', async () => {
      await page.click('nav >> text=Keys and roles');
      await page.waitForURL('**/console/keys');
      for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
        expect(await page.locator(`#role-${role}`).count(), role).toBe(1);
      }
      expect(await page.textContent('#role-root')).toContain('2 of 2');
      expect(await page.textContent('#role-timestamp')).toMatch(/in \d+ (d|h|min)/);
      await shot('04-keys');
    });

    it('draws the coverage of signed install reports as an SVG chart', async () => {
      await page.click('nav >> text=Coverage');
      await page.waitForURL('**/console/coverage');
      const chart = page.locator('svg[aria-label="ECUs per firmware version, by hardware ID"]');
      expect(await chart.count()).toBe(1);
      expect(await chart.locator('rect').count()).toBe(2);
      const labels = (await chart.textContent()) ?? '';
      expect(labels).toContain('1.0.0 · 1');
      expect(labels).toContain('1.1.0 · 2');
      const overTime = page.locator('svg[aria-label="ECUs per version of gw-rev3 over time"]');
      expect(await overTime.locator('path').count()).toBe(2);
      await shot('05-coverage');
    });

    it("shows one vehicle's install history with its log indexes", async () => {
      await page.click('nav >> text=Vehicles');
      await page.waitForURL('**/console/vehicles');
      await shot('06-vehicles');
      await page.fill('#q', 'GW-101');
      await page.click('form.inline button');
      await page.waitForURL('**/console/vehicles/GW-101');
      expect(await page.locator('tbody tr').count()).toBe(2);
      expect(await page.textContent('main')).toContain('1.1.0');
      await shot('07-vehicle');
      await page.click('a[href="/console/releases/2"]');
      await page.waitForURL('**/console/releases/2');
    });

    it('gives an audit token no mutating API route (403 INSUFFICIENT_SCOPE)', async () => {
      const auth = {
        authorization: `Bearer ${wired.tokens.audit}`,
        'content-type': 'application/json',
      };
      const answers = [
        await api('/api/v1/releases/1/revoke', {
          method: 'POST',
          headers: auth,
          body: '{"reason":"x"}',
        }),
        await api('/api/v1/tokens', {
          method: 'POST',
          headers: auth,
          body: '{"name":"x","scopes":["admin"]}',
        }),
        await api('/api/v1/firmware/x.img', { method: 'PUT', headers: auth, body: 'x' }),
      ];
      for (const res of answers) {
        expect(res.status).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
          'INSUFFICIENT_SCOPE',
        );
      }
    });

    it('logs out, after which every page leads to the login form again', async () => {
      await page.click('header form button');
      await page.waitForURL('**/console/login');
      await page.goto(`${wired.server.url}/console/keys`);
      expect(new URL(page.url()).pathname).toBe('/console/login');
      expect(await page.context().cookies()).toEqual([]);
    });
  },
);
