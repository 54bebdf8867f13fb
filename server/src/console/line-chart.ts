import { html } from 'hono/html';
import { segmentColour } from './bar-chart.js';
import type { Html } from './format.js';

export interface StepSeries {
  label: string;
  /** [time in ms, value], in time order; the value holds until the next point. */
  points: [number, number][];
}

const WIDTH = 960;
const HEIGHT = 220;
const PAD = { left: 44, right: 16, top: 12, bottom: 28 };

/** A step chart as inline SVG (one line per series, coloured like the bar chart's segments). */
export function stepChart(series: StepSeries[], opts: { title: string; until: number }): Html {
  const times = series.flatMap((s) => s.points.map(([t]) => t));
  const start = Math.min(...times);
  const end = Math.max(opts.until, start + 1);
  const top = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const x = (t: number) =>
    PAD.left + ((t - start) / (end - start)) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const ticks = [...new Set([0, Math.round(top / 2), top])];
  const path = (s: StepSeries) => {
    let d = '';
    let last: number | undefined;
    for (const [t, v] of s.points) {
      d +=
        last === undefined
          ? `M${x(t).toFixed(1)},${y(v).toFixed(1)}`
          : ` H${x(t).toFixed(1)} V${y(v).toFixed(1)}`;
      last = v;
    }
    return `${d} H${x(end).toFixed(1)}`;
  };
  const label = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');
  return html`<svg
    class="chart"
    role="img"
    aria-label="${opts.title}"
    viewBox="0 0 ${WIDTH} ${HEIGHT}"
    xmlns="http://www.w3.org/2000/svg"
    font-family="system-ui, sans-serif"
    font-size="12"
  >
    <title>${opts.title}</title>
    ${ticks.map(
      (v) =>
        html`<line
            x1="${PAD.left}"
            x2="${WIDTH - PAD.right}"
            y1="${y(v).toFixed(1)}"
            y2="${y(v).toFixed(1)}"
            stroke="#e4e7ec"
          />
          <text x="${PAD.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#667085"
            >${v}</text
          >`,
    )}
    <text x="${PAD.left}" y="${HEIGHT - 8}" fill="#667085">${label(start)} UTC</text>
    <text x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end" fill="#667085">
      ${label(end)} UTC
    </text>
    ${series.map(
      (s, n) =>
        html`<path d="${path(s)}" fill="none" stroke="${segmentColour(n)}" stroke-width="2.5"
          ><title>${s.label}</title></path
        >`,
    )}
  </svg>`;
}
