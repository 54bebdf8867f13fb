import { html } from 'hono/html';
import type { Html } from './format.js';

export type ConsolePageName =
  'releases' | 'keys' | 'coverage' | 'vehicles' | 'campaigns' | 'findings';

const NAV: { page: ConsolePageName; href: string; label: string }[] = [
  { page: 'releases', href: '/console/releases', label: 'Releases' },
  { page: 'keys', href: '/console/keys', label: 'Keys and roles' },
  { page: 'coverage', href: '/console/coverage', label: 'Coverage' },
  { page: 'vehicles', href: '/console/vehicles', label: 'Vehicles' },
  { page: 'campaigns', href: '/console/campaigns', label: 'Campaigns' },
  { page: 'findings', href: '/console/findings', label: 'Findings' },
];

/** The shell of every signed-in page: header nav, the alert banner, then the page. */
export function consolePage(opts: {
  title: string;
  current: ConsolePageName | undefined;
  /** The name of the token that is signed in (never its secret). */
  who: string;
  banner: Html;
  body: Html;
}): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${opts.title} · tufchain console</title>
        <link rel="stylesheet" href="/console/console.css" />
      </head>
      <body>
        <header class="top">
          <div class="inner">
            <a class="brand" href="/console">tufchain</a>
            <nav>
              ${NAV.map(
                (n) =>
                  html`<a href="${n.href}" class="${n.page === opts.current ? 'current' : ''}"
                    >${n.label}</a
                  >`,
              )}
            </nav>
            <span class="who">signed in as ${opts.who}</span>
            <form method="post" action="/console/logout">
              <button class="quiet" type="submit">Log out</button>
            </form>
          </div>
        </header>
        <main>${opts.banner}${opts.body}</main>
      </body>
    </html>`;
}

/** A page outside the session: the login form and errors shown before login. */
export function barePage(title: string, body: Html): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · tufchain console</title>
        <link rel="stylesheet" href="/console/console.css" />
      </head>
      <body>
        <main>${body}</main>
      </body>
    </html>`;
}
