import { html } from 'hono/html';
import { stackedBarChart, segmentColour, type BarRow } from './bar-chart.js';
import type { Html } from './format.js';
import { stepChart } from './line-chart.js';

/** Versions in release order where they look like versions (1.10.0 after 1.9.0), else by name. */
function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function swatch(n: number): Html {
  return html`<svg class="swatch" width="11" height="11" aria-hidden="true">
    <rect width="11" height="11" rx="2" fill="${segmentColour(n)}" />
  </svg>`;
}

export function coverageRows(coverage: Map<string, Map<string, number>>): BarRow[] {
  return [...coverage.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([hardwareId, versions]) => ({
      label: hardwareId,
      segments: [...versions.entries()]
        .sort(([a], [b]) => compareVersions(a, b))
        .map(([label, value]) => ({ label, value })),
    }));
}

function coverageTable(rows: BarRow[]): Html {
  return html`<div class="table-wrap">
    <table>
      <thead>
        <tr>
          <th>Hardware ID</th>
          <th>Version</th>
          <th class="num">ECUs</th>
          <th class="num">Share</th>
        </tr>
      </thead>
      <tbody>
        ${rows.flatMap((row) => {
          const total = row.segments.reduce((n, s) => n + s.value, 0);
          return row.segments.map(
            (s, n) =>
              html`<tr>
                <td>${n === 0 ? html`<strong>${row.label}</strong>` : ''}</td>
                <td>${swatch(n)} ${s.label}</td>
                <td class="num">${s.value}</td>
                <td class="num">${Math.round((100 * s.value) / total)} %</td>
              </tr>`,
          );
        })}
      </tbody>
    </table>
  </div>`;
}

function historyCharts(history: Map<string, Map<string, [number, number][]>>, now: Date): Html {
  return html`<div class="grid2">
    ${[...history.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([hardwareId, versions]) => {
        const series = [...versions.entries()]
          .sort(([a], [b]) => compareVersions(a, b))
          .map(([label, points]) => ({ label, points }));
        return html`<div class="card">
          <strong>${hardwareId}</strong>
          ${stepChart(series, {
            title: `ECUs per version of ${hardwareId} over time`,
            until: now.getTime(),
          })}
          <div class="legend">
            ${series.map((s, n) => html`<span>${swatch(n)} ${s.label}</span>`)}
          </div>
        </div>`;
      })}
  </div>`;
}

/** Per hardware ID, the vehicles' ECUs on each version: now (chart and table) and over time. */
export function renderCoverage(
  coverage: Map<string, Map<string, number>>,
  history: Map<string, Map<string, [number, number][]>>,
  reports: number,
  now: Date,
): Html {
  const rows = coverageRows(coverage);
  return html`<h1>Coverage</h1>
    <p class="lead">
      Per hardware ID, how many vehicle ECUs run each firmware version: the newest successful signed
      install report of each ECU (${reports} report${reports === 1 ? '' : 's'} read).
    </p>
    ${
      rows.length === 0
        ? html`<div class="card muted">No vehicle has reported an install yet.</div>`
        : html`<div class="card">
              ${stackedBarChart(rows, { title: 'ECUs per firmware version, by hardware ID' })}
            </div>
            ${coverageTable(rows)}
            <h2>Over time</h2>
            ${historyCharts(history, now)}`
    }`;
}
