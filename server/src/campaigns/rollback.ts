import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { DirectorService } from '../director/service.js';
import type { AssignmentRecord } from '../director/store.js';
import { ServerError } from '../error.js';
import type { GroupRecord } from '../fleet/store.js';
import { errorText } from '../tuf/service.js';
import { outcomeOf } from './gates.js';
import type { CampaignRecord, CreateCampaignInput, RollbackInput } from './model.js';
import type { CampaignStore } from './store.js';

/** What one rollback campaign assigns, and to whom: a cohort that ran the same images before. */
export interface RollbackPlan {
  /** One image per hardware ID: what these vehicles ran before, sorted by hardware ID. */
  release: { hardwareId: string; name: string }[];
  /** The vehicles of this cohort the campaign updated (succeeded), sorted. */
  vehicles: string[];
}

/**
 * Plans the rollback of a finished or cancelled campaign from the Director's records: for each
 * vehicle the campaign updated, and each ECU its assignment covered, the image of the newest
 * completed assignment before it, or else the ECU's first trusted report (its factory image).
 * A wave receives one release set (cohort equality), so the vehicles are split by what they ran
 * before: one plan per distinct previous release set, ordered by their first vehicle.
 * ROLLBACK_PREVIOUS_UNKNOWN when a vehicle has no record; ROLLBACK_PREVIOUS_MIXED only when ECUs
 * of the same hardware ID in one vehicle ran different images (no release set can give both back).
 */
export async function planRollback(
  deps: { store: CampaignStore; director: DirectorService },
  campaign: CampaignRecord,
): Promise<RollbackPlan[]> {
  if (campaign.state !== 'finished' && campaign.state !== 'cancelled') {
    throw new ServerError(
      'CAMPAIGN_STATE_INVALID',
      `campaign ${campaign.id} is ${campaign.state}; rollback needs finished or cancelled (cancel it first)`,
    );
  }
  const updated = (await deps.store.vehicleOutcomes(campaign.id)).filter(
    (row) => row.assignmentId !== null && outcomeOf(row, campaign.maxDeferrals) === 'succeeded',
  );
  if (updated.length === 0) {
    throw new ServerError(
      'ROLLBACK_NOTHING_UPDATED',
      `campaign ${campaign.id} updated no vehicle: there is nothing to roll back`,
    );
  }
  /** Canonical key of a previous release set → its cohort. */
  const cohorts = new Map<string, RollbackPlan>();
  for (const row of updated) {
    const made = await deps.director.assignment(row.assignmentId!);
    const history = await deps.director.assignments({ vehicle: row.vehicle, status: 'completed' });
    const previous = new Map<string, string>();
    for (const image of made.images) {
      const name = await previousImage(deps.director, made, history, image.ecuSerial);
      // A first report made after this install says what it runs now, not what it ran before.
      if (name === undefined || name === image.name) {
        throw new ServerError(
          'ROLLBACK_PREVIOUS_UNKNOWN',
          `no record says what ECU ${image.ecuSerial} of vehicle ${row.vehicle} ran before`,
        );
      }
      const other = previous.get(image.hardwareId);
      if (other !== undefined && other !== name) {
        throw new ServerError(
          'ROLLBACK_PREVIOUS_MIXED',
          `ECUs of hardware ID ${image.hardwareId} in vehicle ${row.vehicle} ran different images before: ${[other, name].sort().join(', ')}`,
        );
      }
      previous.set(image.hardwareId, name);
    }
    const release = [...previous.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([hardwareId, name]) => ({ hardwareId, name }));
    const key = JSON.stringify(release);
    const cohort = cohorts.get(key) ?? { release, vehicles: [] };
    cohort.vehicles.push(row.vehicle);
    cohorts.set(key, cohort);
  }
  for (const c of cohorts.values()) c.vehicles.sort();
  return [...cohorts.values()].sort((a, b) => (a.vehicles[0]! < b.vehicles[0]! ? -1 : 1));
}

async function previousImage(
  director: DirectorService,
  made: AssignmentRecord,
  completed: readonly AssignmentRecord[],
  ecuSerial: string,
): Promise<string | undefined> {
  const before = completed
    .filter((a) => a.id < made.id)
    .sort((a, b) => b.id - a.id)
    .flatMap((a) => a.images.filter((i) => i.ecuSerial === ecuSerial));
  if (before[0]) return before[0].name;
  return (await director.store.firstReportedImage(made.vehicle, ecuSerial))?.filepath;
}

/**
 * Creates the draft campaigns of planRollback's plans, oldest first: one per cohort, each through
 * a static group made for it, named "cohort I of N" when there are several, and created with its
 * origin (`rollbackOf`, its cohort). Not a partial rollback: if one is refused, the drafts made
 * so far are cancelled (logged) before the refusal is thrown.
 */
export async function createRollbackCampaigns(
  original: CampaignRecord,
  plans: readonly RollbackPlan[],
  input: RollbackInput,
  deps: {
    createGroup: (group: {
      name: string;
      description: string;
      definition: { kind: 'static'; vehicles: string[] };
    }) => Promise<GroupRecord>;
    create: (
      campaign: CreateCampaignInput,
      origin: { rollbackOf: string; rollbackCohort?: number; rollbackCohorts?: number },
    ) => Promise<CampaignRecord>;
    cancel: (id: number, reason: string) => Promise<unknown>;
    logger: Logger;
  },
): Promise<CampaignRecord[]> {
  const baseName = input.name ?? `rollback of ${original.name}`;
  const created: CampaignRecord[] = [];
  try {
    for (const [i, plan] of plans.entries()) {
      const suffix = plans.length > 1 ? ` cohort ${i + 1} of ${plans.length}` : '';
      const group = await deps.createGroup({
        name: `rollback-${original.id}-${randomBytes(4).toString('hex')}`,
        description: `vehicles updated by campaign ${original.urn}${suffix}`,
        definition: { kind: 'static', vehicles: plan.vehicles },
      });
      created.push(
        await deps.create(
          {
            name: `${baseName.slice(0, 100 - suffix.length)}${suffix}`,
            groupId: group.id,
            release: plan.release,
            waves: input.waves ?? [
              {
                percent: 100,
                minSoakSeconds: 0,
                successPercent: original.waves.at(-1)?.successPercent ?? 100,
              },
            ],
            failureThreshold: input.failureThreshold ?? original.failureThreshold,
            maxDeferrals: input.maxDeferrals ?? original.maxDeferrals,
          },
          {
            rollbackOf: original.urn,
            ...(plans.length > 1 ? { rollbackCohort: i + 1, rollbackCohorts: plans.length } : {}),
          },
        ),
      );
    }
  } catch (error) {
    for (const c of created) {
      await deps
        .cancel(c.id, 'rollback not created: another cohort was refused')
        .catch((cancelError: unknown) =>
          deps.logger.error(
            { campaign: c.id, err: errorText(cancelError) },
            'could not cancel a rollback draft',
          ),
        );
    }
    throw error;
  }
  return created;
}
