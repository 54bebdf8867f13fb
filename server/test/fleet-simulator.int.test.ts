// The fleet simulator of bench:fleet, small: 50 vehicles enrolled over HTTP, two daemon replicas on
// one PostgreSQL database (the server-postgres project's cluster), anvil, one release.
import { inject, describe, expect, it, beforeAll } from 'vitest';
import {
  runFleetScenario,
  type FleetScenarioOptions,
  type FleetScenarioResult,
} from '../bench/fleet/scenario.js';
import { createDatabaseOn } from './support/postgres.js';

const VEHICLES = 50;

/** `reports` distinct reports were sent, and the logs hold each exactly once, and nothing else. */
function expectEachSentLoggedOnce(run: FleetScenarioResult, reports: number): void {
  const sentKeys = run.stats.attestations.map((a) => a.reportKey).sort();
  expect(new Set(sentKeys).size).toBe(reports);
  expect([...run.logged.counts.keys()].sort()).toEqual(sentKeys);
  expect([...run.logged.counts.values()]).toEqual(Array<number>(reports).fill(1));
}

/** A run on a fresh database of the server-postgres cluster: fast polls, stop once all reported. */
async function smallRun(
  opts: Pick<FleetScenarioOptions, 'fleet' | 'seconds' | 'ingestBurst' | 'serverEnv'>,
): Promise<FleetScenarioResult> {
  const adminUrl = inject('postgresAdminUrl');
  if (!adminUrl) throw new Error('needs the server-postgres project (postgresAdminUrl)');
  return runFleetScenario({
    databaseUrl: await createDatabaseOn(adminUrl),
    releaseAfterMs: 1_500,
    stopWhenAllReported: true,
    ...opts,
    fleet: { pollIntervalMs: 300, jitter: 0.5, ...opts.fleet },
  });
}

describe('the fleet simulator against two replicas on one PostgreSQL database', () => {
  let run: FleetScenarioResult;

  beforeAll(async () => {
    run = await smallRun({
      fleet: { vehicles: VEHICLES, connectionsPerReplica: 4, enrollConcurrency: 8 },
      seconds: 30,
      ingestBurst: { inFlight: 8 },
    });
  }, 120_000);

  it('enrolls every vehicle and polls without a single error, with conditional GETs answered 304', () => {
    expect(run.stats.errors).toEqual([]);
    expect(run.stats.routes.enroll.statuses).toEqual({ '201': VEHICLES });
    expect(run.stats.routes.timestamp.statuses['304']).toBeGreaterThan(VEHICLES);
    // The agent's requests at every poll: root N+1 (none published: 404), timestamp.json, the hint.
    const polls = run.stats.routes.timestamp.requests;
    expect(run.stats.routes.root.statuses).toEqual({ '404': polls });
    expect(run.stats.routes.hint.requests).toBe(polls);
    // First contact and the release: each vehicle fetched each changed document, no more (a bin
    // again when its hint was read after the publish its timestamp.json predates).
    expect(run.stats.routes.snapshot.requests).toBe(2 * VEHICLES);
    expect(run.stats.routes.bin.requests).toBe(VEHICLES + run.stats.hintAhead);
  });

  it('has every vehicle see the release and post one attestation, each accepted (201)', () => {
    expect(run.allReportedMs).toBeDefined();
    expect(run.sawReleaseMs.filter((ms) => ms !== undefined)).toHaveLength(VEHICLES);
    for (const ms of run.sawReleaseMs) expect(ms).toBeGreaterThan(0);
    expect(run.releaseWindow.attestations).toBe(VEHICLES);
    const sent = run.stats.attestations.slice(0, VEHICLES);
    expect(sent.map((a) => a.status)).toEqual(Array<number>(VEHICLES).fill(201));
    expect(new Set(sent.map((a) => a.vehicle)).size).toBe(VEHICLES);
    // Spread across both replicas: vehicle i talks to replica i mod 2.
    expect(sent.filter((a) => a.vehicle % 2 === 0)).toHaveLength(VEHICLES / 2);
  });

  it('then, polling halted, has every vehicle report a further release at once, each accepted', () => {
    expect(run.ingestBurst).toMatchObject({ reports: VEHICLES, failed: 0 });
    expect(run.ingestBurst!.cpuSeconds).toBeGreaterThan(0);
    const burst = run.stats.attestations.slice(VEHICLES);
    expect(burst.map((a) => a.status)).toEqual(Array<number>(VEHICLES).fill(201));
    expect(new Set(burst.map((a) => a.vehicle)).size).toBe(VEHICLES);
    expect(run.stats.errors).toEqual([]);
  });

  it('finds every sent attestation in the transparency logs exactly once, and nothing else', () => {
    expectEachSentLoggedOnce(run, 2 * VEHICLES);
    expect(run.logged.logs).toBeGreaterThanOrEqual(1);
  });
});

describe('the same fleet against replicas at a small in-flight bound (503 SERVER_BUSY)', () => {
  const FLEET = 24;
  let run: FleetScenarioResult;

  beforeAll(async () => {
    run = await smallRun({
      // Two requests in a replica's router at a time; the burst sends twelve at once.
      serverEnv: { TUFCHAIN_MAX_IN_FLIGHT_REQUESTS: '2', TUFCHAIN_BUSY_RETRY_AFTER_SECONDS: '1' },
      fleet: { vehicles: FLEET, connectionsPerReplica: 6, enrollConcurrency: 2 },
      seconds: 40,
      ingestBurst: { inFlight: 12 },
    });
  }, 150_000);

  it('refuses reports over the bound as busy, never as errors, and every vehicle reports both releases', () => {
    expect(run.stats.errors).toEqual([]);
    expect(run.stats.routes.attestation.busy).toBeGreaterThan(0);
    expect(run.stats.routes.attestation.statuses['503']).toBe(run.stats.routes.attestation.busy);
    expect(run.stats.routes.attestation.errors).toBe(0);
    expect(run.ingestBurst).toMatchObject({ reports: FLEET, failed: 0 });
    const sent = run.stats.attestations;
    expect(sent.map((a) => a.status)).toEqual(Array<number>(2 * FLEET).fill(201));
  });

  it('loses no report and logs none twice: each accepted one is in the log exactly once', () => {
    expectEachSentLoggedOnce(run, 2 * FLEET);
  });
});
