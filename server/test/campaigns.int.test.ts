/**
 * A campaign through a real server on loopback (support/campaign-server.ts) with 200 simulated
 * vehicles, real per-vehicle keys and real signed reports: 4 waves, a vehicle that defers until its
 * retry limit in wave 1, 5 % failures in wave 2 under a 2 % stop threshold.
 */
import { campaignLogEntrySchema } from '@tufchain/transparency/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waveMembers } from '../src/campaigns/waves.js';
import { testEngine } from './support/database.js';
import { membersSha256 } from '../src/fleet/service.js';
import type { OpenedRepository, RunningServer } from '../src/index.js';
import {
  directorAssignment,
  installReport,
  sendVersionManifest,
  type DirectorImage,
  type SimulatedVehicle,
} from './support/campaign-fleet.js';
import {
  HW,
  IMAGE,
  sha256,
  startCampaignServer,
  until,
  type CallOptions,
  type CampaignServer,
  type CampaignView,
  type EventView,
} from './support/campaign-server.js';

/**
 * The 1,000 vehicles on SQLite; 200 on PostgreSQL, where the same code paths run and the
 * suite's time matters (CAMPAIGN_TEST_VEHICLES overrides both).
 */
const FLEET_SIZE = Number(
  process.env.CAMPAIGN_TEST_VEHICLES ?? (testEngine() === 'postgres' ? 200 : 1000),
);
const WAVES = [10, 30, 60, 100];
/** Vehicles per wave: 10 %, 20 %, 30 %, 40 % of the fleet. */
const SIZES = WAVES.map((p, i) => (FLEET_SIZE * (p - (WAVES[i - 1] ?? 0))) / 100);
/** 5 % of wave 2 fail, above the 2 % threshold. */
const FAILING = Math.ceil(SIZES[1]! * 0.05);

let s: CampaignServer;
let server: RunningServer;
let repo: OpenedRepository;
let fleet: SimulatedVehicle[] = [];
let groupId = 0;

const call = <T = CampaignView>(method: string, path: string, opts?: CallOptions) =>
  s.call<T>(method, path, opts);

async function campaign(id: number): Promise<CampaignView> {
  const got = await call('GET', `/api/v1/campaigns/${id}`);
  expect(got.status).toBe(200);
  return got.body;
}

/**
 * Waits until wave `n` is fully assigned, then returns the vehicles whose Director targets assign
 * them the image, but for those of earlier waves (`earlier`).
 */
async function assignedIn(
  id: number,
  n: number,
  earlier: ReadonlyMap<SimulatedVehicle, number>,
): Promise<Map<SimulatedVehicle, DirectorImage>> {
  await until(`wave ${n} assigned`, async () => {
    const c = await campaign(id);
    return c.waves[n - 1]?.assignedAt ? c : undefined;
  });
  const found = new Map<SimulatedVehicle, DirectorImage>();
  for (const v of fleet) {
    if (earlier.has(v)) continue;
    const image = await directorAssignment(server.url, v);
    if (image) found.set(v, image);
  }
  return found;
}

