import { html } from 'hono/html';
import type {
  CampaignEventRecord,
  CampaignRecord,
  CampaignState,
  FailureThreshold,
} from '../campaigns/model.js';
import type { CampaignStatus } from '../campaigns/service.js';
import { badge, duration, shortHash, when, type Html } from './format.js';
import { outcomeSwatch, WAVE_OUTCOMES, waveChart } from './wave-chart.js';
import { waveProgress, type WaveProgress } from './wave-progress.js';

const STATE_TONE: Record<CampaignState, 'ok' | 'warn' | 'bad' | 'info'> = {
  draft: 'info',
  running: 'info',
  paused: 'warn',
  stopped: 'bad',
  finished: 'ok',
  cancelled: 'warn',
};

/** Longest event detail value shown inline; the whole value is in the tooltip. */
const DETAIL_CLIP = 90;

export function stateBadge(state: CampaignState): Html {
  return badge(state, STATE_TONE[state]);
}

/** Why a campaign is paused, stopped or cancelled: its reason, escaped like every value. */
function reasonOf(c: CampaignRecord): Html {
  if (c.reason === null || c.state === 'running' || c.state === 'finished') return html``;
  return html`<div class="reason" data-reason>${c.reason}</div>`;
}

export function thresholdText(t: FailureThreshold): string {
  const parts: string[] = [];
  if (t.count !== null) parts.push(`${t.count} failure${t.count === 1 ? '' : 's'} in a wave`);
  if (t.percent !== null) parts.push(`more than ${t.percent} % of a wave's assigned vehicles`);
  return parts.length === 0 ? 'none' : `stops at ${parts.join(' or ')}`;
}

export const CAMPAIGNS_NOT_CONFIGURED = html`<h1>Campaigns</h1>
  <div class="card" id="campaigns-not-configured">
    <strong>Campaigns are not configured on this server.</strong>
    <p class="muted">
      Staged rollouts need the Director and the fleet registry besides the campaign store
      (<code>ServerDeps.campaigns</code>, <code>director</code> and <code>fleet</code>; the daemon
      has them when it runs the Director). The API answers
      <code>503 CAMPAIGNS_NOT_CONFIGURED</code> here too.
    </p>
  </div>`;

