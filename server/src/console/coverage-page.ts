import { html } from 'hono/html';
import { stackedBarChart, segmentColour, type BarRow } from './bar-chart.js';
import type { Html } from './format.js';

/** Versions in release order where they look like versions (1.10.0 after 1.9.0), else by name. */
function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
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

/** Per hardware ID, the vehicles' ECUs on each version, as a chart and as a table. */
export function renderCoverage(coverage: Map<string, Map<string, number>>, reports: number): Html {
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
            <div class="table-wrap">
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
                          <td>
                            <svg class="swatch" width="11" height="11" aria-hidden="true">
                              <rect width="11" height="11" rx="2" fill="${segmentColour(n)}" />
                            </svg>
                            ${s.label}
                          </td>
                          <td class="num">${s.value}</td>
                          <td class="num">${Math.round((100 * s.value) / total)} %</td>
                        </tr>`,
                    );
                  })}
                </tbody>
              </table>
            </div>`
    }`;
}
