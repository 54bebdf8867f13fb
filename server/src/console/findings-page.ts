import { auditFindingMeanings, type AuditFinding } from '@tufchain/transparency';
import { html } from 'hono/html';
import type { LatestAudit } from '../monitor/monitor.js';
import { badge, shortHash, when, type Html } from './format.js';

/** What the findings page knows: no monitor here, none finished yet, or the newest audit. */
export type FindingsView =
  { state: 'no-monitor' } | { state: 'not-yet' } | { state: 'audited'; audit: LatestAudit };

/**
 * Where a finding's subject points, linked to the console page for it when there is one. The
 * auditor's subjects: `snapshot:N`, `targets:N`, `root:N`, `vehicle:C`, `director:C:N`, `log:I`,
 * `checkpoint:SIZE`, `anchor:SIZE`, `install:I`, `attestation:I`, `timestamp`.
 */
export function findingWhere(
  subject: string | undefined,
  /** Snapshot (layout v2 metadata) version -> the release that logged it. */
  releaseOfSnapshot: ReadonlyMap<number, number>,
): Html {
  if (!subject) return html`<span class="muted">—</span>`;
  const [kind = '', first = '', second] = subject.split(':');
  const n = /^\d+$/.test(first) ? Number(first) : undefined;
  switch (kind) {
    case 'snapshot':
    case 'targets': {
      const id = n === undefined ? undefined : releaseOfSnapshot.get(n);
      const label = `${kind} ${first}`;
      return id === undefined
        ? html`${label}`
        : html`<a href="/console/releases/${id}">${label}</a>
            <div class="muted">release ${id}</div>`;
    }
    case 'vehicle':
    case 'director':
      if (!/^(0x)?[0-9a-fA-F]{64}$/.test(first)) break;
      return html`vehicle
        <a href="/console/vehicles/${first.replace(/^0x/, '').toLowerCase()}"
          >${shortHash(first, 12)}</a
        >${second === undefined ? '' : html`<div class="muted">Director targets ${second}</div>`}`;
    case 'log':
      if (n === undefined) break;
      return html`log entry <a href="/api/v1/log/proof-bundle?index=${n}">${n}</a>`;
    case 'checkpoint':
    case 'anchor':
      if (n === undefined) break;
      return html`${kind} at log size ${n}`;
    case 'install':
    case 'attestation':
      if (n === undefined) break;
      return html`report ${n} <span class="muted">(in the served list)</span>`;
    case 'root':
      if (n === undefined) break;
      return html`<a href="/console/keys">root ${n}</a>`;
    case 'timestamp':
      return html`<a href="/console/keys">timestamp</a>`;
  }
  return html`<code>${subject}</code>`;
}

function findingRow(f: AuditFinding, releaseOfSnapshot: ReadonlyMap<number, number>): Html {
  return html`<tr data-finding="${f.code}">
    <td>${badge(f.severity, f.severity === 'error' ? 'bad' : 'warn')}</td>
    <td>
      <code>${f.code}</code>
      <div class="meaning">${auditFindingMeanings[f.code] ?? ''}</div>
    </td>
    <td>${findingWhere(f.subject, releaseOfSnapshot)}</td>
    <td class="detail">${f.message}</td>
  </tr>`;
}

const NO_MONITOR = html`<div class="card" id="no-monitor">
  <strong>No monitor runs in this server, so there are no findings to show.</strong>
  <p class="muted">
    The findings come from the monitor's periodic audit of the chain, the served metadata and the
    signed install reports. Turn it on by starting the server with
    <code>TUFCHAIN_MONITOR_EXPECTATIONS_FILE</code> (the OEM's expected keys, publishers and
    releases; see the server README, "Monitor"), or audit by hand:
    <code>tufchain audit --server URL …</code>.
  </p>
</div>`;

/** The findings of the monitor's newest audit, each with its meaning and where it points. */
export function renderFindings(
  view: FindingsView,
  releaseOfSnapshot: ReadonlyMap<number, number>,
): Html {
  const intro = html`<h1>Findings</h1>
    <p class="lead">
      What the auditor found when it last replayed the chain's events against the served metadata
      and the signed install reports. The monitor runs it periodically; errors also raise alerts.
    </p>`;
  if (view.state === 'no-monitor') return html`${intro}${NO_MONITOR}`;
  if (view.state === 'not-yet')
    return html`${intro}
      <div class="card muted" id="no-audit-yet">
        The monitor has not finished an audit here yet (it may be starting, or another replica runs
        it). Reload in a minute.
      </div>`;
  const { audit } = view;
  const findings = audit.result.findings;
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  const stats = Object.entries(audit.result.stats);
  return html`${intro}
    <div class="card">
      <dl class="facts">
        <dt>Audited</dt>
        <dd>${when(audit.at)}</dd>
        <dt>Result</dt>
        <dd id="findings-summary">
          ${
            findings.length === 0
              ? badge('no findings', 'ok')
              : html`${badge(`${errors} error${errors === 1 ? '' : 's'}`, errors ? 'bad' : 'ok')}
                ${badge(`${warnings} warning${warnings === 1 ? '' : 's'}`, warnings ? 'warn' : 'ok')}`
          }
        </dd>
        <dt>Install reports</dt>
        <dd>
          ${
            audit.vehicleCaPem
              ? 'verified against the vehicle CA'
              : html`<span class="muted">not audited (the monitor has no vehicle CA)</span>`
          }
        </dd>
        <dt>Contract</dt>
        <dd>${shortHash(audit.contractAddress, 12)} on chain ${audit.chainId}</dd>
        ${
          stats.length > 0
            ? html`<dt>Checked</dt>
                <dd class="tags">
                  ${stats.map(([k, v]) => html`<span class="tag">${k} ${v}</span>`)}
                </dd>`
            : ''
        }
      </dl>
    </div>
    ${
      findings.length === 0
        ? html`<div class="card" id="no-findings">
            The chain, the served metadata and the install reports agree: nothing to report.
          </div>`
        : html`<div class="table-wrap">
            <table class="findings">
              <thead>
                <tr>
                  <th>Severity</th>
                  <th>Finding and what it means</th>
                  <th>Where</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
                ${findings.map((f) => findingRow(f, releaseOfSnapshot))}
              </tbody>
            </table>
          </div>`
    }`;
}
