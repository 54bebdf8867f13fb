import { inTransaction } from '@tufchain/transparency';
import { openSideConnection } from '../storage/sqlite-side.js';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { settle } from '../storage/sqlite-store.js';
import { num, str } from '../storage/rows.js';
import {
  DEFERRAL_CODES,
  type CampaignEventRecord,
  type CampaignRecord,
  type CampaignState,
  type CampaignVehicleRecord,
  type VehicleOutcomeRow,
  type WaveRecord,
} from './model.js';
import {
  CAMPAIGN_COLUMNS,
  campaignChanged,
  campaignValues,
  toCampaign,
  toCampaignVehicle,
  toEvent,
  toOutcome,
  toWave,
} from './rows.js';
import type { CampaignStore, NewCampaign, NewEvent, Transition } from './store.js';

type Row = Record<string, SQLInputValue>;

/** Verified install reports of an assigned image since the assignment, by result. */
const REPORTS = (results: string, select: string) => `(SELECT ${select} FROM install_attestations a
   WHERE a.vin_commitment = cv.vehicle AND a.received_at >= cv.assigned_at
     AND a.result IN (${results})
     AND a.target_name IN (SELECT value FROM json_each(cv.image_names_json)))`;

/** Verified manifests since the assignment whose installation report for it has an item that is `items`. */
const MANIFESTS = (items: string) => `(SELECT COUNT(*) FROM director_manifests m
   WHERE m.vehicle = cv.vehicle AND m.received_at >= cv.assigned_at
     AND json_extract(m.manifest_json, '$.signed.installation_report.correlation_id')
       = c.urn || ':' || cv.vehicle
     AND EXISTS (SELECT 1 FROM json_each(m.manifest_json, '$.signed.installation_report.items') i
       WHERE json_extract(i.value, '$.result.success') = 0
         AND json_extract(i.value, '$.result.code') ${items}))`;
const DEFERRAL_LIST = DEFERRAL_CODES.map((c) => `'${c}'`).join(',');

/**
 * The campaign tables in the repository's SQLite file, on a connection of its own (as the
 * Director's and the fleet's). Open it after SqliteStore, which applies the migrations.
 */
export class SqliteCampaignStore implements CampaignStore {
  readonly #db: DatabaseSync;
  #closed = false;

