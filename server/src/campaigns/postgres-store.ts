import type pg from 'pg';
import { inTransaction, type Queryable } from '../storage/postgres-db.js';
import { num, str, type StoredRow } from '../storage/rows.js';
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

/** Verified install reports of an assigned image since the assignment, by result. */
const REPORTS = (results: string, select: string) => `(SELECT ${select} FROM install_attestations a
   WHERE a.vin_commitment = cv.vehicle AND a.received_at >= cv.assigned_at
     AND a.result IN (${results})
     AND a.target_name IN (SELECT json_array_elements_text(cv.image_names_json::json)))`;

/** Verified manifests since the assignment whose installation report for it has an item that is `items`. */
const MANIFESTS = (items: string) => `(SELECT COUNT(*) FROM director_manifests m
   WHERE m.vehicle = cv.vehicle AND m.received_at >= cv.assigned_at
     AND m.manifest_json::json #>> '{signed,installation_report,correlation_id}'
       = c.urn || ':' || cv.vehicle
     AND EXISTS (SELECT 1 FROM json_array_elements(
         m.manifest_json::json #> '{signed,installation_report,items}') i
       WHERE i #>> '{result,success}' = 'false' AND i #>> '{result,code}' ${items}))`;
const DEFERRAL_LIST = DEFERRAL_CODES.map((c) => `'${c}'`).join(',');

/**
 * The campaign tables in PostgreSQL (migration 9), on the repository store's pool. Same semantics
 * as SqliteCampaignStore; commitments are ordered with COLLATE "C" (bytes, as SQLite).
 */
