import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { html } from 'hono/html';
import type { App, AppEnv, ServerContext } from '../context.js';
import { errorBody, httpStatusOf, ServerError } from '../error.js';
import { consoleAuditPack } from './audit-pack.js';
import { monitorAlertSource, renderAlertBanner, type ConsoleAlertSource } from './alerts.js';
import { CAMPAIGNS_NOT_CONFIGURED, renderCampaign, renderCampaigns } from './campaigns-page.js';
import { login, loginPage, logout, requireSession, wantsHtml } from './auth.js';
import { renderCoverage } from './coverage-page.js';
import { renderFindings, type FindingsView } from './findings-page.js';
import type { Html } from './format.js';
import { coverageByHardware, coverageHistory, installReports } from './install-reports.js';
import { renderKeys } from './keys-page.js';
import { barePage, consolePage, type ConsolePageName } from './layout.js';
import { renderRelease, renderReleases } from './releases-page.js';
import { ConsoleSessions, type ConsoleSessionStore } from './session.js';
import { CONSOLE_CSS } from './style.js';
import { targetCatalog } from './target-catalog.js';
import { renderVehicle, renderVehicles, VEHICLE_KEY } from './vehicles-page.js';

export interface ConsoleOptions {
  /** The banner's alerts; by default the in-process monitor's (ServerDeps.monitorAlerts), else none. */
  alerts?: ConsoleAlertSource | undefined;
  /** The chain's current block number, for confirmations; without it none are shown. */
  chainHead?: (() => Promise<number>) | undefined;
  /** Where sessions are kept (OpenedRepository.consoleSessions); by default in this process. */
  sessions?: ConsoleSessionStore | undefined;
}

const ID = /^[1-9]\d{0,14}$/;
/** Campaigns per page of the list: each row is one store row, no counts. */
const CAMPAIGNS_PER_PAGE = 100;
const COMMITMENT = /^(0x)?[0-9a-fA-F]{64}$/;

