import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { authenticateToken } from '../auth/tokens.js';
import type { AppEnv, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { barePage } from './layout.js';
import { SESSION_COOKIE, type ConsoleSessions } from './session.js';

/**
 * The only POSTs of the console (login, logout) must come from its own pages: the browser's
 * Origin names this very host. With SameSite=Strict on the cookie this closes CSRF.
 */
export function assertSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header('origin');
  // The Node adapter builds the URL from the Host header: a proxy in front must pass Host on.
  const host = new URL(c.req.url).host;
  let originHost: string | undefined;
  try {
    originHost = origin ? new URL(origin).host : undefined;
  } catch {
    originHost = undefined;
  }
  if (!originHost || originHost !== host) {
    throw new ServerError(
      'CONSOLE_ORIGIN_REFUSED',
      'the console accepts forms only from its own pages (Origin header)',
    );
  }
}

export function loginPage(opts: { error?: { code: string; message: string } } = {}) {
  return barePage(
    'Sign in',
    html`<div class="login card">
      <h1>tufchain console</h1>
      <p class="lead">
        Sign in with an API token of this server. An <code>audit</code> token is enough: the console
        only reads.
      </p>
      ${
        opts.error
          ? html`<div class="error" role="alert">
              <strong>${opts.error.code}</strong>: ${opts.error.message}
            </div>`
          : ''
      }
      <form method="post" action="/console/login">
        <label for="token">API token</label>
        <input
          type="password"
          id="token"
          name="token"
          autocomplete="off"
          required
          placeholder="tct_…"
        />
        <button type="submit">Sign in</button>
      </form>
    </div>`,
  );
}

/** A browser asks for a page; anything else gets the API's JSON error. */
export function wantsHtml(c: Context<AppEnv>): boolean {
  return (c.req.header('accept') ?? '').includes('text/html');
}

function isHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/** POST /console/login: checks the token as the API does, then opens a session cookie. */
export async function login(
  c: Context<AppEnv>,
  ctx: ServerContext,
  sessions: ConsoleSessions,
): Promise<Response> {
  assertSameOrigin(c);
  const form = await c.req.parseBody();
  const token = typeof form.token === 'string' ? form.token.trim() : '';
  const now = ctx.clock();
  let tokenId: string;
  try {
    tokenId = (await authenticateToken(ctx.store, `Bearer ${token}`, now)).id;
  } catch (err) {
    if (!(err instanceof ServerError) || !wantsHtml(c)) throw err;
    // Never echo what was typed: it may be a secret with a typo.
    const message =
      err.code === 'UNAUTHENTICATED' ? 'this is not a valid API token of this server' : err.message;
    return c.html(loginPage({ error: { code: err.code, message } }), 401);
  }
  const { cookie, expiresAt } = await sessions.open(tokenId, now);
  setCookie(c, SESSION_COOKIE, cookie, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/console',
    secure: isHttps(c),
    expires: expiresAt,
  });
  return c.redirect('/console/releases', 303);
}

export async function logout(c: Context<AppEnv>, sessions: ConsoleSessions): Promise<Response> {
  assertSameOrigin(c);
  // Deleted from the database: the cookie is dead on every replica, not only on this one.
  await sessions.close(getCookie(c, SESSION_COOKIE));
  deleteCookie(c, SESSION_COOKIE, { path: '/console', httpOnly: true, sameSite: 'Strict' });
  return c.redirect('/console/login', 303);
}

/**
 * Every other console page needs a live session whose token is still valid (not revoked, not
 * expired since login); otherwise the browser is sent to the login form. Sessions live in the
 * database, so a session opened on one replica is valid on all, and revoking its token ends it
 * on all.
 */
export function requireSession(
  ctx: ServerContext,
  sessions: ConsoleSessions,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const now = ctx.clock();
    const cookie = getCookie(c, SESSION_COOKIE);
    const session = await sessions.resolve(cookie, now);
    const token = session ? await ctx.store.token(session.tokenId) : undefined;
    const valid =
      token !== undefined &&
      token.revokedAt === null &&
      (token.expiresAt === null || Date.parse(token.expiresAt) > now.getTime());
    if (!valid) {
      await sessions.close(cookie);
      return c.redirect('/console/login', 302);
    }
    c.set('token', token);
    await next();
    return undefined;
  };
}
