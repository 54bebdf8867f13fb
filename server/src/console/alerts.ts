import { html } from 'hono/html';
import type { MonitorAlerts } from '../context.js';
import type { Html } from './format.js';

/** One alert as the console banner shows it (the monitor's alerts map onto this). */
export interface ConsoleAlert {
  /** Stable: the same alert is shown once however often it is read. */
  id: string;
  severity: 'critical' | 'warning' | 'info';
  title: string;
  detail?: string;
  raisedAt: string;
}

/**
 * Where the console banner reads alerts from: the monitor (`GET /api/v1/monitor/alerts`, or the
 * in-process monitor) plugs in here through ServerDeps.consoleAlerts. Absent: no banner.
 */
export interface ConsoleAlertSource {
  alerts(): Promise<ConsoleAlert[]>;
}

const MAX_SHOWN = 5;

/**
 * The monitor's recent alerts (ServerDeps.monitorAlerts: the database the replicas share, in the
 * daemon) as a banner source, newest first.
 */
export function monitorAlertSource(recent: MonitorAlerts): ConsoleAlertSource {
  return {
    alerts: async () =>
      [...((await recent()) ?? [])]
        .sort((a, b) => b.detectedAt.localeCompare(a.detectedAt))
        .map((a) => ({
          id: a.id,
          severity: a.severity,
          title: a.message,
          detail: `${a.kind} · ${a.subject}`,
          raisedAt: a.detectedAt,
        })),
  };
}

/** The banner of recent alerts at the top of every page; nothing at all without a source or alerts. */
export async function renderAlertBanner(source: ConsoleAlertSource | undefined): Promise<Html> {
  if (!source) return html``;
  let alerts: ConsoleAlert[];
  try {
    alerts = await source.alerts();
  } catch {
    return html`<div class="banner warning" role="alert">
      The alert source did not answer: alerts may be missing.
    </div>`;
  }
  if (alerts.length === 0) return html``;
  const shown = alerts.slice(0, MAX_SHOWN);
  return html`<div
    class="banner ${shown.some((a) => a.severity === 'critical') ? 'critical' : 'warning'}"
    role="alert"
  >
    <strong>${alerts.length} recent alert${alerts.length === 1 ? '' : 's'} from the monitor</strong>
    <ul>
      ${shown.map(
        (a) =>
          html`<li data-alert-id="${a.id}">
            <span
              class="badge ${a.severity === 'critical' ? 'bad' : a.severity === 'warning' ? 'warn' : 'info'}"
              >${a.severity}</span
            >
            ${a.title}${a.detail ? html` — <span class="muted">${a.detail}</span>` : ''}
          </li>`,
      )}
    </ul>
    ${alerts.length > MAX_SHOWN ? html`<p class="muted">and ${alerts.length - MAX_SHOWN} more</p>` : ''}
  </div>`;
}
