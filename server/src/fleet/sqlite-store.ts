import { inTransaction } from '@tufchain/transparency';
import { openSideConnection } from '../storage/sqlite-side.js';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { onKeyViolation, settle } from '../storage/sqlite-store.js';
import { str } from '../storage/rows.js';
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

type Row = Record<string, SQLInputValue>;

/** Every commitment the server knows: enrolled certificates and ECU inventories. */
const KNOWN = `SELECT vin_commitment AS vehicle FROM vehicle_certificates
               UNION SELECT vehicle FROM ecu_inventory_versions`;

/**
 * The fleet tables in the repository's SQLite file, on a connection of its own (as the Director's).
 * Open it after SqliteStore, which applies the migrations. Lists of commitments go in as one JSON
 * parameter (json_each), never spliced into SQL.
 */
export class SqliteFleetStore implements FleetStore {
  readonly #db: DatabaseSync;
  #closed = false;

  constructor(path: string) {
    this.#db = openSideConnection(path, 11, 'fleet');
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#db.prepare(sql).all(...params);
  }

  #tx<T>(fn: () => T): T {
    return inTransaction(this.#db, fn);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #assemble(ids: string[]): FleetVehicle[] {
    if (ids.length === 0) return [];
    const list = JSON.stringify(ids);
    return assembleVehicles(
      ids,
      this.#all(
        'SELECT * FROM fleet_vehicle_attributes WHERE vehicle IN (SELECT value FROM json_each(?))',
        list,
      ),
      this.#all(
        `SELECT e.vehicle, e.registration_json FROM ecu_inventory_versions e
         WHERE e.vehicle IN (SELECT value FROM json_each(?))
           AND e.version = (SELECT MAX(version) FROM ecu_inventory_versions WHERE vehicle = e.vehicle)`,
        list,
      ),
      this.#all(
        `SELECT r.vehicle, r.ecu_serial, r.filepath, r.sha256 FROM director_ecu_reports r
         WHERE r.vehicle IN (SELECT value FROM json_each(?)) AND r.trusted = 1
           AND r.manifest_id = (SELECT MAX(manifest_id) FROM director_ecu_reports
             WHERE vehicle = r.vehicle AND ecu_serial = r.ecu_serial AND trusted = 1)`,
        list,
      ),
    );
  }

  vehicles(page: Page): Promise<FleetVehicle[]> {
    return settle(() => {
      const ids = this.#all(
        `SELECT vehicle FROM (${KNOWN}) WHERE vehicle > ? ORDER BY vehicle LIMIT ?`,
        String(page.after ?? ''),
        page.limit,
      ).map((r) => str(r.vehicle));
      return this.#assemble(ids);
    });
  }

  vehicle(vehicle: string): Promise<FleetVehicle | undefined> {
    return settle(() => {
      const known = this.#get(`SELECT 1 AS x FROM (${KNOWN}) WHERE vehicle = ?`, vehicle);
      return known ? this.#assemble([vehicle])[0] : undefined;
    });
  }

  unknownVehicles(vehicles: readonly string[]): Promise<string[]> {
    return settle(() =>
      this.#all(
        `SELECT DISTINCT value AS vehicle FROM json_each(?)
         WHERE value NOT IN (SELECT vin_commitment FROM vehicle_certificates)
           AND value NOT IN (SELECT vehicle FROM ecu_inventory_versions)
         ORDER BY value`,
        JSON.stringify(vehicles),
      ).map((r) => str(r.vehicle)),
    );
  }

  putAttributes(
    vehicle: string,
    input: AttributesInput,
    updatedAt: string,
    updatedBy: string,
  ): Promise<VehicleAttributes> {
    return settle(() => {
      this.#db
        .prepare(
          `INSERT INTO fleet_vehicle_attributes
             (vehicle, model, model_year, region, tags_json, updated_at, updated_by)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (vehicle) DO UPDATE SET model = excluded.model,
             model_year = excluded.model_year, region = excluded.region,
             tags_json = excluded.tags_json, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by`,
        )
        .run(
          vehicle,
          input.model,
          input.modelYear,
          input.region,
          JSON.stringify(input.tags),
          updatedAt,
          updatedBy,
        );
      return { ...input, updatedAt, updatedBy };
    });
  }

  insertGroup(input: Omit<GroupRecord, 'id'>): Promise<GroupRecord> {
    return settle(() => {
      const id = onKeyViolation(
        () =>
          Number(
            this.#db
              .prepare(`INSERT INTO fleet_groups (${GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
              .run(...groupValues(input)).lastInsertRowid,
          ),
        (error) => groupNameTaken(input.name, error),
      );
      return { ...input, id };
    });
  }

  group(id: number): Promise<GroupRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM fleet_groups WHERE id = ?', id);
      return row ? toGroup(row) : undefined;
    });
  }

  groups(page: Page): Promise<GroupRecord[]> {
    return settle(() =>
      this.#all(
        'SELECT * FROM fleet_groups WHERE id > ? ORDER BY id LIMIT ?',
        Number(page.after ?? 0),
        page.limit,
      ).map(toGroup),
    );
  }

  deleteGroup(id: number): Promise<boolean> {
    return settle(
      () => Number(this.#db.prepare('DELETE FROM fleet_groups WHERE id = ?').run(id).changes) > 0,
    );
  }

  insertSnapshot(input: Omit<SnapshotRecord, 'id'>, members: string[]): Promise<SnapshotRecord> {
    return settle(() =>
      this.#tx(() => {
        const id = Number(
          this.#db
            .prepare(
              `INSERT INTO fleet_group_snapshots (${SNAPSHOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(...snapshotValues(input)).lastInsertRowid,
        );
        this.#db
          .prepare(
            'INSERT INTO fleet_snapshot_members (snapshot_id, vehicle) SELECT ?, value FROM json_each(?)',
          )
          .run(id, JSON.stringify(members));
        return { ...input, id };
      }),
    );
  }

  snapshot(id: number): Promise<SnapshotRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM fleet_group_snapshots WHERE id = ?', id);
      return row ? toSnapshot(row) : undefined;
    });
  }

  snapshotMembers(id: number, page: Page): Promise<string[]> {
    return settle(() =>
      this.#all(
        `SELECT vehicle FROM fleet_snapshot_members WHERE snapshot_id = ? AND vehicle > ?
         ORDER BY vehicle LIMIT ?`,
        id,
        String(page.after ?? ''),
        page.limit,
      ).map((r) => str(r.vehicle)),
    );
  }
}
