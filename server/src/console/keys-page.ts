import { html } from 'hono/html';
import type { RoleStatus } from '../tuf/role-status.js';
import { badge, duration, shortHash, when, type Html } from './format.js';

/**
 * Under a month left on an offline role: time to gather its key holders. Online roles re-sign
 * themselves well before expiry, so only an expired one is a problem.
 */
const OFFLINE_WARN_SECONDS = 30 * 86_400;

function expiry(r: RoleStatus): Html {
  if (!r.expires) return html`<span class="muted">not signed yet</span>`;
  const warn = r.signing === 'offline' && r.secondsToExpiry < OFFLINE_WARN_SECONDS;
  const tone = r.secondsToExpiry <= 0 ? 'bad' : warn ? 'warn' : 'ok';
  const text =
    r.secondsToExpiry <= 0
      ? `expired ${duration(r.secondsToExpiry)} ago`
      : `in ${duration(r.secondsToExpiry)}`;
  return html`${badge(text, tone)}<br /><span class="muted">${when(r.expires)}</span>`;
}

/** Each TUF role: its keys, threshold, signing mode, version and expiry countdown. */
export function renderKeys(roles: RoleStatus[]): Html {
  return html`<h1>Keys and roles</h1>
    <p class="lead">
      The roles of the served TUF metadata, from the current root and targets. Offline roles are
      re-signed by their key holders; online roles by this server.
    </p>
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Role</th>
            <th class="num">Version</th>
            <th>Threshold</th>
            <th>Key IDs</th>
            <th>Signing</th>
            <th>Expires</th>
          </tr>
        </thead>
        <tbody>
          ${roles.map(
            (r) =>
              html`<tr id="role-${r.role}">
                <td>
                  <strong>${r.role}</strong>
                  ${r.count === undefined ? '' : html`<div class="muted">${r.count} bins</div>`}
                  ${
                    r.hardwareIds
                      ? html`<div class="tags">
                          ${r.hardwareIds.map((h) => html`<span class="tag">${h}</span>`)}
                        </div>`
                      : ''
                  }
                </td>
                <td class="num">${r.version}</td>
                <td>${r.threshold} of ${r.keyIds.length}</td>
                <td>
                  ${r.keyIds.map(
                    (k) =>
                      html`<div>
                        ${shortHash(k, 12)}${r.onlineKeyIds.includes(k) ? html` <span class="tag">online</span>` : ''}
                      </div>`,
                  )}
                </td>
                <td>${badge(r.signing, r.signing === 'online' ? 'info' : 'ok')}</td>
                <td>${expiry(r)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
}
