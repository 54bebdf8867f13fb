import { createHash } from 'node:crypto';
import { canonicalJson } from '@tufchain/transparency';
import type { Clock } from '../config.js';
import { ServerError } from '../error.js';
import {
  assertNoVinInClear,
  checkAttributes,
  type AttributesInput,
  type VehicleAttributes,
} from './attributes.js';
import { matchesFilter, parseFilter } from './filter.js';
import type {
  FleetStore,
  FleetVehicle,
  GroupDefinition,
  GroupRecord,
  Page,
  SnapshotRecord,
} from './store.js';

/** Vehicles read per store round trip while a dynamic group is evaluated. */
const EVALUATION_PAGE = 500;

/** A group definition as it arrives: the filter still untrusted JSON. */
export type GroupDefinitionInput =
  { kind: 'static'; vehicles: string[] } | { kind: 'dynamic'; filter: unknown };

export interface Evaluation {
  /** Sorted (byte order), unique. */
  members: string[];
  membersSha256: string;
}

/** sha256 hex of the canonical JSON of the sorted member list: what a wave's record pins. */
export function membersSha256(sortedMembers: readonly string[]): string {
  return createHash('sha256').update(canonicalJson(sortedMembers)).digest('hex');
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The fleet registry: vehicle attributes, groups, evaluation and snapshots. */
export class FleetService {
  readonly #store: FleetStore;
  readonly #clock: Clock;

  constructor(opts: { store: FleetStore; clock: Clock }) {
    this.#store = opts.store;
    this.#clock = opts.clock;
  }

  vehicles(page: Page): Promise<FleetVehicle[]> {
    return this.#store.vehicles(page);
  }

  async vehicle(vehicle: string): Promise<FleetVehicle> {
    const found = await this.#store.vehicle(vehicle);
    if (!found) throw new ServerError('VEHICLE_NOT_FOUND', `no vehicle ${vehicle} is known here`);
    return found;
  }

  /** Replaces the OEM-set attributes of a known vehicle. */
  async setAttributes(
    vehicle: string,
    input: AttributesInput,
    by: string,
  ): Promise<VehicleAttributes> {
    const checked = checkAttributes(input);
    await this.vehicle(vehicle);
    return this.#store.putAttributes(vehicle, checked, this.#clock().toISOString(), by);
  }

  /** A checked definition: known, unique, sorted static members; a parsed filter. */
  async checkDefinition(input: GroupDefinitionInput): Promise<GroupDefinition> {
    if (input.kind === 'dynamic') return { kind: 'dynamic', filter: parseFilter(input.filter) };
    const vehicles = [...new Set(input.vehicles)].sort(byteOrder);
    const unknown = await this.#store.unknownVehicles(vehicles);
    if (unknown.length > 0) {
      throw new ServerError(
        'GROUP_MEMBER_UNKNOWN',
        `${unknown.length} vehicle(s) are not known here, first ${unknown[0]}`,
      );
    }
    return { kind: 'static', vehicles };
  }

  async createGroup(
    input: { name: string; description?: string | undefined; definition: GroupDefinitionInput },
    by: string,
  ): Promise<GroupRecord> {
    assertNoVinInClear({ name: input.name, description: input.description ?? null });
    const definition = await this.checkDefinition(input.definition);
    return this.#store.insertGroup({
      name: input.name,
      description: input.description ?? null,
      definition,
      createdAt: this.#clock().toISOString(),
      createdBy: by,
    });
  }

  async group(id: number): Promise<GroupRecord> {
    const found = await this.#store.group(id);
    if (!found) throw new ServerError('GROUP_NOT_FOUND', `no group ${id}`);
    return found;
  }

  groups(page: Page): Promise<GroupRecord[]> {
    return this.#store.groups(page);
  }

  async deleteGroup(id: number): Promise<void> {
    if (!(await this.#store.deleteGroup(id))) {
      throw new ServerError('GROUP_NOT_FOUND', `no group ${id}`);
    }
  }

  /** The exact sorted member set of a definition now. */
  async evaluate(definition: GroupDefinition): Promise<Evaluation> {
    let members: string[];
    if (definition.kind === 'static') {
      members = [...definition.vehicles].sort(byteOrder);
    } else {
      members = [];
      let after: string | undefined;
      for (;;) {
        const page = await this.#store.vehicles({
          ...(after === undefined ? {} : { after }),
          limit: EVALUATION_PAGE,
        });
        for (const v of page) if (matchesFilter(definition.filter, v)) members.push(v.vehicle);
        if (page.length < EVALUATION_PAGE) break;
        after = page[page.length - 1]?.vehicle;
      }
    }
    return { members, membersSha256: membersSha256(members) };
  }

  /** Evaluates a group and records exactly that set; EMPTY_GROUP when it has no member. */
  async snapshot(groupId: number, by: string): Promise<SnapshotRecord> {
    const group = await this.group(groupId);
    const { members, membersSha256: digest } = await this.evaluate(group.definition);
    if (members.length === 0) {
      throw new ServerError('EMPTY_GROUP', `group ${group.name} has no member now`);
    }
    return this.#store.insertSnapshot(
      {
        groupId: group.id,
        groupName: group.name,
        definition: group.definition,
        memberCount: members.length,
        membersSha256: digest,
        createdAt: this.#clock().toISOString(),
        createdBy: by,
      },
      members,
    );
  }

  async snapshotRecord(id: number): Promise<SnapshotRecord> {
    const found = await this.#store.snapshot(id);
    if (!found) throw new ServerError('SNAPSHOT_NOT_FOUND', `no snapshot ${id}`);
    return found;
  }

  snapshotMembers(id: number, page: Page): Promise<string[]> {
    return this.#store.snapshotMembers(id, page);
  }
}
