import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { inTransaction as sqliteTransaction } from '@tufchain/transparency';
import type pg from 'pg';
import { z } from 'zod';
import { ServerError } from '../error.js';
import { inTransaction, type Queryable } from '../storage/postgres-db.js';
import { num, str } from '../storage/rows.js';
import { openSideConnection } from '../storage/sqlite-side.js';
import type { Alert } from './alert.js';
import {
  checkpointsSchema,
  MAX_RECENT_ALERTS,
  pendingKeyChecksSchema,
  type MonitorState,
  type MonitorStateStore,
} from './state.js';

/**
 * The daemon-hosted monitor's state in the repository's database (SQLite migration 14,
 * PostgreSQL migration 10): one `monitor_state` row (checkpoints, pending key checks, the last
 * anchor size) and one `monitor_alerts` row per alert ever raised (its ID is what makes an alert
 * once; `undelivered` marks what the webhook still owes). The replica holding the monitor's lease
 * writes; every replica reads the recent alerts.
 *
 * Each save is one transaction, fenced by `revision`: a save succeeds only on the revision this
 * store object last loaded or saved, so a replica that lost the lease but still polls cannot
 * overwrite the state its successor wrote (it gets MONITOR_STATE_CONFLICT and loads again).
 */

const alertSchema = z.looseObject({ id: z.string().regex(/^[0-9a-f]{64}$/) });

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ServerError('STORAGE_FAILED', `the stored monitor ${what} is not JSON`, {
      cause: error,
    });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ServerError('STORAGE_FAILED', `the stored monitor ${what} is malformed`);
  }
  return parsed.data;
}

const toAlert = (text: string): Alert => parseJson(alertSchema, text, 'alert') as unknown as Alert;

function conflict(): ServerError {
  return new ServerError(
    'MONITOR_STATE_CONFLICT',
    'another replica saved the monitor state since this one loaded it',
  );
}

/** The rows a save writes, the same on both engines. */
function stateColumns(state: MonitorState): {
  checkpoints: string;
  pending: string;
  lastAnchorSize: number | null;
} {
  return {
    checkpoints: JSON.stringify(state.checkpoints),
    pending: JSON.stringify(state.pendingKeyChecks),
    lastAnchorSize: state.lastAnchorSize ?? null,
  };
}

/** Assembles the state from its rows: every alert ID, the recent alerts and the undelivered. */
function assemble(
  row: Record<string, unknown>,
  ids: string[],
  recentNewestFirst: string[],
  undelivered: string[],
): MonitorState {
  const lastAnchorSize = row.last_anchor_size;
  return {
    format: 'tufchain-monitor-state/v1',
    chainId: num(row.chain_id),
    contractAddress: str(row.contract_address),
    checkpoints: parseJson(checkpointsSchema, str(row.checkpoints_json), 'checkpoints'),
    ...(lastAnchorSize === null || lastAnchorSize === undefined
      ? {}
      : { lastAnchorSize: num(lastAnchorSize) }),
    emitted: ids,
    pendingKeyChecks: parseJson(pendingKeyChecksSchema, str(row.pending_json), 'pending checks'),
    recent: recentNewestFirst.map(toAlert).reverse(),
    undelivered: undelivered.map(toAlert),
  };
}

export class SqliteMonitorStateStore implements MonitorStateStore {
  readonly #db: DatabaseSync;
  #revision = 0;
  #closed = false;

  constructor(path: string) {
    this.#db = openSideConnection(path, 14, 'monitor state');
  }

