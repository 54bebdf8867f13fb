import type { CampaignEventKind } from '@tufchain/transparency/wire';
import type { AssignmentStatus } from '../director/store.js';

export type CampaignState = 'draft' | 'running' | 'paused' | 'stopped' | 'finished' | 'cancelled';

/** States in which a campaign holds its vehicles: another campaign may not assign them. */
export const HOLDING_STATES: readonly CampaignState[] = ['running', 'paused', 'stopped'];

/** One image of the release set, resolved in the image repository when the campaign is created. */
export interface ReleaseImage {
  hardwareId: string;
  name: string;
  sha256: string;
  length: number;
}

export interface WaveSpec {
  /** Cumulative share of the group, in percent, that has been offered the release once this wave is assigned. */
  percent: number;
  /** Gate to the next wave: time since the wave was fully assigned. */
  minSoakSeconds: number;
  /** Gate to the next wave: succeeded vehicles, in percent of the wave's assigned vehicles. */
  successPercent: number;
}

/** Stops the campaign when a wave's failures pass either bound (null: that bound is off). */
export interface FailureThreshold {
  /** Stops when failures exceed this percentage of the wave's assigned vehicles. */
  percent: number | null;
  /** Stops when a wave has this many failures. */
  count: number | null;
}

export interface CampaignRecord {
  id: number;
  urn: string;
  name: string;
  groupId: number;
  /** Sorted by hardware ID, one image each. */
  release: ReleaseImage[];
  waves: WaveSpec[];
  failureThreshold: FailureThreshold;
  /**
   * Deferrals (signed manifests saying the install was put off) after which the campaign stops
   * waiting for a vehicle: it is counted apart and its assignment cancelled.
   */
  maxDeferrals: number;
  /** 32 random bytes, hex: wave membership ranks vehicles by sha256(salt ‖ commitment). */
  salt: string;
  state: CampaignState;
  /** The current wave, from 1; 0 before the first. */
  wave: number;
  reason: string | null;
  /** How many state changes it went through: the seq of its last event. */
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export interface WaveRecord {
  campaignId: number;
  wave: number;
  snapshotId: number;
  memberCount: number;
  /** membersSha256 of the sorted vehicles this wave adds. */
  membersSha256: string;
  /** sha256 of the release set every member receives (cohort equality). */
  assignmentSha256: string;
  startedAt: string;
  /** When every member was assigned or skipped: the soak time counts from here. */
  assignedAt: string | null;
  /** Failures the OEM accepted when resuming after an automatic stop. */
  acknowledgedFailures: number;
}

export type CampaignVehicleStatus = 'pending' | 'assigned' | 'skipped';

export interface CampaignVehicleRecord {
  campaignId: number;
  vehicle: string;
  wave: number;
  status: CampaignVehicleStatus;
  /** Skipped: the error code that kept it from being assigned. */
  reason: string | null;
  assignmentId: number | null;
  /** The Director assignment's creation time: reports older than it do not count. */
  assignedAt: string | null;
  imageNames: string[];
}

/** A campaign vehicle with what verified reports say about it (CampaignStore.vehicleOutcomes). */
export interface VehicleOutcomeRow {
  vehicle: string;
  wave: number;
  status: CampaignVehicleStatus;
  reason: string | null;
  directorStatus: AssignmentStatus | null;
  imageCount: number;
  /** Distinct assigned images with a verified SUCCESS install attestation since the assignment. */
  succeededImages: number;
  /** Verified FAILURE or ROLLED_BACK install attestations for assigned images since the assignment. */
  failureReports: number;
  /** Verified version manifests reporting this assignment failed (installation_report). */
  manifestFailures: number;
  /** Verified version manifests reporting this assignment deferred (DEFERRAL_CODES). */
  deferrals: number;
  assignmentId: number | null;
}

/** installation_report result codes that mean "put off" (preconditions not met), not failed. */
export const DEFERRAL_CODES = ['DEFERRED', 'PRECONDITIONS_NOT_MET'] as const;

export interface CampaignEventRecord {
  campaignId: number;
  seq: number;
  kind: CampaignEventKind;
  at: string;
  detail: Record<string, unknown>;
  logIndex: number | null;
}

export interface CreateCampaignInput {
  name: string;
  groupId: number;
  release: { hardwareId: string; name: string }[];
  waves: WaveSpec[];
  failureThreshold: FailureThreshold;
  maxDeferrals: number;
}

/** A rollback campaign's own settings; its group and release set come from the original. */
export type RollbackInput = Partial<Omit<CreateCampaignInput, 'groupId' | 'release'>>;
