import type { CampaignEventKind } from '@tufchain/transparency/wire';
import type {
  CampaignEventRecord,
  CampaignRecord,
  CampaignState,
  CampaignVehicleRecord,
  VehicleOutcomeRow,
  WaveRecord,
} from './model.js';

export type NewCampaign = Omit<CampaignRecord, 'id' | 'version' | 'updatedAt'>;

export interface NewEvent {
  kind: CampaignEventKind;
  at: string;
  detail: Record<string, unknown>;
}

/**
 * One state change, applied in one transaction or not at all: the campaign row moves only if its
 * version is still `expectedVersion` (else CAMPAIGN_CHANGED), the event gets seq
 * `expectedVersion + 1`, and a wave start records the wave with every member as `pending`, so
 * that a crash after the commit resumes assigning exactly those vehicles.
 */
export interface Transition {
  campaignId: number;
  expectedVersion: number;
  state: CampaignState;
  wave: number;
  reason: string | null;
  at: string;
  event: NewEvent;
  startWave?: Omit<WaveRecord, 'campaignId' | 'assignedAt' | 'acknowledgedFailures'> & {
    members: string[];
  };
  /** Marks the current wave fully assigned: its soak time starts at `at`. */
  waveAssigned?: number;
  /** Failures of a wave the OEM accepts on resuming (they no longer count toward the threshold). */
  acknowledge?: { wave: number; failures: number };
}

/**
 * What the campaign engine persists, in the repository's database beside the Director's and the
 * fleet's tables, which it reads (never writes): SqliteCampaignStore (migration 13) or
 * PostgresCampaignStore (migration 9), with the same semantics and error codes.
 */
export interface CampaignStore {
  close(): Promise<void>;

  /** Inserts a draft campaign and its `created` event (seq 1) in one transaction. */
  insertCampaign(input: NewCampaign, event: NewEvent): Promise<CampaignRecord>;
  campaign(id: number): Promise<CampaignRecord | undefined>;
  /** By its URN (what the log names it by). */
  campaignByUrn(urn: string): Promise<CampaignRecord | undefined>;
  /** By id, after `after`; only those in `states` when given. */
  campaigns(filter: {
    states?: readonly CampaignState[];
    after?: number;
    limit: number;
  }): Promise<CampaignRecord[]>;
  transition(t: Transition): Promise<CampaignRecord>;

  waves(campaignId: number): Promise<WaveRecord[]>;
  /** Every vehicle the campaign took into a wave. */
  campaignVehicles(campaignId: number): Promise<string[]>;
  /** Members of `wave` still to be assigned, by commitment. */
  pendingVehicles(
    campaignId: number,
    wave: number,
    limit: number,
  ): Promise<CampaignVehicleRecord[]>;
  /** pending → assigned; a row no longer pending is left as it is (false). */
  markAssigned(
    campaignId: number,
    vehicle: string,
    assignment: { id: number; createdAt: string; imageNames: string[] },
  ): Promise<boolean>;
  /** pending → skipped with the code that kept it from being assigned. */
  markSkipped(campaignId: number, vehicle: string, reason: string): Promise<boolean>;
  /** Every campaign vehicle with its Director status and its verified reports since assignment. */
  vehicleOutcomes(campaignId: number): Promise<VehicleOutcomeRow[]>;
  /** Campaigns other than `exceptId` in `states` that hold any of `vehicles`: (campaign, vehicle). */
  holders(
    vehicles: readonly string[],
    states: readonly CampaignState[],
    exceptId: number,
  ): Promise<{ campaignId: number; vehicle: string }[]>;

  events(campaignId: number): Promise<CampaignEventRecord[]>;
  /** Events not yet in the transparency log, oldest first. */
  unloggedEvents(limit: number): Promise<CampaignEventRecord[]>;
  setEventLogIndex(campaignId: number, seq: number, logIndex: number): Promise<void>;
}
