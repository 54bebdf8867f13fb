import { z } from 'zod';
import { decodeLogEntry } from '../log/entry.js';
import {
  campaignLogEntrySchema,
  campaignReleaseSchema,
  type CampaignLogEntry,
} from '../wire/campaign.js';
import {
  campaignMembersSha256,
  campaignReleaseSha256,
  waveMembers,
} from '../wire/campaign-waves.js';
import type { LoggedDirectorTargets } from './director.js';
import type { AuditFindingCode } from './finding-code.js';
import type { AuditFinding, AuditSource } from './source.js';

// Campaigns in the audit trail: every install is covered by a logged assignment of a campaign or
// by an explicit single-vehicle assignment, and every wave was uniform (one release set for all,
// members recomputed from the logged salt). Pure checks over data fetched beforehand.

/** `urn:tufchain:campaign:<32 hex>:<vehicle commitment>`: a campaign's Director assignment. */
const CAMPAIGN_CORRELATION = /^(urn:tufchain:campaign:[0-9a-f]{32}):([0-9a-f]{64})$/;

const createdDetailSchema = z.object({ release: campaignReleaseSchema, salt: z.string() });
const waveStartedDetailSchema = z.object({
  wave: z.number().int().positive(),
  percent: z.number(),
  snapshotMembersSha256: z.string(),
  membersSha256: z.string(),
  assignmentSha256: z.string(),
});

// Canonical JSON sorts keys: a campaign entry's first is `at`; its schema tells it from others.
const CAMPAIGN_PREFIX = Buffer.from('{"at":');

