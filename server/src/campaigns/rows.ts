import type { CampaignEventKind } from '@tufchain/transparency/wire';
import type { AssignmentStatus } from '../director/store.js';
import { ServerError } from '../error.js';
import { num, str, type StoredRow } from '../storage/rows.js';
import type {
  CampaignEventRecord,
  CampaignRecord,
  CampaignState,
  CampaignVehicleRecord,
  CampaignVehicleStatus,
  VehicleOutcomeRow,
  WaveRecord,
} from './model.js';
import type { NewCampaign } from './store.js';

const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export const CAMPAIGN_COLUMNS = `urn, name, group_id, release_json, waves_json,
  failure_threshold_json, max_deferrals, salt, state, wave, reason, version, created_at, created_by, updated_at`;

export function campaignValues(c: NewCampaign): (string | number | null)[] {
  return [
    c.urn,
    c.name,
    c.groupId,
    JSON.stringify(c.release),
    JSON.stringify(c.waves),
    JSON.stringify(c.failureThreshold),
    c.maxDeferrals,
    c.salt,
    c.state,
    c.wave,
    c.reason,
    1,
    c.createdAt,
    c.createdBy,
    c.createdAt,
  ];
}

export function toCampaign(row: StoredRow): CampaignRecord {
  return {
    id: num(row.id),
    urn: str(row.urn),
    name: str(row.name),
    groupId: num(row.group_id),
    release: JSON.parse(str(row.release_json)) as CampaignRecord['release'],
    waves: JSON.parse(str(row.waves_json)) as CampaignRecord['waves'],
    failureThreshold: JSON.parse(
      str(row.failure_threshold_json),
    ) as CampaignRecord['failureThreshold'],
    maxDeferrals: num(row.max_deferrals),
    salt: str(row.salt),
    state: str(row.state) as CampaignState,
    wave: num(row.wave),
    reason: optStr(row.reason),
    version: num(row.version),
    createdAt: str(row.created_at),
    createdBy: str(row.created_by),
    updatedAt: str(row.updated_at),
  };
}

export function toWave(row: StoredRow): WaveRecord {
  return {
    campaignId: num(row.campaign_id),
    wave: num(row.wave),
    snapshotId: num(row.snapshot_id),
    memberCount: num(row.member_count),
    membersSha256: str(row.members_sha256),
    assignmentSha256: str(row.assignment_sha256),
    startedAt: str(row.started_at),
    assignedAt: optStr(row.assigned_at),
    acknowledgedFailures: num(row.acknowledged_failures),
  };
}

export function toCampaignVehicle(row: StoredRow): CampaignVehicleRecord {
  return {
    campaignId: num(row.campaign_id),
    vehicle: str(row.vehicle),
    wave: num(row.wave),
    status: str(row.status) as CampaignVehicleStatus,
    reason: optStr(row.reason),
    assignmentId: optNum(row.assignment_id),
    assignedAt: optStr(row.assigned_at),
    imageNames: JSON.parse(str(row.image_names_json)) as string[],
  };
}

export function toOutcome(row: StoredRow): VehicleOutcomeRow {
  return {
    vehicle: str(row.vehicle),
    wave: num(row.wave),
    status: str(row.status) as CampaignVehicleStatus,
    reason: optStr(row.reason),
    directorStatus: optStr(row.director_status) as AssignmentStatus | null,
    imageCount: (JSON.parse(str(row.image_names_json)) as string[]).length,
    succeededImages: num(row.succeeded_images),
    failureReports: num(row.failure_reports),
    manifestFailures: num(row.manifest_failures),
    deferrals: num(row.deferrals),
    assignmentId: optNum(row.assignment_id),
  };
}

export function toEvent(row: StoredRow): CampaignEventRecord {
  return {
    campaignId: num(row.campaign_id),
    seq: num(row.seq),
    kind: str(row.kind) as CampaignEventKind,
    at: str(row.at),
    detail: JSON.parse(str(row.detail_json)) as Record<string, unknown>,
    logIndex: optNum(row.log_index),
  };
}

export function campaignChanged(id: number, expected: number): ServerError {
  return new ServerError(
    'CAMPAIGN_CHANGED',
    `campaign ${id} changed since version ${expected}; read it again`,
  );
}
