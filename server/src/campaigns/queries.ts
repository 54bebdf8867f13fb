import { ServerError } from '../error.js';
import type { FleetService } from '../fleet/service.js';
import { countWaves, type WaveCounts } from './gates.js';
import type { CampaignRecord, WaveRecord } from './model.js';
import type { CampaignStore } from './store.js';

export interface CampaignStatus {
  campaign: CampaignRecord;
  waves: (WaveRecord | null)[];
  counts: WaveCounts[];
}

/** A page of the fleet snapshot a campaign's wave was cut from: commitments, never VINs. */
export interface WaveSnapshotPage {
  campaign: string;
  wave: number;
  snapshotMemberCount: number;
  snapshotMembersSha256: string;
  members: string[];
  /** Pass as `after` for the next page; null on the last. */
  nextAfter: string | null;
}

/** A campaign with its started waves and the counts per wave (CampaignService.status). */
export async function campaignStatus(
  store: CampaignStore,
  campaign: CampaignRecord,
): Promise<CampaignStatus> {
  const waves = await store.waves(campaign.id);
  const counts = countWaves(
    await store.vehicleOutcomes(campaign.id),
    campaign.waves.length,
    campaign.maxDeferrals,
  );
  return {
    campaign,
    waves: campaign.waves.map((_, i) => waves.find((w) => w.wave === i + 1) ?? null),
    counts,
  };
}

/**
 * For an auditor: a page of the members of the fleet snapshot a started wave was cut from
 * (commitments only), by the campaign's URN as the log names it. With the salt of the logged
 * `created` event, they let the auditor recompute the wave's members.
 */
export async function waveSnapshotPage(
  deps: { store: CampaignStore; fleet: FleetService },
  urn: string,
  wave: number,
  page: { after?: string; limit: number },
): Promise<WaveSnapshotPage> {
  const campaign = await deps.store.campaignByUrn(urn);
  if (!campaign) throw new ServerError('CAMPAIGN_NOT_FOUND', `no campaign ${urn}`);
  const record = (await deps.store.waves(campaign.id)).find((w) => w.wave === wave);
  if (!record) {
    throw new ServerError('CAMPAIGN_NOT_FOUND', `campaign ${urn} never started a wave ${wave}`);
  }
  const snapshot = await deps.fleet.snapshotRecord(record.snapshotId);
  const members = await deps.fleet.snapshotMembers(record.snapshotId, {
    ...(page.after === undefined ? {} : { after: page.after }),
    limit: page.limit + 1,
  });
  const more = members.length > page.limit;
  const shown = members.slice(0, page.limit);
  return {
    campaign: urn,
    wave,
    snapshotMemberCount: snapshot.memberCount,
    snapshotMembersSha256: snapshot.membersSha256,
    members: shown,
    nextAfter: more ? shown[shown.length - 1]! : null,
  };
}
