import type { AttributesInput, VehicleAttributes } from './attributes.js';
import type { Filter } from './filter.js';
import type { FleetVehicle } from './vehicle.js';

export type { FleetEcu, FleetVehicle } from './vehicle.js';

export type GroupDefinition =
  { kind: 'static'; vehicles: string[] } | { kind: 'dynamic'; filter: Filter };

export interface GroupRecord {
  id: number;
  name: string;
  description: string | null;
  definition: GroupDefinition;
  createdAt: string;
  createdBy: string;
}

/** The exact member set of a group at one instant, as a campaign wave will refer to it. */
export interface SnapshotRecord {
  id: number;
  groupId: number;
  groupName: string;
  /** The group's definition when the snapshot was taken (the group may change or go later). */
  definition: GroupDefinition;
  memberCount: number;
  /** sha256 hex of the canonical JSON of the sorted member list (membersSha256). */
  membersSha256: string;
  createdAt: string;
  createdBy: string;
}

export interface Page {
  /** Exclusive lower bound of the key (vehicle commitment, or id). */
  after?: string | number;
  limit: number;
}

/**
 * What the fleet registry persists, in the repository's database beside the Director's tables,
 * which it reads (never writes): SqliteFleetStore (migration 11) or PostgresFleetStore
 * (migration 7), with the same semantics and error codes.
 */
export interface FleetStore {
  close(): Promise<void>;

  /** Known vehicles, by commitment (byte order), with their attributes and ECUs. */
  vehicles(page: Page): Promise<FleetVehicle[]>;
  vehicle(vehicle: string): Promise<FleetVehicle | undefined>;
  /** Those of `vehicles` the server does not know. */
  unknownVehicles(vehicles: readonly string[]): Promise<string[]>;
  putAttributes(
    vehicle: string,
    input: AttributesInput,
    updatedAt: string,
    updatedBy: string,
  ): Promise<VehicleAttributes>;

  /** GROUP_NAME_TAKEN when a group of that name exists. */
  insertGroup(input: Omit<GroupRecord, 'id'>): Promise<GroupRecord>;
  group(id: number): Promise<GroupRecord | undefined>;
  groups(page: Page): Promise<GroupRecord[]>;
  /** False when there was no such group. Its snapshots stay. */
  deleteGroup(id: number): Promise<boolean>;

  /** Records a snapshot and its members (sorted, unique, at least one) in one transaction. */
  insertSnapshot(input: Omit<SnapshotRecord, 'id'>, members: string[]): Promise<SnapshotRecord>;
  snapshot(id: number): Promise<SnapshotRecord | undefined>;
  /** Members of a snapshot in order, after `page.after`. */
  snapshotMembers(id: number, page: Page): Promise<string[]>;
}