// Only the server's own stylesheet and inline SVG; no script at all.
const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The web console at /console: server-rendered pages for auditors and release engineers. */
export function registerConsoleRoutes(app: App, ctx: ServerContext, opts: ConsoleOptions): void {
  const sessions = new ConsoleSessions(opts.sessions);
  const alerts =
    opts.alerts ?? (ctx.monitorAlerts ? monitorAlertSource(ctx.monitorAlerts) : undefined);
  const web = new Hono<AppEnv>();
  const formLimit = bodyLimit({
    maxSize: 4096,
    onError: () => {
      throw new ServerError('PAYLOAD_TOO_LARGE', 'a console form is at most 4 KiB');
    },
  });

  web.onError((err, c) => consoleError(c, ctx, err));
  web.use(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: under it Chromium sends `Origin: null` with the login form.
    c.header('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  web.get('/console.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(CONSOLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });
  web.get('/login', async (c) => c.html(await loginPage()));
  web.post('/login', formLimit, (c) => login(c, ctx, sessions));
  web.post('/logout', formLimit, (c) => logout(c, sessions));

  web.use(requireSession(ctx, sessions));
  const page = async (c: Context<AppEnv>, title: string, current: ConsolePageName, body: Html) =>
    c.html(
      await consolePage({
        title,
        current,
        who: c.get('token').name,
        banner: await renderAlertBanner(alerts),
        body: await body,
      }),
    );
  const head = async (): Promise<number | undefined> => {
    if (!opts.chainHead) return undefined;
    try {
      return await opts.chainHead();
    } catch {
      return undefined;
    }
  };

  web.get('/', (c) => c.redirect('/console/releases', 302));
  web.get('/releases', async (c) => {
    const [releases, catalog, block] = await Promise.all([
      ctx.store.releases(),
      targetCatalog(ctx.service.core),
      head(),
    ]);
    return page(c, 'Releases', 'releases', renderReleases({ releases, catalog, head: block }));
  });
  web.get('/releases/:id', async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id))
      throw new ServerError('INVALID_REQUEST', 'a release id is a positive integer');
    const release = await ctx.store.release(Number(id));
    if (!release) throw new ServerError('RELEASE_NOT_FOUND', `no release ${id}`);
    const [catalog, block] = await Promise.all([targetCatalog(ctx.service.core), head()]);
    return page(c, `Release ${id}`, 'releases', renderRelease(release, catalog, block));
  });
  web.get('/keys', async (c) =>
    page(c, 'Keys and roles', 'keys', renderKeys(await ctx.service.roleStatus())),
  );
  web.get('/coverage', async (c) => {
    const reports = await installReports(ctx.store);
    return page(
      c,
      'Coverage',
      'coverage',
      renderCoverage(
        coverageByHardware(reports),
        coverageHistory(reports),
        reports.length,
        ctx.clock(),
      ),
    );
  });
  web.get('/vehicles', async (c) => {
    const q = (c.req.query('q') ?? '').trim();
    if (q !== '') {
      if (!VEHICLE_KEY.test(q))
        throw new ServerError('INVALID_REQUEST', 'a vehicle commitment or ECU serial, please');
      return c.redirect(`/console/vehicles/${encodeURIComponent(q)}`, 302);
    }
    return page(c, 'Vehicles', 'vehicles', renderVehicles(await installReports(ctx.store), q));
  });
  web.get('/vehicles/:key', async (c) => {
    const key = c.req.param('key');
    if (!VEHICLE_KEY.test(key))
      throw new ServerError('INVALID_REQUEST', 'a vehicle commitment or ECU serial, please');
    const reports = (await installReports(ctx.store)).filter(
      (r) => r.vinCommitment === key || r.ecuSerial === key,
    );
    const releaseOf = new Map<string, number>();
    for (const r of await ctx.store.releases())
      for (const name of r.targetNames) releaseOf.set(name, r.id);
    const packs = ctx.monitorAudit !== undefined;
    return page(c, 'Vehicle history', 'vehicles', renderVehicle(key, reports, releaseOf, packs));
  });
  web.get('/vehicles/:key/audit-pack', async (c) => {
    const key = c.req.param('key');
    if (!COMMITMENT.test(key))
      throw new ServerError('INVALID_REQUEST', 'an audit pack is per vehicle commitment (64 hex)');
    const pack = await consoleAuditPack(ctx, key);
    c.header(
      'Content-Disposition',
      `attachment; filename="audit-pack-${pack.vehicle.commitment.slice(0, 16)}.json"`,
    );
    return c.body(JSON.stringify(pack, null, 2) + '\n', 200, {
      'Content-Type': 'application/json; charset=utf-8',
    });
  });
  web.get('/campaigns', async (c) => {
    const after = c.req.query('after');
    if (after !== undefined && !ID.test(after))
      throw new ServerError('INVALID_REQUEST', 'after is a campaign id (a positive integer)');
    if (!ctx.campaigns) return page(c, 'Campaigns', 'campaigns', CAMPAIGNS_NOT_CONFIGURED);
    const list = await ctx.campaigns.campaigns({
      ...(after === undefined ? {} : { after: Number(after) }),
      limit: CAMPAIGNS_PER_PAGE,
    });
    const next = list.length === CAMPAIGNS_PER_PAGE ? list.at(-1)?.id : undefined;
    return page(c, 'Campaigns', 'campaigns', renderCampaigns(list, next));
  });
  web.get('/campaigns/:id', async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id))
      throw new ServerError('INVALID_REQUEST', 'a campaign id is a positive integer');
    if (!ctx.campaigns) return page(c, 'Campaigns', 'campaigns', CAMPAIGNS_NOT_CONFIGURED);
    const status = await ctx.campaigns.status(Number(id));
    const events = await ctx.campaigns.events(Number(id));
    return page(c, status.campaign.name, 'campaigns', renderCampaign(status, events, ctx.clock()));
  });
  web.get('/findings', async (c) => {
    const latest = ctx.monitorAudit?.();
    const view: FindingsView = !ctx.monitorAudit
      ? { state: 'no-monitor' }
      : latest
        ? { state: 'audited', audit: latest }
        : { state: 'not-yet' };
    const releaseOfSnapshot = new Map<number, number>();
    for (const r of await ctx.store.releases()) releaseOfSnapshot.set(r.targetsVersion, r.id);
    return page(c, 'Findings', 'findings', renderFindings(view, releaseOfSnapshot));
  });
  web.all('*', () => {
    throw new ServerError('NOT_FOUND', 'no such console page');
  });

  app.route('/console', web);
}

/**
 * Console errors: a page for a browser, the API's `{ error: { code, message } }` for anything
 * else. Neither says more than the code and its message.
 */
async function consoleError(c: Context<AppEnv>, ctx: ServerContext, err: Error) {
  const e =
    err instanceof ServerError ? err : new ServerError('INTERNAL', err.message, { cause: err });
  const status = httpStatusOf(e.code) as 400;
  const message = e.code === 'INTERNAL' ? 'internal error' : e.message;
  if (status >= 500) ctx.logger.error({ code: e.code, err: err.message }, 'console page failed');
  if (!wantsHtml(c)) return c.json(errorBody(e.code, message), status);
  return c.html(
    await barePage(
      'Error',
      html`<div class="card">
        <h1>${status} ${e.code}</h1>
        <p>${message}</p>
        <p><a href="/console/releases">Back to the console</a></p>
      </div>`,
    ),
    status,
  );
}
