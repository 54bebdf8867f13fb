import { ServerError } from '../error.js';
import type { FleetService } from '../fleet/service.js';
import { HOLDING_STATES, type CampaignRecord, type ReleaseImage } from './model.js';
import type { CampaignStore } from './store.js';

/** Vehicles read per store round trip while a group's ECUs are checked. */
const FLEET_PAGE = 500;

/** Known vehicles of `members` with their ECUs' hardware IDs. */
async function hardwareOf(
  fleet: FleetService,
  members: readonly string[],
): Promise<Map<string, string[]>> {
  const wanted = new Set(members);
  const found = new Map<string, string[]>();
  let after: string | undefined;
  for (;;) {
    const page = await fleet.vehicles({
      ...(after === undefined ? {} : { after }),
      limit: FLEET_PAGE,
    });
    for (const v of page) {
      if (wanted.has(v.vehicle))
        found.set(
          v.vehicle,
          v.ecus.map((e) => e.hardwareId),
        );
    }
    if (page.length < FLEET_PAGE) return found;
    after = page[page.length - 1]?.vehicle;
  }
}

/** RELEASE_INCOMPLETE when an ECU of a member has a hardware ID the release set has no image for. */
export async function checkCoverage(
  fleet: FleetService,
  release: readonly ReleaseImage[],
  members: readonly string[],
): Promise<void> {
  const covered = new Set(release.map((r) => r.hardwareId));
  const missing = new Set<string>();
  for (const ids of (await hardwareOf(fleet, members)).values()) {
    for (const id of ids) if (!covered.has(id)) missing.add(id);
  }
  if (missing.size > 0) {
    throw new ServerError(
      'RELEASE_INCOMPLETE',
      `the group holds ECUs of hardware IDs the release set has no image for: ${[...missing].sort().join(', ')}`,
    );
  }
}

/**
 * CAMPAIGN_OVERLAP when another running, paused or stopped campaign for one of the same hardware
 * IDs took, or may still take (its group now), one of `members`.
 */
export async function checkOverlap(
  deps: { store: CampaignStore; fleet: FleetService },
  campaign: { id: number; release: readonly ReleaseImage[] },
  members: readonly string[],
): Promise<void> {
  const ours = new Set(campaign.release.map((r) => r.hardwareId));
  const mine = new Set(members);
  const shares = (other: CampaignRecord) =>
    other.id !== campaign.id && other.release.some((r) => ours.has(r.hardwareId));
  const overlap = (other: number, vehicle: string) =>
    new ServerError(
      'CAMPAIGN_OVERLAP',
      `vehicle ${vehicle} belongs to campaign ${other}, running for the same hardware IDs`,
    );
  const holding = (await deps.store.campaigns({ states: HOLDING_STATES, limit: 10_000 })).filter(
    shares,
  );
  const holdingIds = new Set(holding.map((c) => c.id));
  const held = await deps.store.holders(members, HOLDING_STATES, campaign.id);
  const first = held.find((h) => holdingIds.has(h.campaignId));
  if (first) throw overlap(first.campaignId, first.vehicle);
  for (const other of holding) {
    const group = await deps.fleet.group(other.groupId).catch(() => undefined);
    if (!group) continue;
    const hit = (await deps.fleet.evaluate(group.definition)).members.find((v) => mine.has(v));
    if (hit) throw overlap(other.id, hit);
  }
}
