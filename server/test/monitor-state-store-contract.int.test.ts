/**
 * The daemon-hosted monitor's state store (src/monitor/db-state.ts), on the engine of the vitest
 * project (testEngine()): SQLite in a temp dir in `default`, a real PostgreSQL database in
 * `server-postgres`. Two repositories opened on one database stand for two replicas.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Alert } from '../src/monitor/alert.js';
import { emptyState, MAX_RECENT_ALERTS, type MonitorState } from '../src/monitor/state.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { newTestDatabaseUrl } from './support/database.js';

const CONTRACT = '0x' + 'ab'.repeat(20);

const alertN = (n: number): Alert => ({
  id: n.toString(16).padStart(64, '0'),
  chainId: 31337,
  detectedAt: new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString(),
  kind: 'UNEXPECTED_RELEASE',
  severity: 'critical',
  message: `alert ${n}`,
  subject: `0x${'cd'.repeat(32)}`,
  origin: { txHash: `0x${'11'.repeat(32)}`, blockNumber: n, logIndex: 0 },
  details: { n },
});

/** What Monitor.#record does to the state for one alert. */
function record(state: MonitorState, alert: Alert, webhook = true): void {
  state.emitted.push(alert.id);
  state.recent.push(alert);
  if (state.recent.length > MAX_RECENT_ALERTS) state.recent.shift();
  if (webhook) state.undelivered.push(alert);
}

const block = (n: number) => ({
  blockNumber: n,
  blockHash: `0x${n.toString(16).padStart(64, '0')}`,
});

let dir: string;
let databaseUrl: string | undefined;
const opened: OpenedRepository[] = [];
const dirs: string[] = [];

/** A new empty database (and data dir) for the replicas of one test. */
async function freshDatabase(): Promise<void> {
  databaseUrl = await newTestDatabaseUrl();
  dir = await mkdtemp(join(tmpdir(), 'tufchain-monitor-state-'));
  dirs.push(dir);
}

async function replica(): Promise<OpenedRepository> {
  const repo = await openRepository(
    databaseUrl === undefined ? { dataDir: dir } : { dataDir: dir, databaseUrl },
  );
  opened.push(repo);
  return repo;
}

afterAll(async () => {
  for (const r of opened) await r.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the monitor state store in the database', () => {
  it('saves the checkpoint with the alerts raised since, and loads them back on another replica', async () => {
    await freshDatabase();
    const a = (await replica()).monitorState;
    const b = (await replica()).monitorState;
    expect(await a.load()).toBeUndefined();
    expect(await b.recentAlerts()).toEqual([]);

    const state = emptyState(31337, CONTRACT);
    state.checkpoints.push(block(5));
    state.pendingKeyChecks.push({
      version: 3,
      hash: `0x${'ee'.repeat(32)}`,
      origin: { txHash: `0x${'22'.repeat(32)}`, blockNumber: 5, logIndex: 1 },
    });
    state.lastAnchorSize = 12;
    record(state, alertN(1));
    record(state, alertN(2));
    await a.save(state, [alertN(1), alertN(2)]);

    // The other replica reads what the lease holder wrote: newest first.
    expect((await b.recentAlerts()).map((x) => x.message)).toEqual(['alert 2', 'alert 1']);
    const loaded = await b.load();
    expect(loaded).toEqual(state);

    // The webhook acknowledged alert 1; a later save with no new alert says so.
    state.undelivered = [alertN(2)];
    state.checkpoints.push(block(6));
    await a.save(state, []);
    const again = await b.load();
    expect(again?.undelivered.map((x) => x.id)).toEqual([alertN(2).id]);
    expect(again?.checkpoints.at(-1)).toEqual(block(6));
    expect(again?.emitted).toEqual([alertN(1).id, alertN(2).id]);
  });

  it('refuses a save from a replica that loaded before another saved (MONITOR_STATE_CONFLICT), writing nothing', async () => {
    await freshDatabase();
    const a = (await replica()).monitorState;
    const b = (await replica()).monitorState;
    const first = emptyState(31337, CONTRACT);
    first.checkpoints.push(block(1));
    await a.save(first, []);

    const fromA = (await a.load())!;
    const fromB = (await b.load())!;
    record(fromA, alertN(10));
    fromA.checkpoints.push(block(2));
    await a.save(fromA, [alertN(10)]);

    // B still holds the state before A's save: its write would lose alert 10 and rewind.
    record(fromB, alertN(11));
    fromB.checkpoints.push(block(3));
    await expect(b.save(fromB, [alertN(11)])).rejects.toMatchObject({
      code: 'MONITOR_STATE_CONFLICT',
    });
    const now = (await b.load())!;
    expect(now.emitted).toEqual([alertN(10).id]);
    expect(now.checkpoints.at(-1)).toEqual(block(2));
    expect((await a.recentAlerts()).map((x) => x.id)).toEqual([alertN(10).id]);

    // Having loaded again, B writes; now A is the stale one.
    record(now, alertN(11));
    await b.save(now, [alertN(11)]);
    await expect(a.save(fromA, [])).rejects.toMatchObject({ code: 'MONITOR_STATE_CONFLICT' });

    // Two first saves: only one creates the state.
    await freshDatabase();
    const c = (await replica()).monitorState;
    const d = (await replica()).monitorState;
    expect(await c.load()).toBeUndefined();
    expect(await d.load()).toBeUndefined();
    await c.save(emptyState(31337, CONTRACT), []);
    await expect(d.save(emptyState(31337, CONTRACT), [])).rejects.toMatchObject({
      code: 'MONITOR_STATE_CONFLICT',
    });
  });

  it('keeps every alert ID but serves the newest MAX_RECENT_ALERTS, in the order raised', async () => {
    await freshDatabase();
    const a = (await replica()).monitorState;
    const state = emptyState(31337, CONTRACT);
    const raised = Array.from({ length: MAX_RECENT_ALERTS + 5 }, (_, i) => alertN(i + 1));
    for (const x of raised) record(state, x, false);
    await a.save(state, raised);
    const recent = await a.recentAlerts();
    expect(recent).toHaveLength(MAX_RECENT_ALERTS);
    expect(recent[0]!.id).toBe(raised.at(-1)!.id);
    expect(recent.at(-1)!.id).toBe(raised[5]!.id);
    const loaded = (await a.load())!;
    expect(loaded.emitted).toHaveLength(raised.length);
    expect(loaded.recent).toEqual(state.recent);
    expect(loaded.undelivered).toEqual([]);
  });

  it("imports a file state once into an empty database, keeping the IDs of alerts older than 'recent'", async () => {
    await freshDatabase();
    const a = (await replica()).monitorState;
    const file = emptyState(31337, CONTRACT);
    file.checkpoints.push(block(9));
    file.emitted.push(alertN(1).id); // fell out of `recent` long ago
    record(file, alertN(2));
    expect(await a.importState(file)).toBe(true);
    expect(await a.importState(emptyState(31337, CONTRACT))).toBe(false);
    const loaded = (await a.load())!;
    expect(loaded.emitted).toEqual([alertN(1).id, alertN(2).id]);
    expect(loaded.checkpoints).toEqual([block(9)]);
    expect(loaded.undelivered.map((x) => x.id)).toEqual([alertN(2).id]);
    expect((await a.recentAlerts()).map((x) => x.id)).toEqual([alertN(2).id]);
  });
});