  constructor(path: string) {
    this.#db = openSideConnection(path, 13, 'campaign');
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#db.prepare(sql).all(...params);
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#db.prepare(sql).run(...params).changes);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #insertEvent(campaignId: number, seq: number, event: NewEvent): void {
    this.#run(
      'INSERT INTO campaign_events (campaign_id, seq, kind, at, detail_json) VALUES (?, ?, ?, ?, ?)',
      campaignId,
      seq,
      event.kind,
      event.at,
      JSON.stringify(event.detail),
    );
  }

  insertCampaign(input: NewCampaign, event: NewEvent): Promise<CampaignRecord> {
    return settle(() =>
      inTransaction(this.#db, () => {
        const id = Number(
          this.#db
            .prepare(
              `INSERT INTO campaigns (${CAMPAIGN_COLUMNS})
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(...campaignValues(input)).lastInsertRowid,
        );
        this.#insertEvent(id, 1, event);
        return { ...input, id, version: 1, updatedAt: input.createdAt };
      }),
    );
  }

  campaign(id: number): Promise<CampaignRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM campaigns WHERE id = ?', id);
      return row ? toCampaign(row) : undefined;
    });
  }

  campaignByUrn(urn: string): Promise<CampaignRecord | undefined> {
    return settle(() => {
      const row = this.#get('SELECT * FROM campaigns WHERE urn = ?', urn);
      return row ? toCampaign(row) : undefined;
    });
  }

  campaigns(filter: {
    states?: readonly CampaignState[];
    after?: number;
    limit: number;
  }): Promise<CampaignRecord[]> {
    return settle(() =>
      this.#all(
        `SELECT * FROM campaigns WHERE id > ?
           AND (? IS NULL OR state IN (SELECT value FROM json_each(?)))
         ORDER BY id LIMIT ?`,
        filter.after ?? 0,
        filter.states ? 1 : null,
        JSON.stringify(filter.states ?? []),
        filter.limit,
      ).map(toCampaign),
    );
  }

  transition(t: Transition): Promise<CampaignRecord> {
    return settle(() =>
      inTransaction(this.#db, () => {
        const changed = this.#run(
          `UPDATE campaigns SET state = ?, wave = ?, reason = ?, version = version + 1,
             updated_at = ? WHERE id = ? AND version = ?`,
          t.state,
          t.wave,
          t.reason,
          t.at,
          t.campaignId,
          t.expectedVersion,
        );
        if (changed !== 1) throw campaignChanged(t.campaignId, t.expectedVersion);
        this.#insertEvent(t.campaignId, t.expectedVersion + 1, t.event);
        if (t.startWave) {
          const w = t.startWave;
          this.#run(
            `INSERT INTO campaign_waves (campaign_id, wave, snapshot_id, member_count,
               members_sha256, assignment_sha256, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
            t.campaignId,
            w.wave,
            w.snapshotId,
            w.memberCount,
            w.membersSha256,
            w.assignmentSha256,
            w.startedAt,
          );
          this.#run(
            `INSERT INTO campaign_vehicles (campaign_id, vehicle, wave, status, image_names_json)
             SELECT ?, value, ?, 'pending', '[]' FROM json_each(?)`,
            t.campaignId,
            w.wave,
            JSON.stringify(w.members),
          );
        }
        if (t.waveAssigned !== undefined) {
          this.#run(
            'UPDATE campaign_waves SET assigned_at = ? WHERE campaign_id = ? AND wave = ?',
            t.at,
            t.campaignId,
            t.waveAssigned,
          );
        }
        if (t.acknowledge) {
          this.#run(
            `UPDATE campaign_waves SET acknowledged_failures = ?
             WHERE campaign_id = ? AND wave = ?`,
            t.acknowledge.failures,
            t.campaignId,
            t.acknowledge.wave,
          );
        }
        return toCampaign(this.#get('SELECT * FROM campaigns WHERE id = ?', t.campaignId)!);
      }),
    );
  }

  waves(campaignId: number): Promise<WaveRecord[]> {
    return settle(() =>
      this.#all('SELECT * FROM campaign_waves WHERE campaign_id = ? ORDER BY wave', campaignId).map(
        toWave,
      ),
    );
  }

  campaignVehicles(campaignId: number): Promise<string[]> {
    return settle(() =>
      this.#all(
        'SELECT vehicle FROM campaign_vehicles WHERE campaign_id = ? ORDER BY vehicle',
        campaignId,
      ).map((r) => str(r.vehicle)),
    );
  }

  pendingVehicles(
    campaignId: number,
    wave: number,
    limit: number,
  ): Promise<CampaignVehicleRecord[]> {
    return settle(() =>
      this.#all(
        `SELECT * FROM campaign_vehicles WHERE campaign_id = ? AND wave = ? AND status = 'pending'
         ORDER BY vehicle LIMIT ?`,
        campaignId,
        wave,
        limit,
      ).map(toCampaignVehicle),
    );
  }

  markAssigned(
    campaignId: number,
    vehicle: string,
    assignment: { id: number; createdAt: string; imageNames: string[] },
  ): Promise<boolean> {
    return settle(
      () =>
        this.#run(
          `UPDATE campaign_vehicles SET status = 'assigned', assignment_id = ?, assigned_at = ?,
             image_names_json = ? WHERE campaign_id = ? AND vehicle = ? AND status = 'pending'`,
          assignment.id,
          assignment.createdAt,
          JSON.stringify(assignment.imageNames),
          campaignId,
          vehicle,
        ) === 1,
    );
  }

  markSkipped(campaignId: number, vehicle: string, reason: string): Promise<boolean> {
    return settle(
      () =>
        this.#run(
          `UPDATE campaign_vehicles SET status = 'skipped', reason = ?
           WHERE campaign_id = ? AND vehicle = ? AND status = 'pending'`,
          reason,
          campaignId,
          vehicle,
        ) === 1,
    );
  }

  vehicleOutcomes(campaignId: number): Promise<VehicleOutcomeRow[]> {
    return settle(() =>
      this.#all(
        `SELECT cv.vehicle, cv.wave, cv.status, cv.reason, cv.image_names_json,
           cv.assignment_id, da.status AS director_status,
           ${REPORTS(`'SUCCESS'`, 'COUNT(DISTINCT a.target_name)')} AS succeeded_images,
           ${REPORTS(`'FAILURE','ROLLED_BACK'`, 'COUNT(*)')} AS failure_reports,
           ${MANIFESTS(`NOT IN (${DEFERRAL_LIST})`)} AS manifest_failures,
           ${MANIFESTS(`IN (${DEFERRAL_LIST})`)} AS deferrals
         FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
           LEFT JOIN director_assignments da ON da.id = cv.assignment_id
         WHERE cv.campaign_id = ? ORDER BY cv.vehicle`,
        campaignId,
      ).map(toOutcome),
    );
  }

  holders(
    vehicles: readonly string[],
    states: readonly CampaignState[],
    exceptId: number,
  ): Promise<{ campaignId: number; vehicle: string }[]> {
    return settle(() =>
      this.#all(
        `SELECT cv.campaign_id, cv.vehicle FROM campaign_vehicles cv
           JOIN campaigns c ON c.id = cv.campaign_id
         WHERE cv.vehicle IN (SELECT value FROM json_each(?))
           AND c.state IN (SELECT value FROM json_each(?)) AND c.id <> ?
         ORDER BY cv.campaign_id, cv.vehicle`,
        JSON.stringify(vehicles),
        JSON.stringify(states),
        exceptId,
      ).map((r) => ({ campaignId: num(r.campaign_id), vehicle: str(r.vehicle) })),
    );
  }

  events(campaignId: number): Promise<CampaignEventRecord[]> {
    return settle(() =>
      this.#all('SELECT * FROM campaign_events WHERE campaign_id = ? ORDER BY seq', campaignId).map(
        toEvent,
      ),
    );
  }

  unloggedEvents(limit: number): Promise<CampaignEventRecord[]> {
    return settle(() =>
      this.#all(
        `SELECT * FROM campaign_events WHERE log_index IS NULL
         ORDER BY campaign_id, seq LIMIT ?`,
        limit,
      ).map(toEvent),
    );
  }

  setEventLogIndex(campaignId: number, seq: number, logIndex: number): Promise<void> {
    return settle(() => {
      this.#run(
        'UPDATE campaign_events SET log_index = ? WHERE campaign_id = ? AND seq = ?',
        logIndex,
        campaignId,
        seq,
      );
    });
  }
}
