import { html } from 'hono/html';
import type { ChainRef, ReleaseRecord } from '../storage/store.js';
import { badge, shortHash, when, type Html } from './format.js';
import type { CatalogTarget } from './target-catalog.js';

export interface ReleasesView {
  releases: ReleaseRecord[];
  catalog: Map<string, CatalogTarget>;
  /** The chain's current block, for confirmations; undefined when the server has no reader. */
  head: number | undefined;
}

const statusTone = {
  pending: 'warn',
  logged: 'info',
  confirmed: 'ok',
  failed: 'bad',
  revoked: 'bad',
} as const;

function chainFacts(chain: ChainRef | null, head: number | undefined): Html {
  if (!chain) return html`<span class="muted">not on chain</span>`;
  const confirmations = head === undefined ? undefined : Math.max(0, head - chain.blockNumber + 1);
  return html`tx ${shortHash(chain.txHash)} · block
    <strong>${chain.blockNumber}</strong>
    ${confirmations === undefined ? '' : html`· ${confirmations} confirmation${confirmations === 1 ? '' : 's'}`}`;
}

function targetSummary(name: string, catalog: Map<string, CatalogTarget>): Html {
  const t = catalog.get(name);
  return html`<li>
    <code>${name}</code>
    ${t?.version ? html` <span class="tag">v${t.version}</span>` : ''}
    ${(t?.hardwareIds ?? []).map((h) => html` <span class="tag">${h}</span>`)}
    ${t ? '' : html` <span class="muted">(no longer served)</span>`}
  </li>`;
}

/** Where the server serves a target: `/targets/{dir/}{sha256}.{base name}` (TUF consistent snapshots). */
function targetUrl(name: string, sha256: string): string {
  const slash = name.lastIndexOf('/');
  return `/targets/${name.slice(0, slash + 1)}${sha256}.${name.slice(slash + 1)}`;
}

/** The timeline: every release, newest first, each with its chain transaction and recall. */
export function renderReleases(view: ReleasesView): Html {
  const releases = [...view.releases].sort((a, b) => b.id - a.id);
  return html`<h1>Releases</h1>
    <p class="lead">
      Every release and the snapshot version it logged on chain, newest first.
      ${view.head === undefined ? '' : html`Chain head: block <strong>${view.head}</strong>.`}
    </p>
    ${
      releases.length === 0
        ? html`<div class="card muted">No release has been published yet.</div>`
        : html`<ol class="timeline">
            ${releases.map(
              (r) =>
                html`<li class="${r.status}" id="release-${r.id}">
                  <div class="card">
                    <div class="head">
                      <h3><a href="/console/releases/${r.id}">Release ${r.id}</a></h3>
                      ${badge(r.status, statusTone[r.status])}
                      <span class="muted">snapshot v${r.targetsVersion}</span>
                      <span class="muted">${when(r.createdAt)}</span>
                    </div>
                    <ul class="targets">
                      ${
                        r.targetNames.length === 0
                          ? html`<li class="muted">no new targets</li>`
                          : r.targetNames.map((n) => targetSummary(n, view.catalog))
                      }
                    </ul>
                    <div>${chainFacts(r.chain, view.head)}</div>
                    ${
                      r.revocation
                        ? html`<div>
                            ${badge('recalled', 'bad')} by snapshot v${r.revocation.targetsVersion}
                            · ${chainFacts(r.revocation.chain, view.head)}
                          </div>`
                        : ''
                    }
                  </div>
                </li>`,
            )}
          </ol>`
    }`;
}

/** One release: its facts, each target with what signed it, and the chain records. */
export function renderRelease(
  r: ReleaseRecord,
  catalog: Map<string, CatalogTarget>,
  head: number | undefined,
): Html {
  return html`<p><a href="/console/releases">← all releases</a></p>
    <h1>Release ${r.id} ${badge(r.status, statusTone[r.status])}</h1>
    <div class="card">
      <dl class="facts">
        <dt>Snapshot version logged</dt>
        <dd>v${r.targetsVersion}</dd>
        <dt>Metadata hash</dt>
        <dd>${shortHash(r.metadataHash, 16)}</dd>
        <dt>Chain</dt>
        <dd>${chainFacts(r.chain, head)}</dd>
        ${
          r.chain
            ? html`<dt>Block hash</dt>
                <dd>${shortHash(r.chain.blockHash, 16)}</dd>`
            : ''
        }
        <dt>Recall</dt>
        <dd>
          ${
            r.revocation
              ? html`${badge('recalled', 'bad')} by snapshot v${r.revocation.targetsVersion},
                metadata ${shortHash(r.revocation.metadataHash)} ·
                ${chainFacts(r.revocation.chain, head)}`
              : html`<span class="muted">not recalled</span>`
          }
        </dd>
        <dt>Created</dt>
        <dd>${when(r.createdAt)}</dd>
        <dt>Updated</dt>
        <dd>${when(r.updatedAt)}</dd>
        ${
          r.error
            ? html`<dt>Error</dt>
                <dd class="error">${r.error}</dd>`
            : ''
        }
      </dl>
    </div>
    <h2>Targets</h2>
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Version</th>
            <th>Counter</th>
            <th>Hardware IDs</th>
            <th>Signed by role</th>
            <th>SHA-256</th>
            <th class="num">Bytes</th>
            <th>Attestation</th>
          </tr>
        </thead>
        <tbody>
          ${r.targetNames.map((name) => {
            const t = catalog.get(name);
            if (!t) {
              return html`<tr>
                <td><code>${name}</code></td>
                <td colspan="7" class="muted">no longer served (recalled or replaced)</td>
              </tr>`;
            }
            const att = t.attestation === undefined ? undefined : catalog.get(t.attestation);
            return html`<tr>
              <td><code>${name}</code></td>
              <td>${t.version ?? '—'}</td>
              <td class="num">${t.releaseCounter ?? '—'}</td>
              <td>
                <div class="tags">
                  ${t.hardwareIds.map((h) => html`<span class="tag">${h}</span>`)}
                </div>
              </td>
              <td>
                <a href="/console/keys#role-${t.role.startsWith('bins-') ? 'bins-*' : t.role}"
                  >${t.role}</a
                >
              </td>
              <td>${shortHash(t.sha256)}</td>
              <td class="num">${t.length}</td>
              <td>
                ${
                  att
                    ? html`<a href="${targetUrl(att.name, att.sha256)}">Sigstore bundle</a>`
                    : html`<span class="muted">—</span>`
                }
              </td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
}