async function sendReport(v: SimulatedVehicle, result: 'SUCCESS' | 'FAILURE'): Promise<void> {
  const bundle = await installReport(
    v,
    HW,
    { name: IMAGE.name, sha256: sha256(IMAGE.bytes) },
    result,
  );
  const res = await fetch(`${server.url}/api/v1/attestations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(bundle),
  });
  expect(res.status, await res.text()).toBe(201);
  if (result === 'SUCCESS') v.running = { name: IMAGE.name, sha256: sha256(IMAGE.bytes) };
}

const createBody = (over: Record<string, unknown> = {}) => ({
  name: 'gw 2.0.0 rollout',
  groupId,
  release: [{ hardwareId: HW, name: IMAGE.name }],
  // Wave 1 waits for all of its vehicles (but those that deferred too often), later ones for 95 %.
  waves: WAVES.map((percent, i) => ({
    percent,
    minSoakSeconds: 0,
    successPercent: i === 0 ? 100 : 95,
  })),
  failureThreshold: { percent: 2 },
  maxDeferrals: 2,
  ...over,
});

beforeAll(async () => {
  s = await startCampaignServer({ vehicles: FLEET_SIZE });
  ({ server, repo, fleet, groupId } = s);
}, 180_000);

afterAll(async () => {
  await s?.close();
});

describe(`a campaign of 4 waves over ${FLEET_SIZE} vehicles, 5 % failures in wave 2, a 2 % stop threshold`, () => {
  let id = 0;
  const sent = { succeeded: [0, 0, 0, 0], failed: [0, 0, 0, 0] };
  const waveOf = new Map<SimulatedVehicle, number>();
  let failedInWave2: SimulatedVehicle[] = [];

  it('creates a draft that assigns nobody', async () => {
    const created = await call('POST', '/api/v1/campaigns', { body: createBody() });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ state: 'draft', wave: 0, version: 1 });
    expect(created.body.release).toEqual([
      { hardwareId: HW, name: IMAGE.name, sha256: sha256(IMAGE.bytes), length: IMAGE.bytes.length },
    ]);
    id = created.body.id;
    expect(await repo.director.assignments({})).toEqual([]);
  });

  it('assigns wave 1 (exactly 10 %, chosen by salted rank), waits for a vehicle that defers until its retry limit, then moves on', async () => {
    const started = await call('POST', `/api/v1/campaigns/${id}/start`);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ state: 'running', wave: 1 });
    const wave1 = await assignedIn(id, 1, waveOf);
    expect(wave1.size).toBe(SIZES[0]);
    const salt: string = started.body.salt;
    const expected = waveMembers(
      salt,
      fleet.map((v) => v.vinCommitment),
      10,
      new Set(),
    );
    expect([...wave1.keys()].map((v) => v.vinCommitment).sort()).toEqual(expected);
    const [deferrer, ...others] = [...wave1.keys()];
    for (const [v, image] of wave1) {
      expect(image).toMatchObject({ name: IMAGE.name, sha256: sha256(IMAGE.bytes) });
      expect(image.correlationId).toBe(`${started.body.urn}:${v.vinCommitment}`);
      waveOf.set(v, 1);
    }
    for (const v of others) {
      await sendReport(v, 'SUCCESS');
      sent.succeeded[0]! += 1;
    }
    // All but one succeeded: below wave 1's 100 %, the campaign waits for the last vehicle.
    await new Promise((r) => setTimeout(r, 400));
    expect(await campaign(id)).toMatchObject({ wave: 1, state: 'running' });
    const correlationId = wave1.get(deferrer!)!.correlationId!;
    for (let i = 0; i < 2; i++) {
      const res = await sendVersionManifest(server.url, deferrer!, {
        correlationId,
        code: 'PRECONDITIONS_NOT_MET',
        success: false,
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    // Two signed deferrals: the campaign gives up on it (its assignment cancelled) and moves on.
    await until('wave 2', async () => ((await campaign(id)).wave === 2 ? true : undefined));
    const c = await campaign(id);
    expect(c.waves[0]!.counts).toMatchObject({
      succeeded: SIZES[0]! - 1,
      retriesExhausted: 1,
      deferred: 0,
    });
    const [deferrerAssignment] = await repo.director.assignments({
      vehicle: deferrer!.vinCommitment,
    });
    expect(deferrerAssignment).toMatchObject({ correlationId, status: 'cancelled' });
    expect(await directorAssignment(server.url, deferrer!)).toBeUndefined();
  });

  it('assigns wave 2 (to 30 %) and stops itself at the first failures, before waves 3 and 4', async () => {
    const wave2 = await assignedIn(id, 2, waveOf);
    expect(wave2.size).toBe(SIZES[1]);
    const vehicles = [...wave2.keys()];
    // 5 % fail; their reports come first, so no gate can pass before they count.
    failedInWave2 = vehicles.slice(0, FAILING);
    for (const v of vehicles) waveOf.set(v, 2);
    // The last says so in a signed version manifest, the others in signed install attestations.
    for (const v of failedInWave2.slice(0, -1)) await sendReport(v, 'FAILURE');
    const last = failedInWave2.at(-1)!;
    const viaManifest = await sendVersionManifest(server.url, last, {
      correlationId: wave2.get(last)!.correlationId!,
      code: 'VERIFICATION_FAILED',
      success: false,
    });
    expect(viaManifest.status).toBeLessThan(300);
    sent.failed[1]! += FAILING;
    for (const v of vehicles.slice(FAILING)) {
      await sendReport(v, 'SUCCESS');
      sent.succeeded[1]! += 1;
    }
    const stopped = await until('the automatic stop', async () => {
      const c = await campaign(id);
      return c.state === 'stopped' ? c : undefined;
    });
    expect(stopped.reason).toMatch(/^FAILURE_THRESHOLD: wave 2/);
    expect(stopped.wave).toBe(2);
    // A few background ticks later, nothing more was assigned.
    await new Promise((r) => setTimeout(r, 500));
    const assignments = await repo.director.assignments({});
    expect(assignments).toHaveLength(SIZES[0]! + SIZES[1]!);
    expect(assignments.every((a) => a.correlationId.startsWith(stopped.urn))).toBe(true);
    const assignedVehicles = new Set(assignments.map((a) => a.vehicle));
    for (const v of fleet) expect(assignedVehicles.has(v.vinCommitment)).toBe(waveOf.has(v));
  });

  it('answers counts per wave that match the reports sent', async () => {
    const c = await campaign(id);
    expect(c.waves.map((w) => w.counts.succeeded)).toEqual(sent.succeeded);
    expect(c.waves.map((w) => w.counts.failed)).toEqual(sent.failed);
    expect(c.waves.map((w) => w.counts.members)).toEqual([SIZES[0], SIZES[1], 0, 0]);
    expect(c.waves.map((w) => w.counts.assigned)).toEqual([SIZES[0], SIZES[1], 0, 0]);
    expect(c.waves[2]!.startedAt).toBeNull();
  });

  it('exposes the same counts, per campaign and wave, as Prometheus metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const sample = (wave: number, outcome: string) =>
      text.match(
        new RegExp(
          `^tufchain_campaign_vehicles\\{campaign="${id}",wave="${wave}",outcome="${outcome}"\\} (\\d+)$`,
          'm',
        ),
      )?.[1];
    expect([sample(1, 'succeeded'), sample(2, 'succeeded'), sample(2, 'failed')]).toEqual([
      String(sent.succeeded[0]),
      String(sent.succeeded[1]),
      String(sent.failed[1]),
    ]);
    expect(text).toMatch(
      new RegExp(`^tufchain_campaign_state\\{campaign="${id}",state="stopped"\\} 1$`, 'm'),
    );
  });

  it('does not count a forged success: a tampered report is refused and the counts stay', async () => {
    const v = failedInWave2[0]!;
    const bundle = await installReport(
      v,
      HW,
      { name: IMAGE.name, sha256: sha256(IMAGE.bytes) },
      'FAILURE',
    );
    const envelope = bundle.dsseEnvelope!;
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as {
      predicate: { result: string };
    };
    payload.predicate.result = 'SUCCESS';
    const forged = {
      ...bundle,
      dsseEnvelope: {
        ...envelope,
        payload: Buffer.from(JSON.stringify(payload)).toString('base64'),
      },
    };
    const unsigned = { ...forged, dsseEnvelope: { ...forged.dsseEnvelope, signatures: [] } };
    for (const body of [forged, unsigned]) {
      const res = await fetch(`${server.url}/api/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    const c = await campaign(id);
    expect(c.waves[1]!.counts).toMatchObject({ succeeded: SIZES[1]! - FAILING, failed: FAILING });
  });

  it('logs every state change once, in order, with the wave hashes an auditor recomputes', async () => {
    const events = await call<{ events: EventView[] }>('GET', `/api/v1/campaigns/${id}/events`);
    expect(events.status).toBe(200);
    const list = events.body.events;
    expect(list.map((e) => e.event)).toEqual([
      'created',
      'wave-started',
      'wave-assigned',
      'wave-started',
      'wave-assigned',
      'stopped',
    ]);
    expect(list.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const c = await campaign(id);
    const all = fleet.map((v) => v.vinCommitment);
    const w1 = waveMembers(c.salt, all, 10, new Set());
    const w2 = waveMembers(c.salt, all, 30, new Set(w1));
    for (const e of list) {
      expect(e.logIndex).toBeTypeOf('number');
      const got = await call<{ entries: string[] }>(
        'GET',
        `/api/v1/log/entries?start=${e.logIndex}&end=${e.logIndex + 1}`,
      );
      const entry = campaignLogEntrySchema.parse(
        JSON.parse(Buffer.from(got.body.entries[0]!, 'base64').toString('utf8')),
      );
      expect(entry).toMatchObject({ campaign: c.urn, seq: e.seq, event: e.event });
    }
    expect(list[1]!.detail.membersSha256).toBe(membersSha256(w1));
    expect(list[3]!.detail.membersSha256).toBe(membersSha256(w2));
    expect(list[1]!.detail.assignmentSha256).toBe(list[3]!.detail.assignmentSha256);
    expect(list[0]!.detail.salt).toBe(c.salt);
  });

  it('refuses an overlapping campaign for the same ECUs while this one holds them', async () => {
    const other = await call('POST', '/api/v1/campaigns', { body: createBody({ name: 'other' }) });
    expect(other.status).toBe(409);
    expect(other.code).toBe('CAMPAIGN_OVERLAP');
  });

  it('resumes (accepting the failures seen), starts wave 3, and a cancel stops everything after', async () => {
    expect((await call('POST', `/api/v1/campaigns/${id}/start`)).code).toBe(
      'CAMPAIGN_STATE_INVALID',
    );
    const resumed = await call('POST', `/api/v1/campaigns/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.waves[1]!.acknowledgedFailures).toBe(FAILING);
    const wave3 = await assignedIn(id, 3, waveOf);
    expect(wave3.size).toBe(SIZES[2]);
    const cancelled = await call('POST', `/api/v1/campaigns/${id}/cancel`, {
      body: { reason: 'enough for today' },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', reason: 'enough for today' });
    await new Promise((r) => setTimeout(r, 400));
    expect(await repo.director.assignments({})).toHaveLength(SIZES[0]! + SIZES[1]! + SIZES[2]!);
    // Cancel really cancels: wave 3 never reported, so its assignments are cancelled, and logged.
    expect(await repo.director.assignments({ status: 'active' })).toEqual([]);
    for (const v of wave3.keys()) expect(await directorAssignment(server.url, v)).toBeUndefined();
    const events = await call<{ events: EventView[] }>('GET', `/api/v1/campaigns/${id}/events`);
    const swept = events.body.events.filter((e) => e.event === 'assignments-cancelled');
    expect(swept).toHaveLength(1);
    expect(swept[0]!.detail.count).toBeGreaterThanOrEqual(SIZES[2]!);
    expect((await campaign(id)).waves[3]!.startedAt).toBeNull();
    expect((await call('POST', `/api/v1/campaigns/${id}/resume`)).code).toBe(
      'CAMPAIGN_STATE_INVALID',
    );
  });
});