/** The campaign entry a log leaf holds, or undefined when it holds another kind of entry. */
export function campaignEntryOfLeaf(data: Uint8Array): CampaignLogEntry | undefined {
  if (data.length <= CAMPAIGN_PREFIX.length) return undefined;
  const head = Buffer.from(data.buffer, data.byteOffset, CAMPAIGN_PREFIX.length);
  if (!head.equals(CAMPAIGN_PREFIX)) return undefined;
  try {
    const parsed = campaignLogEntrySchema.safeParse(decodeLogEntry(data));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** One install as the campaign checks need it (from the verified install attestations). */
export interface CampaignAuditInstall {
  subject: string;
  vehicle: string;
  /** The Director targets the install names, when it was made for a Director assignment. */
  director?: { targetsVersion: number; targetsHash: string };
}

export interface CampaignAuditInput {
  /** Every `campaign` entry of the replayed log, in log order. */
  entries: readonly CampaignLogEntry[];
  /** Every `director-targets` entry of the replayed log. */
  directorTargets: readonly LoggedDirectorTargets[];
  installs: readonly CampaignAuditInstall[];
  /**
   * Per campaign URN and wave, the members of the fleet snapshot the wave was cut from, as the
   * OEM opens them; without them wave membership is not recomputed (`wavesRecomputed` 0).
   */
  snapshots?: ReadonlyMap<string, ReadonlyMap<number, readonly string[]>>;
  report: (f: AuditFinding) => void;
}

export interface CampaignAuditSummary {
  campaigns: number;
  campaignAssignments: number;
  singleAssignments: number;
  wavesRecomputed: number;
}

interface CampaignView {
  release: Map<string, { name: string; sha256: string }>;
  releaseSha256: string;
  salt: string;
  /** Vehicles of the waves recomputed so far; null once a wave could not be recomputed. */
  members: Set<string> | null;
}

/** Runs the campaign checks; returns what was checked. */
export function auditCampaigns(input: CampaignAuditInput): CampaignAuditSummary {
  const error = (code: AuditFindingCode, message: string, subject: string) =>
    input.report({ code, severity: 'error', message, subject });
  const summary: CampaignAuditSummary = {
    campaigns: 0,
    campaignAssignments: 0,
    singleAssignments: 0,
    wavesRecomputed: 0,
  };
  const campaigns = new Map<string, CampaignView>();
  const lastSeq = new Map<string, number>();
  for (const e of input.entries) {
    const subject = `campaign:${e.campaign}:${e.seq}`;
    const expected = (lastSeq.get(e.campaign) ?? 0) + 1;
    if (e.seq !== expected) {
      error(
        'CAMPAIGN_EVENTS_GAP',
        `campaign ${e.campaign}: event seq ${e.seq} where ${expected} was due`,
        subject,
      );
    }
    lastSeq.set(e.campaign, Math.max(e.seq, lastSeq.get(e.campaign) ?? 0));
    if (e.event === 'created') {
      const detail = createdDetailSchema.safeParse(e.detail);
      if (!detail.success) continue;
      summary.campaigns++;
      campaigns.set(e.campaign, {
        release: new Map(detail.data.release.map((r) => [r.hardwareId, r])),
        releaseSha256: campaignReleaseSha256(detail.data.release),
        salt: detail.data.salt,
        members: new Set(),
      });
      continue;
    }
    if (e.event !== 'wave-started') continue;
    const c = campaigns.get(e.campaign);
    const detail = waveStartedDetailSchema.safeParse(e.detail);
    if (!c || !detail.success) {
      error(
        'CAMPAIGN_WAVE_NOT_UNIFORM',
        `campaign ${e.campaign}: a wave start without a logged creation or with an unreadable detail`,
        subject,
      );
      continue;
    }
    const w = detail.data;
    if (w.assignmentSha256 !== c.releaseSha256) {
      error(
        'CAMPAIGN_WAVE_NOT_UNIFORM',
        `campaign ${e.campaign} wave ${w.wave} pins another release set than the campaign logged`,
        subject,
      );
    }
    const snapshot = input.snapshots?.get(e.campaign)?.get(w.wave);
    if (!snapshot || !c.members) {
      c.members = null;
      continue;
    }
    const sorted = [...snapshot].sort();
    const added = waveMembers(c.salt, sorted, w.percent, c.members);
    if (
      campaignMembersSha256(sorted) !== w.snapshotMembersSha256 ||
      campaignMembersSha256(added) !== w.membersSha256
    ) {
      error(
        'CAMPAIGN_WAVE_MEMBERS_MISMATCH',
        `campaign ${e.campaign} wave ${w.wave}: the members recomputed from the salt and the opened snapshot are not the ones logged`,
        subject,
      );
    }
    for (const v of added) c.members.add(v);
    summary.wavesRecomputed++;
  }

  // Every campaign assignment: a logged campaign, this vehicle, a member of a wave, its images.
  const covered = new Map<string, 'campaign' | 'single' | null>();
  for (const t of input.directorTargets) {
    const key = `${t.vehicle}:${t.targetsVersion}:${t.targetsHash}`;
    const subject = `director:${t.vehicle}:${t.targetsVersion}`;
    const match = t.correlationId === null ? null : CAMPAIGN_CORRELATION.exec(t.correlationId);
    // Any other correlation ID is an OEM's explicit assignment of this one vehicle.
    if (!match && !t.correlationId?.startsWith('urn:tufchain:campaign:')) {
      const single = t.correlationId !== null && t.images.length > 0;
      if (single) summary.singleAssignments++;
      covered.set(key, single ? 'single' : null);
      continue;
    }
    const c = match ? campaigns.get(match[1]!) : undefined;
    if (!match || !c || match[2] !== t.vehicle) {
      error(
        'CAMPAIGN_ASSIGNMENT_NOT_LOGGED',
        `Director targets ${t.targetsVersion} of vehicle ${t.vehicle} name ${t.correlationId}, ${c ? 'which names another vehicle' : 'a campaign the log never created'}`,
        subject,
      );
      covered.set(key, null);
      continue;
    }
    covered.set(key, 'campaign');
    if (t.images.length === 0) continue;
    summary.campaignAssignments++;
    if (c.members && !c.members.has(t.vehicle)) {
      error(
        'CAMPAIGN_ASSIGNMENT_OUTSIDE_WAVE',
        `vehicle ${t.vehicle} was assigned under ${match[1]} but is in none of its recomputed waves`,
        subject,
      );
    }
    const odd = t.images.filter((img) => {
      const want = c.release.get(img.hardwareId);
      return !want || want.name !== img.name || want.sha256 !== img.sha256;
    });
    if (odd.length > 0) {
      error(
        'CAMPAIGN_WAVE_NOT_UNIFORM',
        `vehicle ${t.vehicle} received ${odd.map((i) => `${i.hardwareId}=${i.name}`).join(', ')} under ${match[1]}, which is not its release set`,
        subject,
      );
    }
  }

  for (const inst of input.installs) {
    const d = inst.director;
    const how = d ? covered.get(`${inst.vehicle}:${d.targetsVersion}:${d.targetsHash}`) : null;
    if (how === 'campaign' || how === 'single') continue;
    // An install naming unlogged Director targets is DIRECTOR_ASSIGNMENT_NOT_LOGGED already.
    if (d && how === undefined) continue;
    error(
      'INSTALL_NOT_COVERED',
      `vehicle ${inst.vehicle} installed ${d ? `for Director targets ${d.targetsVersion}, which no campaign or single-vehicle assignment made` : 'without a Director assignment'}`,
      inst.subject,
    );
  }
  return summary;
}

/**
 * The fleet snapshot of every logged wave start, as the source opens it (campaign URN → wave →
 * members); undefined when the source opens none (no OEM token). A wave the server does not know
 * is left out: auditCampaigns then stops recomputing that campaign's later waves.
 */
export async function campaignSnapshots(
  source: AuditSource,
  entries: readonly CampaignLogEntry[],
): Promise<Map<string, Map<number, string[]>> | undefined> {
  if (!source.campaignWaveMembers) return undefined;
  const out = new Map<string, Map<number, string[]>>();
  for (const e of entries) {
    if (e.event !== 'wave-started') continue;
    const wave = (e.detail as { wave?: unknown }).wave;
    if (typeof wave !== 'number' || !Number.isSafeInteger(wave) || wave < 1) continue;
    const members = await source.campaignWaveMembers(e.campaign, wave);
    if (members === null) continue;
    const waves = out.get(e.campaign) ?? new Map<number, string[]>();
    waves.set(wave, members);
    out.set(e.campaign, waves);
  }
  return out;
}