export class PostgresCampaignStore implements CampaignStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** The pool is the repository store's, which ends it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async #rows(sql: string, params: unknown[], on: Queryable = this.#pool): Promise<StoredRow[]> {
    return (await on.query<StoredRow>(sql, params)).rows;
  }

  async #insertEvent(tx: Queryable, campaignId: number, seq: number, e: NewEvent): Promise<void> {
    await tx.query(
      `INSERT INTO campaign_events (campaign_id, seq, kind, at, detail_json)
       VALUES ($1, $2, $3, $4, $5)`,
      [campaignId, seq, e.kind, e.at, JSON.stringify(e.detail)],
    );
  }

  insertCampaign(input: NewCampaign, event: NewEvent): Promise<CampaignRecord> {
    return inTransaction(this.#pool, async (tx) => {
      const [row] = await this.#rows(
        `INSERT INTO campaigns (${CAMPAIGN_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
        campaignValues(input),
        tx,
      );
      const id = num(row?.id);
      await this.#insertEvent(tx, id, 1, event);
      return { ...input, id, version: 1, updatedAt: input.createdAt };
    });
  }

  async campaign(id: number): Promise<CampaignRecord | undefined> {
    const [row] = await this.#rows('SELECT * FROM campaigns WHERE id = $1', [id]);
    return row ? toCampaign(row) : undefined;
  }

  async campaignByUrn(urn: string): Promise<CampaignRecord | undefined> {
    const [row] = await this.#rows('SELECT * FROM campaigns WHERE urn = $1', [urn]);
    return row ? toCampaign(row) : undefined;
  }

  async campaigns(filter: {
    states?: readonly CampaignState[];
    after?: number;
    limit: number;
  }): Promise<CampaignRecord[]> {
    return (
      await this.#rows(
        `SELECT * FROM campaigns WHERE id > $1 AND ($2::text[] IS NULL OR state = ANY($2::text[]))
         ORDER BY id LIMIT $3`,
        [filter.after ?? 0, filter.states ?? null, filter.limit],
      )
    ).map(toCampaign);
  }

  transition(t: Transition): Promise<CampaignRecord> {
    return inTransaction(this.#pool, async (tx) => {
      const updated = await this.#rows(
        `UPDATE campaigns SET state = $1, wave = $2, reason = $3, version = version + 1,
           updated_at = $4 WHERE id = $5 AND version = $6 RETURNING *`,
        [t.state, t.wave, t.reason, t.at, t.campaignId, t.expectedVersion],
        tx,
      );
      const [row] = updated;
      if (!row) throw campaignChanged(t.campaignId, t.expectedVersion);
      await this.#insertEvent(tx, t.campaignId, t.expectedVersion + 1, t.event);
      if (t.startWave) {
        const w = t.startWave;
        await tx.query(
          `INSERT INTO campaign_waves (campaign_id, wave, snapshot_id, member_count,
             members_sha256, assignment_sha256, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            t.campaignId,
            w.wave,
            w.snapshotId,
            w.memberCount,
            w.membersSha256,
            w.assignmentSha256,
            w.startedAt,
          ],
        );
        await tx.query(
          `INSERT INTO campaign_vehicles (campaign_id, vehicle, wave, status, image_names_json)
           SELECT $1, unnest($2::text[]), $3, 'pending', '[]'`,
          [t.campaignId, w.members, w.wave],
        );
      }
      if (t.waveAssigned !== undefined) {
        await tx.query(
          'UPDATE campaign_waves SET assigned_at = $1 WHERE campaign_id = $2 AND wave = $3',
          [t.at, t.campaignId, t.waveAssigned],
        );
      }
      if (t.acknowledge) {
        await tx.query(
          `UPDATE campaign_waves SET acknowledged_failures = $1
           WHERE campaign_id = $2 AND wave = $3`,
          [t.acknowledge.failures, t.campaignId, t.acknowledge.wave],
        );
      }
      return toCampaign(row);
    });
  }

  async waves(campaignId: number): Promise<WaveRecord[]> {
    return (
      await this.#rows('SELECT * FROM campaign_waves WHERE campaign_id = $1 ORDER BY wave', [
        campaignId,
      ])
    ).map(toWave);
  }

  async campaignVehicles(campaignId: number): Promise<string[]> {
    return (
      await this.#rows(
        'SELECT vehicle FROM campaign_vehicles WHERE campaign_id = $1 ORDER BY vehicle COLLATE "C"',
        [campaignId],
      )
    ).map((r) => str(r.vehicle));
  }

  async pendingVehicles(
    campaignId: number,
    wave: number,
    limit: number,
  ): Promise<CampaignVehicleRecord[]> {
    return (
      await this.#rows(
        `SELECT * FROM campaign_vehicles
         WHERE campaign_id = $1 AND wave = $2 AND status = 'pending'
         ORDER BY vehicle COLLATE "C" LIMIT $3`,
        [campaignId, wave, limit],
      )
    ).map(toCampaignVehicle);
  }

  async markAssigned(
    campaignId: number,
    vehicle: string,
    assignment: { id: number; createdAt: string; imageNames: string[] },
  ): Promise<boolean> {
    const result = await this.#pool.query(
      `UPDATE campaign_vehicles SET status = 'assigned', assignment_id = $1, assigned_at = $2,
         image_names_json = $3 WHERE campaign_id = $4 AND vehicle = $5 AND status = 'pending'`,
      [
        assignment.id,
        assignment.createdAt,
        JSON.stringify(assignment.imageNames),
        campaignId,
        vehicle,
      ],
    );
    return result.rowCount === 1;
  }

  async markSkipped(campaignId: number, vehicle: string, reason: string): Promise<boolean> {
    const result = await this.#pool.query(
      `UPDATE campaign_vehicles SET status = 'skipped', reason = $1
       WHERE campaign_id = $2 AND vehicle = $3 AND status = 'pending'`,
      [reason, campaignId, vehicle],
    );
    return result.rowCount === 1;
  }

  async vehicleOutcomes(campaignId: number): Promise<VehicleOutcomeRow[]> {
    return (
      await this.#rows(
        `SELECT cv.vehicle, cv.wave, cv.status, cv.reason, cv.image_names_json,
           cv.assignment_id, da.status AS director_status,
           ${REPORTS(`'SUCCESS'`, 'COUNT(DISTINCT a.target_name)')} AS succeeded_images,
           ${REPORTS(`'FAILURE','ROLLED_BACK'`, 'COUNT(*)')} AS failure_reports,
           ${MANIFESTS(`NOT IN (${DEFERRAL_LIST})`)} AS manifest_failures,
           ${MANIFESTS(`IN (${DEFERRAL_LIST})`)} AS deferrals
         FROM campaign_vehicles cv JOIN campaigns c ON c.id = cv.campaign_id
           LEFT JOIN director_assignments da ON da.id = cv.assignment_id
         WHERE cv.campaign_id = $1 ORDER BY cv.vehicle COLLATE "C"`,
        [campaignId],
      )
    ).map(toOutcome);
  }

  async holders(
    vehicles: readonly string[],
    states: readonly CampaignState[],
    exceptId: number,
  ): Promise<{ campaignId: number; vehicle: string }[]> {
    return (
      await this.#rows(
        `SELECT cv.campaign_id, cv.vehicle FROM campaign_vehicles cv
           JOIN campaigns c ON c.id = cv.campaign_id
         WHERE cv.vehicle = ANY($1::text[]) AND c.state = ANY($2::text[]) AND c.id <> $3
         ORDER BY cv.campaign_id, cv.vehicle COLLATE "C"`,
        [vehicles, states, exceptId],
      )
    ).map((r) => ({ campaignId: num(r.campaign_id), vehicle: str(r.vehicle) }));
  }

  async events(campaignId: number): Promise<CampaignEventRecord[]> {
    return (
      await this.#rows('SELECT * FROM campaign_events WHERE campaign_id = $1 ORDER BY seq', [
        campaignId,
      ])
    ).map(toEvent);
  }

  async unloggedEvents(limit: number): Promise<CampaignEventRecord[]> {
    return (
      await this.#rows(
        `SELECT * FROM campaign_events WHERE log_index IS NULL
         ORDER BY campaign_id, seq LIMIT $1`,
        [limit],
      )
    ).map(toEvent);
  }

  async setEventLogIndex(campaignId: number, seq: number, logIndex: number): Promise<void> {
    await this.#pool.query(
      'UPDATE campaign_events SET log_index = $1 WHERE campaign_id = $2 AND seq = $3',
      [logIndex, campaignId, seq],
    );
  }
}
