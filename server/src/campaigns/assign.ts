import type { DirectorService } from '../director/service.js';
import type { AssignmentRecord } from '../director/store.js';
import { ServerError } from '../error.js';
import type { FleetService } from '../fleet/service.js';
import { HOLDING_STATES, type CampaignRecord } from './model.js';
import type { CampaignStore } from './store.js';

/** Director refusals that leave a campaign vehicle skipped (with the code) rather than retried. */
const SKIP_CODES = new Set([
  'VEHICLE_NOT_FOUND',
  'VEHICLE_ALREADY_ASSIGNED',
  'ECU_UNKNOWN',
  'HARDWARE_ID_MISMATCH',
  'IMAGE_NOT_IN_REPOSITORY',
  'PERSONAL_DATA_REJECTED',
]);

/** The Director correlation ID of a campaign vehicle: the same on every attempt. */
export function campaignCorrelationId(campaign: Pick<CampaignRecord, 'urn'>, vehicle: string) {
  return `${campaign.urn}:${vehicle}`;
}

/**
 * Assigns the release set to one pending campaign vehicle through the Director, exactly once:
 * the correlation ID names the (campaign, vehicle) pair, so an attempt after a crash finds the
 * assignment the earlier one made instead of making another.
 */
export async function assignCampaignVehicle(
  deps: { store: CampaignStore; fleet: FleetService; director: DirectorService },
  campaign: CampaignRecord,
  vehicle: string,
): Promise<void> {
  const correlationId = campaignCorrelationId(campaign, vehicle);
  const record = (a: AssignmentRecord) =>
    deps.store.markAssigned(campaign.id, vehicle, {
      id: a.id,
      createdAt: a.createdAt,
      imageNames: a.images.map((i) => i.name),
    });
  const made = await deps.director.store.assignmentByCorrelationId(correlationId);
  if (made) {
    await record(made);
    return;
  }
  const ours = new Set(campaign.release.map((r) => r.hardwareId));
  const held = await deps.store.holders([vehicle], HOLDING_STATES, campaign.id);
  for (const h of held) {
    const other = await deps.store.campaign(h.campaignId);
    if (other?.release.some((r) => ours.has(r.hardwareId))) {
      await deps.store.markSkipped(campaign.id, vehicle, 'CAMPAIGN_OVERLAP');
      return;
    }
  }
  try {
    const found = await deps.fleet.vehicle(vehicle);
    const images = found.ecus.flatMap((ecu) => {
      const image = campaign.release.find((r) => r.hardwareId === ecu.hardwareId);
      return image ? [{ ecuSerial: ecu.ecuSerial, name: image.name }] : [];
    });
    if (images.length === 0) {
      await deps.store.markSkipped(campaign.id, vehicle, 'NO_MATCHING_ECU');
      return;
    }
    await record(
      await deps.director.assign({ vehicle, images, correlationId }, `campaign:${campaign.id}`),
    );
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    if (error.code === 'CORRELATION_ID_REUSED') {
      const raced = await deps.director.store.assignmentByCorrelationId(correlationId);
      if (raced) {
        await record(raced);
        return;
      }
    }
    if (!SKIP_CODES.has(error.code)) throw error;
    await deps.store.markSkipped(campaign.id, vehicle, error.code);
  }
}
