import { html } from 'hono/html';
import { badge, byteSize, shortHash, when, type Html } from './format.js';
import type { InstallReport } from './install-reports.js';

/** A vehicle commitment or an ECU serial as typed in the search box. */
export const VEHICLE_KEY = /^[A-Za-z0-9._:+-]{1,200}$/;

function searchForm(value: string): Html {
  return html`<form class="inline card" method="get" action="/console/vehicles">
    <label for="q">Vehicle commitment or ECU serial</label>
    <input type="text" id="q" name="q" value="${value}" placeholder="0x… or GW-0001" />
    <button type="submit">Show history</button>
  </form>`;
}

/** The vehicles that reported, newest report first, with a search by commitment or ECU serial. */
export function renderVehicles(reports: InstallReport[], query: string): Html {
  const latest = new Map<string, InstallReport>();
  for (const r of reports) latest.set(r.vinCommitment, r);
  const vehicles = [...latest.values()].sort((a, b) => b.id - a.id);
  return html`<h1>Vehicles</h1>
    <p class="lead">
      Vehicles appear only as salted commitments. Pick one to see its install history.
    </p>
    ${searchForm(query)}
    ${
      vehicles.length === 0
        ? html`<div class="card muted">No vehicle has reported an install yet.</div>`
        : html`<div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Vehicle commitment</th>
                  <th>Last ECU</th>
                  <th>Last target</th>
                  <th>Result</th>
                  <th>Received</th>
                </tr>
              </thead>
              <tbody>
                ${vehicles.map(
                  (r) =>
                    html`<tr>
                      <td>
                        <a href="/console/vehicles/${r.vinCommitment}"
                          >${shortHash(r.vinCommitment, 14)}</a
                        >
                      </td>
                      <td><code>${r.ecuSerial}</code></td>
                      <td><code>${r.targetName}</code></td>
                      <td>${resultBadge(r.result)}</td>
                      <td>${when(r.receivedAt)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }`;
}

function targetCell(name: string, releaseOf: Map<string, number>): Html {
  const id = releaseOf.get(name);
  return id === undefined
    ? html`<code>${name}</code>`
    : html`<a href="/console/releases/${id}"><code>${name}</code></a>`;
}

function installPathCell(install: InstallReport['install']): Html {
  if (!install) return html`<span class="muted">—</span>`;
  return html`${install.path === 'delta' ? badge('delta', 'info') : badge('full', 'info')}
    ${install.fallback ? html`<div class="muted">fell back: ${install.fallback.code}</div>` : ''}
    <div class="muted">${byteSize(install.networkBytes)} over the network</div>`;
}

function resultBadge(result: string): Html {
  return badge(result, result === 'SUCCESS' ? 'ok' : 'bad');
}

/** Every install report of one vehicle (or of one ECU serial), oldest first. */
export function renderVehicle(
  key: string,
  reports: InstallReport[],
  /** Target name -> the release that published it, for links. */
  releaseOf: Map<string, number>,
  /** Whether a monitor runs here, whose audit the audit pack is built from. */
  packs = false,
): Html {
  const commitments = [...new Set(reports.map((r) => r.vinCommitment))];
  return html`<p><a href="/console/vehicles">← all vehicles</a></p>
    <h1>Vehicle history</h1>
    <p class="lead">
      ${reports.length} install report${reports.length === 1 ? '' : 's'} for <code>${key}</code>
      ${
        commitments.length === 1 && commitments[0] !== key
          ? html` (vehicle
              <a href="/console/vehicles/${commitments[0]}">${shortHash(commitments[0], 14)}</a>)`
          : ''
      }.
      Each is signed by the ECU's vehicle certificate; its log index opens its inclusion proof
      against the on-chain anchor.
    </p>
    ${
      reports.length === 0
        ? html`<div class="card muted">No install report names this vehicle or ECU.</div>`
        : html`<div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Finished</th>
                    <th>ECU</th>
                    <th>Target</th>
                    <th>Version</th>
                    <th>Result</th>
                    <th>Path</th>
                    <th class="num">Odometer</th>
                    <th class="num">Counter</th>
                    <th>Report digest</th>
                    <th class="num">Log</th>
                  </tr>
                </thead>
                <tbody>
                  ${reports.map(
                    (r) =>
                      html`<tr>
                        <td>${when(r.finishedAt ?? r.receivedAt)}</td>
                        <td>
                          <code>${r.ecuSerial}</code>
                          ${r.hardwareId ? html`<div class="muted">${r.hardwareId}</div>` : ''}
                        </td>
                        <td>${targetCell(r.targetName, releaseOf)}</td>
                        <td>${r.version ?? '—'}</td>
                        <td>${resultBadge(r.result)}</td>
                        <td>${installPathCell(r.install)}</td>
                        <td class="num">
                          ${r.odometerKm === undefined ? '—' : `${r.odometerKm} km`}
                        </td>
                        <td class="num">${r.counter ?? '—'}</td>
                        <td>${shortHash(r.reportSha256, 8)}</td>
                        <td class="num">
                          ${
                            r.logIndex === null
                              ? html`<span class="muted">pending</span>`
                              : html`<a href="/api/v1/log/proof-bundle?index=${r.logIndex}"
                                  >${r.logIndex}</a
                                >`
                          }
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${auditPackCard(commitments, packs)}`
    }`;
}

/** The download of each vehicle's audit pack, built from the monitor's newest audit. */
function auditPackCard(commitments: string[], packs: boolean): Html {
  if (!packs)
    return html`<div class="card">
      <strong>Audit pack.</strong>
      <span class="muted"
        >No monitor runs in this server, so the console has no audit to pack; the auditor writes one
        per vehicle, verified against the chain: <code>tufchain audit … --pack-dir DIR</code>.</span
      >
    </div>`;
  return html`<div class="card audit-pack">
    <div>
      <strong>Audit pack</strong>
      <p class="muted">
        Every signed install report of this vehicle with its log proof and the chain entry of the
        release it installed, from the monitor's latest audit. It verifies offline
        (<code>verifyVehicleAuditPack</code>) with the vehicle CA and the log keys.
      </p>
    </div>
    ${commitments.map(
      (c) =>
        html`<a class="button" href="/console/vehicles/${c}/audit-pack" download
          >Download audit pack${commitments.length > 1 ? html` of ${shortHash(c, 10)}` : ''}</a
        >`,
    )}
  </div>`;
}
