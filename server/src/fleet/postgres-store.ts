import type pg from 'pg';
import { inTransaction, onUniqueViolation } from '../storage/postgres-db.js';
import { num, str, type StoredRow } from '../storage/rows.js';
import type { AttributesInput, VehicleAttributes } from './attributes.js';
import {
  assembleVehicles,
  GROUP_COLUMNS,
  groupNameTaken,
  groupValues,
  SNAPSHOT_COLUMNS,
  snapshotValues,
  toGroup,
  toSnapshot,
} from './rows.js';
import type { FleetStore, FleetVehicle, GroupRecord, Page, SnapshotRecord } from './store.js';

/** Every commitment the server knows: enrolled certificates and ECU inventories. */
const KNOWN = `SELECT vin_commitment AS vehicle FROM vehicle_certificates
               UNION SELECT vehicle FROM ecu_inventory_versions`;

/**
 * The fleet tables in PostgreSQL (migration 7), on the repository store's pool. Same semantics as
 * SqliteFleetStore; commitments are ordered with COLLATE "C" (bytes, as SQLite) and lists of them
 * go in as one text[] parameter.
 */
export class PostgresFleetStore implements FleetStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** The pool is the repository store's, which ends it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async #rows(sql: string, params: unknown[]): Promise<StoredRow[]> {
    return (await this.#pool.query<StoredRow>(sql, params)).rows;
  }

  async #assemble(ids: string[]): Promise<FleetVehicle[]> {
    if (ids.length === 0) return [];
    const [attributes, inventories, reports] = await Promise.all([
      this.#rows('SELECT * FROM fleet_vehicle_attributes WHERE vehicle = ANY($1::text[])', [ids]),
      this.#rows(
        `SELECT DISTINCT ON (vehicle) vehicle, registration_json FROM ecu_inventory_versions
         WHERE vehicle = ANY($1::text[]) ORDER BY vehicle, version DESC`,
        [ids],
      ),
      this.#rows(
        `SELECT DISTINCT ON (vehicle, ecu_serial) vehicle, ecu_serial, filepath, sha256
         FROM director_ecu_reports WHERE vehicle = ANY($1::text[]) AND trusted
         ORDER BY vehicle, ecu_serial, manifest_id DESC`,
        [ids],
      ),
    ]);
    return assembleVehicles(ids, attributes, inventories, reports);
  }

  async vehicles(page: Page): Promise<FleetVehicle[]> {
    const ids = (
      await this.#rows(
        `SELECT vehicle FROM (${KNOWN}) k WHERE vehicle COLLATE "C" > $1
         ORDER BY vehicle COLLATE "C" LIMIT $2`,
        [String(page.after ?? ''), page.limit],
      )
    ).map((r) => str(r.vehicle));
    return this.#assemble(ids);
  }

  async vehicle(vehicle: string): Promise<FleetVehicle | undefined> {
    const known = await this.#rows(`SELECT 1 AS x FROM (${KNOWN}) k WHERE vehicle = $1`, [vehicle]);
    return known.length > 0 ? (await this.#assemble([vehicle]))[0] : undefined;
  }

  async unknownVehicles(vehicles: readonly string[]): Promise<string[]> {
    return (
      await this.#rows(
        `SELECT DISTINCT v COLLATE "C" AS vehicle FROM unnest($1::text[]) AS v
         WHERE NOT EXISTS (SELECT 1 FROM vehicle_certificates WHERE vin_commitment = v)
           AND NOT EXISTS (SELECT 1 FROM ecu_inventory_versions WHERE vehicle = v)
         ORDER BY 1`,
        [vehicles],
      )
    ).map((r) => str(r.vehicle));
  }

  async putAttributes(
    vehicle: string,
    input: AttributesInput,
    updatedAt: string,
    updatedBy: string,
  ): Promise<VehicleAttributes> {
    await this.#pool.query(
      `INSERT INTO fleet_vehicle_attributes
         (vehicle, model, model_year, region, tags_json, updated_at, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (vehicle) DO UPDATE SET model = excluded.model,
         model_year = excluded.model_year, region = excluded.region,
         tags_json = excluded.tags_json, updated_at = excluded.updated_at,
         updated_by = excluded.updated_by`,
      [
        vehicle,
        input.model,
        input.modelYear,
        input.region,
        JSON.stringify(input.tags),
        updatedAt,
        updatedBy,
      ],
    );
    return { ...input, updatedAt, updatedBy };
  }

  async insertGroup(input: Omit<GroupRecord, 'id'>): Promise<GroupRecord> {
    const rows = await this.#rows(
      `INSERT INTO fleet_groups (${GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      groupValues(input),
    ).catch(onUniqueViolation((error) => groupNameTaken(input.name, error)));
    return { ...input, id: num(rows[0]?.id) };
  }

  async group(id: number): Promise<GroupRecord | undefined> {
    const [row] = await this.#rows('SELECT * FROM fleet_groups WHERE id = $1', [id]);
    return row ? toGroup(row) : undefined;
  }

  async groups(page: Page): Promise<GroupRecord[]> {
    return (
      await this.#rows('SELECT * FROM fleet_groups WHERE id > $1 ORDER BY id LIMIT $2', [
        Number(page.after ?? 0),
        page.limit,
      ])
    ).map(toGroup);
  }

  async deleteGroup(id: number): Promise<boolean> {
    const result = await this.#pool.query('DELETE FROM fleet_groups WHERE id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  async insertSnapshot(
    input: Omit<SnapshotRecord, 'id'>,
    members: string[],
  ): Promise<SnapshotRecord> {
    return inTransaction(this.#pool, async (tx) => {
      const { rows } = await tx.query<StoredRow>(
        `INSERT INTO fleet_group_snapshots (${SNAPSHOT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
        snapshotValues(input),
      );
      const id = num(rows[0]?.id);
      await tx.query(
        'INSERT INTO fleet_snapshot_members (snapshot_id, vehicle) SELECT $1, unnest($2::text[])',
        [id, members],
      );
      return { ...input, id };
    });
  }

  async snapshot(id: number): Promise<SnapshotRecord | undefined> {
    const [row] = await this.#rows('SELECT * FROM fleet_group_snapshots WHERE id = $1', [id]);
    return row ? toSnapshot(row) : undefined;
  }

  async snapshotMembers(id: number, page: Page): Promise<string[]> {
    return (
      await this.#rows(
        `SELECT vehicle FROM fleet_snapshot_members
         WHERE snapshot_id = $1 AND vehicle COLLATE "C" > $2
         ORDER BY vehicle COLLATE "C" LIMIT $3`,
        [id, String(page.after ?? ''), page.limit],
      )
    ).map((r) => str(r.vehicle));
  }
}