  #all(sql: string, ...params: SQLInputValue[]): Record<string, SQLInputValue>[] {
    return this.#db.prepare(sql).all(...params);
  }

  load(): Promise<MonitorState | undefined> {
    return Promise.resolve().then(() =>
      sqliteTransaction(this.#db, () => {
        const row = this.#db.prepare('SELECT * FROM monitor_state WHERE id = 1').get();
        if (!row) {
          this.#revision = 0;
          return undefined;
        }
        this.#revision = num(row.revision);
        return assemble(
          row,
          this.#all('SELECT id FROM monitor_alerts ORDER BY seq').map((r) => str(r.id)),
          this.#recentJson(),
          this.#all(
            'SELECT alert_json FROM monitor_alerts WHERE undelivered = 1 AND alert_json IS NOT NULL ORDER BY seq',
          ).map((r) => str(r.alert_json)),
        );
      }),
    );
  }

  #recentJson(): string[] {
    return this.#all(
      'SELECT alert_json FROM monitor_alerts WHERE alert_json IS NOT NULL ORDER BY seq DESC LIMIT ?',
      MAX_RECENT_ALERTS,
    ).map((r) => str(r.alert_json));
  }

  save(state: MonitorState, raised: readonly Alert[]): Promise<void> {
    return Promise.resolve().then(() => {
      const c = stateColumns(state);
      const now = new Date().toISOString();
      sqliteTransaction(this.#db, () => {
        const changed =
          this.#revision === 0
            ? this.#db
                .prepare(
                  `INSERT INTO monitor_state (id, chain_id, contract_address, checkpoints_json,
                     last_anchor_size, pending_json, revision, updated_at)
                   VALUES (1, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO NOTHING`,
                )
                .run(
                  state.chainId,
                  state.contractAddress,
                  c.checkpoints,
                  c.lastAnchorSize,
                  c.pending,
                  now,
                ).changes
            : this.#db
                .prepare(
                  `UPDATE monitor_state SET checkpoints_json = ?, last_anchor_size = ?,
                     pending_json = ?, revision = revision + 1, updated_at = ?
                   WHERE id = 1 AND revision = ?`,
                )
                .run(c.checkpoints, c.lastAnchorSize, c.pending, now, this.#revision).changes;
        if (Number(changed) !== 1) throw conflict();
        const owed = new Set(state.undelivered.map((a) => a.id));
        const insert = this.#db.prepare(
          'INSERT INTO monitor_alerts (id, alert_json, undelivered) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        );
        for (const a of raised) insert.run(a.id, JSON.stringify(a), owed.has(a.id) ? 1 : 0);
        this.#db
          .prepare(
            `UPDATE monitor_alerts SET undelivered = 0
             WHERE undelivered = 1 AND id NOT IN (SELECT value FROM json_each(?))`,
          )
          .run(JSON.stringify([...owed]));
      });
      this.#revision += 1;
    });
  }

  /**
   * Seeds an empty table with the state of a file store (the daemon's state file from before the
   * database held it): alerts raised then keep their IDs, so none is raised again. Does nothing
   * once a state is saved.
   */
  importState(state: MonitorState): Promise<boolean> {
    return Promise.resolve().then(() => {
      const done = sqliteTransaction(this.#db, () => {
        if (this.#db.prepare('SELECT 1 AS x FROM monitor_state WHERE id = 1').get()) return false;
        const c = stateColumns(state);
        this.#db
          .prepare(
            `INSERT INTO monitor_state (id, chain_id, contract_address, checkpoints_json,
               last_anchor_size, pending_json, revision, updated_at) VALUES (1, ?, ?, ?, ?, ?, 1, ?)`,
          )
          .run(
            state.chainId,
            state.contractAddress,
            c.checkpoints,
            c.lastAnchorSize,
            c.pending,
            new Date().toISOString(),
          );
        const insert = this.#db.prepare(
          'INSERT INTO monitor_alerts (id, alert_json, undelivered) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        );
        for (const row of importRows(state)) insert.run(row.id, row.json, row.undelivered ? 1 : 0);
        return true;
      });
      return done;
    });
  }

  recentAlerts(): Promise<Alert[]> {
    return Promise.resolve().then(() => this.#recentJson().map(toAlert));
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

/** A file state's alerts as rows, oldest first: IDs without their alert (older than `recent`) first. */
function importRows(
  state: MonitorState,
): { id: string; json: string | null; undelivered: boolean }[] {
  const recent = new Map(state.recent.map((a) => [a.id, a]));
  const owed = new Set(state.undelivered.map((a) => a.id));
  const rows: { id: string; json: string | null; undelivered: boolean }[] = [];
  for (const id of state.emitted) {
    if (recent.has(id)) continue;
    const alert = state.undelivered.find((a) => a.id === id);
    rows.push({ id, json: alert ? JSON.stringify(alert) : null, undelivered: owed.has(id) });
  }
  for (const a of state.recent)
    rows.push({ id: a.id, json: JSON.stringify(a), undelivered: owed.has(a.id) });
  return rows;
}

export class PostgresMonitorStateStore implements MonitorStateStore {
  readonly #pool: pg.Pool;
  #revision = 0;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async load(): Promise<MonitorState | undefined> {
    // One snapshot of the rows: REPEATABLE READ, so that a save in between cannot tear them.
    return inTransaction(this.#pool, async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const row = (await tx.query('SELECT * FROM monitor_state WHERE id = 1')).rows[0] as
        Record<string, unknown> | undefined;
      if (!row) {
        this.#revision = 0;
        return undefined;
      }
      const revision = num(row.revision);
      const ids = (await tx.query('SELECT id FROM monitor_alerts ORDER BY seq')).rows.map(
        (r: Record<string, unknown>) => str(r.id),
      );
      const recent = await recentJson(tx);
      const undelivered = (
        await tx.query(
          'SELECT alert_json FROM monitor_alerts WHERE undelivered AND alert_json IS NOT NULL ORDER BY seq',
        )
      ).rows.map((r: Record<string, unknown>) => str(r.alert_json));
      const state = assemble(row, ids, recent, undelivered);
      this.#revision = revision;
      return state;
    });
  }

  async save(state: MonitorState, raised: readonly Alert[]): Promise<void> {
    const c = stateColumns(state);
    const now = new Date().toISOString();
    await inTransaction(this.#pool, async (tx) => {
      const result =
        this.#revision === 0
          ? await insertFirstState(tx, state, now)
          : await tx.query(
              `UPDATE monitor_state SET checkpoints_json = $1, last_anchor_size = $2,
                 pending_json = $3, revision = revision + 1, updated_at = $4
               WHERE id = 1 AND revision = $5`,
              [c.checkpoints, c.lastAnchorSize, c.pending, now, this.#revision],
            );
      if (result.rowCount !== 1) throw conflict();
      const owed = new Set(state.undelivered.map((a) => a.id));
      await insertAlerts(
        tx,
        raised.map((a) => ({ id: a.id, json: JSON.stringify(a), undelivered: owed.has(a.id) })),
      );
      await tx.query(
        `UPDATE monitor_alerts SET undelivered = false
         WHERE undelivered AND NOT (id = ANY($1::text[]))`,
        [[...owed]],
      );
    });
    this.#revision += 1;
  }

  /** As SqliteMonitorStateStore.importState. */
  async importState(state: MonitorState): Promise<boolean> {
    return inTransaction(this.#pool, async (tx) => {
      const inserted = await insertFirstState(tx, state, new Date().toISOString());
      if (inserted.rowCount !== 1) return false;
      await insertAlerts(tx, importRows(state));
      return true;
    });
  }

  async recentAlerts(): Promise<Alert[]> {
    return (await recentJson(this.#pool)).map(toAlert);
  }

  /** The pool is the repository store's, which ends it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function recentJson(q: Queryable): Promise<string[]> {
  return (
    await q.query(
      'SELECT alert_json FROM monitor_alerts WHERE alert_json IS NOT NULL ORDER BY seq DESC LIMIT $1',
      [MAX_RECENT_ALERTS],
    )
  ).rows.map((r: Record<string, unknown>) => str(r.alert_json));
}

async function insertAlerts(
  tx: Queryable,
  rows: readonly { id: string; json: string | null; undelivered: boolean }[],
): Promise<void> {
  // One statement, in order: WITH ORDINALITY keeps `seq` in the order the alerts were raised.
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO monitor_alerts (id, alert_json, undelivered)
     SELECT id, alert_json, undelivered
     FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS r(id, alert_json, undelivered, n)
     ORDER BY n
     ON CONFLICT (id) DO NOTHING`,
    [rows.map((r) => r.id), rows.map((r) => r.json), rows.map((r) => r.undelivered)],
  );
}

/** The state's one row, unless a replica wrote it first (then rowCount is 0). */
function insertFirstState(tx: Queryable, state: MonitorState, now: string) {
  const c = stateColumns(state);
  return tx.query(
    `INSERT INTO monitor_state (id, chain_id, contract_address, checkpoints_json,
       last_anchor_size, pending_json, revision, updated_at)
     VALUES (1, $1, $2, $3, $4, $5, 1, $6) ON CONFLICT (id) DO NOTHING`,
    [state.chainId, state.contractAddress, c.checkpoints, c.lastAnchorSize, c.pending, now],
  );
}