/** Every campaign (a page of them), newest state first per row, with its reason when halted. */
export function renderCampaigns(campaigns: readonly CampaignRecord[], nextAfter?: number): Html {
  const intro = html`<h1>Campaigns</h1>
    <p class="lead">
      Staged rollouts of a release set to a fleet group, in waves with gates between them and an
      automatic stop on failures. Counts come from verified, signed reports only.
    </p>`;
  if (campaigns.length === 0)
    return html`${intro}
      <div class="card muted" id="no-campaigns">
        No campaign yet. The OEM creates them with <code>tufchain campaign create</code> or
        <code>POST /api/v1/campaigns</code>.
      </div>`;
  return html`${intro}
    <div class="table-wrap">
      <table class="campaigns">
        <thead>
          <tr>
            <th>Campaign</th>
            <th>State</th>
            <th>Wave</th>
            <th>Release set</th>
            <th>Failure threshold</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          ${campaigns.map(
            (c) =>
              html`<tr data-campaign="${c.id}">
                <td>
                  <a href="/console/campaigns/${c.id}"><strong>${c.name}</strong></a>
                  <div class="muted">#${c.id} · group ${c.groupId}</div>
                </td>
                <td>${stateBadge(c.state)} ${reasonOf(c)}</td>
                <td class="nowrap">
                  ${c.wave === 0 ? html`<span class="muted">not started</span>` : html`${c.wave}`}
                  of ${c.waves.length}
                  <div class="muted">${c.waves.map((w) => `${w.percent} %`).join(' → ')}</div>
                </td>
                <td>
                  ${c.release.map((r) => html`<div class="nowrap"><code>${r.hardwareId}</code> ${r.name}</div>`)}
                </td>
                <td class="small">${thresholdText(c.failureThreshold)}</td>
                <td>${when(c.updatedAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${
      nextAfter === undefined
        ? ''
        : html`<p><a class="button" href="/console/campaigns?after=${nextAfter}">Next page</a></p>`
    }`;
}

function gateCell(w: WaveProgress, state: CampaignState): Html {
  const success =
    w.spec.successPercent === 0
      ? html`<span class="muted">no success minimum</span>`
      : w.successPercentNow === null
        ? html`needs ${w.spec.successPercent} % succeeded`
        : html`${Math.floor(w.successPercentNow)} % succeeded, needs ${w.spec.successPercent} %`;
  const soak =
    w.spec.minSoakSeconds === 0
      ? html`<span class="muted">no soak time</span>`
      : w.soakLeftSeconds === null
        ? html`soaks ${duration(w.spec.minSoakSeconds)} once assigned`
        : w.soakLeftSeconds > 0
          ? html`soak: ${duration(w.soakLeftSeconds)} left`
          : html`soaked ${duration(w.spec.minSoakSeconds)}`;
  const phase: Record<WaveProgress['phase'], Html> = {
    'not-started': badge('not started', 'info'),
    assigning: badge('assigning', 'info'),
    soaking: badge('soaking', 'info'),
    'below-success': badge('waiting for successes', 'warn'),
    'gate-open': badge('gate open', 'ok'),
    passed: badge('passed', 'ok'),
    halted: stateBadge(state),
  };
  return html`${phase[w.phase]}
    <div class="small">${soak}</div>
    <div class="small">${success}</div>`;
}

function failureCell(w: WaveProgress): Html {
  const tripped = w.stopsAt !== null && w.failuresCounted >= w.stopsAt;
  const ack = w.record?.acknowledgedFailures ?? 0;
  return html`${
    w.stopsAt === null
      ? html`<span class="muted">—</span>`
      : badge(`${w.failuresCounted} of ${w.stopsAt}`, tripped ? 'bad' : 'ok')
  }
  ${ack > 0 ? html`<div class="small muted">${ack} acknowledged on resume</div>` : ''}`;
}

function wavesTable(waves: readonly WaveProgress[], state: CampaignState): Html {
  const n = (v: number) => html`<td class="num">${v}</td>`;
  const colour = (key: string) => WAVE_OUTCOMES.find((o) => o.key === key)?.colour ?? '#999';
  return html`<div class="table-wrap">
    <table class="waves">
      <thead>
        <tr>
          <th>Wave</th>
          <th class="num">Members</th>
          <th class="num">Assigned</th>
          <th class="num">${outcomeSwatch(colour('succeeded'))}Succeeded</th>
          <th class="num">${outcomeSwatch(colour('failed'))}Failed</th>
          <th class="num">${outcomeSwatch(colour('deferred'))}Deferred</th>
          <th class="num">${outcomeSwatch(colour('inProgress'))}No answer</th>
          <th class="num">Other</th>
          <th>Gate</th>
          <th>Failures / stop at</th>
        </tr>
      </thead>
      <tbody>
        ${waves.map(
          (w) =>
            html`<tr data-wave="${w.wave}">
              <td class="nowrap">
                <strong>${w.wave}</strong> <span class="muted">to ${w.spec.percent} %</span>
                <div class="small muted">
                  ${w.record ? html`started ${when(w.record.startedAt)}` : 'not started'}
                </div>
              </td>
              ${n(w.counts.members)} ${n(w.counts.assigned)} ${n(w.counts.succeeded)}
              ${n(w.counts.failed)} ${n(w.counts.deferred)} ${n(w.counts.inProgress)}
              <td class="num small">${otherCounts(w)}</td>
              <td class="gate">${gateCell(w, state)}</td>
              <td>${failureCell(w)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function otherCounts(w: WaveProgress): Html {
  const parts = (
    [
      ['being assigned', w.counts.assigning],
      ['skipped', w.counts.skipped],
      ['gave up waiting', w.counts.retriesExhausted],
      ['cancelled', w.counts.cancelled],
    ] as const
  ).filter(([, v]) => v > 0);
  if (parts.length === 0) return html`<span class="muted">—</span>`;
  return html`${parts.map(([label, v]) => html`<div>${v} ${label}</div>`)}`;
}

/** An event's detail as short `key value` tags; long values clipped, whole in the tooltip. */
export function eventDetail(detail: Record<string, unknown>): Html {
  const entries = Object.entries(detail);
  if (entries.length === 0) return html`<span class="muted">—</span>`;
  return html`<div class="tags">
    ${entries.map(([key, value]) => {
      const text =
        typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
      if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value))
        return html`<span class="tag">${key} ${shortHash(value, 8)}</span>`;
      const clipped = text.length > DETAIL_CLIP ? `${text.slice(0, DETAIL_CLIP)}…` : text;
      return html`<span class="tag" title="${text.slice(0, 4000)}">${key} ${clipped}</span>`;
    })}
  </div>`;
}

function eventsTable(events: readonly CampaignEventRecord[]): Html {
  return html`<div class="table-wrap">
    <table class="events">
      <thead>
        <tr>
          <th class="num">Seq</th>
          <th>Event</th>
          <th>At</th>
          <th>Detail</th>
          <th>Log index</th>
        </tr>
      </thead>
      <tbody>
        ${events.map(
          (e) =>
            html`<tr data-seq="${e.seq}">
              <td class="num">${e.seq}</td>
              <td><code>${e.kind}</code></td>
              <td>${when(e.at)}</td>
              <td class="detail">${eventDetail(e.detail)}</td>
              <td>
                ${
                  e.logIndex === null
                    ? html`<span class="muted" title="in the outbox, not yet in the log"
                        >pending</span
                      >`
                    : html`<a
                        href="/api/v1/log/proof-bundle?index=${e.logIndex}"
                        title="inclusion proof of this entry"
                        >${e.logIndex}</a
                      >`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** One campaign: its facts, each wave's progress as bars and a table, and its logged events. */
export function renderCampaign(
  status: CampaignStatus,
  events: readonly CampaignEventRecord[],
  now: Date,
): Html {
  const c = status.campaign;
  const waves = waveProgress(c, status.waves, status.counts, now);
  return html`<p class="muted"><a href="/console/campaigns">← Campaigns</a></p>
    <h1>${c.name} ${stateBadge(c.state)}</h1>
    ${
      c.reason !== null && c.state !== 'running' && c.state !== 'finished'
        ? html`<div class="banner ${c.state === 'stopped' ? 'critical' : 'warning'}" id="reason">
            <strong>${c.state === 'stopped' ? 'Stopped automatically' : `${c.state}`}:</strong>
            ${c.reason}
          </div>`
        : ''
    }
    <div class="card">
      <dl class="facts">
        <dt>State</dt>
        <dd>
          ${stateBadge(c.state)}
          ${c.wave === 0 ? 'not started' : html`wave ${c.wave} of ${c.waves.length}`}
        </dd>
        <dt>Group</dt>
        <dd>${c.groupId}</dd>
        <dt>Release set</dt>
        <dd>
          ${c.release.map(
            (r) =>
              html`<div>
                <code>${r.hardwareId}</code> ${r.name} ${shortHash(r.sha256, 10)}
                <span class="muted">${r.length} bytes</span>
              </div>`,
          )}
        </dd>
        <dt>Failure threshold</dt>
        <dd id="failure-threshold">${thresholdText(c.failureThreshold)}</dd>
        <dt>Deferrals</dt>
        <dd>a vehicle is no longer waited for after ${c.maxDeferrals}</dd>
        <dt>URN</dt>
        <dd><code>${c.urn}</code></dd>
        <dt>Salt</dt>
        <dd>${shortHash(c.salt, 16)} <span class="muted">(orders the waves)</span></dd>
        <dt>Created</dt>
        <dd>${when(c.createdAt)} <span class="muted">by ${c.createdBy}</span></dd>
      </dl>
    </div>
    <h2>Progress per wave</h2>
    <div class="card">
      ${waveChart(waves, `Progress of each wave of ${c.name}`)}
      <div class="legend">
        ${WAVE_OUTCOMES.map((o) => html`<span>${outcomeSwatch(o.colour)} ${o.label}</span>`)}
        <span class="muted">dashed line: the success gate</span>
      </div>
    </div>
    ${wavesTable(waves, c.state)}
    <h2>Logged events</h2>
    <p class="lead">
      Every state change, appended to the transparency log as a <code>campaign</code> entry; the log
      index links to its inclusion proof.
    </p>
    ${events.length === 0 ? html`<div class="card muted">No event yet.</div>` : eventsTable(events)}`;
}
