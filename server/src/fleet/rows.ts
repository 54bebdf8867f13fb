/**
 * Rows of the fleet tables (SQLite migration 11, PostgreSQL migration 7: the same columns) to
 * records, and the assembly of registry vehicles from the rows each engine reads.
 */
import type { EcuRegistration } from '@tufchain/transparency/wire';
import { ServerError } from '../error.js';
import { num, str, type StoredRow } from '../storage/rows.js';
import type { VehicleAttributes } from './attributes.js';
import type { FleetVehicle, GroupDefinition, GroupRecord, SnapshotRecord } from './store.js';

const optStr = (v: unknown): string | null => (v == null ? null : str(v));
const optNum = (v: unknown): number | null => (v == null ? null : num(v));

export function toAttributes(row: StoredRow): VehicleAttributes {
  return {
    model: optStr(row.model),
    modelYear: optNum(row.model_year),
    region: optStr(row.region),
    tags: JSON.parse(str(row.tags_json)) as string[],
    updatedAt: str(row.updated_at),
    updatedBy: str(row.updated_by),
  };
}

export function toGroup(row: StoredRow): GroupRecord {
  return {
    id: num(row.id),
    name: str(row.name),
    description: optStr(row.description),
    definition: JSON.parse(str(row.definition_json)) as GroupDefinition,
    createdAt: str(row.created_at),
    createdBy: str(row.created_by),
  };
}

export function toSnapshot(row: StoredRow): SnapshotRecord {
  return {
    id: num(row.id),
    groupId: num(row.group_id),
    groupName: str(row.group_name),
    definition: JSON.parse(str(row.definition_json)) as GroupDefinition,
    memberCount: num(row.member_count),
    membersSha256: str(row.members_sha256),
    createdAt: str(row.created_at),
    createdBy: str(row.created_by),
  };
}

/**
 * Registry vehicles from the rows read for a page of commitments: attributes, each vehicle's
 * latest ECU inventory, and the latest trusted report of each ECU. ECUs are the inventory's; a
 * report of an ECU no longer registered does not count.
 */
export function assembleVehicles(
  ids: readonly string[],
  attributeRows: StoredRow[],
  inventoryRows: StoredRow[],
  reportRows: StoredRow[],
): FleetVehicle[] {
  const attributes = new Map(attributeRows.map((r) => [str(r.vehicle), toAttributes(r)]));
  const inventories = new Map(
    inventoryRows.map((r) => [
      str(r.vehicle),
      JSON.parse(str(r.registration_json)) as EcuRegistration,
    ]),
  );
  const reports = new Map(
    reportRows.map((r) => [
      `${str(r.vehicle)}\n${str(r.ecu_serial)}`,
      { name: str(r.filepath), sha256: str(r.sha256) },
    ]),
  );
  return ids.map((vehicle) => ({
    vehicle,
    attributes: attributes.get(vehicle) ?? null,
    ecus: (inventories.get(vehicle)?.ecus ?? [])
      .map((e) => ({
        ecuSerial: e.ecu_serial,
        hardwareId: e.hardware_identifier,
        installed: reports.get(`${vehicle}\n${e.ecu_serial}`) ?? null,
      }))
      .sort((a, b) => (a.ecuSerial < b.ecuSerial ? -1 : a.ecuSerial > b.ecuSerial ? 1 : 0)),
  }));
}

export function groupNameTaken(name: string, cause: unknown): ServerError {
  return new ServerError('GROUP_NAME_TAKEN', `a group named ${name} exists`, { cause });
}

/** The values of a new group in the order of GROUP_COLUMNS. */
export const GROUP_COLUMNS = 'name, description, kind, definition_json, created_at, created_by';
export function groupValues(g: Omit<GroupRecord, 'id'>): (string | null)[] {
  return [
    g.name,
    g.description,
    g.definition.kind,
    JSON.stringify(g.definition),
    g.createdAt,
    g.createdBy,
  ];
}

export const SNAPSHOT_COLUMNS =
  'group_id, group_name, kind, definition_json, member_count, members_sha256, created_at, created_by';
export function snapshotValues(s: Omit<SnapshotRecord, 'id'>): (string | number)[] {
  return [
    s.groupId,
    s.groupName,
    s.definition.kind,
    JSON.stringify(s.definition),
    s.memberCount,
    s.membersSha256,
    s.createdAt,
    s.createdBy,
  ];
}
