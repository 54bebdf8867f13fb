import { html } from 'hono/html';
import type { WaveCounts } from '../campaigns/gates.js';
import type { Html } from './format.js';
import type { WaveProgress } from './wave-progress.js';

/** The outcomes a wave's bar is split into, left to right: finished ones first. */
export const WAVE_OUTCOMES: {
  key: Exclude<keyof WaveCounts, 'wave' | 'members' | 'assigned'>;
  label: string;
  colour: string;
}[] = [
  { key: 'succeeded', label: 'succeeded', colour: '#2e9e6a' },
  { key: 'failed', label: 'failed', colour: '#c9484f' },
  { key: 'deferred', label: 'deferred', colour: '#e0a030' },
  { key: 'retriesExhausted', label: 'gave up waiting', colour: '#9a6a2a' },
  { key: 'inProgress', label: 'no answer yet', colour: '#8fb0e8' },
  { key: 'assigning', label: 'being assigned', colour: '#d0d5dd' },
  { key: 'skipped', label: 'skipped', colour: '#98a2b3' },
  { key: 'cancelled', label: 'cancelled', colour: '#8e5cc9' },
];

const WIDTH = 960;
const LABEL_W = 130;
const RIGHT_W = 190;
const ROW_H = 46;
const BAR_H = 26;
const BAR_W = WIDTH - LABEL_W - RIGHT_W;

/** A small square of an outcome's colour, for legends and table headers. */
export function outcomeSwatch(colour: string): Html {
  return html`<svg class="swatch" width="11" height="11" aria-hidden="true">
    <rect width="11" height="11" rx="2" fill="${colour}" />
  </svg>`;
}

/**
 * One bar per wave as inline SVG, drawn on the server: the wave's members split by outcome, full
 * width being all of the wave's members; the success gate as a dashed mark at its percentage; a
 * wave not started yet as an empty outline.
 */
export function waveChart(waves: readonly WaveProgress[], title: string): Html {
  const height = Math.max(1, waves.length) * ROW_H + 8;
  return html`<svg
    class="chart"
    role="img"
    aria-label="${title}"
    viewBox="0 0 ${WIDTH} ${height}"
    xmlns="http://www.w3.org/2000/svg"
    font-family="system-ui, sans-serif"
    font-size="13"
  >
    <title>${title}</title>
    ${waves.map((w, i) => waveBar(w, i * ROW_H + 8))}
  </svg>`;
}

function waveBar(w: WaveProgress, y: number): Html {
  const label = html`<text
      x="${LABEL_W - 12}"
      y="${y + 17}"
      text-anchor="end"
      fill="#1d2330"
      font-weight="600"
      >Wave ${w.wave}</text
    >
    <text x="${LABEL_W - 12}" y="${y + 32}" text-anchor="end" fill="#667085" font-size="11"
      >to ${w.spec.percent} %</text
    >`;
  const members = w.counts.members;
  if (w.record === null || members === 0) {
    return html`<g data-wave="${w.wave}">
      ${label}
      <rect
        x="${LABEL_W}"
        y="${y}"
        width="${BAR_W}"
        height="${BAR_H}"
        rx="4"
        fill="#f6f7f9"
        stroke="#d0d5dd"
        stroke-dasharray="4 3"
      />
      <text x="${LABEL_W + 10}" y="${y + 18}" fill="#667085">
        ${w.record === null ? 'not started' : 'no members'}
      </text>
    </g>`;
  }
  const scale = BAR_W / members;
  let x = LABEL_W;
  const segments = WAVE_OUTCOMES.filter((o) => w.counts[o.key] > 0).map((o) => {
    const value = w.counts[o.key];
    const width = value * scale;
    const seg = html`<rect
        x="${x.toFixed(1)}"
        y="${y}"
        width="${Math.max(width, 1).toFixed(1)}"
        height="${BAR_H}"
        fill="${o.colour}"
        ><title>Wave ${w.wave}, ${o.label}: ${value} of ${members}</title></rect
      >${
        width > 34
          ? html`<text
              x="${(x + width / 2).toFixed(1)}"
              y="${y + 18}"
              text-anchor="middle"
              fill="${o.key === 'inProgress' || o.key === 'assigning' ? '#1d2330' : '#fff'}"
              font-weight="600"
              >${value}</text
            >`
          : ''
      }`;
    x += width;
    return seg;
  });
  const gateX = LABEL_W + (BAR_W * w.spec.successPercent) / 100;
  const gate =
    w.spec.successPercent > 0
      ? html`<line
          x1="${gateX.toFixed(1)}"
          x2="${gateX.toFixed(1)}"
          y1="${y - 4}"
          y2="${y + BAR_H + 4}"
          stroke="#14213d"
          stroke-width="2"
          stroke-dasharray="3 2"
          ><title>Success gate: ${w.spec.successPercent} % of assigned vehicles</title></line
        >`
      : '';
  const done = w.counts.succeeded;
  return html`<g data-wave="${w.wave}">
    ${label}
    <rect x="${LABEL_W}" y="${y}" width="${BAR_W}" height="${BAR_H}" rx="4" fill="#f1f3f7" />
    ${segments} ${gate}
    <text x="${WIDTH - RIGHT_W + 12}" y="${y + 17}" fill="#1d2330">
      ${done} of ${members} succeeded
    </text>
    <text x="${WIDTH - RIGHT_W + 12}" y="${y + 32}" fill="#667085" font-size="11">
      ${w.counts.failed} failed · ${w.counts.deferred} deferred
    </text>
  </g>`;
}
