import { html } from 'hono/html';
import type { Html } from './format.js';

export interface BarRow {
  label: string;
  /** Stacked left to right, in this order. */
  segments: { label: string; value: number }[];
}

const PALETTE = ['#3b6fd4', '#2e9e6a', '#d9822b', '#8e5cc9', '#c9484f', '#2b9bb3', '#9a8a2a'];
const WIDTH = 960;
const LABEL_W = 170;
const ROW_H = 38;
const BAR_H = 24;
const RIGHT_PAD = 60;

/** Colour of the n-th segment of a row: the same version position gets the same colour. */
export function segmentColour(n: number): string {
  return PALETTE[n % PALETTE.length] ?? '#3b6fd4';
}

/**
 * A horizontal stacked bar chart as inline SVG, drawn on the server: one row per label, each
 * segment labelled inside when it is wide enough, the total at the end of the bar.
 */
export function stackedBarChart(rows: BarRow[], opts: { title: string }): Html {
  const max = Math.max(1, ...rows.map((r) => total(r)));
  const scale = (WIDTH - LABEL_W - RIGHT_PAD) / max;
  const height = Math.max(1, rows.length) * ROW_H + 12;
  return html`<svg
    class="chart"
    role="img"
    aria-label="${opts.title}"
    viewBox="0 0 ${WIDTH} ${height}"
    xmlns="http://www.w3.org/2000/svg"
    font-family="system-ui, sans-serif"
    font-size="13"
  >
    <title>${opts.title}</title>
    ${rows.map((row, i) => {
      const y = i * ROW_H + 6;
      let x = LABEL_W;
      const segments = row.segments.map((s, n) => {
        const w = s.value * scale;
        const rect = html`<g>
          <rect
            x="${x.toFixed(1)}"
            y="${y}"
            width="${Math.max(w, 1).toFixed(1)}"
            height="${BAR_H}"
            rx="3"
            fill="${segmentColour(n)}"
            ><title>${row.label} ${s.label}: ${s.value}</title></rect
          >
          ${w > 70 ? html`<text x="${(x + 8).toFixed(1)}" y="${y + 16}" fill="#fff">${s.label} · ${s.value}</text>` : ''}
        </g>`;
        x += w;
        return rect;
      });
      return html`<g>
        <text x="${LABEL_W - 10}" y="${y + 16}" text-anchor="end" fill="#1d2330">${row.label}</text>
        ${segments}
        <text x="${(x + 8).toFixed(1)}" y="${y + 16}" fill="#667085">${total(row)}</text>
      </g>`;
    })}
  </svg>`;
}

function total(row: BarRow): number {
  return row.segments.reduce((n, s) => n + s.value, 0);
}
